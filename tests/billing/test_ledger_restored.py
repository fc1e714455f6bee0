"""The ledger's ``restored`` flag (schema 2): migrated onto an old ledger, stored, summed,
and priced as SnapStart restores and cache (pure pricing, real SQLite files)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lamina.billing import ledger_db, ledger_queries
from lamina.billing.ledger_db import SCHEMA_VERSION, connect, cost_columns, decode, encode
from lamina.billing.meter import invocation_cost
from lamina.billing.prices import load_prices
from lamina.billing.snapstart import SnapStartVersion
from lamina.tools.snapstart_cost import cache_seconds, snapstart_rows
from tests.billing.old_ledgers import SCHEMA_3, migrated
from tests.billing.test_ledger import DAY1, make_record

TABLE = load_prices()
# The ledger as schema 1 made it (before the restored and node columns).
SCHEMA_1 = SCHEMA_3.split(",\n    restored ")[0] + SCHEMA_3.split("schema 3)")[1]


def test_a_schema_1_ledger_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    record = make_record(init_ms=50.0)
    back = migrated(path, SCHEMA_1, 1, record, new_columns=4)
    assert SCHEMA_VERSION == 5
    assert back == record and back.restored is False and back.node is None
    # A second open finds it current: nothing to do.
    again = connect(path)
    assert again.execute("PRAGMA user_version").fetchone()[0] == 5
    again.close()


def test_restores_are_stored_and_summed_per_version(tmp_path: Path) -> None:
    conn = connect(tmp_path / "ledger.db")
    rows = []
    for n, (version, restored, memory) in enumerate(
        [("1", True, 512), ("1", True, 512), ("1", False, 512), ("2", True, 1024)]
    ):
        record = make_record(n, memory_mb=memory, init_ms=None)._replace(
            version=version, restored=restored
        )
        rows.append(encode(record, cost_columns(invocation_cost(record, TABLE))))
    conn.executemany(ledger_db.INSERT, rows)
    (back, _) = decode(conn.execute(f"SELECT {ledger_db.COLUMNS} FROM invocations").fetchone())
    assert back.restored is True
    groups = ledger_queries.groups(conn, "version")
    assert [(g.version, g.restores, g.restored_mb) for g in groups] == [
        ("1", 2, 1024),
        ("2", 1, 1024),
    ]
    conn.close()


def test_cache_seconds_inside_the_span() -> None:
    # Published an hour ago: the 3-hour minimum.
    assert cache_seconds(DAY1, None, None, DAY1 + 3600, 10800) == 10800
    # Published a day ago: the whole day, rounded up to whole seconds.
    assert cache_seconds(DAY1, None, None, DAY1 + 86_400.2, 10800) == 86_401
    # Published before the span: only the span, no minimum (it was billed before).
    assert cache_seconds(DAY1, DAY1 + 1000, DAY1 + 1060, DAY1 + 5000, 10800) == 60
    # Published after the span ended: nothing.
    assert cache_seconds(DAY1 + 10, None, DAY1, DAY1 + 100, 10800) == 0


def test_rows_price_restores_and_cache_exactly() -> None:
    group = ledger_queries.GroupTotals(
        "fn", "3", None, 5, 2, 0, 0, 1.0, 0.0, 5, 640, Decimal(0), Decimal(0), Decimal(0),
        Decimal(0), restores=2, restored_mb=256,
    )  # fmt: skip
    version = SnapStartVersion("fn", "3", 128, DAY1)
    (row,) = snapstart_rows([group], [version], TABLE, since=None, until=None, now=DAY1 + 7200)
    # 2 x 0.125 GB x $0.0001397998; 0.125 GB x 10,800 s x $0.0000015046
    assert row.restore_cost == Decimal("0.00003494995")
    assert (row.cache_s, row.cache_gb_s) == (10800, Decimal(1350))
    assert row.cache_cost == Decimal("0.0020312100")
    # A version with neither restores nor cache time in the span has no row.
    assert snapstart_rows([], [version], TABLE, since=None, until=DAY1 - 1, now=DAY1) == []
