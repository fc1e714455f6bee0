"""Consume an SQS queue in batches and report partial batch failures.

The event source mapping needs FunctionResponseTypes=["ReportBatchItemFailures"]: only
the messages listed in batchItemFailures come back (after the visibility timeout); the
others are deleted. Here a message fails when its JSON body has "amount" below zero.
"""

import json


def process(order):
    if order.get("amount", 0) < 0:
        raise ValueError(f"order {order.get('id')} has a negative amount")
    print(f"processed order {order.get('id')}: {order['amount']}")


def handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            process(json.loads(record["body"]))
        except Exception as exc:
            print(f"message {record['messageId']} failed: {exc}")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
