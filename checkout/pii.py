"""National ID numbers at rest: a keyed hash for limits, AES-GCM encryption, masking.

Two 32-byte subkeys are derived once from ``Settings.pii_key`` with HKDF-SHA256 (distinct
``info`` labels), so the hash key and the encryption key never coincide:

* :func:`id_hash` — HMAC-SHA256 hex of the normalised ID: the same ID always gives the same hash
  (per-ID limits), and without the key the ~10^9 possible IDs cannot be enumerated against it.
* :func:`encrypt` / :func:`decrypt` — AES-256-GCM with a random 96-bit nonce; the text form is
  ``v1.<base64url(nonce || ciphertext || tag)>``; the version is authenticated as AAD.
* :func:`mask` — ``110105********002X`` for display and logs.

Exceptions::

    Exception
    └── PiiError                code="pii_error"
        └── DecryptError        code="pii_decrypt_failed" (tampered, wrong key, unknown version)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from checkout.idnumber import mask
from flashsale.core.settings import Secret, key_bytes

__all__ = [
    "DecryptError",
    "PiiError",
    "PiiKeys",
    "ProtectedId",
    "decrypt",
    "encrypt",
    "id_hash",
    "mask",
    "protect",
]

VERSION = "v1"
_AAD = b"flashsale-pii-v1"
_NONCE = 12


class PiiError(Exception):
    code = "pii_error"


class DecryptError(PiiError):
    code = "pii_decrypt_failed"


class PiiKeys:
    """The derived hash and encryption keys. Never shows them in repr/str."""

    __slots__ = ("_aead", "_hash_key", "_hash_mac")

    def __init__(self, hash_key: bytes, enc_key: bytes) -> None:
        self._hash_key = hash_key
        self._hash_mac = hmac.new(hash_key, digestmod=hashlib.sha256)  # copied per hash
        self._aead = AESGCM(enc_key)

    @classmethod
    def derive(cls, secret: Secret | str | bytes) -> PiiKeys:
        """Keys from ``Settings.pii_key`` (cached: deriving once per process is enough)."""
        return _derive(key_bytes(secret, "pii_key", PiiError))

    def __repr__(self) -> str:
        return "PiiKeys(**********)"

    __str__ = __repr__


@lru_cache(maxsize=8)
def _derive(secret: bytes) -> PiiKeys:
    def hkdf(info: bytes) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(secret)

    return PiiKeys(hkdf(b"flashsale pii id-hash v1"), hkdf(b"flashsale pii aes-gcm v1"))


KeyLike = PiiKeys | Secret | str | bytes


def _keys(key: KeyLike) -> PiiKeys:
    return key if isinstance(key, PiiKeys) else PiiKeys.derive(key)


def id_hash(id_number: str, key: KeyLike) -> str:
    """Keyed HMAC-SHA256 (hex) of a normalised ID number (from a copy of the key's prepared
    state: ``hmac.digest`` would set the key up again on every call)."""
    mac = _keys(key)._hash_mac.copy()
    mac.update(id_number.encode())
    return mac.hexdigest()


def encrypt(id_number: str, key: KeyLike) -> str:
    nonce = os.urandom(_NONCE)
    sealed = _keys(key)._aead.encrypt(nonce, id_number.encode(), _AAD)
    return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).rstrip(b'=').decode()}"


def decrypt(token: str, key: KeyLike) -> str:
    version, _, payload = token.partition(".")
    if version != VERSION:
        raise DecryptError(f"unknown PII ciphertext version {version[:8]!r}")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raise DecryptError("PII ciphertext is not base64url") from None
    if len(raw) < _NONCE + 16:
        raise DecryptError("PII ciphertext too short")
    try:
        plain = _keys(key)._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _AAD)
    except InvalidTag:
        raise DecryptError("PII ciphertext failed authentication") from None
    return plain.decode()


@dataclass(frozen=True, slots=True)
class ProtectedId:
    """What an order keeps of a national ID: hash for limits, masked for display, ciphertext."""

    hash: str
    masked: str
    encrypted: str

    def as_dict(self) -> dict[str, str]:
        return {"id_hash": self.hash, "id_masked": self.masked, "id_encrypted": self.encrypted}


def protect(id_number: str, key: KeyLike) -> ProtectedId:
    keys = _keys(key)
    return ProtectedId(id_hash(id_number, keys), mask(id_number), encrypt(id_number, keys))
