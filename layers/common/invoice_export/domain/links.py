"""Customer links: stable, expiring, tamper-proof URLs to a document's PDF.

A presigned S3 URL dies with the signing role's session (hours) and after 7 days at most, so the
e-mailed link points at our link route instead, which checks this signature and redirects to a
fresh short-lived presigned URL. Keys live in Secrets Manager as {"active_kid": "k1", "k1": "..."}:
rotate by adding a key and making it active; delete an old kid to revoke every link signed with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass


class InvalidLink(Exception):
    """The link is malformed, tampered with, expired or signed with a revoked key."""


@dataclass(frozen=True)
class LinkClaims:
    account_id: str
    document_id: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    def __init__(self, keys: dict[str, bytes], active_kid: str, clock: Callable[[], float] = time.time) -> None:
        if active_kid not in keys:
            raise ValueError("the active link-signing key id has no key")
        self._keys = keys
        self._active_kid = active_kid
        self._clock = clock

    @classmethod
    def from_secret(cls, secret: dict[str, str], clock: Callable[[], float] = time.time) -> LinkSigner:
        keys = {kid: value.encode() for kid, value in secret.items() if kid != "active_kid"}
        return cls(keys, secret["active_kid"], clock)

    def sign(self, account_id: str, document_id: str, ttl_seconds: int) -> str:
        claims = {"a": account_id, "d": document_id, "e": int(self._clock()) + ttl_seconds, "k": self._active_kid}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(self._active_kid, payload)}"

    def verify(self, token: str) -> LinkClaims:
        try:
            payload, signature = token.split(".")
            claims = json.loads(_unb64(payload))
            kid = claims["k"]
        except (ValueError, KeyError, TypeError):
            raise InvalidLink("malformed link") from None
        if kid not in self._keys:
            raise InvalidLink("link signed with an unknown or revoked key")
        if not hmac.compare_digest(signature, self._mac(kid, payload)):
            raise InvalidLink("link signature does not match")
        if int(claims["e"]) < self._clock():
            raise InvalidLink("link expired")
        return LinkClaims(account_id=str(claims["a"]), document_id=str(claims["d"]), expires_at=int(claims["e"]))

    def _mac(self, kid: str, payload: str) -> str:
        return _b64(hmac.new(self._keys[kid], payload.encode(), hashlib.sha256).digest())
