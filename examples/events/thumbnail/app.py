"""Make a thumbnail of every image uploaded to a bucket (the classic S3-triggered Lambda).

Triggered by s3:ObjectCreated:* on the source bucket; writes a JPEG at most 128x128 to
$THUMBNAIL_BUCKET (default: "<source bucket>-thumbnails") under the same key. Pillow is
vendored in the zip; boto3 is the runtime's own, as on Lambda, and finds Lamina through
the AWS_ENDPOINT_URL and credentials Lamina puts in the environment.
"""

import io
import os
from urllib.parse import unquote_plus

import boto3
from PIL import Image

SIZE = (128, 128)
s3 = boto3.client("s3")


def handler(event, context):
    done = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        target = os.environ.get("THUMBNAIL_BUCKET") or f"{bucket}-thumbnails"
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with Image.open(io.BytesIO(original)) as img:
            img.thumbnail(SIZE)
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=85)
        s3.put_object(Bucket=target, Key=key, Body=out.getvalue(), ContentType="image/jpeg")
        print(f"thumbnail of s3://{bucket}/{key} -> s3://{target}/{key} ({out.tell()} bytes)")
        done.append(key)
    return {"thumbnails": done}
