"""codex-shims: vendor coding-agent CLIs as Codex workers."""

__version__ = "0.1.0"
