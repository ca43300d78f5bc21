// A host that drives `shim-<vendor> exec` through the official Codex TypeScript SDK
// (@openai/codex-sdk, pinned in hosts/codex-sdk-ts/), as a user's program would.
//
// stdin: one JSON plan {codexPath, env, steps: [step...]}; stdout: one JSON line per step.
// A step: {op: "run" | "stream", prompt, thread: "new" | "same" | "resume", threadId?,
//          threadOptions?, outputSchema?, abortOn?: <event type>, abortAfterMs?}
//   "same"   runs on the Thread object of the step before (the SDK passes `resume <id>` itself);
//   "resume" is codex.resumeThread(threadId or the id the step before learnt) on a fresh Codex.
// An outcome: {ok, thread_id, final_response, usage, items, events, error, error_name}.
// The SDK never falls back to its bundled `codex` binary here: codexPath is required.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SDK = join(ROOT, "hosts", "codex-sdk-ts", "node_modules", "@openai", "codex-sdk", "dist", "index.js");
const { Codex } = await import(pathToFileURL(SDK).href);

const plan = JSON.parse(readFileSync(0, "utf8"));
if (!plan.codexPath) throw new Error("codexPath is required: the real codex binary must never run");
const newCodex = () => new Codex({ codexPathOverride: plan.codexPath, env: plan.env });

let codex = newCodex();
let thread = null;

for (const step of plan.steps) {
  const options = step.threadOptions ?? {};
  if (step.thread === "resume") {
    codex = newCodex();
    thread = codex.resumeThread(step.threadId ?? thread.id, options);
  } else if (step.thread !== "same" || thread === null) {
    thread = codex.startThread(options);
  }
  const out = { ok: false, thread_id: null, final_response: null, usage: null, items: [], events: [], error: null };
  const controller = new AbortController();
  const turnOptions = { signal: controller.signal };
  if (step.outputSchema !== undefined) turnOptions.outputSchema = step.outputSchema;
  try {
    if (step.op === "run") {
      if (step.abortAfterMs !== undefined) setTimeout(() => controller.abort(), step.abortAfterMs);
      const turn = await thread.run(step.prompt, turnOptions);
      Object.assign(out, { final_response: turn.finalResponse, usage: turn.usage, items: turn.items });
    } else {
      const { events } = await thread.runStreamed(step.prompt, turnOptions);
      for await (const event of events) {
        out.events.push(event);
        if (event.type === "item.completed") out.items.push(event.item);
        if (event.type === "item.completed" && event.item.type === "agent_message") out.final_response = event.item.text;
        if (event.type === "turn.completed") out.usage = event.usage;
        if (step.abortOn === event.type) setTimeout(() => controller.abort(), step.abortAfterMs ?? 0);
      }
    }
    out.ok = true;
  } catch (error) {
    out.error = String(error?.message ?? error);
    out.error_name = error?.name ?? null;
  }
  out.thread_id = thread.id;
  process.stdout.write(JSON.stringify(out) + "\n");
}
