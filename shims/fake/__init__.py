"""The fake vendor: a reference adapter for tests, demos and the README's quick start.

Its CLI is `tests/fakes/fake_vendor.py`; its native format is documented in `parse.py`.
It has the same three modules as every real vendor package (command, parse, errors), so it is
also the smallest example of how a vendor plugs into the runtime.
"""
