"""The mount table's shortcut (lamina.api.mounts): never a different choice than asking
every selector in order, and no selector asked about a plain invoke."""

from __future__ import annotations

from lamina.api.auth import Authenticator
from lamina.api.mounts import Mounted, MountTable
from lamina.services.protocol.errors import LAMBDA
from lamina.services.protocol.reach import Reach
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response
from tests.services.test_reach import MOUNTED, corpus

INVOKE = "/2015-03-31/functions/f/invocations"


def _handler(req: Request, conn: HttpConnection | None) -> Response:
    return Response(200)


# The faces the server mounts without a signature check (they authenticate their own way).
UNVERIFIED = {"function urls", "metrics", "console"}


def _server_table() -> MountTable:
    table = MountTable()
    verifier = Authenticator({}, required=True, region="us-east-1")
    for name, select, reach in MOUNTED:
        auth = None if name in UNVERIFIED else verifier
        table.add(Mounted(select, _handler, auth, LAMBDA), reach)
    table.add(Mounted("/lamina/v1/s3-events/", _handler, verifier, LAMBDA), None)
    return table


def test_the_shortcut_picks_what_asking_every_selector_picks() -> None:
    table = _server_table()
    picked = 0
    for req in corpus():
        chosen = table.pick(req)
        assert chosen is table.walk(req), req
        picked += chosen is not None
    assert picked > 0


def test_the_unverified_faces_are_told_as_asking_each_of_them_tells_them() -> None:
    table = _server_table()
    told = 0
    for req in corpus():
        expected = any(m.auth is None and m.picks(req) for m in table.entries)
        assert table.unverified(req) == expected, req
        told += expected
    assert told > 0


def test_a_plain_invoke_asks_no_selector() -> None:
    asked: list[str] = []

    def counting(req: Request) -> bool:
        asked.append(req.path)
        return False

    table = _server_table()
    table.add(Mounted(counting, _handler, None, LAMBDA), Reach(headers=("x-amz-target",)))
    assert table.pick(Request("POST", INVOKE, {"host": "localhost"}, b"{}")) is None
    assert asked == []
    # A request the union admits is decided by asking, in order.
    req = Request("POST", INVOKE, {"x-amz-target": "Other.Call"}, b"{}")
    assert table.pick(req) is None
    assert asked == [INVOKE]


def test_a_mount_without_a_reach_is_asked_about_every_request() -> None:
    table = _server_table()
    claims_invokes = Mounted(lambda r: r.path.endswith("/invocations"), _handler, None, LAMBDA)
    table.add(claims_invokes, None)
    assert table.pick(Request("POST", INVOKE, {}, b"{}")) is claims_invokes


def test_a_string_selector_reaches_its_prefix_whatever_it_declares() -> None:
    table = MountTable()
    prefixed = Mounted("/2015-03-31/functions/special/", _handler, None, LAMBDA)
    table.add(prefixed, Reach(paths=("/elsewhere",)))
    assert table.pick(Request("POST", "/2015-03-31/functions/special/invocations", {}, b"")) is (
        prefixed
    )
    assert table.pick(Request("POST", INVOKE, {}, b"")) is None
