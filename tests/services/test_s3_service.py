"""The embedded S3 subset, driven by boto3 (path-style) and the AWS CLI; notifications."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from lamina.events.esm.clients import EmbeddedQueueClient
from lamina.events.s3.dispatch import Notifier
from lamina.events.s3.external import S3QueueRelay, S3Webhook, as_s3_record
from lamina.services.s3.notifications import NotificationRoute
from lamina.services.s3.service import S3Service
from lamina.services.s3.store import ObjectStore
from tests.events.servers import LoopThread
from tests.services.sqs_fixtures import CREDS, start_sqs

ROOT = Path(__file__).resolve().parents[2]
FN = "arn:aws:lambda:us-east-1:000000000000:function:thumbs"


@dataclass
class Enqueued:
    calls: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, name: str, qualifier: str | None, payload: bytes) -> str:
        self.calls.append((name, qualifier, json.loads(payload)))
        return "rid"


@dataclass
class S3Server:
    loop: LoopThread
    url: str
    enqueued: Enqueued
    service: S3Service

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0}),
            **CREDS,
        )


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    loop = LoopThread()
    enqueued = Enqueued()
    store = ObjectStore(tmp_path / "s3")
    service = S3Service(store, Notifier(enqueued, None), "us-east-1", "000000000000")
    server, url = loop.serve(service.handle)
    yield S3Server(loop, url, enqueued, service)
    loop.call(server.close)
    loop.stop()
    store.close()


def test_objects_round_trip_with_etag_metadata_and_ranges(s3: S3Server) -> None:
    c = s3.client()
    c.create_bucket(Bucket="photos")
    c.head_bucket(Bucket="photos")
    assert [b["Name"] for b in c.list_buckets()["Buckets"]] == ["photos"]
    out = c.put_object(
        Bucket="photos",
        Key="a b/ü.txt",
        Body=b"hello world",
        ContentType="text/plain",
        Metadata={"owner": "ada"},
    )
    assert out["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"'  # MD5 of the body
    got = c.get_object(Bucket="photos", Key="a b/ü.txt")
    assert got["Body"].read() == b"hello world"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"owner": "ada"}
    head = c.head_object(Bucket="photos", Key="a b/ü.txt")
    assert head["ContentLength"] == 11 and head["ETag"] == out["ETag"]
    part = c.get_object(Bucket="photos", Key="a b/ü.txt", Range="bytes=6-")
    assert part["Body"].read() == b"world" and part["ContentRange"] == "bytes 6-10/11"
    with pytest.raises(c.exceptions.NoSuchKey):
        c.get_object(Bucket="photos", Key="missing")
    with pytest.raises(ClientError) as err:
        c.head_object(Bucket="photos", Key="missing")
    assert err.value.response["Error"]["Code"] == "404"
    with pytest.raises(c.exceptions.NoSuchBucket):
        c.list_objects_v2(Bucket="nope")
    with pytest.raises(ClientError) as err:
        c.delete_bucket(Bucket="photos")
    assert err.value.response["Error"]["Code"] == "BucketNotEmpty"
    c.delete_object(Bucket="photos", Key="a b/ü.txt")
    c.delete_bucket(Bucket="photos")


def test_list_objects_v2_prefix_delimiter_and_continuation(s3: S3Server) -> None:
    c = s3.client()
    c.create_bucket(Bucket="bkt")
    keys = ["a/1", "a/2", "a/b/3", "c", "d/4", "d/5", "e"]
    for k in keys:
        c.put_object(Bucket="bkt", Key=k, Body=k.encode())
    top = c.list_objects_v2(Bucket="bkt", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["c", "e"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "d/"]
    inside = c.list_objects_v2(Bucket="bkt", Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in inside["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["a/b/"]
    seen: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": "bkt", "MaxKeys": 2}
    while True:
        page = c.list_objects_v2(**kwargs)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    assert seen == keys
    pages = c.get_paginator("list_objects_v2").paginate(
        Bucket="bkt", PaginationConfig={"PageSize": 3}
    )
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == keys


def test_multipart_uploads_as_boto3_transfers_do(s3: S3Server) -> None:
    c = s3.client()
    c.create_bucket(Bucket="big")
    data = os.urandom(12 * 1024 * 1024 + 5)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    c.upload_fileobj(io.BytesIO(data), "big", "blob.bin", Config=cfg)
    head = c.head_object(Bucket="big", Key="blob.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')
    out = io.BytesIO()
    c.download_fileobj("big", "blob.bin", out)
    assert out.getvalue() == data


def test_the_aws_cli_copies_lists_and_removes(s3: S3Server, tmp_path: Path) -> None:
    src = tmp_path / "report final.csv"
    src.write_text("a,b\n1,2\n")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": CREDS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    (tmp_path / "config").write_text("[default]\ns3 =\n    addressing_style = path\n")
    aws = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", s3.url]

    def run(*args: str, ok: tuple[int, ...] = (0,)) -> str:
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode in ok, done.stderr
        return done.stdout

    run("s3", "mb", "s3://cli-bucket")
    run("s3", "cp", str(src), "s3://cli-bucket/in/report final.csv")
    listing = run("s3", "ls", "s3://cli-bucket/in/")
    assert "report final.csv" in listing
    back = tmp_path / "back.csv"
    run("s3", "cp", "s3://cli-bucket/in/report final.csv", str(back))
    assert back.read_text() == "a,b\n1,2\n"
    run("s3", "rm", "s3://cli-bucket/in/report final.csv")
    # an empty listing is exit code 1 for the AWS CLI
    assert run("s3", "ls", "s3://cli-bucket/in/", ok=(1,)).strip() == ""


def test_notifications_route_object_events_with_filters(s3: S3Server) -> None:
    c = s3.client()
    c.create_bucket(Bucket="uploads")
    config: dict[str, Any] = {
        "LambdaFunctionConfigurations": [
            {
                "Id": "images",
                "LambdaFunctionArn": FN,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": "in/"},
                            {"Name": "suffix", "Value": ".jpg"},
                        ]
                    }
                },
            },
            {"Id": "gone", "LambdaFunctionArn": FN + ":live", "Events": ["s3:ObjectRemoved:*"]},
        ]
    }
    c.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration=config)
    back = c.get_bucket_notification_configuration(Bucket="uploads")
    assert (
        back["LambdaFunctionConfigurations"][0]["Filter"]
        == config["LambdaFunctionConfigurations"][0]["Filter"]
    )
    c.put_object(Bucket="uploads", Key="in/my photo.jpg", Body=b"\xff\xd8jpeg")
    c.put_object(Bucket="uploads", Key="in/notes.txt", Body=b"x")  # suffix does not match
    c.put_object(Bucket="uploads", Key="out/x.jpg", Body=b"x")  # prefix does not match
    c.delete_object(Bucket="uploads", Key="in/my photo.jpg")
    calls = s3.enqueued.calls
    assert [(n, q) for n, q, _ in calls] == [("thumbs", None), ("thumbs", "live")]
    created = S3Model(**calls[0][2])
    rec = created.Records[0]
    assert rec.eventName == "ObjectCreated:Put" and rec.eventSource == "aws:s3"
    assert rec.s3.bucket.name == "uploads" and rec.s3.configurationId == "images"
    raw = calls[0][2]["Records"][0]["s3"]["object"]
    assert raw["key"] == "in/my+photo.jpg"  # URL-encoded, space as +
    assert raw["size"] == 6 and raw["eTag"] == hashlib.md5(b"\xff\xd8jpeg").hexdigest()
    removed = S3Model(**calls[1][2]).Records[0]
    assert removed.eventName == "ObjectRemoved:Delete"
    seq_created = calls[0][2]["Records"][0]["s3"]["object"]["sequencer"]
    seq_removed = calls[1][2]["Records"][0]["s3"]["object"]["sequencer"]
    assert seq_removed > seq_created


def test_external_notifications_by_webhook_and_by_queue(tmp_path: Path) -> None:
    record = {
        "eventVersion": "2.1",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventName": "s3:ObjectCreated:Put",
        "eventTime": "2024-01-01T00:00:00.000Z",
        "userIdentity": {"principalId": "minio"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "c",
            "bucket": {
                "name": "ext",
                "ownerIdentity": {"principalId": "x"},
                "arn": "arn:aws:s3:::ext",
            },
            "object": {"key": "in/a.jpg", "size": 3, "eTag": "abc", "sequencer": "1"},
        },
    }
    body = json.dumps(
        {"EventName": "s3:ObjectCreated:Put", "Key": "ext/in/a.jpg", "Records": [record]}
    )
    enqueued = Enqueued()
    notifier = Notifier(enqueued, None)
    loop = LoopThread()
    hook = S3Webhook(notifier, "us-east-1")
    server, url = loop.serve(hook.handle)
    import urllib.request

    req = urllib.request.Request(
        f"{url}/lamina/v1/s3-events/thumbs?prefix=in/", body.encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202 and json.loads(resp.read()) == {"accepted": 1}
    assert (
        enqueued.calls[0][0] == "thumbs"
        and enqueued.calls[0][2]["Records"][0]["s3"]["object"]["key"] == "in/a.jpg"
    )
    [delivered] = S3Model(**enqueued.calls[0][2]).Records  # in S3's own shape
    assert delivered.eventName == "ObjectCreated:Put" and delivered.eventSource == "aws:s3"
    bad = urllib.request.Request(f"{url}/lamina/v1/s3-events/thumbs", b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=10)
    assert err.value.code == 400
    loop.call(server.close)
    loop.stop()
    # and the same notification arriving on a queue
    gen = start_sqs(tmp_path / "sqs")
    sqs = next(gen)
    qurl = sqs.client().create_queue(QueueName="s3-events")["QueueUrl"]
    sqs.client().send_message(QueueUrl=qurl, MessageBody=body)
    sqs.client().send_message(QueueUrl=qurl, MessageBody='{"Event":"s3:TestEvent"}')
    relayed = Enqueued()

    async def relay() -> None:
        import asyncio

        r = S3QueueRelay(
            EmbeddedQueueClient(sqs.service, "s3-events"),
            [NotificationRoute("r", "lambda", FN, ("s3:ObjectCreated:*",))],
            Notifier(relayed, None),
            "us-east-1",
        )
        r.start()
        for _ in range(500):
            if relayed.calls:
                break
            await asyncio.sleep(0.01)
        await r.close()

    sqs.loop.run(relay())
    assert relayed.calls[0][0] == "thumbs"
    attrs = sqs.client().get_queue_attributes(QueueUrl=qurl, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    with pytest.raises(StopIteration):
        next(gen)


def test_an_external_record_is_given_s3_s_shape_and_keeps_its_extra_fields() -> None:
    minio = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": "2024-01-01T00:00:00.000Z",
        "eventName": "s3:ObjectRemoved:Delete",
        "userIdentity": {"principalId": "minio"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1", "region": ""},
        "responseElements": {"x-amz-request-id": "17C0", "x-minio-origin-endpoint": "x"},
        "s3": {"bucket": {"name": "ext"}, "object": {"key": "a+b.txt", "sequencer": "1"}},
        "source": {"host": "10.0.0.1", "userAgent": "MinIO"},
    }
    out = as_s3_record(minio, "eu-west-1")
    [parsed] = S3Model.model_validate({"Records": [out]}).Records
    assert parsed.eventSource == "aws:s3" and parsed.eventName == "ObjectRemoved:Delete"
    assert parsed.awsRegion == "eu-west-1" and parsed.s3.bucket.arn == "arn:aws:s3:::ext"
    assert out["responseElements"]["x-amz-id-2"] == "17C0"
    assert out["source"] == minio["source"]  # the store's own fields stay
    assert minio["eventSource"] == "minio:s3"  # the input is not changed
