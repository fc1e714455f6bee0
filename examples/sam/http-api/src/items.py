"""A small items API behind HTTP API routes (payload format 2.0).

GET /items lists, GET /items/{id} fetches, POST /items creates. Items live in the
execution environment's memory (a real service would use a database): enough to see
routes, path parameters, bodies and status codes at work.
"""

import json
import os
import uuid

ITEMS: dict[str, dict] = {}


def _answer(status: int, body: object) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    params = event.get("pathParameters") or {}
    if method == "POST":
        try:
            item = json.loads(event.get("body") or "{}")
        except ValueError:
            return _answer(400, {"message": "body must be JSON"})
        item_id = str(uuid.uuid4())[:8]
        ITEMS[item_id] = {"id": item_id, **item}
        return _answer(201, ITEMS[item_id])
    if "id" in params:
        item = ITEMS.get(params["id"])
        return _answer(200, item) if item else _answer(404, {"message": "no such item"})
    return _answer(
        200,
        {
            "greeting": os.environ.get("GREETING", "hello"),
            "stage": os.environ.get("STAGE"),
            "items": sorted(ITEMS.values(), key=lambda i: i["id"]),
        },
    )
