"""JSON from the network, parsed with a nesting-depth limit.

Python's decoder recurses once per nesting level, so a 100,000-deep ``[[[[…`` body
raises ``RecursionError`` from deep inside a handler instead of a clean 4xx. Every
request body and Invoke payload is parsed here instead: deeper than
:data:`MAX_JSON_DEPTH` is a :class:`JsonTooDeep` (a ``ValueError``, so each caller's
existing "not JSON" path turns it into its service's error shape).

Why 512: AWS SDKs never send anything near it (botocore's own encoder fails past
~990 levels, Jackson-based SDKs stop at 1,000, real payloads are a few dozen levels deep),
and it is well under the depth at which Python's decoder - this server's, and the
function's own runtime's - runs out of stack. The check costs two ``bytes.count`` calls
for any body with fewer brackets than the limit; only bodies with more pay a C-speed
scan (strings cut out by a regex, brackets summed by ``itertools.accumulate``).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 512

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# First bytes after which json.loads may pick another codec than UTF-8: BOMs (EF, FE, FF),
# a zero byte (UTF-16/32), or nothing at all.
_NOT_PLAIN_UTF8 = frozenset([b"", b"\xef", b"\xfe", b"\xff", b"\0"])
_DELTA = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than the limit."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(f"Document nesting depth ({depth}) exceeds the maximum allowed ({limit})")
        self.depth = depth


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data`` (brackets in strings ignored)."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0)


def parse_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``max_depth``."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        depth = json_depth(raw)
        if depth > max_depth:
            raise JsonTooDeep(depth, max_depth)
    if isinstance(data, bytes) and data[:1] not in _NOT_PLAIN_UTF8 and data[1:2] != b"\0":
        # What json.loads would decode as UTF-8 anyway (no BOM, no UTF-16/32 zero bytes
        # among the first two): decoded here, skipping its encoding detection (~1 µs of
        # Python per Invoke payload). Same text, same errors.
        data = data.decode("utf-8", "surrogatepass")
    try:
        return json.loads(data)
    except RecursionError:  # only if the stack was already deep: same answer
        raise JsonTooDeep(max_depth + 1, max_depth) from None
