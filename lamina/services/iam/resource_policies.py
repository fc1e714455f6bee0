"""Resource policies of Lamina's own S3 buckets and SQS queues, held for the authoriser.

A bucket policy (PutBucketPolicy) or a queue's ``Policy`` attribute (SetQueueAttributes)
may grant a function's role what its own policies do not, and may deny it what they allow:
within one account IAM allows a call when either the identity's or the resource's policy
allows it and none denies it. The services tell :class:`ResourcePolicies` of every change
(and the server loads what exists at start-up), so a decision reads memory only.
"""

from __future__ import annotations

import logging

from lamina.services.iam.policy import MalformedPolicyDocument, Policy, parse_policy

log = logging.getLogger("lamina.iam")


class ResourcePolicies:
    """Parsed resource policies by resource ARN (a bucket's or a queue's)."""

    def __init__(self) -> None:
        self._by_arn: dict[str, Policy] = {}

    def __len__(self) -> int:
        return len(self._by_arn)

    def set(self, arn: str, document: str | None) -> None:
        """The policy of ``arn`` is now ``document`` (None or empty: it has none).

        A document that is not a valid resource policy grants and denies nothing; the log
        says why (S3 and SQS store what they were given)."""
        if not document:
            self._by_arn.pop(arn, None)
            return
        try:
            self._by_arn[arn] = parse_policy(document, resource_policy=True)
        except MalformedPolicyDocument as exc:
            self._by_arn.pop(arn, None)
            log.warning("the resource policy of %s is not enforced: %s", arn, exc.message)

    def for_resource(self, resource: str) -> tuple[Policy, ...]:
        """The policy governing ``resource``: an S3 object's bucket (``arn:aws:s3:::b/k``
        → ``arn:aws:s3:::b``), or the resource itself (a bucket, a queue)."""
        if resource.startswith("arn:aws:s3:::"):
            resource = resource.split("/", 1)[0]
        policy = self._by_arn.get(resource)
        return () if policy is None else (policy,)
