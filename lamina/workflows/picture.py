"""An execution as a picture: the state graph, each state coloured by what happened to it.

Pure: (definition text, history events as GetExecutionHistory returns them) → SVG, or an
HTML page holding the SVG and the event list. States are laid out in layers by their
distance from ``StartAt``; edges are Next/Default/Choices (solid) and Catch (dashed).
Each box says the state's type, its status (succeeded, failed, caught, running, not run)
and how long it took, so a failed execution reads at a glance.
"""

from __future__ import annotations

import html
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 190, 58, 40, 50, 30
COLOURS = {
    "succeeded": ("#e6f4ea", "#2e7d32"),
    "failed": ("#fdecea", "#c62828"),
    "caught": ("#fff4e5", "#ef6c00"),
    "running": ("#e8f0fe", "#1a73e8"),
    "not run": ("#f5f5f5", "#9e9e9e"),
}


@dataclass
class StateRun:
    """What the history says about one top-level state."""

    entered: list[float] = field(default_factory=list)
    exited: list[float] = field(default_factory=list)
    failed: bool = False
    iterations: int = 0  # a Map state's iterations, and how many of them failed
    iterations_failed: int = 0

    @property
    def status(self) -> str:
        if not self.entered:
            return "not run"
        if self.failed:
            return "failed" if len(self.exited) < len(self.entered) else "caught"
        if len(self.exited) < len(self.entered):
            return "running"
        return "succeeded"

    @property
    def seconds(self) -> float | None:
        if not self.entered or not self.exited:
            return None
        return sum(b - a for a, b in zip(self.entered, self.exited, strict=False))


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


_ENDS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}


def state_runs(events: list[dict[str, Any]]) -> tuple[dict[str, StateRun], str]:
    """Per-state runs and the execution's status, from history events (oldest first)."""
    runs: dict[str, StateRun] = {}
    open_states: list[tuple[str, str]] = []  # (name, state type) entered and not exited
    status = "RUNNING"
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            runs.setdefault(name, StateRun()).entered.append(_ts(event["timestamp"]))
            open_states.append((name, kind.removesuffix("StateEntered")))
            if kind == "FailStateEntered":
                runs[name].failed = True
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            runs.setdefault(name, StateRun()).exited.append(_ts(event["timestamp"]))
            for i in range(len(open_states) - 1, -1, -1):
                if open_states[i][0] == name:
                    del open_states[i]
                    break
        elif kind.startswith("MapIteration"):
            run = runs.get(str(_details(event).get("name", "")))
            if run is not None and kind in ("MapIterationSucceeded", "MapIterationFailed"):
                run.iterations += 1
                run.iterations_failed += kind == "MapIterationFailed"
        elif kind.startswith("Execution"):
            if kind in _ENDS:
                status = _ENDS[kind]
        elif kind.endswith(("Failed", "TimedOut")):
            # TaskFailed, LambdaFunctionTimedOut, ParallelStateFailed...: the latest open
            # state of the kind that reports it.
            owner = "Parallel" if kind.startswith("Parallel") else (
                "Map" if kind.startswith("Map") else "Task")  # fmt: skip
            for name, state_type in reversed(open_states):
                if state_type == owner:
                    runs[name].failed = True
                    break
    return runs, status


def _edges(states: dict[str, Any]) -> list[tuple[str, str, bool]]:
    out = []
    for name, spec in states.items():
        if not isinstance(spec, dict):
            continue
        targets = [spec.get("Next"), spec.get("Default")]
        targets += [c.get("Next") for c in spec.get("Choices") or [] if isinstance(c, dict)]
        out += [(name, t, False) for t in targets if isinstance(t, str)]
        out += [(name, c["Next"], True) for c in spec.get("Catch") or []
                if isinstance(c, dict) and isinstance(c.get("Next"), str)]  # fmt: skip
    return out


def _layers(
    start: str, states: dict[str, Any], edges: list[tuple[str, str, bool]]
) -> dict[str, int]:
    depth = {start: 0}
    todo = deque([start])
    while todo:
        name = todo.popleft()
        for a, b, _ in edges:
            if a == name and b not in depth and b in states:
                depth[b] = depth[name] + 1
                todo.append(b)
    for name in states:  # unreachable states (cannot be created, but be safe)
        depth.setdefault(name, max(depth.values(), default=0) + 1)
    return depth


def _label(spec: dict[str, Any]) -> str:
    kind = str(spec.get("Type", "?"))
    if kind == "Parallel":
        return f"Parallel · {len(spec.get('Branches') or [])} branches"
    if kind == "Task":
        resource = str(spec.get("Resource", ""))
        return "Task · " + (resource.rsplit(":", 1)[-1] if resource else "?")
    return kind


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_svg(definition: str, events: list[dict[str, Any]], title: str = "") -> str:
    spec = json.loads(definition)
    states: dict[str, Any] = spec.get("States", {})
    edges = _edges(states)
    depth = _layers(spec.get("StartAt", ""), states, edges)
    runs, status = state_runs(events)
    rows: dict[int, list[str]] = {}
    for name in states:
        rows.setdefault(depth[name], []).append(name)
    widest = max((len(r) for r in rows.values()), default=1)
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X
    top = MARGIN + 40
    height = top + len(rows) * (BOX_H + GAP_Y) + 40
    pos: dict[str, tuple[float, float]] = {}
    for level, names in rows.items():
        row_w = len(names) * BOX_W + (len(names) - 1) * GAP_X
        x0 = (width - row_w) / 2
        for i, name in enumerate(names):
            pos[name] = (x0 + i * (BOX_W + GAP_X), top + level * (BOX_H + GAP_Y))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="15" font-weight="bold">'
        f"{html.escape(title or 'execution')} — {html.escape(status)}</text>",
    ]
    for a, b, dashed in edges:
        if a not in pos or b not in pos:
            continue
        (ax, ay), (bx, by) = pos[a], pos[b]
        x1, y1 = ax + BOX_W / 2, ay + BOX_H
        x2, y2 = bx + BOX_W / 2, by
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        if by <= ay:  # a loop back up: go round the right-hand side
            x1, y1, x2, y2 = ax + BOX_W, ay + BOX_H / 2, bx + BOX_W, by + BOX_H / 2
            bend = max(x1, x2) + 40
            path = f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        else:
            path = f"M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}"
        out.append(f'<path d="{path}" fill="none" stroke="#555"{dash} marker-end="url(#arrow)"/>')
    for name, (x, y) in pos.items():
        run = runs.get(name, StateRun())
        fill, stroke = COLOURS[run.status]
        seconds = run.seconds
        timing = f" · {seconds * 1000:.0f} ms" if seconds is not None and seconds < 1 else (
            f" · {seconds:.1f} s" if seconds is not None else "")  # fmt: skip
        times = f" x{len(run.entered)}" if len(run.entered) > 1 else ""
        if run.iterations:
            failed = f", {run.iterations_failed} failed" if run.iterations_failed else ""
            times += f" · {run.iterations} items{failed}"
        out += [
            f"<g><title>{html.escape(name)}: {run.status}</title>",
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>',
            f'<text x="{x + 10:.0f}" y="{y + 20:.0f}" font-weight="bold">'
            f"{html.escape(_fit(name, 24))}</text>",
            f'<text x="{x + 10:.0f}" y="{y + 36:.0f}" fill="#444">'
            f"{html.escape(_fit(_label(states[name]), 28))}</text>",
            f'<text x="{x + 10:.0f}" y="{y + 51:.0f}" fill="{stroke}">'
            f"{html.escape(_fit(run.status + times + timing, 31))}</text></g>",
        ]
    legend_y = height - 18
    x = MARGIN
    for name, (fill, stroke) in COLOURS.items():
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{fill}" '
                   f'stroke="{stroke}"/><text x="{x + 16}" y="{legend_y}">{name}</text>')  # fmt: skip
        x += 95
    out.append("</svg>")
    return "\n".join(out)


def render_html(definition: str, events: list[dict[str, Any]], title: str = "") -> str:
    rows = []
    for event in events:
        details: Any = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        name = details.get("name", "") if isinstance(details, dict) else ""
        extra = ""
        if isinstance(details, dict) and ("error" in details or "cause" in details):
            extra = f"{details.get('error', '')}: {details.get('cause', '')}"
        rows.append(
            f"<tr><td>{event['id']}</td><td>{html.escape(str(event['timestamp']))}</td>"
            f"<td>{html.escape(event['type'])}</td><td>{html.escape(name)}</td>"
            f"<td>{html.escape(extra[:300])}</td></tr>"
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:24px}td,th{padding:2px 10px;"
        "text-align:left;border-bottom:1px solid #eee;font-size:13px}</style></head><body>"
        f"{render_svg(definition, events, title)}<h3>History</h3><table><tr><th>id</th>"
        "<th>time</th><th>type</th><th>state</th><th>error</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
