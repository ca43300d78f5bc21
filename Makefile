# codex-shims. `make test` installs everything it needs (a venv with the project and its test
# tools) and runs the whole suite; `make demo` runs a shim on the bundled fake vendor.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install postgres vendor-clis codex-sdks codex-cli codex-types demo-claude test test-fast golden golden-capture golden-check snapshots lint schema bench demo readme-samples clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

# PostgreSQL's server programs, for the tests of fleet state (tests/pg_server.py starts a server of
# its own in a temporary folder and stops it after). Installed from Debian's `postgresql` package
# when missing, with the main cluster's creation turned off first (postgresql-common's
# createcluster.conf): nothing is left running on port 5432.
APT := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
postgres:
	@$(PYTHON) tests/pg_server.py >/dev/null 2>&1 || { \
		$(APT) update -q && \
		$(APT) install -y -q --no-install-recommends postgresql-common && \
		$(if $(filter 0,$(shell id -u)),,sudo) sed -i 's/^#* *create_main_cluster *=.*/create_main_cluster = false/' \
			/etc/postgresql-common/createcluster.conf && \
		$(APT) install -y -q --no-install-recommends postgresql; }
	@$(PYTHON) tests/pg_server.py

# The pinned real vendor CLIs the tests run against the fake APIs (vendor-clis/<vendor>/,
# versions in each package-lock.json). npm ci installs exactly the locked versions.
CLAUDE_STAMP := vendor-clis/claude/node_modules/.bin/claude
GEMINI_STAMP := vendor-clis/gemini/node_modules/.bin/gemini
vendor-clis: $(CLAUDE_STAMP) $(GEMINI_STAMP)

$(CLAUDE_STAMP): vendor-clis/claude/package-lock.json
	cd vendor-clis/claude && npm ci --no-audit --no-fund --loglevel=error
	touch $(CLAUDE_STAMP)

$(GEMINI_STAMP): vendor-clis/gemini/package-lock.json
	cd vendor-clis/gemini && npm ci --no-audit --no-fund --loglevel=error
	touch $(GEMINI_STAMP)

# The pinned official Codex TypeScript SDK (hosts/codex-sdk-ts/, versions in its package-lock.json):
# the tests drive `shim-<vendor> exec` with it (codexPathOverride), and its d.ts is the source of
# tests/codex_types/thread_event.schema.json. Its dependency @openai/codex (the real CLI) comes
# along and is never run by the tests.
CODEX_SDK_STAMP := hosts/codex-sdk-ts/node_modules/@openai/codex-sdk/package.json
codex-sdks: $(CODEX_SDK_STAMP)

$(CODEX_SDK_STAMP): hosts/codex-sdk-ts/package-lock.json
	cd hosts/codex-sdk-ts && npm ci --no-audit --no-fund --loglevel=error
	touch $(CODEX_SDK_STAMP)

# The pinned real Codex CLI (hosts/codex-cli/, @openai/codex 0.169.0 with its linux-x64 native
# binary, versions in its package-lock.json): the tests run `codex exec --json` as an MCP host of
# `shims mcp`, offline against tests/fakes/fake_responses.py (tests/host/codex_cli.py).
CODEX_CLI_STAMP := hosts/codex-cli/node_modules/@openai/codex/package.json
codex-cli: $(CODEX_CLI_STAMP)

$(CODEX_CLI_STAMP): hosts/codex-cli/package-lock.json
	cd hosts/codex-cli && npm ci --no-audit --no-fund --loglevel=error
	touch $(CODEX_CLI_STAMP)

# Regenerate Codex's ThreadEvent schema from the installed SDK's d.ts (a test checks it is current).
codex-types: install codex-sdks
	$(BIN)/python tests/codex_types/regen.py

# The whole suite, slow and real-CLI tests included (CI runs exactly this).
test: install postgres vendor-clis codex-sdks codex-cli
	$(BIN)/python -m pytest -q

# Quick loop while developing: skips tests marked slow.
test-fast: install postgres
	$(BIN)/python -m pytest -q -m "not slow"

# Regenerate golden/<vendor>/<case>/expected.* with `shims normalize`.
golden: install
	$(BIN)/python golden/regen.py

# Rewrite tests/snapshots/*.txt (the doctor, top and usage views' snapshots, tests/snapshot.py)
# from what the views print now; read the diff before committing it.
snapshots: install
	UPDATE_SNAPSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_doctor_view.py tests/test_top.py \
		tests/test_usage_report.py -k snapshot

# Re-record golden/<VENDOR>/* from the real pinned CLI against the fake API, then re-normalize.
VENDOR ?= claude
golden-capture: install vendor-clis
	$(BIN)/python golden/capture.py $(VENDOR)
	$(BIN)/python golden/regen.py

# Fail when any expected file differs from what `shims normalize` prints now.
golden-check: install
	$(BIN)/python golden/regen.py --check

schema: install
	$(BIN)/shims schema --out schema

lint: install
	$(BIN)/ruff check normalize shims tests golden bench
	$(BIN)/shims schema --out schema --check

# The shims against the real pinned Claude and Gemini CLIs (on the loopback fake APIs), overhead
# around a stand-in vendor, preflight and doctor, throughput, latency, memory and concurrency, each
# against a baseline measured in the same run (~3 min; BENCH_QUICK=1 for a ~30 s smoke run).
# Writes bench/results/latest.json.
bench: install vendor-clis
	$(BIN)/python bench/run.py

# The demos are declared in tests/fakes/demos.py (the README's samples run the same).
demo: install
	$(BIN)/python tests/fakes/demos.py fake

# shim-claude around the real pinned Claude Code, offline against the fake Anthropic API.
demo-claude: install $(CLAUDE_STAMP)
	$(BIN)/python tests/fakes/demos.py claude

# Rewrite the README's sample blocks (<!-- sample: NAME -->) from one fresh run of each demo
# (tests/readme_samples.py; a realcli test checks them).
readme-samples: install $(CLAUDE_STAMP)
	$(BIN)/python tests/readme_samples.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
