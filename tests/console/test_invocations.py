"""The function page's recent invocations with their payloads."""

from __future__ import annotations

from lamina.console import views
from lamina.scheduler.recent_payloads import RecentPayloads


def test_the_page_escapes_and_pretty_prints_payloads() -> None:
    ring = RecentPayloads()
    ring.add("f", "req-1", b'{"html": "<script>"}', b"<b>plain</b>")
    html = views.recent_invocations(ring.of("f"), [])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "{\n  &quot;html&quot;: &quot;&lt;script&gt;&quot;\n}" in html
    assert "&lt;b&gt;plain&lt;/b&gt;" in html and 'data-request-id="req-1"' in html
