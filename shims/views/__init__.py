"""What people look at: the live view of a run, the usage and doctor tables, `shims top`.

Each view is a pure function from plain data (events, ledger rows, check answers, journal
records) to rich renderables, kept apart from the code that reads the data and the terminal.
"""
