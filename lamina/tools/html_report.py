"""One self-contained HTML file of charts and tables: nothing is fetched from anywhere.

Charts are SVG embedded as ``data:`` images (each its own document, so the ids matplotlib
writes never collide), styles and the one small script are inline, and a
Content-Security-Policy forbids every other source — the browser would refuse (and
report) anything external. The script only makes tables sortable by a click on a header
and marks the page ready (``<body data-ready="yes">``), which the tests read back from a
headless browser.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { cursor: pointer; background: #f5f5f5; user-select: none; }
th[data-dir="asc"]::after { content: " \\25B2"; } th[data-dir="desc"]::after { content: " \\25BC"; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
img.chart { max-width: 100%; height: auto; display: block; margin: 1em 0; }
p.note { color: #555; } footer { margin-top: 3em; color: #888; font-size: 0.9em; }
"""

# Sort a table by a header click: numbers (a leading "$", commas and units ignored) compare
# as numbers, anything else as text; a second click reverses.
_SCRIPT = """
(function () {
  "use strict";
  function key(text) {
    var t = text.replace(/[$,x]/g, "").replace(/ (MB|ms)$/, "").trim();
    var n = parseFloat(t);
    return isNaN(n) || !/^-?[0-9.]+$/.test(t) ? text : n;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, column) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute("data-dir") !== "asc";
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
        th.setAttribute("data-dir", asc ? "asc" : "desc");
        rows.sort(function (a, b) {
          var x = key(a.cells[column].textContent), y = key(b.cells[column].textContent);
          var order = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                              : (typeof x === "number" ? -1 : 1);
          return asc ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
  document.body.setAttribute("data-ready", "yes");
})();
"""


@dataclass(frozen=True, slots=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    caption: str = ""


@dataclass(slots=True)
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (alt text, SVG document)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in t.headers)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in t.rows
    )
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return (
        f'<table class="sortable">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table>"
    )


def _chart(alt: str, svg: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def render(title: str, sections: Sequence[Section], footer: str = "") -> str:
    """The whole document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head>",
        f"<body><h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        parts.extend(f"<p>{html.escape(p)}</p>" for p in section.paragraphs)
        parts.extend(_chart(alt, svg) for alt, svg in section.charts)
        parts.extend(_table(t) for t in section.tables)
        parts.extend(f'<p class="note">{html.escape(n)}</p>' for n in section.notes)
        parts.append("</section>")
    if footer:
        parts.append(f"<footer>{html.escape(footer)}</footer>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
