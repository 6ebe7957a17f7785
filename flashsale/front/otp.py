"""One-time-code login by SMS, state in Redis, every decision taken inside one Lua script.

``request_code`` stores a keyed hash of a fresh 6-digit code (TTL 5 min), refusing while the
resend cooldown runs, while the phone is locked, or past the per-phone hourly quota; the SMS
gateway is simulated: in dev mode the text lands in the stream ``fs:sms:outbox`` (see
:func:`read_outbox`). ``verify_code`` counts the attempt, compares and consumes the code in one
script, so a code is good exactly once however many requests race; too many wrong attempts
lock the phone for a while. Success yields the buyer id, a keyed hash of the phone number that
is stable for as long as the key (``Settings.pii_key``) is.

Keys carry the buyer id (never the phone) in a hash tag, so each script touches one slot.

Exceptions::

    Exception
    └── OtpError                code
        ├── InvalidPhone        "invalid_request", field="phone"
        ├── InvalidCode         "invalid_request", field="code"   (not 6 digits)
        ├── WrongCode           "invalid_code"     (.attempts_left)
        ├── NoActiveCode        "code_expired"     (expired, used, or never sent)
        ├── Locked              "otp_locked"       (.retry_after seconds)
        ├── Cooldown            "otp_cooldown"     (.retry_after seconds)
        └── RateLimited         "rate_limited"     (.retry_after seconds)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from flashsale.core.settings import Secret, subkey

SMS_OUTBOX = "fs:sms:outbox"
SMS_OUTBOX_MAXLEN = 10_000
_PHONE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_CODE = re.compile(r"[0-9]{6}", re.ASCII)
_SEPARATORS = str.maketrans("", "", " -")
PHONE_RULE = "phone must be a mainland mobile number (11 digits, 13x-19x)"
CODE_RULE = "code must be 6 digits"


class OtpError(Exception):
    code = "otp_error"
    field: str | None = None
    retry_after: int | None = None


class InvalidPhone(OtpError):
    code = "invalid_request"
    field = "phone"


class InvalidCode(OtpError):
    code = "invalid_request"
    field = "code"


class WrongCode(OtpError):
    code = "invalid_code"

    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong code, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class NoActiveCode(OtpError):
    code = "code_expired"


class _RetryLater(OtpError):
    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, -(-retry_after_ms // 1000))


class Locked(_RetryLater):
    code = "otp_locked"


class Cooldown(_RetryLater):
    code = "otp_cooldown"


class RateLimited(_RetryLater):
    code = "rate_limited"


@dataclass(frozen=True)
class OtpPolicy:
    code_ttl: int = 300  # seconds a code stays valid
    cooldown: int = 60  # seconds between two sends to one phone
    max_sends: int = 5  # sends per phone per send_window
    send_window: int = 3600
    max_attempts: int = 5  # wrong codes before the phone is locked
    lock_ttl: int = 900


DEFAULT_POLICY = OtpPolicy()


@dataclass(frozen=True)
class CodeSent:
    phone: str
    expires_in: int
    resend_after: int
    code: str | None = None  # only in dev mode, for tests and the dev SMS page

    def __repr__(self) -> str:
        masked = f"{self.phone[:3]}****{self.phone[-4:]}"
        return f"CodeSent(phone={masked}, expires_in={self.expires_in})"


# KEYS: code hash, cooldown, send counter, lock.  ARGV: code hmac, ttl ms, cooldown ms,
# max sends, window ms.  Reply: {status, ms}. The cooldown key holds the code's hmac: the same
# request re-sent by the client after a lost reply is recognised and answered "sent" again.
_REQUEST = """
local lock = redis.call('PTTL', KEYS[4])
if lock > 0 then return {'locked', lock} end
local cool = redis.call('PTTL', KEYS[2])
if cool > 0 then
  if redis.call('GET', KEYS[2]) == ARGV[1] then return {'sent', 0} end
  return {'cooldown', cool}
end
local sent = tonumber(redis.call('GET', KEYS[3]) or '0')
if sent >= tonumber(ARGV[4]) then return {'rate_limited', redis.call('PTTL', KEYS[3])} end
if redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'wrong', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3]) end
return {'sent', 0}
"""

# KEYS: code hash, lock.  ARGV: submitted hmac, max attempts, lock ms, attempt token.
# Reply: {status, n}. The code is consumed by removing its hash; the hash key keeps the
# attempt token and its answer, so the same attempt re-sent by the client after a lost reply
# gets the same answer (not "expired" for a good code, nor a second wrong count).
_VERIFY = """
local lock = redis.call('PTTL', KEYS[2])
if lock > 0 then return {'locked', lock} end
local done = redis.call('HMGET', KEYS[1], 'att', 'res', 'n')
if done[1] == ARGV[4] then return {done[2], tonumber(done[3])} end
local stored = redis.call('HGET', KEYS[1], 'h')
if not stored then return {'none', 0} end
if stored == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'h')
  redis.call('HSET', KEYS[1], 'att', ARGV[4], 'res', 'ok', 'n', 0)
  return {'ok', 0}
end
local wrong = redis.call('HINCRBY', KEYS[1], 'wrong', 1)
local left = tonumber(ARGV[2]) - wrong
if left <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[3])
  return {'locked', tonumber(ARGV[3])}
end
redis.call('HSET', KEYS[1], 'att', ARGV[4], 'res', 'wrong', 'n', left)
return {'wrong', left}
"""


def normalize_phone(raw: str) -> str:
    """An 11-digit mainland mobile number (``+86``/``0086`` prefix, spaces, dashes allowed)."""
    if not isinstance(raw, str) or len(raw) > 64:
        raise InvalidPhone(PHONE_RULE)
    phone = raw.translate(_SEPARATORS)
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            phone = phone[len(prefix) :]
            break
    if not _PHONE.fullmatch(phone):
        raise InvalidPhone(PHONE_RULE)
    return phone


def _key(secret: Secret | str | bytes, label: bytes) -> bytes:
    return subkey(secret, label, "OTP key")


def buyer_id_for(phone: str, key: Secret | str | bytes) -> str:
    """The stable buyer id of a (normalised) phone number: ``b_`` + 24 hex of a keyed hash."""
    return (
        "b_"
        + hmac.digest(_key(key, b"flashsale buyer id v1"), phone.encode(), hashlib.sha256).hex()[
            :24
        ]
    )


def _code_hash(key: Secret | str | bytes, buyer_id: str, code: str) -> str:
    return hmac.digest(
        _key(key, b"flashsale otp code v1"), f"{buyer_id}:{code}".encode(), hashlib.sha256
    ).hex()


def _keys(buyer_id: str) -> tuple[str, str, str, str]:
    base = f"fs:otp:{{{buyer_id}}}:"
    return base + "code", base + "cooldown", base + "sends", base + "lock"


def _status(reply: list[Any]) -> tuple[str, int]:
    status, value = reply
    return (status.decode() if isinstance(status, bytes) else status), int(value)


async def request_code(
    redis: aioredis.Redis,
    phone: str,
    *,
    key: Secret | str | bytes,
    dev: bool = True,
    policy: OtpPolicy = DEFAULT_POLICY,
) -> CodeSent:
    """Send a fresh code to ``phone`` (simulated SMS; dev mode writes it to the outbox)."""
    phone = normalize_phone(phone)
    buyer_id = buyer_id_for(phone, key)
    code = f"{secrets.randbelow(1_000_000):06d}"
    code_key, cooldown_key, sends_key, lock_key = _keys(buyer_id)
    reply = await redis.eval(  # type: ignore[misc]
        _REQUEST,
        4,
        code_key,
        cooldown_key,
        sends_key,
        lock_key,
        _code_hash(key, buyer_id, code),
        policy.code_ttl * 1000,
        policy.cooldown * 1000,
        policy.max_sends,
        policy.send_window * 1000,
    )
    status, ms = _status(reply)
    if status == "locked":
        raise Locked("too many wrong codes; try again later", ms)
    if status == "cooldown":
        raise Cooldown("a code was just sent; wait before asking again", ms)
    if status == "rate_limited":
        raise RateLimited("too many codes requested for this phone", ms)
    if dev:
        minutes = policy.code_ttl // 60
        text = f"【flashsale】验证码 {code}\uff0c{minutes} 分钟内有效。请勿泄露给他人。"
        await redis.xadd(
            SMS_OUTBOX,
            {"phone": phone, "text": text, "at": int(time.time())},
            maxlen=SMS_OUTBOX_MAXLEN,
            approximate=True,
        )
    return CodeSent(phone, policy.code_ttl, policy.cooldown, code if dev else None)


async def verify_code(
    redis: aioredis.Redis,
    phone: str,
    code: str,
    *,
    key: Secret | str | bytes,
    policy: OtpPolicy = DEFAULT_POLICY,
    attempt: str | None = None,
) -> str:
    """The buyer id if ``code`` is the phone's current code (consumed it), else OtpError.

    ``attempt`` names this attempt (default: a fresh random token): the script run again with
    the same one — as the Redis client does by itself after a dropped connection — answers
    what the first run answered."""
    phone = normalize_phone(phone)
    if not isinstance(code, str) or len(code) > 64 or not _CODE.fullmatch(code.strip()):
        raise InvalidCode(CODE_RULE)
    buyer_id = buyer_id_for(phone, key)
    code_key, _, _, lock_key = _keys(buyer_id)
    reply = await redis.eval(  # type: ignore[misc]
        _VERIFY,
        2,
        code_key,
        lock_key,
        _code_hash(key, buyer_id, code.strip()),
        policy.max_attempts,
        policy.lock_ttl * 1000,
        attempt or secrets.token_hex(12),
    )
    status, value = _status(reply)
    if status == "ok":
        return buyer_id
    if status == "wrong":
        raise WrongCode(value)
    if status == "locked":
        raise Locked("too many wrong codes; try again later", value)
    raise NoActiveCode("no active code for this phone; request a new one")


async def read_outbox(
    redis: aioredis.Redis, count: int = 20, phone: str | None = None
) -> list[dict[str, str]]:
    """Newest simulated SMS messages first (dev page), optionally for one phone."""
    wanted = normalize_phone(phone) if phone else None
    rows = await redis.xrevrange(SMS_OUTBOX, count=count if wanted is None else 1000)
    messages: list[dict[str, str]] = []
    for entry_id, fields in rows or ():
        message = {_text(k): _text(v) for k, v in (fields or {}).items()}
        if wanted is None or message.get("phone") == wanted:
            messages.append({"id": _text(entry_id), **message})
            if len(messages) >= count:
                break
    return messages


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
