"""The ``States.*`` intrinsic functions of JSONPath states.

A call such as ``States.Format('{} {}', $.a, States.ArrayLength($.b))`` is parsed once
into a small tree (cached by its text) and evaluated against the state's data, the
context object and the variables. Any misuse — wrong argument count or type, a bad JSON
string — is a ``States.IntrinsicFailure``, as on Step Functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from lamina.workflows.errors import StatesError
from lamina.workflows.jsonpath import Json, PathSyntaxError, Scope, compile_path

_NAME = re.compile(r"States\.([A-Za-z0-9]+)\(")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_MAX_NESTING = 10


class IntrinsicSyntaxError(ValueError):
    """Raised for an intrinsic function call that does not parse."""


@dataclass(frozen=True, slots=True)
class Literal:
    value: Json


@dataclass(frozen=True, slots=True)
class PathArg:
    text: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Literal | PathArg | Call, ...]


Arg = Literal | PathArg | Call


def _fail(message: str) -> StatesError:
    return StatesError("States.IntrinsicFailure", message)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def call(self, depth: int) -> Call:
        if depth > _MAX_NESTING:
            raise IntrinsicSyntaxError("intrinsic functions nest at most 10 deep")
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise IntrinsicSyntaxError(f"expected States.<Function>( at {self.pos}")
        name = m.group(1)
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"States.{name} is not an intrinsic function")
        self.pos = m.end()
        args: list[Arg] = []
        self.skip()
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return Call(name, ())
        while True:
            self.skip()
            args.append(self.arg(depth))
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            if self.text.startswith(")", self.pos):
                self.pos += 1
                return Call(name, tuple(args))
            raise IntrinsicSyntaxError(f"expected ',' or ')' at {self.pos}")

    def arg(self, depth: int) -> Arg:
        text, pos = self.text, self.pos
        if text.startswith("States.", pos):
            return self.call(depth + 1)
        if text.startswith("'", pos):
            return Literal(self.string())
        if text.startswith("$", pos):
            end, nest = pos, 0
            while end < len(text):
                ch = text[end]
                if ch in "[(":
                    nest += 1
                elif ch in "])":
                    if nest == 0:
                        break
                    nest -= 1
                elif ch == "," and nest == 0:
                    break
                end += 1
            path = text[pos:end].strip()
            try:
                compile_path(path)
            except PathSyntaxError as exc:
                raise IntrinsicSyntaxError(str(exc)) from None
            self.pos = end
            return PathArg(path)
        for word, value in (("null", None), ("true", True), ("false", False)):
            if text.startswith(word, pos):
                self.pos += len(word)
                return Literal(value)
        m = _NUMBER.match(text, pos)
        if m:
            self.pos = m.end()
            raw = m.group(0)
            return Literal(float(raw) if any(c in raw for c in ".eE") else int(raw))
        raise IntrinsicSyntaxError(f"unexpected argument at {pos}")

    def string(self) -> str:
        out: list[str] = []
        self.pos += 1
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch == "'":
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise IntrinsicSyntaxError("unterminated string")


@lru_cache(maxsize=2048)
def parse_intrinsic(text: str) -> Call:
    """Parse a whole ``States.X(...)`` call; raises :class:`IntrinsicSyntaxError`."""
    parser = _Parser(text.strip())
    call = parser.call(1)
    if parser.pos != len(parser.text):
        raise IntrinsicSyntaxError(f"unexpected text after the call at {parser.pos}")
    return call


def evaluate_intrinsic(text: str, data: Json, scope: Scope, rng: random.Random) -> Json:
    try:
        call = parse_intrinsic(text)
    except IntrinsicSyntaxError as exc:
        raise _fail(f"Invalid intrinsic function {text!r}: {exc}") from None
    return _eval(call, data, scope, rng)


def _eval(arg: Arg, data: Json, scope: Scope, rng: random.Random) -> Json:
    if isinstance(arg, Literal):
        return arg.value
    if isinstance(arg, PathArg):
        return compile_path(arg.text).read(data, scope)
    values = [_eval(a, data, scope, rng) for a in arg.args]
    return FUNCTIONS[arg.name](values, rng)


# -- the functions ------------------------------------------------------------------------


def _count(name: str, values: list[Json], *allowed: int) -> None:
    if len(values) not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise _fail(f"States.{name} takes {want} arguments, got {len(values)}")


def _is_int(v: Json) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer()
    )


def _format(values: list[Json], rng: random.Random) -> Json:
    if not values or not isinstance(values[0], str):
        raise _fail("States.Format needs a template string as its first argument")
    template, args = values[0], values[1:]
    pieces = template.split("{}")
    if len(pieces) - 1 != len(args):
        raise _fail(
            f"States.Format: the template has {len(pieces) - 1} placeholders, "
            f"but {len(args)} arguments were given"
        )
    out = [pieces[0]]
    for arg, piece in zip(args, pieces[1:], strict=True):
        if isinstance(arg, (dict, list)):
            raise _fail("States.Format arguments must be strings, numbers, booleans or null")
        out.append(arg if isinstance(arg, str) else json.dumps(arg))
        out.append(piece)
    return "".join(out)


def _string_to_json(values: list[Json], rng: random.Random) -> Json:
    _count("StringToJson", values, 1)
    if not isinstance(values[0], str):
        raise _fail("States.StringToJson needs a string")
    try:
        return json.loads(values[0])
    except ValueError as exc:
        raise _fail(f"States.StringToJson: invalid JSON: {exc}") from None


def _json_to_string(values: list[Json], rng: random.Random) -> Json:
    _count("JsonToString", values, 1)
    return json.dumps(values[0], separators=(",", ":"))


def _array(values: list[Json], rng: random.Random) -> Json:
    return list(values)


def _array_partition(values: list[Json], rng: random.Random) -> Json:
    _count("ArrayPartition", values, 2)
    array, size = values
    if not isinstance(array, list) or not _is_int(size) or size <= 0:
        raise _fail("States.ArrayPartition needs an array and a positive chunk size")
    n = int(size)
    return [array[i : i + n] for i in range(0, len(array), n)]


def _array_contains(values: list[Json], rng: random.Random) -> Json:
    _count("ArrayContains", values, 2)
    if not isinstance(values[0], list):
        raise _fail("States.ArrayContains needs an array")
    return values[1] in values[0]


def _array_range(values: list[Json], rng: random.Random) -> Json:
    _count("ArrayRange", values, 3)
    start, end, step = values
    if not all(_is_int(v) for v in values) or step == 0:
        raise _fail("States.ArrayRange needs integer start, end and a non-zero step")
    s, e, st = int(start), int(end), int(step)
    out = list(range(s, e + (1 if st > 0 else -1), st))
    if len(out) > 1000:
        raise _fail("States.ArrayRange may return at most 1000 items")
    return out


def _array_get_item(values: list[Json], rng: random.Random) -> Json:
    _count("ArrayGetItem", values, 2)
    array, index = values
    if not isinstance(array, list) or not _is_int(index) or not 0 <= index < len(array):
        raise _fail("States.ArrayGetItem needs an array and an index inside it")
    return array[int(index)]


def _array_length(values: list[Json], rng: random.Random) -> Json:
    _count("ArrayLength", values, 1)
    if not isinstance(values[0], list):
        raise _fail("States.ArrayLength needs an array")
    return len(values[0])


def _array_unique(values: list[Json], rng: random.Random) -> Json:
    _count("ArrayUnique", values, 1)
    if not isinstance(values[0], list):
        raise _fail("States.ArrayUnique needs an array")
    seen: set[str] = set()
    out = []
    for item in values[0]:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base64_encode(values: list[Json], rng: random.Random) -> Json:
    _count("Base64Encode", values, 1)
    if not isinstance(values[0], str) or len(values[0]) > 10000:
        raise _fail("States.Base64Encode needs a string of at most 10000 characters")
    return base64.b64encode(values[0].encode()).decode()


def _base64_decode(values: list[Json], rng: random.Random) -> Json:
    _count("Base64Decode", values, 1)
    if not isinstance(values[0], str) or len(values[0]) > 10000:
        raise _fail("States.Base64Decode needs a string of at most 10000 characters")
    try:
        return base64.b64decode(values[0], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _fail(f"States.Base64Decode: {exc}") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384",
           "SHA-512": "sha512"}  # fmt: skip


def _hash(values: list[Json], rng: random.Random) -> Json:
    _count("Hash", values, 2)
    data, algorithm = values
    if algorithm not in _HASHES:
        raise _fail(f"States.Hash: algorithm must be one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    if len(text) > 10000:
        raise _fail("States.Hash: the input may be at most 10000 characters")
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(values: list[Json], rng: random.Random) -> Json:
    _count("JsonMerge", values, 3)
    a, b, deep = values
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise _fail("States.JsonMerge needs two objects")
    if deep is not False:
        raise _fail("States.JsonMerge supports only a shallow merge (false)")
    return {**a, **b}


def _math_random(values: list[Json], rng: random.Random) -> Json:
    _count("MathRandom", values, 2, 3)
    if not all(_is_int(v) for v in values) or values[0] >= values[1]:
        raise _fail("States.MathRandom needs integers start < end (and an integer seed)")
    source = random.Random(int(values[2])) if len(values) == 3 else rng
    return source.randrange(int(values[0]), int(values[1]))


def _math_add(values: list[Json], rng: random.Random) -> Json:
    _count("MathAdd", values, 2)
    if not all(_is_int(v) for v in values):
        raise _fail("States.MathAdd needs two integers")
    return int(values[0]) + int(values[1])


def _string_split(values: list[Json], rng: random.Random) -> Json:
    _count("StringSplit", values, 2)
    text, delimiters = values
    if not isinstance(text, str) or not isinstance(delimiters, str) or not delimiters:
        raise _fail("States.StringSplit needs a string and delimiter characters")
    parts = re.split("[" + re.escape(delimiters) + "]", text)
    return [p for p in parts if p]


def _uuid(values: list[Json], rng: random.Random) -> Json:
    _count("UUID", values, 0)
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


FUNCTIONS: dict[str, Callable[[list[Json], random.Random], Json]] = {
    "Format": _format,
    "StringToJson": _string_to_json,
    "JsonToString": _json_to_string,
    "Array": _array,
    "ArrayPartition": _array_partition,
    "ArrayContains": _array_contains,
    "ArrayRange": _array_range,
    "ArrayGetItem": _array_get_item,
    "ArrayLength": _array_length,
    "ArrayUnique": _array_unique,
    "Base64Encode": _base64_encode,
    "Base64Decode": _base64_decode,
    "Hash": _hash,
    "JsonMerge": _json_merge,
    "MathRandom": _math_random,
    "MathAdd": _math_add,
    "StringSplit": _string_split,
    "UUID": _uuid,
}
