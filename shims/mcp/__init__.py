"""`shims mcp`: a stdio MCP server whose tools run vendor workers through the shims (CONTRACT §16).

- `arguments`: the tools' input models, derived from the run option table, and their checks;
- `views`: pure functions from a worker's protocol-2 stream to what a tool returns;
- `workers`: one shim process per worker (start, read, cancel), and the registry of them;
- `server`: the MCP wiring (tools, progress, lifecycle) on the official `mcp` SDK.
"""
