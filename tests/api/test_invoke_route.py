"""The invoke route, told by two string tests before the route table (pure)."""

from __future__ import annotations

import pytest

from lamina.api.app import invoke_name
from lamina.api.routes import match
from lamina.errors import ApiError
from lamina.wire.http import Request

NAMES = ["f", "my-fn_1.x", "f:prod", "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af"]


@pytest.mark.parametrize("name", NAMES)
def test_an_invoke_is_told_as_the_table_tells_it(name: str) -> None:
    path = f"/2015-03-31/functions/{name}/invocations"
    for target in (path, path + "?Qualifier=1"):
        assert invoke_name(Request("POST", target, {}, b"{}")) == name
        route, _ = match("POST", path)
        assert route.operation == "Invoke"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/2015-03-31/functions/f/invocations"),
        ("PUT", "/2015-03-31/functions/f/invocations"),
        ("POST", "/2015-03-31/functions/f"),
        ("POST", "/2015-03-31/functions/f/versions"),
        ("POST", "/2021-11-15/functions/f/response-streaming-invocations"),
        ("POST", "/2019-09-25/functions/f/invocations"),
        ("POST", "/2015-03-31/functions/f/invocations/more"),
    ],
)
def test_anything_else_is_left_to_the_table(method: str, path: str) -> None:
    assert invoke_name(Request(method, path, {}, b"")) is None
    try:
        route, _ = match(method, path)
    except ApiError:
        return  # the table refuses it, as it did before
    assert route.operation != "Invoke"
