"""Who may call the API: SigV4 verification against the configured access keys.

Two modes, decided by configuration (:attr:`Settings.signature_required`):

- **keys configured** (``LAMINA_ACCESS_KEYS``): every request must carry a valid SigV4
  signature (an ``Authorization`` header, or a presigned URL's ``X-Amz-*`` query) made
  with one of the keys; anything else is refused with 403 and AWS's error names.
- **dev mode** (no keys): like every local AWS emulator, any credentials and any region
  are accepted: a signed request's ``Authorization`` header (or presigned query) must be
  well-formed and is read for its access key, but the signature is not checked (Lamina
  cannot know the secret of ``test``/``test``, LocalStack's convention). Unsigned requests
  are served too, so ``curl`` and raw HTTP work. Lamina serves one region whatever the
  client signed for (see docs/api.md).

Verification costs one SHA-256 of the body, one of the canonical request and one HMAC
per request: the derived signing key is cached per (key, date, region, service).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import parse_qsl

from lamina.api import sigv4
from lamina.config import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY
from lamina.errors import (
    AccessDenied,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)
from lamina.services.iam.credentials import TOKEN_PREFIX

MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600
_MEMO_SIZE = 1024
T = TypeVar("T")
# (access key id, session token) -> the secret of a function's role credentials, or None.
SessionSecrets = Callable[[str, str], str | None]
SESSION_TOKEN_PREFIX = TOKEN_PREFIX + "."  # Lamina's role session tokens
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


def amz_date_epoch(amz_date: str) -> int:
    """``20240101T120000Z`` → epoch seconds (no strptime: this runs on every request)."""
    s = amz_date
    return calendar.timegm(
        (int(s[0:4]), int(s[4:6]), int(s[6:8]), int(s[9:11]), int(s[11:13]), int(s[13:15]))
    )


def epoch_amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


class Authenticator:
    """Checks one request's signature; see the module docstring for the two modes."""

    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        required: bool,
        region: str,
        service: str = "lambda",
        max_skew_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        s3_style: bool = False,
        sessions: SessionSecrets | None = None,
    ) -> None:
        """``s3_style``: S3's rules (paths encoded once, ``UNSIGNED-PAYLOAD`` allowed).
        ``sessions``: the secret of a function's role credentials, from their session token
        (checked with keys configured; dev mode checks no signature at all)."""
        # The dev pair is kept for the presigned URLs Lamina makes in dev mode.
        self.keys = dict(keys) if keys else {DEV_ACCESS_KEY_ID: DEV_SECRET_ACCESS_KEY}
        self.s3_style = s3_style
        self.sessions = sessions
        self.required = required
        self.region = region
        self.service = service
        self.max_skew_s = max_skew_s
        self._clock = clock
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}
        # Per-request work that repeats between requests, memoised (bounded): the parsed
        # Authorization header minus its signature, canonical paths, and the date's epoch.
        self._parsed: dict[str, tuple[sigv4.Credential, tuple[str, ...]]] = {}
        self._uris: dict[str, str] = {}
        self._epochs: dict[str, int] = {}

    def check(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        """Return the caller's access key id, or None for an accepted unsigned request.

        ``headers`` has lower-case names. Raises a 403 :class:`ApiError` otherwise.
        """
        authorization = headers.get("authorization")
        path, _, raw_query = target.partition("?")
        if authorization is None:
            if "X-Amz-Signature=" in raw_query:
                if not self.required:
                    return self._accept_presigned(raw_query)
                return self._check_presigned(method, path, raw_query, headers)
            if self.required:
                raise MissingAuthenticationToken("Missing Authentication Token")
            return None
        amz_date = headers.get("x-amz-date") or _from_http_date(headers.get("date"))
        auth = self._parse(authorization, amz_date)
        if not self.required:
            # Dev mode: any key, any region. Lamina's own role credentials are still read, so
            # the session's role is enforced (anyone else is the operator).
            self._identify_session(auth.credential.access_key, headers.get("x-amz-security-token"))
            return auth.credential.access_key
        if "host" not in auth.signed_headers:
            raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
        if "x-amz-date" not in auth.signed_headers and "date" not in auth.signed_headers:
            raise IncompleteSignature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header, signed."
            )
        key = self._key_for(auth, headers.get("x-amz-security-token"))
        self._check_clock(amz_date)
        payload_hash = self._payload_hash(headers, body)
        uri = self._uris.get(path)
        if uri is None:
            canonical_path = sigv4.canonical_uri(path, double_encode=not self.s3_style)
            uri = _remember(self._uris, path, canonical_path)
        canonical = sigv4.canonical_request(
            method,
            uri,
            sigv4.canonical_query(raw_query),
            sigv4.canonical_headers(headers, auth.signed_headers),
            auth.signed_headers,
            payload_hash,
        )
        expected = sigv4.signature(
            key, sigv4.string_to_sign(amz_date, auth.credential.scope, canonical)
        )
        if not hmac.compare_digest(expected, auth.signature):
            raise InvalidSignature(_MISMATCH)
        return auth.credential.access_key

    def check_head(self, target: str, headers: Mapping[str, str]) -> None:
        """Refuse, from the head alone, a request :meth:`check` would surely refuse.

        Only what holds whatever the body and whichever service verifies it: in signed
        mode, no signature at all, an unknown access key, a malformed ``Authorization``,
        a clock outside the skew. The server calls this before reading a body, so an
        unsigned flood costs no memory; :meth:`check` still decides every request.
        """
        if not self.required:
            return
        authorization = headers.get("authorization")
        if authorization is None:
            if "X-Amz-Signature=" not in target:
                raise MissingAuthenticationToken("Missing Authentication Token")
            return
        amz_date = headers.get("x-amz-date") or _from_http_date(headers.get("date"))
        auth = self._parse(authorization, amz_date)
        if not sigv4.is_amz_date(amz_date):
            raise IncompleteSignature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header."
            )
        key_id, token = auth.credential.access_key, headers.get("x-amz-security-token")
        if token is not None and self.sessions is not None and key_id.startswith("ASIA"):
            known = self.sessions(key_id, token) is not None  # a function's role credentials
        else:
            known = key_id in self.keys
        if not known:
            raise UnrecognizedClient("The security token included in the request is invalid.")
        self._check_clock(amz_date)

    # -- parts ------------------------------------------------------------------------
    def _identify_session(self, access_key: str, token: str | None) -> None:
        """Dev mode: a Lamina session token must be genuine (its role then applies)."""
        if (
            token is not None
            and self.sessions is not None
            and access_key.startswith("ASIA")
            and token.startswith(SESSION_TOKEN_PREFIX)
            and self.sessions(access_key, token) is None
        ):
            raise UnrecognizedClient("The security token included in the request is invalid.")

    def _accept_presigned(self, raw_query: str) -> str:
        """Dev mode: a well-formed presigned URL is served until it expires, whoever signed."""
        query, auth, expires = _presigned(raw_query)
        if self._clock() > amz_date_epoch(auth.amz_date) + expires:
            raise AccessDenied("Request has expired")
        self._identify_session(auth.credential.access_key, query.get("X-Amz-Security-Token"))
        return auth.credential.access_key

    def _parse(self, authorization: str, amz_date: str) -> sigv4.SignedRequestAuth:
        """Parse the header; its part before ``Signature=`` repeats, so it is memoised."""
        cut = authorization.rfind("Signature=")
        known = self._parsed.get(authorization[:cut]) if cut > 0 else None
        if known is not None:
            sig = authorization[cut + len("Signature=") :].strip()
            if sigv4.is_signature(sig):
                return sigv4.SignedRequestAuth(known[0], known[1], sig, amz_date)
        auth = sigv4.parse_authorization(authorization, amz_date)
        if cut > 0:
            _remember(self._parsed, authorization[:cut], (auth.credential, auth.signed_headers))
        return auth

    def _key_for(self, auth: sigv4.SignedRequestAuth, token: str | None) -> bytes:
        cred = auth.credential
        if not sigv4.is_amz_date(auth.amz_date):
            raise IncompleteSignature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header."
            )
        if cred.date != auth.amz_date[:8]:
            raise InvalidSignature(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{cred.date}' != '{auth.amz_date[:8]}', from "
                f"'{auth.amz_date}'."
            )
        if cred.service != self.service:
            raise InvalidSignature(
                f"Credential should be scoped to correct service: '{self.service}'. "
            )
        if cred.region != self.region:
            raise InvalidSignature(
                f"Credential should be scoped to a valid region, not '{cred.region}'. "
                f"(Lamina serves region '{self.region}'.)"
            )
        if token is not None and self.sessions is not None and cred.access_key.startswith("ASIA"):
            # A function's role credentials: checked (and possibly expired) on every request,
            # so their signing keys are not cached.
            session_secret = self.sessions(cred.access_key, token)
            if session_secret is None:
                raise UnrecognizedClient("The security token included in the request is invalid.")
            return sigv4.signing_key(session_secret, cred.date, cred.region, cred.service)
        cache_key = (cred.access_key, cred.date, cred.region, cred.service)
        key = self._signing_keys.get(cache_key)
        if key is None:
            secret = self.keys.get(cred.access_key)
            if secret is None:
                raise UnrecognizedClient("The security token included in the request is invalid.")
            if len(self._signing_keys) > 256:  # a new day, or many keys: start afresh
                self._signing_keys.clear()
            key = sigv4.signing_key(secret, cred.date, cred.region, cred.service)
            self._signing_keys[cache_key] = key
        return key

    def _check_clock(self, amz_date: str) -> None:
        now = self._clock()
        signed_at = self._epochs.get(amz_date)
        if signed_at is None:
            signed_at = _remember(self._epochs, amz_date, amz_date_epoch(amz_date))
        skew = self.max_skew_s
        minutes = f"{skew / 60:g} min."
        if signed_at < now - skew:
            raise InvalidSignature(
                f"Signature expired: {amz_date} is now earlier than "
                f"{epoch_amz_date(now - skew)} ({epoch_amz_date(now)} - {minutes})"
            )
        if signed_at > now + skew:
            raise InvalidSignature(
                f"Signature not yet current: {amz_date} is still later than "
                f"{epoch_amz_date(now + skew)} ({epoch_amz_date(now)} + {minutes})"
            )

    def _payload_hash(self, headers: Mapping[str, str], body: bytes) -> str:
        claimed = headers.get("x-amz-content-sha256")
        if claimed == sigv4.UNSIGNED_PAYLOAD and self.s3_style:
            return claimed
        actual = hashlib.sha256(body).hexdigest() if body else sigv4.EMPTY_SHA256
        if claimed is not None and claimed != actual:
            raise InvalidSignature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        return actual

    def _check_presigned(
        self, method: str, path: str, raw_query: str, headers: Mapping[str, str]
    ) -> str:
        query, auth, expires = _presigned(raw_query)
        if not 1 <= expires <= MAX_PRESIGN_EXPIRES_S:
            raise IncompleteSignature(
                f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_EXPIRES_S} seconds."
            )
        if "host" not in auth.signed_headers:
            raise IncompleteSignature("'Host' must be a 'SignedHeader' in a presigned URL.")
        key = self._key_for(auth, query.get("X-Amz-Security-Token"))
        signed_at = amz_date_epoch(auth.amz_date)
        now = self._clock()
        if now > signed_at + expires:
            raise AccessDenied("Request has expired")
        if signed_at > now + self.max_skew_s:
            raise InvalidSignature(f"Signature not yet current: {auth.amz_date}")
        uri = sigv4.canonical_uri(path, double_encode=not self.s3_style)
        query_block = sigv4.canonical_query(raw_query, exclude="X-Amz-Signature")
        headers_block = sigv4.canonical_headers(headers, auth.signed_headers)
        # S3-style presigning signs UNSIGNED-PAYLOAD; botocore's generic one an empty body.
        for payload_hash in (sigv4.UNSIGNED_PAYLOAD, sigv4.EMPTY_SHA256):
            canonical = sigv4.canonical_request(
                method, uri, query_block, headers_block, auth.signed_headers, payload_hash
            )
            expected = sigv4.signature(
                key, sigv4.string_to_sign(auth.amz_date, auth.credential.scope, canonical)
            )
            if hmac.compare_digest(expected, auth.signature):
                return auth.credential.access_key
        raise InvalidSignature(_MISMATCH)


def _presigned(raw_query: str) -> tuple[dict[str, str], sigv4.SignedRequestAuth, int]:
    """A presigned URL's query parameters, its signature's parts and ``X-Amz-Expires``."""
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    auth = sigv4.parse_presigned(query)
    try:
        expires = int(query.get("X-Amz-Expires", "900"))
    except ValueError:
        raise IncompleteSignature("X-Amz-Expires must be a number of seconds.") from None
    return query, auth, expires


def _remember(cache: dict[str, T], key: str, value: T) -> T:
    if len(cache) >= _MEMO_SIZE:
        cache.clear()
    cache[key] = value
    return value


def _from_http_date(value: str | None) -> str:
    """A signed ``Date`` header (RFC 1123) in SigV4's ISO form; "" when absent or bad."""
    if not value:
        return ""
    try:
        return epoch_amz_date(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return ""
