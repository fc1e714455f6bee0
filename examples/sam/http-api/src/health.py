"""Health check on a function URL: a plain dict answer becomes a 200 JSON response."""

import os


def handler(event, context):
    return {"status": "ok", "stage": os.environ.get("STAGE"), "version": 1}
