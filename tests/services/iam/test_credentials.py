"""Role credentials: issued for a function, recognised only as issued, until they expire."""

from __future__ import annotations

from pathlib import Path

from lamina.services.iam.credentials import SessionIssuer, load_secret

ROLE = "arn:aws:iam::000000000000:role/service-role/app"
FN = "arn:aws:lambda:us-east-1:000000000000:function:thumb"


def test_issued_credentials_verify_to_their_session(tmp_path: Path) -> None:
    issuer = SessionIssuer(load_secret(tmp_path))
    creds = issuer.issue(ROLE, "thumb", FN, expiration=2000.0)
    assert creds.access_key_id.startswith("ASIA") and len(creds.access_key_id) == 20
    assert len(creds.secret_access_key) == 40
    session = issuer.verify(creds.access_key_id, creds.session_token, now=1000.0)
    assert session is not None
    assert session.role_arn == ROLE and session.function_arn == FN
    assert session.principal == "arn:aws:sts::000000000000:assumed-role/app/thumb"
    assert issuer.secret_for(creds.session_token) == creds.secret_access_key


def test_expired_forged_or_mismatched_tokens_are_refused(tmp_path: Path) -> None:
    issuer = SessionIssuer(load_secret(tmp_path))
    creds = issuer.issue(ROLE, "thumb", FN, expiration=2000.0)
    assert issuer.verify(creds.access_key_id, creds.session_token, now=2000.0) is None
    other = issuer.issue(ROLE, "other", FN, expiration=2000.0)
    assert issuer.verify(creds.access_key_id, other.session_token, now=1.0) is None
    prefix, payload, seal = creds.session_token.split(".")
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    assert issuer.verify(creds.access_key_id, f"{prefix}.{forged_payload}.{seal}", now=1.0) is None
    assert issuer.verify(creds.access_key_id, "garbage", now=1.0) is None
    assert issuer.verify(creds.access_key_id, "LAMINA1.!!.??", now=1.0) is None


def test_another_servers_secret_does_not_accept_the_token(tmp_path: Path) -> None:
    mine = SessionIssuer(load_secret(tmp_path / "a"))
    theirs = SessionIssuer(load_secret(tmp_path / "b"))
    creds = mine.issue(ROLE, "thumb", FN, expiration=2000.0)
    assert theirs.verify(creds.access_key_id, creds.session_token, now=1.0) is None


def test_the_secret_is_made_once_and_private(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert load_secret(tmp_path) == first
    assert (tmp_path / "iam-secret").stat().st_mode & 0o077 == 0
