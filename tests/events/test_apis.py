"""APIs defined on the server: parsing a PUT body, and Outputs' AWS URLs made local (pure)."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidParameterValue
from lamina.events.http.apis import parse_api, route_entry
from lamina.sam.apis import local_api_urls

SM = "arn:aws:states:us-east-1:000000000000:stateMachine:orders"
ROUTES = [{"route": "GET /hello", "function": "fn:live"}, {"route": "$default", "function": "fb"}]


def test_a_rest_api_defaults_to_the_prod_stage_and_payload_1_0() -> None:
    api = parse_api("abc123", {"kind": "rest", "routes": ROUTES, "name": "stack/Api"})
    assert (api.stage, api.stage_prefix, api.name) == ("Prod", "/Prod", "stack/Api")
    assert [route_entry(r) for r in api.config.routes] == [
        {"route": "GET /hello", "function": "fn:live", "payloadFormatVersion": "1.0"},
        {"route": "$default", "function": "fb", "payloadFormatVersion": "1.0"},
    ]
    assert api.as_json("127.0.0.1")["url"] == ""  # not listening yet


def test_an_http_api_on_default_has_no_stage_prefix() -> None:
    api = parse_api("h1", {"routes": ROUTES})
    assert (api.kind, api.stage, api.stage_prefix) == ("http", "$default", "")
    assert {r.payload_version for r in api.config.routes} == {"2.0"}


@pytest.mark.parametrize(
    ("api_id", "body", "says"),
    [
        ("bad id!", {}, "ApiId"),
        ("ok", {"kind": "graphql"}, "kind"),
        ("ok", {"kind": "rest", "stage": "$default"}, "stage"),
        ("ok", {"routes": [{"route": "FETCH /x", "function": "f"}]}, "FETCH /x"),
        ("ok", {"routes": "GET /x"}, "routes must be a list"),
        ("ok", {"port": 70000}, "port"),
        ("ok", {"routes": [{"route": "POST /go"}]}, "a function or a stateMachine"),
        (
            "ok",
            {"routes": [{"route": "POST /go", "function": "f", "stateMachine": SM}]},
            "not both",
        ),
        ("ok", {"routes": [{"route": "POST /go", "stateMachine": "f"}]}, "state machine ARN"),
    ],
)
def test_bad_definitions_are_refused_with_the_reason(
    api_id: str, body: dict[str, object], says: str
) -> None:
    with pytest.raises(InvalidParameterValue, match=says.replace("$", r"\$")):
        parse_api(api_id, body)


def test_a_state_machine_route_keeps_its_arn_and_names_no_function() -> None:
    api = parse_api("sm1", {"kind": "rest", "routes": [{"route": "POST /go", "stateMachine": SM}]})
    [route] = api.config.routes
    assert (route.state_machine, route.function, route.qualifier) == (SM, "", None)
    assert route_entry(route) == {"route": "POST /go", "stateMachine": SM}
    # What the store writes, it reads back the same.
    again = parse_api("sm1", api.as_json("127.0.0.1"))
    assert again.config.routes == api.config.routes


def test_outputs_name_the_servers_url_instead_of_execute_api() -> None:
    outputs = {
        "Api": "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello/",
        "Other": "https://zzz.execute-api.us-east-1.amazonaws.com/Prod/",
        "Plain": "arn:aws:sqs:us-east-1:000000000000:q",
    }
    local = local_api_urls(outputs, "us-east-1", {"abc123": "http://127.0.0.1:40123"})
    assert local == {**outputs, "Api": "http://127.0.0.1:40123/Prod/hello/"}
