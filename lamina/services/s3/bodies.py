"""Request bodies as S3 clients send them: plain, or ``aws-chunked`` with trailers (pure)."""

from __future__ import annotations

from lamina.errors import S3Error


def is_aws_chunked(headers: dict[str, str]) -> bool:
    return "aws-chunked" in headers.get("content-encoding", "") or headers.get(
        "x-amz-content-sha256", ""
    ).startswith("STREAMING-")


def decode_aws_chunked(data: bytes) -> tuple[bytes, dict[str, str]]:
    """``<hex size>[;chunk-signature=...]\\r\\n<bytes>\\r\\n ... 0\\r\\n<trailers>\\r\\n``."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise S3Error("IncompleteBody", "The aws-chunked body ended early", 400)
        size_text = data[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise S3Error("InvalidRequest", "Bad aws-chunked chunk size", 400) from None
        pos = eol + 2
        if size == 0:
            break
        out += data[pos : pos + size]
        pos += size + 2
    trailers: dict[str, str] = {}
    for line in data[pos:].split(b"\r\n"):
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            trailers[name.strip().lower()] = value.strip()
    return bytes(out), trailers


def request_body(headers: dict[str, str], body: bytes) -> bytes:
    if is_aws_chunked(headers):
        decoded, _ = decode_aws_chunked(body)
        declared = headers.get("x-amz-decoded-content-length")
        if declared is not None and declared.isdigit() and int(declared) != len(decoded):
            raise S3Error("IncompleteBody", "The decoded length does not match", 400)
        return decoded
    return body
