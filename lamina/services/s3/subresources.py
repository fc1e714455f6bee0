"""A bucket's configuration sub-resources (``?policy``, ``?cors``, ``?tagging`` ...) (pure).

Lamina keeps each configuration the client PUTs as the document it sent and hands it back
on GET; none of them changes how objects are served (there is one owner, no website
endpoint, no replication). What matters to clients — Terraform's ``aws_s3_bucket`` reads
every one of these after each apply — is that a bucket without a configuration answers
the way S3 does: some sub-resources have a default document (versioning never enabled,
no transfer acceleration, the owner pays, SSE-S3 encryption since January 2023, owner-
enforced object ownership and a fully blocking public access block since April 2023), the
others a "not configured" error with S3's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from lamina.errors import S3Error

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass(frozen=True, slots=True)
class Missing:
    """S3's error for a GET of a configuration the bucket does not have."""

    code: str
    message: str


# query name -> the default document (XML without its declaration), or S3's "missing" error.
SUBRESOURCES: dict[str, str | Missing] = {
    "policy": Missing("NoSuchBucketPolicy", "The bucket policy does not exist"),
    "cors": Missing("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
    "website": Missing(
        "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"
    ),
    "lifecycle": Missing(
        "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"
    ),
    "replication": Missing(
        "ReplicationConfigurationNotFoundError", "The replication configuration was not found"
    ),
    "object-lock": Missing(
        "ObjectLockConfigurationNotFoundError",
        "Object Lock configuration does not exist for this bucket",
    ),
    "tagging": Missing("NoSuchTagSet", "The TagSet does not exist"),
    "versioning": f'<VersioningConfiguration xmlns="{XMLNS}"/>',
    "accelerate": f'<AccelerateConfiguration xmlns="{XMLNS}"/>',
    "requestPayment": (
        f'<RequestPaymentConfiguration xmlns="{XMLNS}"><Payer>BucketOwner</Payer>'
        "</RequestPaymentConfiguration>"
    ),
    "logging": f'<BucketLoggingStatus xmlns="{XMLNS}"/>',
    "encryption": (
        f'<ServerSideEncryptionConfiguration xmlns="{XMLNS}"><Rule>'
        "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
        "</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled>"
        "</Rule></ServerSideEncryptionConfiguration>"
    ),
    "ownershipControls": (
        f'<OwnershipControls xmlns="{XMLNS}"><Rule><ObjectOwnership>BucketOwnerEnforced'
        "</ObjectOwnership></Rule></OwnershipControls>"
    ),
    "publicAccessBlock": (
        f'<PublicAccessBlockConfiguration xmlns="{XMLNS}">'
        "<BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls>"
        "<BlockPublicPolicy>true</BlockPublicPolicy>"
        "<RestrictPublicBuckets>true</RestrictPublicBuckets>"
        "</PublicAccessBlockConfiguration>"
    ),
}
# Defaults S3 sets on a new bucket that a DELETE really removes (then GET is this error);
# DELETE of the others goes back to the default. A deleted one is kept as an empty document.
DELETABLE_DEFAULTS: dict[str, Missing] = {
    "publicAccessBlock": Missing(
        "NoSuchPublicAccessBlockConfiguration",
        "The public access block configuration was not found",
    ),
    "ownershipControls": Missing(
        "OwnershipControlsNotFoundError", "The bucket ownership controls were not found"
    ),
}
# Sub-resources S3 answers with an empty list when none are configured.
EMPTY_LISTS: dict[str, str] = {
    "intelligent-tiering": "ListBucketIntelligentTieringConfigurationsResult",
    "analytics": "ListBucketAnalyticsConfigurationResult",
    "metrics": "ListMetricsConfigurationsResult",
    "inventory": "ListInventoryConfigurationsResult",
}
# PutBucketLifecycleConfiguration's header, and S3's default for it.
MIN_SIZE_HEADER = "x-amz-transition-default-minimum-object-size"
DEFAULT_MIN_SIZE = "all_storage_classes_128K"
# The most S3 accepts for a sub-resource document (a bucket policy's limit is 20 KB).
MAX_DOCUMENT_BYTES = 64 * 1024


def subresource_of(query: dict[str, str]) -> str | None:
    """The configuration sub-resource a bucket request addresses, if any."""
    for name in SUBRESOURCES:
        if name in query:
            return name
    return None


def acl_document(owner_id: str) -> str:
    """A bucket's ACL: its owner has FULL_CONTROL (ACLs are disabled, as on new buckets)."""
    owner = f"<ID>{owner_id}</ID><DisplayName>lamina</DisplayName>"
    return (
        f'<AccessControlPolicy xmlns="{XMLNS}"><Owner>{owner}</Owner><AccessControlList>'
        '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:type="CanonicalUser">{owner}</Grantee><Permission>FULL_CONTROL</Permission>'
        "</Grant></AccessControlList></AccessControlPolicy>"
    )


def empty_list(name: str) -> str:
    tag = EMPTY_LISTS[name]
    return f'<{tag} xmlns="{XMLNS}"><IsTruncated>false</IsTruncated></{tag}>'


def answer_for(name: str, stored: bytes | None, bucket: str) -> tuple[bytes, str]:
    """(body, content type) of a GET of sub-resource ``name``; raises S3's "missing" error."""
    if stored == b"" and name in DELETABLE_DEFAULTS:
        gone = DELETABLE_DEFAULTS[name]
        raise S3Error(gone.code, gone.message, 404, f"/{bucket}")
    if stored is not None:
        ctype = "application/json" if name == "policy" else "application/xml"
        return stored, ctype
    default = SUBRESOURCES[name]
    if isinstance(default, Missing):
        raise S3Error(default.code, default.message, 404, f"/{bucket}")
    return f'<?xml version="1.0" encoding="UTF-8"?>{default}'.encode(), "application/xml"


def check_document(name: str, body: bytes) -> None:
    """Refuse an empty or oversized configuration with S3's error."""
    if not body.strip():
        raise S3Error(
            "MissingRequestBodyError" if name != "policy" else "MalformedPolicy",
            "Request Body is empty",
            400,
        )
    if name == "policy" and not body.lstrip().startswith(b"{"):
        raise S3Error(
            "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'", 400
        )
    if len(body) > MAX_DOCUMENT_BYTES:
        raise S3Error(
            "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400
        )


def tagging_document(header: str) -> bytes:
    """PutObject's ``x-amz-tagging: k1=v1&k2=v2`` as the Tagging document GET ?tagging shows."""
    tags = "".join(
        f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>"
        for k, v in parse_qsl(header, keep_blank_values=True)
    )
    return f'<Tagging xmlns="{XMLNS}"><TagSet>{tags}</TagSet></Tagging>'.encode()
