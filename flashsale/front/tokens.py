"""Buyer and admission tokens: compact HS256 JWTs signed with ``Settings.token_secret``.

A token is ``<header>.<payload>.<signature>`` (base64url, no padding) with the fixed header
``{"alg":"HS256","typ":"JWT"}`` — any other header is refused, so ``alg: none`` or key confusion
cannot happen. Claims: ``sub`` (buyer id), ``iat`` and ``exp`` (seconds since the epoch),
``typ`` (``buyer`` or ``admission``) and optionally ``rid`` (the round the token is bound to).
Verification is in-process, with no I/O: one HMAC, a constant-time compare, one JSON parse.

Round binding: a token with ``rid`` is only accepted where that round is the context; an
admission token must carry ``rid`` and may only be verified with a ``round_id``.

Exceptions::

    Exception
    └── TokenError      code="unauthorized", reason: malformed | bad_signature | expired |
                        not_yet_valid | wrong_type | wrong_round
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import time
from typing import Literal

import msgspec
import orjson

from flashsale.core.settings import SecretLike, key_bytes

TokenType = Literal["buyer", "admission"]
TOKEN_TYPES: tuple[str, ...] = ("buyer", "admission")
CLOCK_SKEW = 60  # seconds an iat may lie in the future (clocks of several fronts)
MAX_TOKEN = 2048  # ours are ~200 characters; no HMAC over a megabyte header

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
_PREFIX = _HEADER + b"."


class TokenError(Exception):
    """A token that must not be accepted. ``reason`` says why (for logs, not for clients)."""

    code = "unauthorized"

    def __init__(self, reason: str, message: str = "invalid or expired token") -> None:
        super().__init__(message)
        self.reason = reason


class Claims(msgspec.Struct, frozen=True):
    """A verified token's claims (a frozen Struct: built on every request, a tenth of a
    frozen dataclass's cost)."""

    sub: str
    iat: int
    exp: int
    typ: str = "buyer"
    rid: str | None = None


def _key(secret: SecretLike) -> bytes:
    return key_bytes(secret, "token secret")


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64(data: bytes) -> bytes:
    """base64url without padding (binascii directly: a third of ``urlsafe_b64encode``'s cost)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


@functools.lru_cache(maxsize=16)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def _sign(secret: SecretLike, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data``, from a copy of the key's prepared state (a quarter of
    ``hmac.digest``'s cost, which sets the key up again on every call)."""
    mac = _keyed(_key(secret)).copy()
    mac.update(data)
    return _b64(mac.digest())


def issue(
    secret: SecretLike,
    buyer_id: str,
    ttl: int,
    *,
    typ: TokenType = "buyer",
    round_id: str | None = None,
    now: float | None = None,
) -> str:
    """A signed token for ``buyer_id`` valid for ``ttl`` seconds."""
    if not buyer_id:
        raise ValueError("buyer_id is empty")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    if typ not in TOKEN_TYPES:
        raise ValueError(f"unknown token type {typ!r}")
    if typ == "admission" and not round_id:
        raise ValueError("an admission token must be bound to a round")
    iat = int(time.time() if now is None else now)
    claims: dict[str, object] = {"sub": buyer_id, "iat": iat, "exp": iat + ttl, "typ": typ}
    if round_id:
        claims["rid"] = round_id
    signing_input = _PREFIX + _b64(orjson.dumps(claims))
    signature = _sign(secret, signing_input)
    return (signing_input + b"." + signature).decode()


def verify(
    secret: SecretLike,
    token: str,
    now: float | None = None,
    round_id: str | None = None,
    typ: TokenType = "buyer",
) -> Claims:
    """The claims of a valid token of type ``typ``, or :class:`TokenError`."""
    try:
        raw = token.encode("ascii")
    except (AttributeError, UnicodeEncodeError):
        raise TokenError("malformed") from None
    if len(raw) > MAX_TOKEN:
        raise TokenError("malformed")
    signing_input, dot, signature = raw.rpartition(b".")
    if not dot or not signing_input.startswith(_PREFIX):
        raise TokenError("malformed")
    expected = _sign(secret, signing_input)
    if not hmac.compare_digest(expected, signature):
        raise TokenError("bad_signature")
    claims = _decode(signing_input[len(_PREFIX) :])
    now = time.time() if now is None else now
    if now >= claims.exp:
        raise TokenError("expired")
    if claims.iat > now + CLOCK_SKEW:
        raise TokenError("not_yet_valid")
    if claims.typ != typ:
        raise TokenError("wrong_type")
    if claims.rid is not None:
        if round_id is not None and claims.rid != round_id:
            raise TokenError("wrong_round")
        if round_id is None and claims.typ == "admission":
            raise TokenError("wrong_round")
    return claims


def _decode(payload: bytes) -> Claims:
    """Parse a payload that passed the signature check (so it is ours, but check shape anyway)."""
    try:
        raw = payload.translate(_FROM_URLSAFE) + b"=" * (-len(payload) % 4)
        data = orjson.loads(binascii.a2b_base64(raw))
    except (binascii.Error, ValueError):
        raise TokenError("malformed") from None
    if not isinstance(data, dict):
        raise TokenError("malformed")
    sub, iat, exp = data.get("sub"), data.get("iat"), data.get("exp")
    typ, rid = data.get("typ", "buyer"), data.get("rid")
    if (
        not isinstance(sub, str)
        or not sub
        or type(iat) is not int
        or type(exp) is not int
        or typ not in TOKEN_TYPES
        or (rid is not None and not isinstance(rid, str))
    ):
        raise TokenError("malformed")
    return Claims(sub=sub, iat=iat, exp=exp, typ=typ, rid=rid)
