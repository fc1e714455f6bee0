"""Recursive loop detection's decisions and the ``Lineage`` field it counts in (pure)."""

from __future__ import annotations

from lamina.events.recursion import RecursionGuard, stops
from lamina.tracing import (
    LOOP_LIMIT,
    canonical,
    function_hash,
    lineage_step,
    xray_header,
)

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
HEADER = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
RID = "0f0e0d0c-0b0a-4908-8706-050403020100"


def test_each_counted_invocation_adds_one_for_its_function() -> None:
    a, b = function_hash("arn:aws:lambda:us-east-1:1:function:a"), function_hash("b")
    header, count = lineage_step(HEADER, a)
    assert count == 1 and header == f"{HEADER};Lineage={a}:1"
    header, count = lineage_step(header, b)
    assert count == 1 and header is not None and header.endswith(f"Lineage={a}:1,{b}:1")
    header, count = lineage_step(header, a)
    assert count == 2 and header is not None and header.endswith(f"Lineage={b}:1,{a}:2")


def test_no_trace_starts_no_chain() -> None:
    assert lineage_step(None, "12345678") == (None, 1)
    assert lineage_step("Root=nonsense", "12345678") == ("Root=nonsense", 1)


def test_the_lineage_kept_is_rebuilt_from_valid_entries_and_bounded() -> None:
    assert canonical(f"{HEADER};Lineage=abcdef01:3") == f"{HEADER};Lineage=abcdef01:3"
    assert canonical(f"{HEADER};Lineage=abcdef01:3x") == HEADER  # not an entry: dropped
    assert canonical(f"{HEADER};Lineage=zz:1,abcdef01:2") == f"{HEADER};Lineage=abcdef01:2"
    many = ",".join(f"{i:08x}:{i}" for i in range(10, 20))  # within the header's 256 bytes
    kept = canonical(f"{HEADER};Lineage={many}")
    assert kept is not None
    entries = kept.split("Lineage=")[1].split(",")
    assert len(entries) == 8 and entries[-1] == f"{19:08x}:19"  # the most recent kept
    # A count never grows past three digits, however long a chain a client claims.
    header, count = lineage_step(f"{HEADER};Lineage=abcdef01:999", "abcdef01")
    assert count == 999 and header is not None and header.endswith("abcdef01:999")


def test_the_function_is_handed_the_chains_lineage_never_a_clients_text() -> None:
    handed = xray_header(RID, 1_700_000_000, f"{HEADER};Lineage=abcdef01:4")
    assert handed.endswith(";Sampled=1;Lineage=abcdef01:4")
    # A sync Invoke's header arrives as the client wrote it: only valid entries go on.
    handed = xray_header(RID, 1_700_000_000, f"{HEADER};lineage=ABCDEF01:4,<script>:1")
    assert handed.endswith(";Sampled=1;Lineage=abcdef01:4")
    assert "Lineage" not in xray_header(RID, 1_700_000_000, f"{HEADER};Lineage=junk")


def test_a_function_is_stopped_past_the_limit_unless_allowed() -> None:
    assert LOOP_LIMIT == 16
    assert not stops(16, allowed=False) and stops(17, allowed=False)
    assert not stops(10_000, allowed=True)


def test_the_guard_counts_says_and_remembers_what_it_stopped() -> None:
    allowed: set[str] = set()
    drops: list[str] = []
    guard = RecursionGuard(allowed.__contains__, lambda n: f"arn:{n}", drops.append)
    header: str | None = HEADER
    for _ in range(LOOP_LIMIT):
        header, stop = guard.step("looper", header)
        assert not stop
    _, stop = guard.step("looper", header)
    assert stop and drops == ["looper"] and guard.dropped == {"looper": 1}
    allowed.add("looper")
    _, stop = guard.step("looper", header)
    assert not stop and drops == ["looper"]
