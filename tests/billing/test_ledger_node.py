"""The ledger's ``node`` column (schema 3): which cluster node ran each invocation, NULL
for the control plane's own machine; migrated onto a schema-2 ledger (real SQLite files)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from lamina.billing.ledger import Ledger
from lamina.billing.ledger_db import SCHEMA_VERSION
from lamina.billing.prices import load_prices
from tests.billing.old_ledgers import SCHEMA_3, migrated
from tests.billing.test_ledger import NEVER, make_record

TABLE = load_prices()
# The ledger as schema 2 made it (before the node column).
SCHEMA_2 = SCHEMA_3.replace("DEFAULT 0, -- a SnapStart restore (schema 2)", "DEFAULT 0").replace(
    "\n    node               TEXT               -- the cluster node that ran it; NULL: the"
    "\n                                          -- control plane's own machine (schema 3)",
    "",
)


def test_a_schema_2_ledger_is_migrated_and_its_rows_ran_here(tmp_path: Path) -> None:
    assert "node" not in SCHEMA_2
    record = make_record(init_ms=20.0)._replace(restored=True)
    back = migrated(tmp_path / "ledger.db", SCHEMA_2, 2, record, new_columns=3)
    assert SCHEMA_VERSION == 5
    assert back == record and back.node is None and back.restored is True


def test_the_node_is_stored_and_read_back(tmp_path: Path) -> None:
    here = make_record(0)
    there = make_record(1)._replace(node="a1b2c3")
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        ledger.record(here)
        ledger.record(there)
        ledger.flush()
        rows = {entry.record.request_id: entry.record.node for entry in ledger.records()}
    assert rows == {"req-0": None, "req-1": "a1b2c3"}
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        stored = conn.execute("SELECT request_id, node FROM invocations ORDER BY id").fetchall()
    assert stored == [("req-0", None), ("req-1", "a1b2c3")]
