"""Make a JPEG thumbnail of each uploaded image (triggered by S3 ObjectCreated events)."""

import io
import os
from urllib.parse import unquote_plus

import boto3
from PIL import Image

s3 = boto3.client("s3")


def handler(event, context):
    size = int(os.environ.get("THUMBNAIL_SIZE", "128"))
    target = os.environ["THUMBNAIL_BUCKET"]
    made = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with Image.open(io.BytesIO(original)) as img:
            img.thumbnail((size, size))
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=85)
        s3.put_object(Bucket=target, Key=key, Body=out.getvalue(), ContentType="image/jpeg")
        print(f"thumbnail of s3://{bucket}/{key} -> s3://{target}/{key} ({out.tell()} bytes)")
        made.append(key)
    return {"thumbnails": made}
