"""Functions written as for AWS, using the AWS SDKs inside the function, run unmodified."""

from __future__ import annotations

import pytest

from tests.events.live import client
from tests.integration.harness import EXAMPLES, LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


def test_a_node_function_using_aws_sdk_v3_talks_to_laminas_s3(lamina: LaminaProcess) -> None:
    # @aws-sdk/client-s3 reads ~/.aws/config at INIT: without a home directory in the
    # sandbox it failed with `uv_os_homedir returned ENOENT` before the handler ran.
    zip_path = EXAMPLES / "sdk-node-s3.zip"
    assert zip_path.is_file(), f"{zip_path} missing: run `make examples`"
    client(lamina.endpoint, "s3").create_bucket(Bucket="sdk-v3")
    lamina.create(
        "sdk-node-s3",
        zip_path.read_bytes(),
        runtime="nodejs20.x",
        handler="index.handler",
        Timeout=30,
        MemorySize=256,
    )
    out = lamina.invoke("sdk-node-s3", {"bucket": "sdk-v3", "hello": "v3"})
    assert out.function_error is None, (out.payload, out.log)
    body = out.json()
    assert body["homedir"] == "/home/sbx_user1051"
    assert body["region"] == "us-east-1"
    assert body["node"].split(".")[0] == "20"
    assert '"hello":"v3"' in body["body"]
    stored = client(lamina.endpoint, "s3").get_object(Bucket="sdk-v3", Key=body["key"])
    assert b'"bucket":"sdk-v3"' in stored["Body"].read()
