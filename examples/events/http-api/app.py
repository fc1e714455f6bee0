"""An HTTP API on Lambda: routes GET /items, GET /items/{id}, POST /items (payload 2.0).

Items live in /tmp, so they last as long as the execution environment (a real service
would use a database); enough to show routing, path parameters, bodies and status codes.
"""

import json
import os

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


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    route = event.get("routeKey", "$default")
    items = _load()
    if route == "GET /items":
        return _answer(200, sorted(items.values(), key=lambda i: i["id"]))
    if route == "GET /items/{id}":
        item = items.get(event["pathParameters"]["id"])
        return _answer(200, item) if item else _answer(404, {"message": "no such item"})
    if route == "POST /items":
        try:
            data = json.loads(event.get("body") or "{}")
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
