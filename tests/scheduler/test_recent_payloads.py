"""The ring of recent invocations' payloads the console's function page shows."""

from __future__ import annotations

import json

from lamina.scheduler.recent_payloads import RecentPayloads, shown


def test_keeps_the_last_n_per_function_newest_first() -> None:
    ring = RecentPayloads(per_function=3, max_bytes=64, functions=10)
    for i in range(5):
        ring.add("f", f"r{i}", b'{"i": %d}' % i, b"null")
    assert [p.request_id for p in ring.of("f")] == ["r4", "r3", "r2"]
    assert ring.of("unknown") == []


def test_cuts_each_payload_and_says_so() -> None:
    ring = RecentPayloads(per_function=3, max_bytes=8, functions=10)
    small = b'{"a":1}'
    ring.add("f", "r", b"x" * 20, small, "Unhandled")
    (p,) = ring.of("f")
    assert p.request == b"x" * 8 and p.request_truncated
    assert p.response is small and not p.response_truncated  # short: not copied
    assert p.function_error == "Unhandled"
    assert shown(p.request, p.request_truncated).endswith("(truncated)")
    assert json.loads(shown(p.response, p.response_truncated)) == {"a": 1}
    assert shown(b"not json \xff", False) == "not json \ufffd"


def test_forgets_the_least_recently_invoked_function() -> None:
    ring = RecentPayloads(per_function=2, max_bytes=8, functions=2)
    ring.add("a", "1", b"", b"")
    ring.add("b", "2", b"", b"")
    ring.add("a", "3", b"", b"")  # a is now the most recent
    ring.add("c", "4", b"", b"")
    assert len(ring) == 2 and ring.of("b") == [] and len(ring.of("a")) == 2
