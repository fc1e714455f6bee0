"""STS GetCallerIdentity through boto3 and the AWS CLI against a real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import boto3
import pytest

from tests.integration.harness import LaminaProcess


def test_get_caller_identity_names_the_account(lamina: LaminaProcess) -> None:
    sts = boto3.client(
        "sts",
        endpoint_url=lamina.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA",
        aws_secret_access_key="lamina-secret",
    )
    me = sts.get_caller_identity()
    assert me["Account"] == "000000000000"
    assert me["Arn"] == "arn:aws:iam::000000000000:root"
    with pytest.raises(sts.exceptions.ClientError) as err:
        sts.get_session_token()
    assert err.value.response["Error"]["Code"] == "InvalidAction"


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the AWS CLI")
def test_the_cli_reads_the_account(lamina: LaminaProcess) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDLAMINA",
        "AWS_SECRET_ACCESS_KEY": "lamina-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run(
        ["aws", "--endpoint-url", lamina.endpoint, "sts", "get-caller-identity"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout)["Account"] == "000000000000"
