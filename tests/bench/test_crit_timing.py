"""The critical-path timing hook: inert without its variable; its summary (a real file)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from lamina.runtime_api.channel import RuntimeChannel
from lamina.wire.server import HttpConnection

HOOK = Path(__file__).resolve().parents[2] / "bench" / "crit_hook" / "sitecustomize.py"


def test_without_its_variable_the_hook_patches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMINA_CRIT_TIMING", raising=False)
    before = (HttpConnection.data_received, HttpConnection._write, RuntimeChannel.deliver)
    runpy.run_path(str(HOOK))
    assert (HttpConnection.data_received, HttpConnection._write, RuntimeChannel.deliver) == before


def test_the_summary_leaves_out_the_warm_up_and_counts_the_deliveries(tmp_path: Path) -> None:
    stamps = runpy.run_path(str(HOOK))["_Stamps"](str(tmp_path / "crit.txt"))
    stamps.parked, stamps.waited = 600, 400
    for i in range(999):
        stamps.add("write: event to the runtime", float(i))
        stamps.invoke_done()
    assert not (tmp_path / "crit.txt").exists()
    stamps.add("write: event to the runtime", 999.0)
    stamps.invoke_done()
    first, line, deliveries = (tmp_path / "crit.txt").read_text().splitlines()
    assert "after 1000 invokes" in first
    name, median, quartile, count = line.rsplit(maxsplit=3)
    # The first 500 are left out: the median of 500..999, its first quartile, all counted.
    assert (name, float(median), float(quartile), int(count)) == (
        "write: event to the runtime", 749.5, 624.2, 1000
    )  # fmt: skip
    assert deliveries == "deliveries: /next parked 600, waited for /next 400"
