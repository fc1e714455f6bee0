"""CloudWatch Logs filter patterns, parsed once into a matcher (pure).

Two kinds, as CloudWatch has them:

- **terms**: ``ERROR`` (the event contains it; case-sensitive), ``"Out of memory"``
  (a quoted phrase), several terms (all must appear), ``?ERROR ?WARN`` (any of the
  ``?`` terms), ``-DEBUG`` (must not appear). An empty pattern matches everything.
- **JSON**: ``{ $.level = "ERROR" }``, ``{ $.latency > 100 }``, ``{ $.user.id != 7 }``,
  ``{ $.items[0] = "x" }``, string wildcards (``"Err*"``), ``IS NULL``, ``IS TRUE``,
  ``IS FALSE``, ``NOT EXISTS``, combined with ``&&``, ``||`` and parentheses. An event
  matches only when its message is a JSON object that satisfies the expression.

Space-delimited patterns (``[ip, user, ...]``) and regular expressions (``%...%``) are
not supported: they are refused with a clear message rather than matching nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from lamina.errors import InvalidParameterValue

Matcher = Callable[[str], bool]

_MISSING = object()


def _invalid(pattern: str, why: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid filter pattern {pattern!r}: {why}")


def compile_pattern(pattern: str | None) -> Matcher:
    """A matcher for ``pattern``; raises InvalidParameterValue for a malformed one."""
    text = (pattern or "").strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        return _JsonParser(text).parse()
    if text.startswith("["):
        raise _invalid(text, "space-delimited patterns ([...]) are not supported by Lamina")
    if text.startswith("%") and text.endswith("%") and len(text) > 1:
        raise _invalid(text, "regular expression patterns (%...%) are not supported by Lamina")
    return _terms(text)


# -- terms ----------------------------------------------------------------------------------
_TERM = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _terms(text: str) -> Matcher:
    required: list[str] = []
    anyof: list[str] = []
    excluded: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None:
            if text[pos:].strip():
                raise _invalid(text, f"cannot read a term at {text[pos:]!r}")
            break
        pos = m.end()
        prefix, quoted, bare = m.group(1), m.group(2), m.group(3)
        term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        if bare is not None and '"' in bare:
            raise _invalid(text, "unbalanced quotes")
        {"": required, "?": anyof, "-": excluded}[prefix].append(term)

    def match(message: str) -> bool:
        if any(term not in message for term in required):
            return False
        if any(term in message for term in excluded):
            return False
        return not anyof or any(term in message for term in anyof)

    return match


# -- JSON -----------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
      | (?P<sel>\$(?:\.[A-Za-z0-9_\-@$]+|\[\d+\]|\.\*)*)
      | (?P<word>[^\s()&|=!<>{}"]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _invalid(text, f"cannot read {text[pos:].strip()!r}")
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        out.append(_Token(kind, m.group(kind)))
    return out


def _select(document: object, selector: str) -> object:
    """The value ``selector`` (``$.a.b[0]``) names in ``document``, or ``_MISSING``."""
    value = document
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector[1:]):
        key, index = part
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class _JsonParser:
    def __init__(self, text: str) -> None:
        self.text = text
        tokens = _tokenize(text)
        if not tokens or tokens[0].text != "{" or tokens[-1].text != "}":
            raise _invalid(text, "a JSON pattern is enclosed in { }")
        self.tokens = tokens[1:-1]
        self.pos = 0

    def parse(self) -> Matcher:
        if not self.tokens:
            raise _invalid(self.text, "empty JSON pattern")
        condition = self._or()
        if self.pos != len(self.tokens):
            raise _invalid(self.text, f"unexpected {self.tokens[self.pos].text!r}")

        def match(message: str) -> bool:
            if not message.lstrip().startswith(("{", "[")):
                return False  # cheap: most lines are not JSON at all
            try:
                document = json.loads(message)
            except (ValueError, RecursionError):  # a function's line may nest without end
                return False
            return isinstance(document, (dict, list)) and condition(document)

        return match

    # -- grammar: or := and ('||' and)* ; and := atom ('&&' atom)* ; atom := (or) | test
    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise _invalid(self.text, "the pattern ends too early")
        self.pos += 1
        return token

    def _or(self) -> Callable[[object], bool]:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.text == "||":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def _and(self) -> Callable[[object], bool]:
        parts = [self._atom()]
        while (token := self._peek()) is not None and token.text == "&&":
            self.pos += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def _atom(self) -> Callable[[object], bool]:
        token = self._next()
        if token.text == "(":
            inner = self._or()
            if self._next().text != ")":
                raise _invalid(self.text, "missing )")
            return inner
        if token.kind != "sel":
            raise _invalid(self.text, f"expected a selector like $.field, not {token.text!r}")
        return self._test(token.text)

    def _test(self, selector: str) -> Callable[[object], bool]:
        op = self._next()
        if op.kind == "word" and op.text.upper() in ("IS", "NOT"):
            return self._keyword(selector, op.text.upper())
        if op.kind != "op" or op.text not in ("=", "!=", "<", ">", "<=", ">="):
            raise _invalid(self.text, f"expected a comparison after {selector}, not {op.text!r}")
        value = self._next()
        if value.kind == "str":
            literal = json.loads(value.text)
            if op.text not in ("=", "!="):
                raise _invalid(self.text, f"strings compare with = or !=, not {op.text}")
            return _string_test(selector, literal, op.text == "=")
        if value.kind != "word":
            raise _invalid(self.text, f"expected a value, not {value.text!r}")
        number = _number(value.text)
        if number is None:
            if op.text not in ("=", "!="):
                raise _invalid(self.text, f"{value.text!r} is not a number")
            return _string_test(selector, value.text, op.text == "=")
        return _number_test(selector, number, op.text)

    def _keyword(self, selector: str, first: str) -> Callable[[object], bool]:
        word = self._next().text.upper()
        if first == "NOT" and word == "EXISTS":
            return lambda doc: _select(doc, selector) is _MISSING
        if first == "IS" and word in ("NULL", "TRUE", "FALSE"):
            want = {"NULL": None, "TRUE": True, "FALSE": False}[word]
            return lambda doc: _select(doc, selector) is want
        raise _invalid(self.text, f"unknown test {first} {word}")


@cache
def wildcard(literal: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; nothing else is special."""
    return re.compile(".*".join(re.escape(part) for part in literal.split("*")), re.DOTALL)


def _string_test(selector: str, literal: str, equal: bool) -> Callable[[object], bool]:
    def test(doc: object) -> bool:
        value = _select(doc, selector)
        if value is _MISSING or isinstance(value, (dict, list)):
            return False
        text = json.dumps(value) if not isinstance(value, str) else value
        if isinstance(value, bool) or value is None:
            text = json.dumps(value)
        hit = wildcard(literal).fullmatch(text) is not None if "*" in literal else text == literal
        return hit if equal else not hit

    return test


def _number_test(selector: str, number: float, op: str) -> Callable[[object], bool]:
    compare: dict[str, Callable[[float, float], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }

    def test(doc: object) -> bool:
        value = _select(doc, selector)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return compare[op](float(value), number)

    return test
