"""Ledger files as older schemas made them, for the migration tests (real SQLite files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lamina.billing import ledger_db
from lamina.billing.ledger_db import SCHEMA_VERSION, connect, cost_columns, decode, encode
from lamina.billing.meter import invocation_cost
from lamina.billing.prices import load_prices
from lamina.models.invocation import InvocationRecord

TABLE = load_prices()
# The ledger as schema 3 made it (before the faas_trigger column).
SCHEMA_3 = ledger_db._SCHEMA.replace(
    "node               TEXT,", "node               TEXT "
).replace(
    "\n    faas_trigger       TEXT    NOT NULL DEFAULT 'other' -- what started it (schema 4)", ""
)


def migrated(
    path: Path, schema: str, version: int, record: InvocationRecord, new_columns: int
) -> InvocationRecord:
    """Write ``record`` into a ledger made by ``schema`` (``version``), whose table lacks
    today's last ``new_columns`` columns; open it with today's :func:`connect`, which
    migrates it, and return the record as read back."""
    old = sqlite3.connect(path)
    old.executescript(f"{schema}PRAGMA user_version = {version};")
    columns = ledger_db.COLUMNS.split(", ")[:-new_columns]
    values = encode(record, cost_columns(invocation_cost(record, TABLE)))[:-new_columns]
    marks = ",".join("?" * len(columns))
    old.execute(f"INSERT INTO invocations ({', '.join(columns)}) VALUES ({marks})", values)
    old.commit()
    old.close()
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        (row,) = conn.execute(f"SELECT {ledger_db.COLUMNS} FROM invocations").fetchall()
        back, _ = decode(row)
        return back
    finally:
        conn.close()
