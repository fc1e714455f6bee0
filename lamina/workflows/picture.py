"""An execution as a picture: the state graph, each state coloured by what happened to it.

Pure: (definition text, history events as GetExecutionHistory returns them) → SVG, or an
HTML page holding the SVG and the event list. States are laid out in layers by their
distance from ``StartAt``; edges are Next/Default/Choices (solid) and Catch (dashed).
Each box says the state's type, its status (succeeded, failed, caught, running, not run)
and how long it took, so a failed execution reads at a glance. A Parallel or Map state's
box holds its branches (the Map's item processor), each laid out the same way, at any
depth; their states' status and time add up all their runs (every iteration of a Map).
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
    by_id = {event.get("id"): event for event in events}
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
        elif kind == "EvaluationFailed":  # names its state (chained past its Entered event)
            name = str(_details(event).get("state", ""))
            if name in runs:
                runs[name].failed = True
        elif kind.endswith(("Failed", "TimedOut")):
            # TaskFailed, LambdaFunctionTimedOut, ParallelStateFailed...: the latest open
            # state of the kind that reports it.
            owner = "Parallel" if kind.startswith("Parallel") else (
                "Map" if kind.startswith("Map") else "Task")  # fmt: skip
            name = _entered_before(event, owner, by_id)
            if name is None:  # no chain to follow: the latest open state of that kind
                name = next((n for n, t in reversed(open_states) if t == owner), None)
            if name is not None and name in runs:
                runs[name].failed = True
    return runs, status


def _entered_before(
    event: dict[str, Any], owner: str, by_id: dict[Any, dict[str, Any]]
) -> str | None:
    """The state whose ``<owner>StateEntered`` ``event`` chains back to (its
    ``previousEventId``s): in concurrent branches, the state the failure belongs to."""
    seen = 0
    previous = by_id.get(event.get("previousEventId"))
    while previous is not None and seen < 64:
        if previous["type"] == owner + "StateEntered":
            return str(previous["stateEnteredEventDetails"]["name"])
        previous = by_id.get(previous.get("previousEventId"))
        seen += 1
    return None


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


PAD = 14  # around the branches inside a Parallel or Map box


@dataclass
class Layout:
    """One level of states (the machine's, or a branch's) placed in its own box: each
    state's rectangle relative to the level's top left, and the levels of the branches
    drawn inside a Parallel or Map state's rectangle."""

    states: dict[str, Any]
    edges: list[tuple[str, str, bool]]
    width: float = 0.0
    height: float = 0.0
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    inner: dict[str, list[tuple[float, float, Layout]]] = field(default_factory=dict)


def _branches(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A Parallel state's branches, or a Map state's processor (one), as definitions."""
    if spec.get("Type") == "Parallel":
        return [b for b in spec.get("Branches") or [] if isinstance(b, dict)]
    if spec.get("Type") == "Map":
        processor = spec.get("ItemProcessor") or spec.get("Iterator")
        return [processor] if isinstance(processor, dict) else []
    return []


def layout(machine: dict[str, Any]) -> Layout:
    """Place ``machine``'s states in layers by distance from ``StartAt``, a Parallel or Map
    state's branches side by side inside its box (recursively)."""
    states: dict[str, Any] = {k: v for k, v in (machine.get("States") or {}).items()
                              if isinstance(v, dict)}  # fmt: skip
    edges = _edges(states)
    depth = _layers(str(machine.get("StartAt", "")), states, edges)
    out = Layout(states, edges)
    sizes: dict[str, tuple[float, float]] = {}
    for name, spec in states.items():
        branches = [layout(b) for b in _branches(spec)]
        if not branches:
            sizes[name] = (BOX_W, BOX_H)
            continue
        inner_w = sum(b.width for b in branches) + GAP_X * (len(branches) - 1)
        inner_h = max(b.height for b in branches)
        w = max(BOX_W, inner_w + 2 * PAD)
        x = (w - inner_w) / 2
        placed: list[tuple[float, float, Layout]] = []
        for b in branches:
            placed.append((x, BOX_H + PAD, b))
            x += b.width + GAP_X
        out.inner[name] = placed
        sizes[name] = (w, BOX_H + 2 * PAD + inner_h)
    rows: dict[int, list[str]] = {}
    for name in states:
        rows.setdefault(depth[name], []).append(name)
    row_w = {lvl: sum(sizes[n][0] for n in names) + GAP_X * (len(names) - 1)
             for lvl, names in rows.items()}  # fmt: skip
    out.width = max(row_w.values(), default=BOX_W)
    y = 0.0
    for lvl in sorted(rows):
        names = rows[lvl]
        x = (out.width - row_w[lvl]) / 2
        for name in names:
            w, h = sizes[name]
            out.boxes[name] = (x, y, w, h)
            x += w + GAP_X
        y += max(sizes[n][1] for n in names) + GAP_Y
    out.height = y - GAP_Y if rows else BOX_H
    return out


def _draw(level: Layout, ox: float, oy: float, runs: dict[str, StateRun]) -> list[str]:
    out = []
    box = {n: (ox + x, oy + y, w, h) for n, (x, y, w, h) in level.boxes.items()}
    for a, b, dashed in level.edges:
        if a not in box or b not in box:
            continue
        (ax, ay, aw, ah), (bx, by, bw, _) = box[a], box[b]
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        if by <= ay:  # a loop back up: go round the right-hand side
            x1, y1, x2, y2 = ax + aw, ay + BOX_H / 2, bx + bw, by + BOX_H / 2
            bend = max(x1, x2) + 40
            path = f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        else:
            path = f"M{ax + aw / 2:.0f},{ay + ah:.0f} L{bx + bw / 2:.0f},{by:.0f}"
        out.append(f'<path d="{path}" fill="none" stroke="#555"{dash} marker-end="url(#arrow)"/>')
    for name, (x, y, w, h) in box.items():
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
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>',
            f'<text x="{x + 10:.0f}" y="{y + 20:.0f}" font-weight="bold">'
            f"{html.escape(_fit(name, 24))}</text>",
            f'<text x="{x + 10:.0f}" y="{y + 36:.0f}" fill="#444">'
            f"{html.escape(_fit(_label(level.states[name]), 28))}</text>",
            f'<text x="{x + 10:.0f}" y="{y + 51:.0f}" fill="{stroke}">'
            f"{html.escape(_fit(run.status + times + timing, 31))}</text></g>",
        ]
        for bx, by, branch in level.inner.get(name, []):
            # Each branch (or the Map's item processor) on white, its states inside.
            out.append(f'<rect x="{x + bx - 6:.0f}" y="{y + by - 6:.0f}" '
                       f'width="{branch.width + 12:.0f}" height="{branch.height + 12:.0f}" '
                       f'rx="6" fill="#fff" stroke="#bbb" stroke-dasharray="3,3"/>')  # fmt: skip
            out += _draw(branch, x + bx, y + by, runs)
    return out


def render_svg(definition: str, events: list[dict[str, Any]], title: str = "") -> str:
    placed = layout(json.loads(definition))
    runs, status = state_runs(events)
    width = MARGIN * 2 + placed.width
    top = MARGIN + 40
    height = top + placed.height + GAP_Y + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="15" font-weight="bold">'
        f"{html.escape(title or 'execution')} — {html.escape(status)}</text>",
        *_draw(placed, MARGIN, top, runs),
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
