"""The OpenAPI document: valid, generated from the routes, and true of the running server."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec

from lamina.api.lamina_ops import OPENAPI_PATH
from lamina.api.openapi import generate, render
from lamina.api.routes import ROUTES
from tests.integration.harness import LaminaProcess, python_zip, running_lamina

DOC: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())


def test_the_document_is_valid_openapi() -> None:
    validate_spec(DOC)


def test_the_document_describes_exactly_the_routes() -> None:
    documented = {(m.upper(), p) for p, ops in DOC["paths"].items() for m in ops}
    assert documented == {(r.method, r.template) for r in ROUTES}


def test_the_checked_in_document_is_what_the_generator_makes() -> None:
    # The dev extras pin botocore to the version the document was made with, so this
    # compares like with like; a different botocore fails here rather than skipping.
    assert DOC["info"]["x-botocore-version"] == botocore.__version__, (
        f"openapi.json was generated with botocore {DOC['info']['x-botocore-version']}, "
        f"this environment has {botocore.__version__}: regenerate the document and move the "
        "botocore pin in pyproject.toml's dev extras together"
    )
    assert OPENAPI_PATH.read_text() == render(generate()), (
        "run: .venv/bin/python -m lamina.api.openapi > lamina/api/openapi.json"
    )


# -- against a running server -------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("openapi")) as proc:
        yield proc


def call(
    server: LaminaProcess, method: str, path: str, body: object | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Unsigned raw HTTP (the server runs in dev mode)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.endpoint + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def response_schema(operation: dict[str, Any], status: int) -> dict[str, Any] | None:
    answer = operation["responses"].get(str(status))
    assert answer is not None, f"status {status} is not documented for {operation['operationId']}"
    content = answer.get("content", {}).get("application/json")
    if content is None:
        return None
    return {**content["schema"], "components": DOC["components"]}


def check(operation: dict[str, Any], status: int, body: bytes) -> None:
    schema = response_schema(operation, status)
    if schema is not None:
        OAS31Validator(schema).validate(json.loads(body))


def operation_of(method: str, template: str) -> dict[str, Any]:
    op: dict[str, Any] = DOC["paths"][template][method.lower()]
    return op


def test_the_server_serves_the_document(server: LaminaProcess) -> None:
    status, _, body = call(server, "GET", "/lamina/v1/openapi.json")
    assert status == 200 and json.loads(body) == DOC


@pytest.mark.parametrize("route", ROUTES, ids=[r.operation for r in ROUTES])
def test_every_documented_operation_is_routed_and_answers_as_documented(
    server: LaminaProcess, route: Any
) -> None:
    path = re.sub(r"\{FunctionName\}", "openapi-nosuch", route.template)
    path = path.replace("{Name}", "nosuch").replace("{CodeFile}", "nosuch.zip")
    path = path.replace("{ApiId}", "openapi-nosuch")
    path = path.replace(
        "{Resource}", "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aopenapi-nosuch"
    )
    body: object | None = {} if route.method in ("POST", "PUT") else None
    status, headers, raw = call(server, route.method, path, body)
    assert headers.get("x-amzn-ErrorType") != "UnknownOperationException", raw
    check(operation_of(route.method, route.template), status, raw)


def test_success_answers_match_their_schemas(server: LaminaProcess) -> None:
    fn = "/2015-03-31/functions/openapi-fn"
    zipped = base64.b64encode(python_zip("def handler(e, c):\n    return {'ok': True}\n")).decode()
    steps: list[tuple[str, str, str, object | None]] = [
        (
            "POST",
            "/2015-03-31/functions",
            "/2015-03-31/functions",
            {
                "FunctionName": "openapi-fn",
                "Runtime": "python3.12",
                "Role": "arn:aws:iam::000000000000:role/r",
                "Handler": "app.handler",
                "Code": {"ZipFile": zipped},
                "Tags": {"a": "b"},
            },
        ),
        ("GET", "/2015-03-31/functions", "/2015-03-31/functions?MaxItems=1", None),
        ("GET", "/2015-03-31/functions/{FunctionName}", fn, None),
        ("GET", "/2015-03-31/functions/{FunctionName}/configuration", fn + "/configuration", None),
        (
            "PUT",
            "/2015-03-31/functions/{FunctionName}/configuration",
            fn + "/configuration",
            {"MemorySize": 256},
        ),
        ("POST", "/2015-03-31/functions/{FunctionName}/versions", fn + "/versions", {}),
        ("GET", "/2015-03-31/functions/{FunctionName}/versions", fn + "/versions", None),
        (
            "POST",
            "/2015-03-31/functions/{FunctionName}/aliases",
            fn + "/aliases",
            {"Name": "live", "FunctionVersion": "1"},
        ),
        ("GET", "/2015-03-31/functions/{FunctionName}/aliases", fn + "/aliases", None),
        ("GET", "/2015-03-31/functions/{FunctionName}/aliases/{Name}", fn + "/aliases/live", None),
        (
            "PUT",
            "/2015-03-31/functions/{FunctionName}/aliases/{Name}",
            fn + "/aliases/live",
            {"Description": "d"},
        ),
        (
            "PUT",
            "/2017-10-31/functions/{FunctionName}/concurrency",
            "/2017-10-31/functions/openapi-fn/concurrency",
            {"ReservedConcurrentExecutions": 3},
        ),
        (
            "GET",
            "/2019-09-30/functions/{FunctionName}/concurrency",
            "/2019-09-30/functions/openapi-fn/concurrency",
            None,
        ),
        ("GET", "/2016-08-19/account-settings", "/2016-08-19/account-settings", None),
        (
            "GET",
            "/2017-03-31/tags/{Resource}",
            "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:openapi-fn",
            None,
        ),
        (
            "POST",
            "/2021-10-31/functions/{FunctionName}/url",
            "/2021-10-31/functions/openapi-fn/url",
            {"AuthType": "NONE", "Cors": {"AllowOrigins": ["*"]}},
        ),
        (
            "GET",
            "/2021-10-31/functions/{FunctionName}/url",
            "/2021-10-31/functions/openapi-fn/url",
            None,
        ),
        (
            "PUT",
            "/2021-10-31/functions/{FunctionName}/url",
            "/2021-10-31/functions/openapi-fn/url",
            {"AuthType": "AWS_IAM"},
        ),
        (
            "GET",
            "/2021-10-31/functions/{FunctionName}/urls",
            "/2021-10-31/functions/openapi-fn/urls",
            None,
        ),
        (
            "GET",
            "/2020-06-30/functions/{FunctionName}/code-signing-config",
            "/2020-06-30/functions/openapi-fn/code-signing-config",
            None,
        ),
        ("GET", "/lamina/v1/health", "/lamina/v1/health", None),
        ("GET", "/lamina/v1/environments", "/lamina/v1/environments", None),
        ("GET", "/lamina/v1/runtimes", "/lamina/v1/runtimes", None),
        ("GET", "/lamina/v1/cost", "/lamina/v1/cost", None),
        (
            "GET",
            "/lamina/v1/functions/{FunctionName}/logs",
            "/lamina/v1/functions/openapi-fn/logs",
            None,
        ),
    ]
    for method, template, path, body in steps:
        status, _, raw = call(server, method, path, body)
        route = next(r for r in ROUTES if (r.method, r.template) == (method, template))
        assert status == route.status, (route.operation, raw)
        check(operation_of(method, template), status, raw)
