"""An HTTP API on Lambda: routes GET /items, GET /items/{id}, POST /items (payload 2.0).

Behind API routes (routes.json) the gateway matches the route and passes routeKey and
pathParameters; behind a function URL every request arrives as routeKey "$default" and
the function routes by method and rawPath itself. Items live in /tmp, so they last as
long as the execution environment (a real service would use a database); enough to show
routing, path parameters, bodies, status codes and cookies.
"""

import base64
import json
import os
import re

_ITEM = re.compile(r"^/items/([^/]+)/?$")

STORE = "/tmp/items.json"


def _load():
    if os.path.exists(STORE):
        with open(STORE) as f:
            return json.load(f)
    return {"1": {"id": "1", "name": "teapot"}}


def _save(items):
    with open(STORE, "w") as f:
        json.dump(items, f)


def _answer(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def _route(event):
    """(routeKey, pathParameters), also for a function URL's "$default" events."""
    route = event.get("routeKey", "$default")
    if route != "$default":
        return route, event.get("pathParameters") or {}
    method = event["requestContext"]["http"]["method"]
    path = event["rawPath"]
    if path.rstrip("/") == "/items":
        return f"{method} /items", {}
    m = _ITEM.match(path)
    if m:
        return f"{method} /items/{{id}}", {"id": m.group(1)}
    return "$default", {}


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    route, params = _route(event)
    items = _load()
    if route == "GET /items":
        return _answer(200, sorted(items.values(), key=lambda i: int(i["id"])))
    if route == "GET /items/{id}":
        item = items.get(params["id"])
        return _answer(200, item) if item else _answer(404, {"message": "no such item"})
    if route == "POST /items":
        body = event.get("body") or "{}"
        if event.get("isBase64Encoded"):  # a body sent without a text content type
            body = base64.b64decode(body)
        try:
            data = json.loads(body)
        except ValueError:
            return _answer(400, {"message": "body must be JSON"})
        if not isinstance(data, dict) or not data.get("name"):
            return _answer(400, {"message": "name is required"})
        new_id = str(max(int(i) for i in items) + 1 if items else 1)
        items[new_id] = {"id": new_id, "name": str(data["name"])}
        _save(items)
        return {
            "statusCode": 201,
            "headers": {"content-type": "application/json", "location": f"/items/{new_id}"},
            "cookies": [f"last-created={new_id}; Path=/"],
            "body": json.dumps(items[new_id]),
        }
    return _answer(404, {"message": f"no route for {method} {event['rawPath']}"})
