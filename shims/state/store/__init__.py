"""Fleet state: the usage ledger and quota memory behind one interface (issue 18).

- base.py: the interface (StateStore), its query (RunQuery) and error (StateError), and
  `open_store`, which picks the implementation from the settings.
- sqlite.py: the embedded default, a file in the state folder.
- postgres.py: one database for many machines, with a local outbox for rows it could not
  deliver yet.
"""
