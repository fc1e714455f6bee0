"""S3 requests parsed into typed values, with S3's codes (pure)."""

from __future__ import annotations

import pytest

from lamina.errors import S3Error
from lamina.services.s3.requests import (
    byte_range,
    copy_source,
    parse_complete,
    parse_delete,
    parse_list_objects,
    parse_request,
    part_number,
    principal,
)
from lamina.wire.http import Request


def request(method: str, target: str, headers: dict[str, str] | None = None) -> Request:
    return Request(method, target, headers or {}, b"")


def test_a_path_style_request_names_bucket_key_and_sub_resources() -> None:
    s3 = parse_request(request("PUT", "/photos/a%20b/c.jpg?uploadId=x&partNumber=2"))
    assert (s3.bucket, s3.key) == ("photos", "a b/c.jpg")
    assert s3.query == {"uploadId": "x", "partNumber": "2"}
    assert part_number(s3.query) == 2
    assert parse_request(request("GET", "/")).bucket == ""


def test_list_objects_v2_reads_its_token_and_clamps_max_keys() -> None:
    token = b"in/b".hex()
    req = parse_list_objects({"list-type": "2", "continuation-token": token, "max-keys": "5000"})
    assert (req.v2, req.after, req.max_keys, req.continuation_token) == (True, "in/b", 1000, token)
    v1 = parse_list_objects({"marker": "k", "encoding-type": "url"})
    assert (v1.v2, v1.after, v1.url_encoded, v1.start_after) == (False, "k", True, None)


@pytest.mark.parametrize(
    "query",
    [{"max-keys": "lots"}, {"list-type": "2", "continuation-token": "zz"}],
)
def test_bad_listing_arguments_are_invalid_arguments(query: dict[str, str]) -> None:
    with pytest.raises(S3Error) as exc:
        parse_list_objects(query)
    assert (exc.value.code, exc.value.status) == ("InvalidArgument", 400)


def test_ranges_copy_sources_and_principals() -> None:
    assert byte_range("bytes=2-", 10) == (2, 9)
    assert byte_range("bytes=-3", 10) == (7, 9)
    with pytest.raises(S3Error) as exc:
        byte_range("bytes=10-", 10)
    assert exc.value.status == 416
    assert copy_source({"x-amz-copy-source": "/b/k%201?versionId=1"}) == ("b", "k 1", "b/k 1")
    signed = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request"
    }
    assert principal(request("GET", "/b", signed)) == "AWS:AKID"
    assert principal(request("GET", "/b")) == "AWS:anonymous"


def test_xml_bodies_become_keys_and_parts() -> None:
    body = b"<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b</Key></Object></Delete>"
    assert parse_delete(body) == (True, ["a", "b"])
    parts = b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e1"</ETag></Part></CompleteMultipartUpload>'
    assert parse_complete(parts) == [(1, "e1")]
    with pytest.raises(S3Error) as malformed:
        parse_delete(b"<Delete>")
    assert malformed.value.code == "MalformedXML"
    with pytest.raises(S3Error) as bad_number:
        parse_complete(
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>"
        )
    assert bad_number.value.code == "InvalidArgument"
