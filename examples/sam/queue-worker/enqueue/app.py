"""POST /orders (REST API, payload 1.0): validate an order and put it on the queue."""

import json
import os

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    try:
        order = json.loads(event.get("body") or "{}")
        amount = float(order["amount"])
    except (ValueError, KeyError, TypeError):
        return {"statusCode": 400, "body": json.dumps({"message": "need {\"amount\": n}"})}
    sent = sqs.send_message(
        QueueUrl=os.environ["ORDERS_QUEUE_URL"], MessageBody=json.dumps({**order, "amount": amount})
    )
    return {"statusCode": 202, "body": json.dumps({"messageId": sent["MessageId"]})}
