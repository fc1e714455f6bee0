"""The trace store keeps what it was told to, within its bounds, and answers as X-Ray does."""

from __future__ import annotations

import json
from typing import Any

from lamina.models.invocation import InvocationRecord, Outcome
from lamina.xray.documents import Document, parse
from lamina.xray.traces import OWN_BYTES, TraceStore, record_observer

T1 = "1-6b151031-e7b9ed85fbe14103ac015b76"
T2 = "1-6b151032-000000000000000000000002"
PARENT = "ac015b766c04743d"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def doc(trace: str = T1, ident: str = "0000000000000001", parent: str = PARENT,
        pad: int = 0, **extra: Any) -> Document:  # fmt: skip
    body = {"name": "s", "id": ident, "trace_id": trace, "start_time": 1_800_000_000.5,
            "end_time": 1_800_000_000.7, "type": "subsegment", "parent_id": parent,
            "metadata": {"default": {"pad": "x" * pad}}, **extra}  # fmt: skip
    found = parse(b'{"format":"json","version":1}\n' + json.dumps(body).encode())
    assert isinstance(found, Document), found
    return found


def record(trace: str, outcome: Outcome = Outcome.SUCCESS) -> InvocationRecord:
    header = f"Root={trace};Parent={PARENT};Sampled=1"
    return InvocationRecord("rid", "fn", "$LATEST", 1_800_000_000.0, 1000.0, 1000, 128, 40,
                            5.0, "x86_64", outcome, trace_header=header)  # fmt: skip


def documents(store: TraceStore, trace: str) -> list[dict[str, Any]]:
    found, missing = store.traces([trace])
    assert missing == []
    return [json.loads(s["Document"]) for s in found[0]["Segments"]]


def test_only_opened_traces_keep_documents_and_subsegments_nest_under_their_parents() -> None:
    store = TraceStore(clock=Clock())
    assert not store.add(doc(), "fn")  # never handed out: not kept
    store.open(T1, "fn")
    record_observer(store, "us-east-1", "000000000000")([record(T1, Outcome.ERROR)])
    assert store.add(doc(ident="00000000000000aa"), "fn")
    # A child of the first, sent on its own (the SDK streams subtrees), and an orphan.
    assert store.add(doc(ident="00000000000000bb", parent="00000000000000aa"), "fn")
    assert store.add(doc(ident="00000000000000cc", parent="00000000000000ff"), "fn")
    segments = documents(store, T1)
    own, orphan = segments
    assert own["id"] == PARENT and own["origin"] == "AWS::Lambda::Function"
    assert own["fault"] is True and own["aws"]["function_arn"].endswith(":function:fn")
    (sub,) = own["subsegments"]
    assert sub["id"] == "00000000000000aa" and "trace_id" not in sub
    assert [s["id"] for s in sub["subsegments"]] == ["00000000000000bb"]
    assert orphan["id"] == "00000000000000cc" and orphan["parent_id"] == "00000000000000ff"
    # The stored documents are not changed by reading them.
    assert [d["id"] for d in documents(store, T1)[0]["subsegments"]] == ["00000000000000aa"]
    (summary,), looked = store.summaries(0, 2e9)
    assert looked == 1 and summary["Id"] == T1 and summary["HasFault"] is True
    assert summary["ServiceIds"] == [
        {"Name": "fn", "Names": ["fn"], "Type": "AWS::Lambda::Function"}
    ]
    assert store.summaries(0, 2e9, service="other")[0] == []


def test_an_in_progress_subsegment_is_replaced_by_its_completed_self() -> None:
    store = TraceStore(clock=Clock())
    store.open(T1, "fn")
    assert store.add(doc(end_time=None, in_progress=True), "fn")
    assert store.summaries(0, 2e9)[0][0]["IsPartial"] is True
    assert store.add(doc(), "fn")
    assert len(documents(store, T1)) == 1
    assert store.summaries(0, 2e9)[0][0]["IsPartial"] is False


def test_a_full_trace_refuses_more_and_says_limit_exceeded() -> None:
    store = TraceStore(clock=Clock(), trace_bytes=3000)
    store.open(T1, "fn")
    assert store.add(doc(ident="0000000000000001", pad=1000), "fn")
    assert store.add(doc(ident="0000000000000002", pad=1000), "fn")
    assert not store.add(doc(ident="0000000000000003", pad=1000), "fn")
    found, _ = store.traces([T1])
    assert found[0]["LimitExceeded"] is True and len(found[0]["Segments"]) == 2
    assert store.over_limit == 1


def test_a_flooding_function_evicts_its_own_traces_not_the_others() -> None:
    store = TraceStore(clock=Clock(), max_bytes=40_000, trace_bytes=20_000)
    store.open(T1, "quiet")
    assert store.add(doc(trace=T1, pad=2000), "quiet")
    noisy = [f"1-6b151031-{i:024x}" for i in range(1, 30)]
    for trace in noisy:
        store.open(trace, "noisy")
        store.add(doc(trace=trace, pad=2000), "noisy")
    # The noisy function holds at most a quarter of the store; the quiet one's trace stays.
    assert store.is_open(T1) and store.traces([T1])[1] == []
    kept = [t for t in noisy if store.is_open(t)]
    assert 0 < len(kept) < len(noisy) and kept == noisy[-len(kept) :]
    assert sum(len(json.dumps(d)) for t in kept for d in documents(store, t)) <= 10_000 + 2500


def test_count_and_age_bounds() -> None:
    clock = Clock()
    store = TraceStore(clock=clock, max_traces=3, retention_s=60)
    ids = [f"1-6b151031-{i:024x}" for i in range(5)]
    for trace in ids:
        store.open(trace, "fn")
    assert [store.is_open(t) for t in ids] == [False, False, True, True, True]
    assert store.evicted == 2
    clock.now += 61
    store.open(T2, "fn")
    assert [store.is_open(t) for t in ids] == [False] * 5 and store.is_open(T2)


def test_an_invocations_subsegments_are_listed_by_its_request_id() -> None:
    store = TraceStore(clock=Clock())
    store.open(T1, "fn")
    record_observer(store, "us-east-1", "000000000000")([record(T1)])
    assert store.add(doc(ident="00000000000000aa"), "fn")
    assert store.add(doc(ident="00000000000000bb", parent="00000000000000aa", error=True), "fn")
    assert store.add(doc(ident="00000000000000cc", end_time=None, in_progress=True), "fn")
    rows = store.subsegments("rid")
    assert [(depth, name, failed) for depth, name, _, failed in rows] == [
        (0, "s", False), (1, "s", True), (0, "s", False),
    ]  # fmt: skip
    assert round(rows[0][2]) == 200  # 0.5 s to 0.7 s after the invocation's start
    assert round(rows[2][2]) == 500  # in progress: until the invocation's end (1 s)
    assert store.subsegments("another") == []


def test_a_continued_invocations_segment_has_its_callers_span_as_parent() -> None:
    store = TraceStore(clock=Clock())
    store.open(T1, "fn", (PARENT, "00000000000000ca"))
    record_observer(store, "us-east-1", "000000000000")([record(T1)])
    (own,) = documents(store, T1)
    assert own["id"] == PARENT and own["parent_id"] == "00000000000000ca"


def test_one_header_sent_with_every_invoke_keeps_a_bounded_trace() -> None:
    """A caller may continue one sampled trace in every call: the invocations' own
    segments are charged to the trace's bound like what functions send."""
    store = TraceStore(clock=Clock(), trace_bytes=10 * OWN_BYTES)
    store.open(T1, "fn")
    observe = record_observer(store, "us-east-1", "000000000000")
    for i in range(50):
        rec = record(T1)._replace(request_id=f"rid-{i}")
        header = f"Root={T1};Parent={i:016x};Sampled=1"
        observe([rec._replace(trace_header=header)])
    found, _ = store.traces([T1])
    assert len(found[0]["Segments"]) == 10 and found[0]["LimitExceeded"] is True
    assert store.over_limit == 40
    assert {s["Id"] for s in found[0]["Segments"]} == {f"{i:016x}" for i in range(10)}
