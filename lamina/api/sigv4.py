"""AWS Signature Version 4: canonical requests, signatures, and parsing what clients send.

Pure functions, no clock and no I/O, shared by the server's verifier
(:mod:`lamina.api.auth`) and the CLI's signer (:mod:`lamina.client.http`). The rules are
AWS's (and botocore's, which is what boto3 and the AWS CLI send):

- the canonical URI is the path *as sent*, with dot segments and empty segments removed,
  URI-encoded once more (every service but S3 double-encodes: ``%3A`` becomes ``%253A``);
- the canonical query is every ``key=value`` pair, each part RFC 3986-encoded, sorted;
- canonical headers are the signed ones, lower-cased, values trimmed with inner runs of
  spaces collapsed, sorted; the payload hash is the hex SHA-256 of the body (or the value of
  ``x-amz-content-sha256`` when a client sends one).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from lamina.errors import IncompleteSignature

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Credential:
    """``AKID/20240101/us-east-1/lambda/aws4_request``, split."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True, slots=True)
class SignedRequestAuth:
    """What a signed request claims: who, when, which headers, and the signature."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str


# -- canonical forms ---------------------------------------------------------------------
def remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal, also dropping empty segments (as AWS does)."""
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    trailing = "/" if path.endswith("/") and out else ""
    return "/" + "/".join(out) + trailing


def canonical_uri(raw_path: str, *, double_encode: bool = True) -> str:
    """The path as the client sent it (still percent-encoded), canonicalised.

    S3 (``double_encode=False``) neither removes dot segments nor encodes twice.
    """
    if double_encode:
        return quote(remove_dot_segments(raw_path), safe="/~")
    return quote(unquote(raw_path), safe="/~") or "/"


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_query(raw_query: str, *, exclude: str | None = None) -> str:
    """Sorted ``key=value`` pairs, each part decoded then RFC 3986-encoded."""
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for pair in raw_query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key = _encode(unquote(key))
        if key == exclude:
            continue
        pairs.append((key, _encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(headers: Mapping[str, str], names: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header; ``headers`` has lower-case names."""
    return "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in names)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers_block: str,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join((method, uri, query, headers_block, ";".join(signed_headers), payload_hash))


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key: four HMACs, the same for a whole day (callers cache it)."""
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, TERMINATOR):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# -- what clients send -------------------------------------------------------------------
def parse_credential(raw: str) -> Credential:
    parts = raw.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignature(
            f"Credential should have exactly 5 slash-delimited elements, e.g. "
            f"keyID/date/region/service/term, got '{raw}'"
        )
    if parts[4] != TERMINATOR:
        raise IncompleteSignature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not "
            f"'{parts[4]}'."
        )
    return Credential(parts[0], parts[1], parts[2], parts[3])


def parse_authorization(value: str, amz_date: str) -> SignedRequestAuth:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Authorization header requires the {ALGORITHM} algorithm, not '{algorithm}'."
        )
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, val = item.strip().partition("=")
        if eq:
            fields[name] = val
    for required in ("Credential", "SignedHeaders", "Signature"):
        if required not in fields:
            raise IncompleteSignature(
                f"Authorization header requires '{required}' parameter. Authorization={value}"
            )
    signed = tuple(fields["SignedHeaders"].split(";"))
    if list(signed) != sorted(signed) or any(h != h.lower() or not h for h in signed):
        raise IncompleteSignature("SignedHeaders must be lower-case names, sorted, ';'-separated.")
    sig = fields["Signature"]
    if not _SIGNATURE.match(sig):
        raise IncompleteSignature("Signature must be 64 lower-case hex digits.")
    return SignedRequestAuth(parse_credential(fields["Credential"]), signed, sig, amz_date)


def parse_presigned(query: Mapping[str, str]) -> SignedRequestAuth:
    """The ``X-Amz-*`` parameters of a presigned URL."""
    for required in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if required not in query:
            raise IncompleteSignature(f"Presigned URL requires the '{required}' parameter.")
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise IncompleteSignature(f"X-Amz-Algorithm must be {ALGORITHM}.")
    amz_date = query["X-Amz-Date"]
    if not _AMZ_DATE.match(amz_date):
        raise IncompleteSignature(f"X-Amz-Date '{amz_date}' is not YYYYMMDDTHHMMSSZ.")
    sig = query["X-Amz-Signature"]
    if not _SIGNATURE.match(sig):
        raise IncompleteSignature("X-Amz-Signature must be 64 lower-case hex digits.")
    signed = tuple(query["X-Amz-SignedHeaders"].split(";"))
    return SignedRequestAuth(parse_credential(query["X-Amz-Credential"]), signed, sig, amz_date)


def is_signature(value: str) -> bool:
    return bool(_SIGNATURE.match(value))


def is_amz_date(value: str) -> bool:
    return bool(_AMZ_DATE.match(value))


# -- signing (the client side) -----------------------------------------------------------
def sign_headers(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str,
    secret: str,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str]:
    """The ``X-Amz-Date`` and ``Authorization`` headers for a request.

    ``target`` is the path and query exactly as they will be sent; ``headers`` must
    include ``host``. Every header given is signed.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    lower["x-amz-date"] = amz_date
    names = sorted(lower)
    path, _, raw_query = target.partition("?")
    scope = Credential(access_key, amz_date[:8], region, service).scope
    canonical = canonical_request(
        method.upper(),
        canonical_uri(path),
        canonical_query(raw_query),
        canonical_headers(lower, names),
        names,
        hashlib.sha256(body).hexdigest(),
    )
    key = signing_key(secret, amz_date[:8], region, service)
    sig = signature(key, string_to_sign(amz_date, scope, canonical))
    return {
        "X-Amz-Date": amz_date,
        "Authorization": (
            f"{ALGORITHM} Credential={access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={sig}"
        ),
    }


def presign_query(
    method: str,
    path: str,
    host: str,
    *,
    access_key: str,
    secret: str,
    region: str,
    service: str,
    amz_date: str,
    expires_s: int,
) -> str:
    """The query string of a presigned URL for ``path`` (no body: ``UNSIGNED-PAYLOAD``)."""
    scope = Credential(access_key, amz_date[:8], region, service).scope
    params = {
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires_s),
        "X-Amz-SignedHeaders": "host",
    }
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
    canonical = canonical_request(
        method.upper(),
        canonical_uri(path),
        canonical_query(query),
        canonical_headers({"host": host}, ("host",)),
        ("host",),
        UNSIGNED_PAYLOAD,
    )
    key = signing_key(secret, amz_date[:8], region, service)
    sig = signature(key, string_to_sign(amz_date, scope, canonical))
    return f"{query}&X-Amz-Signature={sig}"
