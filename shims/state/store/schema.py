"""The state store's tables, as data: each store renders them in its own SQL types, so SQLite
and PostgreSQL keep one layout, and the migrations are applied in order up to SCHEMA_VERSION.

`runs` holds one row per run's share: a few columns taken from the masked entry, for the
queries (RunQuery, resume), and the whole masked entry as JSON text. `quota` holds one limit
per provider and account (shims.state.quota), the latest recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# The entry's text fields that are also columns (and what RunQuery filters on).
RUN_COLUMNS = ("at", "provider", "model", "account", "session_id", "cwd", "role")


class Table(NamedTuple):  # a NamedTuple, not a dataclass: ~1 ms less on every run's start
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, kind): kinds are the keys of a store's TYPES
    primary_key: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()


class Migration(NamedTuple):
    version: int  # PRAGMA user_version (SQLite) / the schema table's version (PostgreSQL) after it
    what: str  # what `shims state migrate` prints
    tables: tuple[Table, ...] = ()
    import_legacy: bool = False  # the old ledger.ndjson and quota.json, in the same transaction


RUNS = Table(
    "runs",
    (("id", "serial"), *((c, "text") for c in RUN_COLUMNS), ("entry", "json")),
    indexes=(("provider", "session_id"), ("provider", "cwd"), ("at",)),
)
QUOTA = Table(
    "quota",
    (("provider", "key"), ("account", "key"), ("until", "real"), ("entry", "json")),
    primary_key=("provider", "account"),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "created tables runs and quota", (RUNS, QUOTA), import_legacy=True),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def create_statements(table: Table, types: Mapping[str, str]) -> list[str]:
    """CREATE TABLE and CREATE INDEX for `table`, with `types` mapping a kind to SQL."""
    columns = [f"{name} {types[kind]}" for name, kind in table.columns]
    if table.primary_key:
        columns.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    out = [f"CREATE TABLE IF NOT EXISTS {table.name} ({', '.join(columns)})"]
    for cols in table.indexes:
        out.append(f"CREATE INDEX IF NOT EXISTS {table.name}_{'_'.join(cols)} ON {table.name} ({', '.join(cols)})")
    return out
