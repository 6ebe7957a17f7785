"""What the buy endpoint checks before anything else: rate limits, the admission token, the
proof of work. Everything is answered from memory except spending a proof (one Redis call)."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time

import redis.asyncio as aioredis
from starlette.requests import Request

from flashsale.core.retry import sleep_unless_stopped
from flashsale.core.settings import Secret
from flashsale.front import tokens
from flashsale.front.admission import pow as proof
from flashsale.front.admission.config import AdmissionConfig
from flashsale.front.admission.keys import AdmissionKeys
from flashsale.front.admission.policy import Policies
from flashsale.front.admission.ratelimit import RateLimiter

log = logging.getLogger(__name__)
ADMISSION_HEADER = "x-admission-token"
POW_HEADER = "x-pow"


class Refused(Exception):
    """A buy request turned away: ``code`` is an API error code, ``retry_after`` seconds."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class Admission:
    """One worker's admission control: limiter, round options, and their background refresh."""

    def __init__(self, redis: aioredis.Redis, config: AdmissionConfig, secret: Secret) -> None:
        self.redis = redis
        self.config = config
        self.secret = secret
        limits = {"buyer": config.buyer_limit, "ip": config.ip_limit}
        self.limiter = RateLimiter(redis, {k: v for k, v in limits.items() if v is not None})
        self.policies = Policies(redis)
        self._exempt = functools.lru_cache(maxsize=4096)(self._is_exempt)

    # --- the hot path -------------------------------------------------------------------

    def client_ip(self, request: Request) -> str:
        hops = self.config.trusted_proxies
        if hops:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                chain = [p.strip() for p in forwarded.split(",")]
                if len(chain) >= hops:
                    return chain[-hops]
        return request.client.host if request.client else ""

    def _is_exempt(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.config.exempt)

    def limit(self, request: Request, buyer: str) -> None:
        """Raise :class:`Refused` ``rate_limited`` when the IP or the buyer is over its limit."""
        limiter = self.limiter
        if not limiter:
            return
        host = self.client_ip(request)
        wait = 0 if self._exempt(host) else limiter.check("ip", host)
        if not wait:
            wait = limiter.check("buyer", buyer)
        if wait:
            raise Refused("rate_limited", "too many requests; slow down", retry_after=wait)

    async def admit(self, request: Request, round_id: str, buyer: str, key: str) -> None:
        """The round's waiting room and proof of work, when it has them on."""
        policy = self.policies.get(round_id)
        if policy is None:
            return
        headers = request.headers
        if policy.room:
            token = headers.get(ADMISSION_HEADER, "")
            try:
                claims = tokens.verify(self.secret, token, round_id=round_id, typ="admission")
            except tokens.TokenError:
                claims = None
            if claims is None or claims.sub != buyer:
                raise Refused(
                    "admission_required",
                    "wait your turn: join the queue and send its X-Admission-Token",
                )
        if policy.pow_bits:
            try:
                done = proof.verify(
                    self.secret, headers.get(POW_HEADER, ""), round_id, buyer, policy.pow_bits
                )
            except proof.ChallengeError as exc:
                raise Refused("challenge_failed", str(exc)) from None
            await self._spend(round_id, done, key)

    async def _spend(self, round_id: str, done: proof.Proof, key: str) -> None:
        """Once per challenge; the same Idempotency-Key again is a retry of the same request."""
        ttl_ms = max(1000, (done.exp + 60) * 1000 - int(time.time() * 1000))
        earlier = await self.redis.set(
            AdmissionKeys(round_id).challenge(done.nonce), key, nx=True, get=True, px=ttl_ms
        )
        if isinstance(earlier, bytes) and earlier.decode() != key:
            raise Refused("challenge_failed", "proof of work refused: already used")

    # --- background -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Share rate-limit counts and reload round options until ``stop``."""
        every = max(1, round(self.config.policy_interval / self.config.sync_interval))
        tick = 0
        while not stop.is_set():
            try:
                if self.limiter:
                    await self.limiter.sync()
            except (aioredis.RedisError, OSError) as exc:
                log.warning("rate-limit counts not shared: %s", exc)
            try:
                if tick % every == 0:
                    await self.policies.refresh()
            except (aioredis.RedisError, OSError) as exc:
                log.warning("admission options not reloaded: %s", exc)
            tick += 1
            await sleep_unless_stopped(stop, self.config.sync_interval)
