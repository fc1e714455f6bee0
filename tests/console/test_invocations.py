"""The function page's recent invocations with their payloads."""

from __future__ import annotations

from lamina.billing.ledger_queries import LedgerEntry
from lamina.billing.meter import invocation_cost
from lamina.billing.prices import load_prices
from lamina.console import views
from lamina.scheduler.recent_payloads import RecentPayloads
from tests.billing.test_ledger import make_record
from tests.console.test_summary import cfg

TABLE = load_prices()


def test_the_page_escapes_and_pretty_prints_payloads() -> None:
    ring = RecentPayloads()
    ring.add("f", "req-1", b'{"html": "<script>"}', b"<b>plain</b>")
    html = views.recent_invocations(ring.of("f"), [])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "{\n  &quot;html&quot;: &quot;&lt;script&gt;&quot;\n}" in html
    assert "&lt;b&gt;plain&lt;/b&gt;" in html and 'data-request-id="req-1"' in html


def test_recent_invocations_show_what_started_each() -> None:
    ring = RecentPayloads()
    ring.add("fn", "req-1", b"{}", b"null")
    ring.add("fn", "req-2", b"{}", b"null")
    records = [
        make_record(1)._replace(trigger="datasource"),
        make_record(2)._replace(trigger="pubsub"),
    ]
    entries = [LedgerEntry(r, invocation_cost(r, TABLE)) for r in records]
    html = views.recent_invocations(ring.of("fn"), entries)
    assert "req-1 · datasource</summary>" in html and "req-2 · pubsub</summary>" in html
    page = views.function_page(views.FunctionPage(cfg("fn"), ["$LATEST"], entries))
    reports = page.split("<pre id=reports>")[1].split("</pre>")[0].splitlines()
    assert [line.split()[:3] for line in reports] == [
        ["datasource", "REPORT", "RequestId:"],
        ["pubsub", "REPORT", "RequestId:"],
    ]


def test_a_traced_invocation_lists_its_x_ray_subsegments() -> None:
    ring = RecentPayloads()
    ring.add("fn", "req-1", b"{}", b"null")
    ring.add("fn", "req-2", b"{}", b"null")
    rows = {"req-1": [(0, "work", 12.5, False), (1, "<inner>", 0.25, True)]}
    html = views.recent_invocations(ring.of("fn"), [], rows)
    two, one = html.split("</details>")[:2]  # newest first
    assert 'data-request-id="req-1"' in one
    listed = one.split("<pre class=subsegments>")[1].split("</pre>")[0]
    assert listed.splitlines() == ["work  12.5 ms", "  &lt;inner&gt;  0.2 ms  (error)"]
    assert "subsegments" not in two
