"""The ledger's ``faas_trigger`` column (schema 4): what started each invocation
(OpenTelemetry's ``faas.trigger``, :mod:`lamina.triggers`), stored and read back, and
migrated onto a schema-3 ledger whose rows become ``other`` (real SQLite files)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from lamina.billing.ledger import Ledger
from lamina.billing.ledger_db import SCHEMA_VERSION
from lamina.billing.ledger_reader import LedgerReader
from lamina.billing.prices import load_prices
from lamina.triggers import TRIGGERS
from tests.billing.old_ledgers import SCHEMA_3, migrated
from tests.billing.test_ledger import NEVER, make_record

TABLE = load_prices()


def test_a_schema_3_ledger_is_migrated_and_its_rows_are_other(tmp_path: Path) -> None:
    assert "faas_trigger" not in SCHEMA_3
    record = make_record(init_ms=20.0)._replace(node="n1")
    back = migrated(tmp_path / "ledger.db", SCHEMA_3, 3, record._replace(trigger="pubsub"), 2)
    assert SCHEMA_VERSION == 5
    # The old row had no trigger: the column's default, not the record's pubsub.
    assert back == record and back.trigger == "other"


def test_each_trigger_is_stored_and_read_back(tmp_path: Path) -> None:
    kinds = sorted(TRIGGERS)
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        for n, kind in enumerate(kinds):
            ledger.record(make_record(n)._replace(trigger=kind))
        ledger.record(make_record(len(kinds))._replace(trigger="cron"))  # not a convention's
        ledger.flush()
    want = {f"req-{n}": kind for n, kind in enumerate(kinds)} | {f"req-{len(kinds)}": "other"}
    read = LedgerReader(tmp_path / "ledger.db").records(limit=100)
    assert {e.record.request_id: e.record.trigger for e in read} == want
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        stored = dict(conn.execute("SELECT request_id, faas_trigger FROM invocations").fetchall())
    assert stored[f"req-{len(kinds)}"] == "cron"  # kept as written; read as other
    assert {k: v for k, v in stored.items() if v in TRIGGERS} == {
        k: v for k, v in want.items() if k != f"req-{len(kinds)}"
    }
