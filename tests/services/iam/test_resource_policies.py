"""Bucket and queue policies held for the authoriser (pure)."""

from __future__ import annotations

import json

from lamina.services.iam.resource_policies import ResourcePolicies

ROLE = "arn:aws:iam::000000000000:role/app"
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            }
        ],
    }
)


def test_an_objects_bucket_policy_governs_it() -> None:
    held = ResourcePolicies()
    held.set("arn:aws:s3:::b", POLICY)
    assert len(held.for_resource("arn:aws:s3:::b/dir/key.txt")) == 1
    assert len(held.for_resource("arn:aws:s3:::b")) == 1
    assert held.for_resource("arn:aws:s3:::bb/key") == ()
    assert held.for_resource("arn:aws:sqs:us-east-1:000000000000:b") == ()


def test_an_empty_or_deleted_policy_is_gone() -> None:
    held = ResourcePolicies()
    queue = "arn:aws:sqs:us-east-1:000000000000:q"
    held.set(queue, POLICY.replace("s3:GetObject", "sqs:SendMessage"))
    assert len(held) == 1
    held.set(queue, "")
    assert held.for_resource(queue) == ()
    held.set(queue, POLICY)
    held.set(queue, None)
    assert len(held) == 0


def test_a_malformed_policy_grants_nothing_and_replaces_the_old_one() -> None:
    held = ResourcePolicies()
    held.set("arn:aws:s3:::b", POLICY)
    held.set("arn:aws:s3:::b", '{"Statement": "nope"}')
    assert held.for_resource("arn:aws:s3:::b/k") == ()
    # A statement without a Principal is no resource policy.
    held.set("arn:aws:s3:::b", POLICY.replace(f'"Principal": {{"AWS": "{ROLE}"}}, ', ""))
    assert held.for_resource("arn:aws:s3:::b/k") == ()
