"""Trace headers: a new trace per invocation, or the incoming one continued (pure)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

from lamina.events.asyncinvoke.store import AsyncInvokeStore
from lamina.metrics.otlp import span_ids
from lamina.tracing import (
    INCOMING,
    canonical,
    continued,
    incoming_root,
    invocation_ids,
    new_request_id,
    xray_header,
)
from tests.billing.test_ledger import make_record

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def test_an_incoming_root_is_kept_and_our_span_becomes_the_parent() -> None:
    rid = str(uuid.uuid4())
    header = xray_header(rid, 1000.0, f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")
    ids = invocation_ids(rid, 1000.0)
    assert ids is not None
    assert header == f"Root={ROOT};Parent={ids[1]};Sampled=1"
    # Keys in any case and order, spaces; unsampled by default.
    assert incoming_root(f"sampled=0; root={ROOT.upper()}") == (ROOT, "0")
    for bad in (None, "", "Root=1-xyz", f"Root={ROOT}x", "Parent=1", "Root=" + "a" * 300):
        assert incoming_root(bad) is None
        assert not xray_header(rid, 1000.0, bad).startswith(f"Root={ROOT}")


def test_active_tracing_samples_unless_the_caller_decided() -> None:
    rid = str(uuid.uuid4())
    span = f"Parent={invocation_ids(rid, 1000.0)[1]}"  # type: ignore[index]
    assert xray_header(rid, 1000.0).endswith(f"{span};Sampled=0")  # PassThrough
    assert xray_header(rid, 1000.0, active=True).endswith(f"{span};Sampled=1")
    assert xray_header("not-a-uuid", 1000.0, active=True).endswith(";Sampled=1")
    # A caller's decision stands, either way; a caller that made none is sampled.
    for given, sampled in (("Sampled=0", "0"), ("sampled=1", "1"), ("", "1"), ("Sampled=?", "1")):
        header = xray_header(rid, 1000.0, f"Root={ROOT};{given}", active=True)
        assert header == f"Root={ROOT};{span};Sampled={sampled}"
    assert xray_header(rid, 1000.0, f"Root={ROOT}").endswith(";Sampled=0")


def test_continued_sets_the_trace_for_invokes_inside_only() -> None:
    assert INCOMING.get() is None
    with continued(f"Root={ROOT}"):
        assert INCOMING.get() == f"Root={ROOT}"
        with continued("not a trace"):  # an inner source without one keeps the outer
            assert INCOMING.get() == f"Root={ROOT}"
    assert INCOMING.get() is None


def test_canonical_rebuilds_a_header_from_its_valid_fields_only() -> None:
    sent = f" root={ROOT.upper()} ; parent=53995C3F42CD8AD8;Sampled=1;Lineage=x:0;<script>"
    assert canonical(sent) == f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
    # A bad Parent or Sampled is left out, the Root kept; the result is its own canonical.
    rebuilt = canonical(f"Root={ROOT};Parent=xyz;Sampled=yes")
    assert rebuilt == f"Root={ROOT}"
    assert canonical(rebuilt) == rebuilt
    for bad in (None, "", "Root=1-xyz", "Parent=53995c3f42cd8ad8;Sampled=1", "a" * 300):
        assert canonical(bad) is None
    # What an invoke inside continued() sees is the rebuilt header, not the client's text.
    with continued(sent):
        assert INCOMING.get() == canonical(sent)


def test_the_async_queue_keeps_an_events_trace_and_migrates_old_files(tmp_path: Path) -> None:
    path = tmp_path / "async-invokes.db"
    with sqlite3.connect(path) as c:  # a queue file from before events kept their trace
        c.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT "
            "NULL UNIQUE, function TEXT NOT NULL, qualifier TEXT, payload BLOB NOT NULL, "
            "accepted_at REAL NOT NULL, due_at REAL NOT NULL, attempts INTEGER NOT NULL "
            "DEFAULT 0, throttles INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, last_response TEXT)"
        )
        c.execute("INSERT INTO events (request_id, function, payload, accepted_at, due_at) "
                  "VALUES ('old', 'fn', x'7b7d', 1, 1)")  # fmt: skip
    store = AsyncInvokeStore(path, fsync=False)
    try:
        asyncio.run(store.insert("new", "fn", None, b"{}", 2.0, f"Root={ROOT}"))
        events, _ = asyncio.run(store.claim("me", 10.0, 30.0, 10))
        assert {e.request_id: e.trace_header for e in events} == {
            "old": None,
            "new": f"Root={ROOT}",
        }
    finally:
        store.close()


def test_otlp_puts_a_continued_invocation_in_the_callers_trace() -> None:
    rec = make_record(1)
    header = xray_header(str(uuid.uuid4()), rec.started_at, f"Root={ROOT};Sampled=1")
    traced = rec._replace(trace_header=header)
    assert span_ids(traced) == (ROOT[2:].replace("-", ""), header.split("Parent=")[1][:16])
    assert span_ids(rec) != span_ids(traced)  # no header: derived from the request id


def test_request_ids_are_version_4_uuids_in_lambdas_text() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in ids:
        parsed = uuid.UUID(rid)
        assert str(parsed) == rid  # lower-case, hyphenated 8-4-4-4-12
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert invocation_ids(rid, 0.0) is not None  # trace ids derive from them
