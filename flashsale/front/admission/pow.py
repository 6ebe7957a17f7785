"""Proof of work: a signed, expiring, buyer- and round-bound challenge and its one-hash check.

A challenge is ``<payload>.<signature>`` (base64url): payload ``{"rid", "sub", "n" (nonce), "b"
(difficulty bits), "exp"}``, signed with HMAC-SHA256 under a key derived from the token secret
(so a challenge is never a valid token and vice versa). The shopper finds a ``solution`` (decimal)
such that ``SHA-256(challenge + ":" + solution)`` starts with ``b`` zero bits and sends
``X-PoW: <challenge>.<solution>``. Checking costs one HMAC and one SHA-256; that a challenge is
spent once is recorded in Redis by the caller (see :mod:`flashsale.front.admission.guard`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import orjson

from flashsale.core.settings import Secret, subkey

MAX_BITS = 32
MAX_HEADER = 1024  # a challenge is ~150 characters
_SOLUTION = re.compile(r"[0-9]{1,20}", re.ASCII)


class ChallengeError(Exception):
    """A proof that must not be accepted; ``reason`` is for logs."""

    code = "challenge_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(f"proof of work refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Proof:
    nonce: str
    bits: int
    exp: int


def _key(secret: Secret) -> bytes:
    return subkey(secret, b"flashsale proof-of-work challenge", "token secret")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue(
    secret: Secret, round_id: str, buyer: str, bits: int, ttl: int, now: float | None = None
) -> tuple[str, int]:
    """A challenge and its expiry (seconds since the epoch)."""
    if not 0 <= bits <= MAX_BITS:
        raise ValueError(f"difficulty must be 0-{MAX_BITS} bits")
    exp = int(time.time() if now is None else now) + ttl
    claims = {"rid": round_id, "sub": buyer, "n": secrets.token_urlsafe(12), "b": bits, "exp": exp}
    payload = _b64(orjson.dumps(claims))
    signature = _b64(hmac.digest(_key(secret), payload.encode(), "sha256"))
    return f"{payload}.{signature}", exp


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solve(challenge: str, bits: int, start: int = 0) -> int:
    """Brute force (tests, the bench and docs timings; a browser does the same in JS)."""
    prefix = challenge.encode() + b":"
    n = start
    while leading_zero_bits(hashlib.sha256(prefix + str(n).encode()).digest()) < bits:
        n += 1
    return n


def verify(
    secret: Secret, header: str, round_id: str, buyer: str, min_bits: int,
    now: float | None = None,
) -> Proof:  # fmt: skip
    """The proof in ``X-PoW``, checked (signature, binding, expiry, difficulty, work).
    A header that is not short printable ASCII is ``malformed`` (hmac.compare_digest raises
    TypeError on a non-ASCII str; the digits of the solution are ASCII 0-9 only)."""
    if not isinstance(header, str) or len(header) > MAX_HEADER or not header.isascii():
        raise ChallengeError("malformed")
    challenge, dot, solution = header.strip().rpartition(".")
    payload, dot2, signature = challenge.partition(".")
    if not dot or not dot2 or not _SOLUTION.fullmatch(solution):
        raise ChallengeError("malformed")
    expected = _b64(hmac.digest(_key(secret), payload.encode(), "sha256"))
    if not hmac.compare_digest(expected, signature):
        raise ChallengeError("bad_signature")
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        nonce, bits, exp = str(claims["n"]), int(claims["b"]), int(claims["exp"])
        rid, sub = claims["rid"], claims["sub"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ChallengeError("malformed") from None
    if rid != round_id or sub != buyer:
        raise ChallengeError("wrong_binding")
    if (time.time() if now is None else now) >= exp:
        raise ChallengeError("expired")
    if bits < min_bits:
        raise ChallengeError("too_easy")
    work = hashlib.sha256(f"{challenge}:{solution}".encode()).digest()
    if leading_zero_bits(work) < bits:
        raise ChallengeError("wrong_solution")
    return Proof(nonce=nonce, bits=bits, exp=exp)
