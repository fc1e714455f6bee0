"""A bucket's configuration sub-resources as boto3 reads and writes them (what Terraform reads)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.test_s3_service import S3Server, s3  # noqa: F401  (the fixture)


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return str(err.value.response["Error"]["Code"])


def test_unconfigured_bucket_answers_as_s3_does(s3: S3Server) -> None:  # noqa: F811
    c = s3.client()
    c.create_bucket(Bucket="plain")
    b = {"Bucket": "plain"}
    assert _code(lambda: c.get_bucket_policy(**b)) == "NoSuchBucketPolicy"
    assert _code(lambda: c.get_bucket_cors(**b)) == "NoSuchCORSConfiguration"
    assert _code(lambda: c.get_bucket_website(**b)) == "NoSuchWebsiteConfiguration"
    assert _code(lambda: c.get_bucket_lifecycle_configuration(**b)) == (
        "NoSuchLifecycleConfiguration"
    )
    assert _code(lambda: c.get_bucket_replication(**b)) == ("ReplicationConfigurationNotFoundError")
    assert _code(lambda: c.get_object_lock_configuration(**b)) == (
        "ObjectLockConfigurationNotFoundError"
    )
    assert _code(lambda: c.get_bucket_tagging(**b)) == "NoSuchTagSet"
    assert "Status" not in c.get_bucket_versioning(**b)
    assert "Status" not in c.get_bucket_accelerate_configuration(**b)
    assert c.get_bucket_request_payment(**b)["Payer"] == "BucketOwner"
    assert "LoggingEnabled" not in c.get_bucket_logging(**b)
    rule = c.get_bucket_encryption(**b)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    owner = c.get_bucket_ownership_controls(**b)["OwnershipControls"]["Rules"][0]
    assert owner["ObjectOwnership"] == "BucketOwnerEnforced"
    block = c.get_public_access_block(**b)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    grants = c.get_bucket_acl(**b)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    # a sub-resource request is not a listing and never creates a bucket
    assert _code(lambda: c.get_bucket_policy(Bucket="absent")) == "NoSuchBucket"
    assert _code(lambda: c.put_bucket_versioning(
        Bucket="absent", VersioningConfiguration={"Status": "Enabled"}
    )) == "NoSuchBucket"  # fmt: skip
    assert "absent" not in [x["Name"] for x in c.list_buckets()["Buckets"]]


def test_configurations_round_trip_and_are_deleted(s3: S3Server) -> None:  # noqa: F811
    c = s3.client()
    c.create_bucket(Bucket="conf")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::conf/*"}
        ],
    }  # fmt: skip
    c.put_bucket_policy(Bucket="conf", Policy=json.dumps(policy))
    assert json.loads(c.get_bucket_policy(Bucket="conf")["Policy"]) == policy
    c.put_bucket_tagging(Bucket="conf", Tagging={"TagSet": [{"Key": "env", "Value": "dev"}]})
    assert c.get_bucket_tagging(Bucket="conf")["TagSet"] == [{"Key": "env", "Value": "dev"}]
    c.put_bucket_versioning(Bucket="conf", VersioningConfiguration={"Status": "Enabled"})
    assert c.get_bucket_versioning(Bucket="conf")["Status"] == "Enabled"
    cors = {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}
    c.put_bucket_cors(Bucket="conf", CORSConfiguration={"CORSRules": [cors]})
    assert c.get_bucket_cors(Bucket="conf")["CORSRules"] == [cors]
    assert _code(lambda: c.put_bucket_policy(Bucket="conf", Policy="not json")) == (
        "MalformedPolicy"
    )
    c.delete_bucket_policy(Bucket="conf")
    c.delete_bucket_tagging(Bucket="conf")
    c.delete_bucket_cors(Bucket="conf")
    assert _code(lambda: c.get_bucket_policy(Bucket="conf")) == "NoSuchBucketPolicy"
    assert _code(lambda: c.get_bucket_tagging(Bucket="conf")) == "NoSuchTagSet"
    # the defaults S3 sets on a new bucket can be deleted, then they are missing
    c.delete_public_access_block(Bucket="conf")
    assert _code(lambda: c.get_public_access_block(Bucket="conf")) == (
        "NoSuchPublicAccessBlockConfiguration"
    )
    c.delete_bucket_ownership_controls(Bucket="conf")
    assert _code(lambda: c.get_bucket_ownership_controls(Bucket="conf")) == (
        "OwnershipControlsNotFoundError"
    )
    c.put_public_access_block(
        Bucket="conf",
        PublicAccessBlockConfiguration={"BlockPublicAcls": True, "BlockPublicPolicy": False},
    )
    assert c.get_public_access_block(Bucket="conf")["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": False,
    }
    # a lifecycle configuration keeps its transitions' minimum object size header
    c.put_bucket_lifecycle_configuration(
        Bucket="conf",
        LifecycleConfiguration={
            "Rules": [{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": "t/"},
                       "Expiration": {"Days": 7}}]
        },
        TransitionDefaultMinimumObjectSize="varies_by_storage_class",
    )  # fmt: skip
    got = c.get_bucket_lifecycle_configuration(Bucket="conf")
    assert got["Rules"][0]["ID"] == "x"
    assert got["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    # deleting the bucket forgets its configurations
    c.delete_bucket(Bucket="conf")
    c.create_bucket(Bucket="conf")
    assert "Status" not in c.get_bucket_versioning(Bucket="conf")
