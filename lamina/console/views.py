"""The console's HTML, rendered on the server (pure). Every value is escaped; pages carry
no inline script or style, so the Content-Security-Policy can forbid both."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from lamina.billing.ledger_queries import LedgerEntry
from lamina.console.summary import FunctionRow
from lamina.console.triggers import AsyncStatus, Trigger
from lamina.logs.lines import report_line
from lamina.models.alias import Alias
from lamina.models.function import FunctionConfig
from lamina.scheduler.recent_payloads import MAX_BYTES, PER_FUNCTION, Payloads, shown

STATIC = "/console/static"


def _page(title: str, body: str, *, charts: bool = False) -> str:
    vendor = (
        f'<link rel="stylesheet" href="{STATIC}/vendor/uplot/uPlot.min.css">'
        f'<script src="{STATIC}/vendor/uplot/uPlot.iife.min.js" defer></script>'
        if charts
        else ""
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f'<title>{escape(title)} · Lamina</title><link rel=icon href="data:,">'
        f'<link rel="stylesheet" href="{STATIC}/console.css">{vendor}'
        f'<script src="{STATIC}/console.js" defer></script></head><body>'
        '<header><a class=brand href="/console">Lamina</a><nav>'
        '<a href="/console">Functions</a><a href="/console/workflows">Workflows</a>'
        '<a href="/console/cost">Cost</a>'
        '<form method=post action="/console/logout"><button>Log out</button></form>'
        f"</nav></header><main>{body}</main></body></html>"
    )


def page(title: str, body: str, *, charts: bool = False) -> str:
    """A console page around ``body`` (HTML the caller escaped)."""
    return _page(title, body, charts=charts)


def _when(epoch: int | float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def login(error: str = "") -> str:
    note = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    return _page(
        "Log in",
        "<h1>Log in</h1>"
        f'{note}<form method=post action="/console/login" class=login>'
        "<label>Access key ID <input name=key_id autocomplete=username required></label>"
        "<label>Secret access key <input name=secret type=password "
        "autocomplete=current-password required></label>"
        "<button>Log in</button></form>",
    )


def functions_list(rows: list[FunctionRow]) -> str:
    head = (
        "<tr><th data-sort=text>Function</th><th data-sort=text>Runtime</th>"
        "<th data-sort=num>Memory (MB)</th><th data-sort=text>Last invoke</th>"
        "<th data-sort=num>Invocations (1 h)</th><th data-sort=num>Errors</th>"
        "<th data-sort=num>Throttles</th><th data-sort=num>p50 (ms)</th>"
        "<th data-sort=num>p99 (ms)</th><th data-sort=num>Cold starts</th>"
        "<th data-sort=num>Cost today (USD)</th>"
        "<th data-sort=num>Projected / month (USD)</th></tr>"
    )
    body = []
    for r in rows:
        cold = "—" if r.cold_share is None else f"{100 * r.cold_share:.0f} %"
        body.append(
            f'<tr data-function="{escape(r.name)}">'
            f'<td><a href="/console/functions/{quote(r.name)}">{escape(r.name)}</a></td>'
            f"<td>{escape(r.runtime)}</td><td>{r.memory_mb}</td>"
            f"<td>{_when(r.last_invoke)}</td>"
            f"<td class=invocations>{r.invocations}</td>"
            f'<td class="errors{" bad" if r.errors else ""}">{r.errors}</td>'
            f"<td class=throttles>{r.throttles}</td><td>{_ms(r.p50_ms)}</td>"
            f"<td>{_ms(r.p99_ms)}</td><td>{cold}</td><td>{r.cost_today:.8f}</td>"
            f"<td class=projected>{r.projected_month:.6f}</td></tr>"
        )
    empty = "<p>No functions yet.</p>" if not rows else ""
    return _page(
        "Functions",
        f"<h1>Functions ({len(rows)})</h1>"
        '<input id=filter type=search placeholder="Filter by name or runtime">'
        f"<table id=functions class=sortable><thead>{head}</thead>"
        f"<tbody>{''.join(body)}</tbody></table>{empty}",
    )


_CHARTS = (
    ("invocations", "Invocations, errors and throttles per minute"),
    ("duration", "Duration p50 / p99 (ms)"),
    ("success", "Success (%)"),
    ("cold", "Cold starts and average Init Duration (ms)"),
    ("memory", "Max Memory Used vs configured (MB)"),
    ("concurrency", "Concurrent executions (average per minute) vs the limit"),
    ("cost", "Cost per hour, the trailing 60 minutes (millionths of a USD)"),
)


def alias_text(alias: Alias) -> str:
    """``live → 3`` or ``live → 3 (90 %), 4 (10 %)``."""
    if not alias.weights:
        return f"{alias.name} → {alias.version}"
    extra = sum(alias.weights.values())
    shares = [f"{alias.version} ({100 * (1 - extra):g} %)"] + [
        f"{v} ({100 * w:g} %)" for v, w in sorted(alias.weights.items())
    ]
    return f"{alias.name} → {', '.join(shares)}"


@dataclass(frozen=True)
class FunctionPage:
    """Everything a function's page shows besides what its script fetches."""

    cfg: FunctionConfig
    versions: list[str]
    recent: list[LedgerEntry]
    aliases: list[Alias] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    queued: AsyncStatus | None = None
    concurrency_limit: int = 1000  # reserved concurrency, or the account's limit
    payloads: list[str] = field(default_factory=list)  # the Invoke box's history
    invocations: list[Payloads] = field(default_factory=list)  # newest first
    # Active tracing: each invocation's X-Ray subsegments, (depth, name, ms, failed).
    subsegments: dict[str, list[tuple[int, str, float, bool]]] = field(default_factory=dict)


def _table(cls: str, head: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str) -> str:
    if not rows:
        return f"<p class={cls}>{escape(empty)}</p>"
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table class={cls}><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _triggers(triggers: list[Trigger]) -> str:
    rows = [(t.kind, t.source, t.detail) for t in triggers]
    return _table("triggers", ("Kind", "Source", "Detail"), rows, "Nothing triggers it yet.")


def _age(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"


def _queued(q: AsyncStatus | None) -> str:
    if q is None:
        return ""
    facts = {
        "Events waiting or in flight": str(q.depth),
        "Oldest event's age": _age(q.oldest_age_s),
        "Dead-letter queue": q.dead_letter_arn or "—",
    }
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td class=q-{i}>{escape(v)}</td></tr>"
        for i, (k, v) in enumerate(facts.items())
    )
    configs = [
        (
            c.qualifier,
            "2 (default)" if c.maximum_retry_attempts is None else str(c.maximum_retry_attempts),
            "6 h (default)" if c.maximum_event_age_s is None else f"{c.maximum_event_age_s} s",
            c.on_success or "—",
            c.on_failure or "—",
        )
        for c in q.configs
    ]
    return (
        "<section><h2>Asynchronous invocation</h2>"
        f"<table class=config id=async>{rows}</table>"
        + _table(
            "destinations",
            ("Qualifier", "Retries", "Maximum event age", "On success", "On failure"),
            configs,
            "No event invoke configuration: 2 retries, 6 hours, no destinations.",
        )
        + "</section>"
    )


def _history(payloads: list[str]) -> str:
    options = "".join(
        f'<option value="{escape(p)}">{escape(p if len(p) <= 80 else p[:77] + "...")}</option>'
        for p in payloads
    )
    return (
        "<label>Earlier payloads <select id=history>"
        f'<option value="">—</option>{options}</select></label>'
    )


def recent_invocations(
    invocations: list[Payloads],
    recent: list[LedgerEntry],
    subsegments: dict[str, list[tuple[int, str, float, bool]]] | None = None,
) -> str:
    """Each kept invocation's request and response, under its REPORT line (joined by
    request id; the ledger may not have it yet, or no longer among the last 20), and the
    X-Ray subsegments its function sent (active tracing)."""
    if not invocations:
        return "<p class=muted>No payloads kept yet.</p>"
    reports = {e.record.request_id: e.record for e in recent}
    items = []
    for p in invocations:
        at = datetime.fromtimestamp(p.time, UTC).strftime("%H:%M:%S")
        failed = f" ({p.function_error})" if p.function_error else ""
        rec = reports.get(p.request_id)
        report = report_line(rec) if rec is not None else ""
        trigger = f" · {rec.trigger}" if rec is not None else ""
        items.append(
            f'<details class=invocation data-request-id="{escape(p.request_id)}">'
            f"<summary>{at} UTC {escape(p.request_id)}{escape(trigger)}{escape(failed)}"
            "</summary>"
            + (f"<pre class=report>{escape(report)}</pre>" if report else "")
            + "<h3>Request</h3>"
            f"<pre class=request>{escape(shown(p.request, p.request_truncated))}</pre>"
            "<h3>Response</h3>"
            f"<pre class=response>{escape(shown(p.response, p.response_truncated))}</pre>"
            + _subsegments((subsegments or {}).get(p.request_id, []))
            + "<h3>Logs</h3><pre class=logs>…</pre></details>"
        )
    return "".join(items)


def _subsegments(rows: list[tuple[int, str, float, bool]]) -> str:
    if not rows:
        return ""
    lines = [
        f"{'  ' * min(depth, 8)}{name}  {ms:.1f} ms{'  (error)' if failed else ''}"
        for depth, name, ms, failed in rows[:200]
    ]
    return "<h3>X-Ray subsegments</h3><pre class=subsegments>" + escape("\n".join(lines)) + "</pre>"


def function_page(page: FunctionPage) -> str:
    cfg = page.cfg
    name = escape(cfg.name)
    config = {
        "Runtime": cfg.runtime,
        "Handler": cfg.handler,
        "Memory (MB)": str(cfg.memory_mb),
        "Timeout (s)": str(cfg.timeout_s),
        "Architecture": cfg.architecture,
        "Ephemeral storage (MB)": str(cfg.ephemeral_mb),
        "Concurrency limit": str(page.concurrency_limit),
        "Versions": ", ".join(page.versions),
        "Aliases": "; ".join(alias_text(a) for a in page.aliases) or "—",
        "Last modified": cfg.last_modified,
    }
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in config.items())
    charts = "".join(
        f'<figure><figcaption>{escape(title)}</figcaption><div class=chart id="chart-{key}">'
        "</div></figure>"
        for key, title in _CHARTS
    )
    # Each REPORT line after what started the invocation (its faas.trigger).
    reports = "\n".join(
        escape(f"{e.record.trigger:<10} {report_line(e.record)}") for e in page.recent
    )
    meta = escape(
        json.dumps(
            {
                "name": cfg.name,
                "memory_mb": cfg.memory_mb,
                "concurrency_limit": page.concurrency_limit,
            }
        )
    )
    return _page(
        cfg.name,
        f'<h1 id=function data-function="{meta}">{name}</h1>'
        "<section class=charts><label>Range <select id=range>"
        "<option value=60 selected>1 hour</option><option value=360>6 hours</option>"
        "<option value=1440>24 hours</option><option value=10080>7 days</option>"
        "<option value=custom>Custom (UTC)…</option></select></label>"
        "<form id=range-custom class=inline hidden>"
        "<label>From <input type=datetime-local id=range-from required></label>"
        "<label>To <input type=datetime-local id=range-to required></label>"
        "<button>Show</button> <span id=range-error role=alert></span></form>"
        f"<div class=grid>{charts}</div></section>"
        f"<section><h2>Configuration</h2><table class=config>{rows}</table></section>"
        f"<section><h2>Triggers</h2>{_triggers(page.triggers)}</section>"
        f"{_queued(page.queued)}"
        "<section><h2>Live log tail</h2><pre id=tail aria-live=polite></pre></section>"
        f"<section><h2>Invoke</h2>{_history(page.payloads)}<form id=invoke>"
        "<textarea name=payload rows=4 spellcheck=false>{}</textarea>"
        "<button>Invoke</button></form>"
        "<pre id=invoke-result aria-live=polite></pre></section>"
        "<section><h2>Tune and compare</h2><form id=tune class=inline>"
        '<label>Memory (MB) <input name=memory value="128,512,1024"></label>'
        "<label>Invocations per size <input name=invocations type=number min=1 max=100 "
        "value=5></label><label>Compare with <input name=other "
        'placeholder="another function"></label>'
        "<button name=action value=tune>Tune</button>"
        "<button name=action value=compare>Compare</button></form>"
        "<p class=muted>Runs <code>lamina tune</code> / <code>lamina compare</code> against "
        "this server with the Invoke box's payload (each size is deployed, invoked and "
        "the function restored).</p>"
        "<p id=tune-status aria-live=polite></p>"
        "<figure><figcaption>Cost per million invocations (USD) and p50 billed duration "
        "(ms) by memory size</figcaption><div class=chart id=chart-tune></div></figure>"
        "</section>"
        "<section><h2>Recent invocations (trigger, REPORT)</h2>"
        f"<pre id=reports>{reports or 'No invocations yet.'}</pre></section>"
        "<section id=invocations><h2>Recent invocations (payloads)</h2>"
        f"{recent_invocations(page.invocations, page.recent, page.subsegments)}"
        f"<p class=muted>The last {PER_FUNCTION} invocations' payloads, each cut at "
        f"{MAX_BYTES // 1024} KiB, kept in the server's memory.</p></section>",
        charts=True,
    )
