"""Customer links: signed, expiring, tamper-proof, revocable by key id."""

from __future__ import annotations

import pytest

from invoice_export.domain.links import InvalidLink, LinkSigner

KEYS = {"active_kid": "k1", "k1": "first-secret-key-material-0123456789"}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_signed_link_verifies_to_its_document() -> None:
    signer = LinkSigner.from_secret(KEYS, Clock(1_000_000))
    claims = signer.verify(signer.sign("shop-1", "INV-1", ttl_seconds=3600))
    assert (claims.account_id, claims.document_id, claims.expires_at) == ("shop-1", "INV-1", 1_003_600)


def test_an_expired_link_is_refused() -> None:
    clock = Clock(1_000_000)
    signer = LinkSigner.from_secret(KEYS, clock)
    token = signer.sign("shop-1", "INV-1", ttl_seconds=60)
    clock.now += 61
    with pytest.raises(InvalidLink, match="expired"):
        signer.verify(token)


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
    lambda t: t.replace(t.split(".")[0], t.split(".")[0][:-3] + "xyz"),  # payload changed
    lambda t: t.split(".")[0],  # signature removed
    lambda t: "garbage",
])
def test_a_tampered_link_is_refused(tamper) -> None:
    signer = LinkSigner.from_secret(KEYS, Clock(1_000_000))
    with pytest.raises(InvalidLink):
        signer.verify(tamper(signer.sign("shop-1", "INV-1", ttl_seconds=3600)))


def test_a_link_for_another_document_cannot_be_forged_by_editing_claims() -> None:
    import base64
    import json

    signer = LinkSigner.from_secret(KEYS, Clock(1_000_000))
    payload, signature = signer.sign("shop-1", "INV-1", ttl_seconds=3600).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["d"] = "INV-2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidLink, match="signature"):
        signer.verify(f"{forged}.{signature}")


def test_rotation_keeps_old_links_until_their_key_is_removed() -> None:
    old_signer = LinkSigner.from_secret(KEYS, Clock(1_000_000))
    old_link = old_signer.sign("shop-1", "INV-1", ttl_seconds=3600)
    rotated = LinkSigner.from_secret({**KEYS, "active_kid": "k2", "k2": "second-secret-key-material-98765"},
                                     Clock(1_000_000))
    assert rotated.verify(old_link).document_id == "INV-1"
    assert ".".join(rotated.sign("shop-1", "INV-1", 60).split(".")) != old_link
    revoked = LinkSigner.from_secret({"active_kid": "k2", "k2": "second-secret-key-material-98765"},
                                     Clock(1_000_000))
    with pytest.raises(InvalidLink, match="revoked"):
        revoked.verify(old_link)
