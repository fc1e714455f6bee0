"""CloudWatch metric math (pure): the parser and evaluator of ``MetricDataQuery``
``Expression`` s, as GetMetricData and alarms use them.

An expression is arithmetic (``+ - * / ^``, comparisons, ``AND``/``OR``) on scalars, time
series and arrays of time series, with CloudWatch's common functions (``SUM``, ``AVG``,
``MIN``, ``MAX``, ``ABS``, ``CEIL``, ``FLOOR``, ``FILL``, ``IF``, ``RATE``, ``DIFF``,
``METRICS``, ``PERIOD``, ``RUNNING_SUM``, ``TIME_SERIES``), naming other queries by ``Id``.

Rules, as CloudWatch's:
- series op series keeps the timestamps both have (``FILL`` to fill the gaps);
- a point that is not a finite number (division by zero, ``0/0``) is dropped and the
  result carries an ``ArithmeticError`` message;
- ``SUM``/``AVG``/``MIN``/``MAX`` of one series is a scalar, of an array a series (per
  timestamp across the array);
- a result that is a scalar is given at every period of the query's window.

Bounded against hostile input: expressions of at most 1 024 characters, nesting at most
:data:`MAX_DEPTH` deep (the parser counts, so no Python recursion blow-up), references
ordered without recursion (cycles are refused), and no series longer than the window's
periods.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

from lamina.errors import AwsServiceError

MAX_EXPRESSION = 1024
MAX_DEPTH = 32
# Datapoints the expressions of one call may compute (every node's result counts): ten
# times GetMetricData's answer limit, so FILL(METRICS(), 0) over 500 long series, or a
# 1 024-character expression over a 100 800-period window, is refused, not run for minutes.
MAX_WORK = 1_000_000
ARITHMETIC_DROPPED = (
    "One or more data points have been dropped due to non-numeric values "
    "(NaN, -Infinite, +Infinite)"
)


def validation(message: str) -> AwsServiceError:
    """CloudWatch's answer to an expression it cannot parse or evaluate."""
    return AwsServiceError("ValidationError", message, 400, "ValidationError")


@dataclass(frozen=True, slots=True)
class Series:
    """A time series: period start (epoch seconds) → value, with its label and period."""

    label: str
    points: dict[int, float]
    period: int


# An expression's value: a scalar, a series, or an array of series (METRICS(), [a, b]).
Value = Union[float, Series, list[Series]]  # noqa: UP007 (a runtime alias)


# -- the syntax -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Num:
    value: float


@dataclass(frozen=True, slots=True)
class Ref:
    name: str


@dataclass(frozen=True, slots=True)
class Str:
    value: str


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node


@dataclass(frozen=True, slots=True)
class Bin:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Array:
    items: tuple[Node, ...]


Node = Union[Num, Ref, Str, Neg, Bin, Call, Array]  # noqa: UP007 (a runtime alias)

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>\"[^\"]*\"|'[^']*')"
    r"|(?P<op><=|>=|==|!=|[-+*/^()<>,\[\]]))"
)
_COMPARISONS = ("<", ">", "<=", ">=", "==", "!=")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise validation(f"Unrecognized token at position {pos + 1}: {text[pos : pos + 10]!r}")
        out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over operator precedence, OR < AND < comparison < + - < * / <
    unary - < ^ (right associative); the binary levels loop, and only parentheses, calls,
    arrays and unary minus recurse, counted against :data:`MAX_DEPTH`."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise validation("Unexpected end of expression.")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise validation(f"Expected {expected!r} but found {token[1]!r}.")
        self.pos += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise validation("The expression is empty.")
        node = self.or_()
        if self.pos != len(self.tokens):
            raise validation(f"Unexpected {self.tokens[self.pos][1]!r} in expression.")
        return node

    def _binary(self, ops: Sequence[str], operand: Callable[[], Node]) -> Node:
        node = operand()
        while (op := self.peek()) is not None and op.upper() in ops:
            kind = self.tokens[self.pos][0]
            if kind == "str" or (kind == "name" and op.upper() not in ("AND", "OR")):
                break
            self.take()
            node = Bin(op.upper(), node, operand())
        return node

    def or_(self) -> Node:
        return self._binary(("OR",), self.and_)

    def and_(self) -> Node:
        return self._binary(("AND",), self.comparison)

    def comparison(self) -> Node:
        return self._binary(_COMPARISONS, self.additive)

    def additive(self) -> Node:
        return self._binary(("+", "-"), self.multiplicative)

    def multiplicative(self) -> Node:
        return self._binary(("*", "/"), self.unary)

    def unary(self) -> Node:
        signs = 0
        while self.peek() in ("-", "+"):
            if self.take()[1] == "-":
                signs += 1
        node = self.power()
        return Neg(node) if signs % 2 else node

    def power(self) -> Node:
        operands = [self.primary()]
        while self.peek() == "^":
            self.take()
            signs = 0
            while self.peek() in ("-", "+"):
                if self.take()[1] == "-":
                    signs += 1
            operand = self.primary()
            operands.append(Neg(operand) if signs % 2 else operand)
        node = operands[-1]
        for left in reversed(operands[:-1]):  # right associative, without recursion
            node = Bin("^", left, node)
        return node

    def primary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise validation(f"The expression is nested more than {MAX_DEPTH} levels deep.")
        try:
            kind, text = self.take()
            if kind == "num":
                return Num(float(text))
            if kind == "str":
                return Str(text[1:-1])
            if text == "(":
                node = self.or_()
                self.take(")")
                return node
            if text == "[":
                return Array(self._list("]"))
            if kind == "name":
                if self.peek() == "(" and self.pos < len(self.tokens):
                    self.take("(")
                    return Call(text.upper(), self._list(")"))
                return Ref(text)
            raise validation(f"Unexpected {text!r} in expression.")
        finally:
            self.depth -= 1

    def _list(self, close: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self.peek() == close:
            self.take()
            return ()
        while True:
            items.append(self.or_())
            if self.take()[1] == close:
                return tuple(items)
            if self.tokens[self.pos - 1][1] != ",":
                raise validation(f"Expected ',' or {close!r} in expression.")


def parse(expression: str) -> Node:
    """The expression's syntax tree (ValidationError if it is not metric math)."""
    if len(expression) > MAX_EXPRESSION:
        raise validation(f"The expression is longer than {MAX_EXPRESSION} characters.")
    return _Parser(expression).parse()


def references(node: Node) -> set[str]:
    """The query ids an expression names (iteratively: the tree is bounded, but cheap)."""
    out: set[str] = set()
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Ref):
            out.add(n.name)
        elif isinstance(n, Neg):
            stack.append(n.operand)
        elif isinstance(n, Bin):
            stack.extend((n.left, n.right))
        elif isinstance(n, Call | Array):
            stack.extend(n.args if isinstance(n, Call) else n.items)
    return out


def order(expressions: Mapping[str, Node], known: set[str]) -> list[str]:
    """The expressions' ids in an order where each comes after those it names (Kahn's
    algorithm: no recursion); ValidationError for an unknown id or a cycle."""
    needs: dict[str, set[str]] = {}
    for qid, node in expressions.items():
        refs = references(node)
        unknown = sorted(refs - known - set(expressions))
        if unknown:
            raise validation(f"Error in expression {qid}: Unrecognized identifier {unknown[0]}")
        needs[qid] = refs & set(expressions)
    out: list[str] = []
    ready = sorted(q for q, n in needs.items() if not n)
    users: dict[str, list[str]] = {}
    for qid, refs in needs.items():
        for ref in refs:
            users.setdefault(ref, []).append(qid)
    while ready:
        qid = ready.pop()
        out.append(qid)
        for user in users.get(qid, []):
            needs[user].discard(qid)
            if not needs[user]:
                ready.append(user)
    if len(out) != len(expressions):
        cyclic = sorted(set(expressions) - set(out))
        raise validation(f"Error in expression {cyclic[0]}: Circular dependency detected.")
    return out


# -- evaluation -------------------------------------------------------------------------
@dataclass
class Context:
    """What an expression is evaluated against: the query window's period starts (the
    grid scalars and ``FILL`` use), its period, the values of the other queries, and the
    ids of the metric (MetricStat) queries, for ``METRICS()``."""

    grid: list[int]
    period: int
    values: dict[str, Value]
    metric_ids: list[str]
    messages: set[str] = field(default_factory=set)
    budget: Budget = field(default_factory=lambda: Budget())


class Budget:
    """The datapoints a call's expressions may still compute (shared by its contexts)."""

    def __init__(self, left: int = MAX_WORK) -> None:
        self.left = left

    def spend(self, points: int) -> None:
        self.left -= points
        if self.left < 0:
            raise validation(
                f"The expressions compute more than {MAX_WORK} datapoints: shorten the "
                "window, raise the Period or simplify them."
            )


def _size(value: Value) -> int:
    if isinstance(value, list):
        return sum(len(s.points) for s in value) + 1
    return len(value.points) + 1 if isinstance(value, Series) else 1


_OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else math.nan,
    "^": lambda a, b: _power(a, b),
    "<": lambda a, b: float(a < b),
    ">": lambda a, b: float(a > b),
    "<=": lambda a, b: float(a <= b),
    ">=": lambda a, b: float(a >= b),
    "==": lambda a, b: float(a == b),
    "!=": lambda a, b: float(a != b),
    "AND": lambda a, b: float(bool(a) and bool(b)),
    "OR": lambda a, b: float(bool(a) or bool(b)),
}


def _power(a: float, b: float) -> float:
    try:
        result = a**b
    except (OverflowError, ZeroDivisionError):
        return math.nan
    return result if isinstance(result, float | int) else math.nan  # complex: not a number


def _finite(ctx: Context, value: float) -> float | None:
    if math.isfinite(value):
        return value
    ctx.messages.add(ARITHMETIC_DROPPED)
    return None


def _map(ctx: Context, s: Series, f: Callable[[float], float], label: str) -> Series:
    points: dict[int, float] = {}
    for at, v in s.points.items():
        r = _finite(ctx, f(v))
        if r is not None:
            points[at] = r
    return Series(label, points, s.period)


def _binop(ctx: Context, op: str, a: Value, b: Value, label: str) -> Value:
    f = _OPS[op]
    if isinstance(a, list) and isinstance(b, list):
        raise validation(f"The operator {op} cannot take two arrays of time series.")
    if isinstance(a, list):
        return [_as_series(_binop(ctx, op, s, b, s.label), s) for s in a]
    if isinstance(b, list):
        return [_as_series(_binop(ctx, op, a, s, s.label), s) for s in b]
    if isinstance(a, Series) and isinstance(b, Series):
        points: dict[int, float] = {}
        for at, v in a.points.items():
            if at in b.points and (r := _finite(ctx, f(v, b.points[at]))) is not None:
                points[at] = r
        return Series(label, points, a.period)
    if isinstance(a, Series):
        bb = float(b)  # type: ignore[arg-type]
        return _map(ctx, a, lambda v: f(v, bb), label)
    if isinstance(b, Series):
        aa = float(a)
        return _map(ctx, b, lambda v: f(aa, v), label)
    return f(float(a), float(b))


def _as_series(value: Value, like: Series) -> Series:
    return value if isinstance(value, Series) else Series(like.label, {}, like.period)


def _series(ctx: Context, value: Value, label: str, fn: str) -> Series:
    """A scalar as a series over the window; a series as is; an array refused."""
    if isinstance(value, Series):
        return value
    if isinstance(value, list):
        raise validation(f"The function {fn} takes a time series, not an array.")
    ctx.budget.spend(len(ctx.grid))
    return Series(label, {at: float(value) for at in ctx.grid}, ctx.period)


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "SUM": math.fsum,
    "AVG": lambda vs: math.fsum(vs) / len(vs),
    "MIN": min,
    "MAX": max,
}
_ELEMENTWISE: dict[str, Callable[[float], float]] = {
    "ABS": abs,
    "CEIL": lambda v: float(math.ceil(v)),
    "FLOOR": lambda v: float(math.floor(v)),
}
_ARITY: dict[str, tuple[int, int]] = {
    **{name: (1, 1) for name in (*_REDUCERS, *_ELEMENTWISE)},
    "FILL": (2, 2),
    "IF": (2, 3),
    "RATE": (1, 1),
    "DIFF": (1, 1),
    "METRICS": (0, 1),
    "PERIOD": (1, 1),
    "RUNNING_SUM": (1, 1),
    "TIME_SERIES": (1, 1),
}
FUNCTIONS = tuple(sorted(_ARITY))


def evaluate(node: Node, ctx: Context, label: str) -> Value:
    """The expression's value (ValidationError for what CloudWatch refuses), every node's
    result charged to the context's :class:`Budget`. Operators are evaluated with an
    explicit stack (``1+1+…+1`` is a tree as deep as it is long); only calls and arrays
    recurse, and the parser bounds their nesting by :data:`MAX_DEPTH`."""
    stack: list[tuple[Node, bool]] = [(node, False)]
    out: list[Value] = []
    while stack:
        n, operands_done = stack.pop()
        if isinstance(n, Bin | Neg) and not operands_done:
            stack.append((n, True))
            if isinstance(n, Bin):
                stack.extend(((n.right, False), (n.left, False)))  # left is evaluated first
            else:
                stack.append((n.operand, False))
            continue
        if isinstance(n, Bin):
            right, left = out.pop(), out.pop()
            value = _binop(ctx, n.op, left, right, label)
        elif isinstance(n, Neg):
            value = _binop(ctx, "-", 0.0, out.pop(), label)
        else:
            value = _evaluate(n, ctx, label)
        ctx.budget.spend(_size(value))
        out.append(value)
    return out[0]


def _evaluate(node: Node, ctx: Context, label: str) -> Value:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Ref):
        if node.name not in ctx.values:
            raise validation(f"Unrecognized identifier {node.name}")
        return ctx.values[node.name]
    if isinstance(node, Str):
        raise validation("A string is only an argument of METRICS().")
    if isinstance(node, Array):
        out: list[Series] = []
        for item in node.items:
            value = evaluate(item, ctx, label)
            out.extend(value if isinstance(value, list) else [_series(ctx, value, label, "[]")])
        return out
    if isinstance(node, Call):
        return _call(node, ctx, label)
    raise TypeError(f"operators are evaluated by evaluate(): {type(node).__name__}")


def _call(node: Call, ctx: Context, label: str) -> Value:
    name, args = node.name, node.args
    if name not in _ARITY:
        raise validation(f"Unknown function {name}.")
    low, high = _ARITY[name]
    if not low <= len(args) <= high:
        raise validation(f"The function {name} takes {low} to {high} arguments, not {len(args)}.")
    if name == "METRICS":
        wanted = ""
        if args:
            if not isinstance(args[0], Str):
                raise validation("METRICS() takes a string.")
            wanted = args[0].value
        return [
            v
            for qid in ctx.metric_ids
            if wanted in qid and isinstance(v := ctx.values[qid], Series)
        ]
    if name == "FILL":
        return _fill(ctx, args, label)
    values = [evaluate(a, ctx, label) for a in args]
    if name in _REDUCERS:
        return _reduce(ctx, name, values[0], label)
    if name in _ELEMENTWISE:
        f = _ELEMENTWISE[name]
        v = values[0]
        if isinstance(v, list):
            return [_map(ctx, s, f, s.label) for s in v]
        return _map(ctx, v, f, label) if isinstance(v, Series) else f(v)
    if name == "IF":
        return _if(ctx, values, label)
    if name == "TIME_SERIES":
        if not isinstance(values[0], float):
            raise validation("TIME_SERIES takes a scalar.")
        return _series(ctx, values[0], label, name)

    def per_series(s: Series) -> Value:
        if name == "PERIOD":
            return float(s.period)
        if name == "RUNNING_SUM":
            return _running_sum(s, label)
        return _steps(ctx, s, label, rate=name == "RATE")

    v = values[0]
    if isinstance(v, list):
        if name == "PERIOD":
            raise validation("PERIOD takes a time series, not an array.")
        return [_as_series(per_series(s), s) for s in v]
    if not isinstance(v, Series):
        raise validation(f"The function {name} takes a time series, not a scalar.")
    return per_series(v)


def _reduce(ctx: Context, name: str, value: Value, label: str) -> Value:
    f = _REDUCERS[name]
    if isinstance(value, Series):
        values = list(value.points.values())
        return f(values) if values else math.nan
    if not isinstance(value, list):
        return value
    by_time: dict[int, list[float]] = {}
    for s in value:
        for at, v in s.points.items():
            by_time.setdefault(at, []).append(v)
    points = {}
    for at in sorted(by_time):
        if (r := _finite(ctx, f(by_time[at]))) is not None:
            points[at] = r
    period = value[0].period if value else ctx.period
    return Series(label, points, period)


def _fill(ctx: Context, args: tuple[Node, ...], label: str) -> Value:
    target = evaluate(args[0], ctx, label)
    how = args[1]
    mode = how.name.upper() if isinstance(how, Ref) else None
    if mode not in ("REPEAT", "LINEAR"):
        mode = None
        filler = evaluate(how, ctx, label)
    else:
        filler = 0.0

    def one(s: Series) -> Series:
        ctx.budget.spend(len(ctx.grid))
        points = dict(s.points)
        known = sorted(s.points)
        for at in ctx.grid:
            if at in points:
                continue
            if mode is None:
                if isinstance(filler, Series):
                    if at in filler.points:
                        points[at] = filler.points[at]
                elif isinstance(filler, float):
                    points[at] = filler
                else:
                    raise validation("FILL takes a value, a time series, REPEAT or LINEAR.")
                continue
            i = bisect.bisect_left(known, at)  # known[i - 1] < at < known[i]
            if mode == "REPEAT":
                if i > 0:
                    points[at] = s.points[known[i - 1]]
                elif known:  # CloudWatch fills the start with the first value
                    points[at] = s.points[known[0]]
            elif 0 < i < len(known):
                t0, t1 = known[i - 1], known[i]
                v0, v1 = s.points[t0], s.points[t1]
                points[at] = v0 + (v1 - v0) * (at - t0) / (t1 - t0)
        return Series(s.label if s.label else label, dict(sorted(points.items())), s.period)

    if isinstance(target, list):
        return [one(s) for s in target]
    if not isinstance(target, Series):
        raise validation("FILL takes a time series.")
    return one(Series(label, target.points, target.period))


def _if(ctx: Context, values: list[Value], label: str) -> Value:
    cond = values[0]
    then = values[1]
    other: Value | None = values[2] if len(values) > 2 else None
    if any(isinstance(v, list) for v in values):
        raise validation("IF takes time series and scalars, not arrays.")
    if not isinstance(cond, Series):
        chosen = then if cond else other
        return chosen if chosen is not None else Series(label, {}, ctx.period)

    def at(v: Value | None, t: int) -> float | None:
        if v is None:
            return None
        if isinstance(v, Series):
            return v.points.get(t)
        return float(v)  # type: ignore[arg-type]

    points: dict[int, float] = {}
    for t, c in cond.points.items():
        r = at(then, t) if c else at(other, t)
        if r is not None:
            points[t] = r
    return Series(label, points, cond.period)


def _steps(ctx: Context, s: Series, label: str, rate: bool) -> Series:
    times = sorted(s.points)
    points: dict[int, float] = {}
    for t0, t1 in itertools.pairwise(times):
        d = s.points[t1] - s.points[t0]
        r = _finite(ctx, d / (t1 - t0) if rate else d)
        if r is not None:
            points[t1] = r
    return Series(label, points, s.period)


def _running_sum(s: Series, label: str) -> Series:
    total = 0.0
    points: dict[int, float] = {}
    for t in sorted(s.points):
        total += s.points[t]
        points[t] = total
    return Series(label, points, s.period)


def results(value: Value, ctx: Context, label: str) -> list[Series]:
    """An expression's value as the series GetMetricData returns (a scalar: at every
    period of the window)."""
    if isinstance(value, list):
        return value
    if isinstance(value, Series):  # named for its query (``e1: errors`` is not "Errors")
        return [Series(label, value.points, value.period)]
    if not math.isfinite(value):
        ctx.messages.add(ARITHMETIC_DROPPED)
        return [Series(label, {}, ctx.period)]
    return [_series(ctx, value, label, "")]
