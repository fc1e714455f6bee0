"""Temporary credentials of a function's execution role, issued and checked without state.

A function never sees the operator's keys. At each cold start it gets
``AWS_ACCESS_KEY_ID`` (``ASIA...``), ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN`` for
the session ``arn:aws:sts::<account>:assumed-role/<role>/<function>``, as Lambda does.

The session token carries the role, the session name, the function and the expiry, sealed
with an HMAC under a server secret kept in the data directory (which functions cannot read);
the key id and secret are derived from the token under the same secret. So a signed request's
token alone proves who signed it, a restart keeps every running environment's credentials
valid, and nothing grows with the number of environments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

TOKEN_PREFIX = "LAMINA1"
SECRET_FILE = "iam-secret"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float


@dataclass(frozen=True, slots=True)
class Session:
    """Who signed with a session token: the role, its session, and the function it was for."""

    role_arn: str
    session_name: str
    function_arn: str
    expiration: float

    @property
    def principal(self) -> str:
        account = self.role_arn.split(":")[4]
        role_name = self.role_arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{account}:assumed-role/{role_name}/{self.session_name}"


def load_secret(data_dir: Path) -> bytes:
    """The server's signing secret, made once (0600) in the data directory."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secret)
        finally:
            os.close(fd)
        return secret


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionIssuer:
    """Issues role credentials and recognises them on signed requests."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self._secret, label + b"\0" + data, hashlib.sha256).digest()

    def issue(
        self, role_arn: str, session_name: str, function_arn: str, expiration: float
    ) -> Credentials:
        payload = json.dumps(
            {"r": role_arn, "s": session_name, "f": function_arn, "e": int(expiration)},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        seal = self._mac(b"token", payload)[:20]
        token = f"{TOKEN_PREFIX}.{_b64(payload)}.{_b64(seal)}"
        return Credentials(
            access_key_id=self._key_id(token),
            secret_access_key=self.secret_for(token),
            session_token=token,
            expiration=float(int(expiration)),
        )

    def _key_id(self, token: str) -> str:
        digest = base64.b32encode(self._mac(b"akid", token.encode())).decode()
        return "ASIA" + digest[:16]

    def secret_for(self, token: str) -> str:
        return base64.b64encode(self._mac(b"secret", token.encode())).decode()[:40]

    def verify(self, access_key_id: str, token: str, now: float) -> Session | None:
        """The session behind ``token`` if it is genuine, unexpired and matches the key id."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            return None
        try:
            payload, seal = _unb64(parts[1]), _unb64(parts[2])
        except ValueError:
            return None
        if not hmac.compare_digest(seal, self._mac(b"token", payload)[:20]):
            return None
        if not hmac.compare_digest(access_key_id, self._key_id(token)):
            return None
        fields = json.loads(payload)
        if now >= fields["e"]:
            return None
        return Session(fields["r"], fields["s"], fields["f"], float(fields["e"]))
