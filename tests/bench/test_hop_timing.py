"""The hop timing hook: inert without its variable; its summary's medians (a real file)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from lamina.wire.server import HttpConnection

HOOK = Path(__file__).resolve().parents[2] / "bench" / "hop_timing_hook" / "sitecustomize.py"


def test_without_its_variable_the_hook_patches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMINA_HOP_TIMING", raising=False)
    before = (HttpConnection.data_received, HttpConnection._write)
    runpy.run_path(str(HOOK))
    assert (HttpConnection.data_received, HttpConnection._write) == before


def test_the_summary_is_rewritten_every_thousand_invokes_without_the_warm_up(
    tmp_path: Path,
) -> None:
    stamps = runpy.run_path(str(HOOK))["_Stamps"](str(tmp_path / "hop.txt"))
    segment = stamps.samples.setdefault("request -> event written", [])
    for i in range(999):
        segment.append(float(i))
        stamps.invoke_done()
    assert not (tmp_path / "hop.txt").exists()
    segment.append(999.0)
    stamps.invoke_done()
    first, line = (tmp_path / "hop.txt").read_text().splitlines()
    assert "after 1000 invokes" in first
    name, median, quartile, count = line.rsplit(maxsplit=3)
    # The first 500 are left out: the median of 500..999, its first quartile, all counted.
    assert (name, float(median), float(quartile), int(count)) == (
        "request -> event written", 749.5, 624.2, 1000
    )  # fmt: skip
