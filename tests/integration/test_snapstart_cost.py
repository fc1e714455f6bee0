"""``lamina cost`` bills SnapStart: each restore of a published version per GB, and the
version's snapshot cache per GB-second (3 hours at least) — real server, real zygote
restores, exact dollars from the price table (us-east-1: $0.0001397998 per GB restored,
$0.0000015046 per GB-s cached)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, lamina_cli, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

PROBE = (Path(__file__).parents[1] / "scheduler" / "zygote_probe.txt").read_text()
SNAP: dict[str, Any] = {"SnapStart": {"ApplyOn": "PublishedVersions"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("snap-cost"), {"LAMINA_FREEZE_GRACE_S": "0.05"})
    proc.start()
    yield proc
    proc.stop()


def cost(*args: str) -> tuple[list[dict[str, Any]], str]:
    out = lamina_cli("cost", *args)
    assert out.returncode == 0, out.stderr
    return (json.loads(out.stdout) if "--json" in args else []), out.stdout


def restores(server: LaminaProcess, qualifier: str, n: int) -> None:
    """A cold start that makes the zygote, then ``n`` restores (a crash retires each)."""
    first = server.invoke("snap-cost", {}, Qualifier=qualifier)
    assert first.function_error is None and "Init Duration" in first.log
    for _ in range(n):
        crashed = server.invoke("snap-cost", {"exit": True}, Qualifier=qualifier)
        assert crashed.function_error is not None
        restored = server.invoke("snap-cost", {}, Qualifier=qualifier)
        assert re.search(r"Restore Duration: [\d.]+ ms", restored.log), restored.log


def test_restores_and_the_cache_are_billed_per_published_version(server: LaminaProcess) -> None:
    server.create("snap-cost", python_zip(PROBE), runtime="python3.12", MemorySize=512, **SNAP)
    version = server.lambda_client().publish_version(FunctionName="snap-cost")["Version"]
    restores(server, version, 2)
    # $LATEST is restored from a zygote too (Lamina's speed-up), but SnapStart is for
    # published versions on Lambda: no restore fee, no cache.
    restores(server, "$LATEST", 1)

    rows, _ = cost("--json", "--endpoint", server.endpoint)
    snap = [r for r in rows if r.get("kind") == "snapstart"]
    assert [(r["function"], r["version"]) for r in snap] == [("snap-cost", version)]
    (row,) = snap
    # 2 restores x 0.5 GB x $0.0001397998
    assert row["restores"] == 2
    assert Decimal(row["restore_cost"]) == Decimal("0.0001397998")
    # Published moments ago: billed the 3-hour minimum, 0.5 GB x 10,800 s x $0.0000015046.
    assert (row["cache_seconds"], Decimal(row["cache_gb_s"])) == (10800, Decimal(5400))
    assert Decimal(row["cache_cost"]) == Decimal("0.00812484")
    assert Decimal(row["total_cost"]) == Decimal("0.0082646398")
    # The function's own row is unchanged in shape (no kind).
    (fn,) = [r for r in rows if "kind" not in r and r["function"] == "snap-cost"]
    assert fn["invocations"] == 8  # 1 + 2 x 2 of the version, 1 + 2 of $LATEST

    _, text = cost("--endpoint", server.endpoint)
    assert "== SnapStart" in text
    (line,) = [x for x in text.splitlines() if x.split()[:2] == ["snap-cost", version]]
    assert line.split()[2:4] == ["2", "$0.0001398"]

    # From the ledger file alone: the restores, and a note that the cache needs the server.
    rows, _ = cost("--json", "--data-dir", str(server.data_dir))
    (offline,) = [r for r in rows if r.get("kind") == "snapstart"]
    assert (offline["restores"], offline["cache_seconds"]) == (2, 0)
    _, text = cost("--data-dir", str(server.data_dir))
    assert "SnapStart cache fees need the server" in text
