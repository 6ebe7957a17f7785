"""Admission settings, read once from the environment (``FLASHSALE_*``) with sane defaults.

``FLASHSALE_RATE_BUYER`` / ``FLASHSALE_RATE_IP``: ``<rate>/<burst>`` (requests per second, and how
many may come at once), or ``off``. Defaults: per buyer ``5/10``, per client IP ``50/100``.
``FLASHSALE_RATE_EXEMPT``: comma-separated networks the per-IP limit skips (default loopback: the
address of a local reverse proxy or load generator is not a shopper's).
``FLASHSALE_TRUSTED_PROXIES``: how many proxies in front append to ``X-Forwarded-For`` (default 0:
the header is ignored and the ASGI client address is the client IP).
``FLASHSALE_ADMISSION_TTL`` / ``FLASHSALE_CHALLENGE_TTL``: lifetime in seconds of an admission
token (300) and of a proof-of-work challenge (120).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from flashsale.core.settings import SettingsError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = "127.0.0.0/8,::1/128"


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` requests per second on average, at most ``burst`` in any ``burst/rate`` seconds."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise SettingsError("a rate limit needs rate > 0 and burst >= 1")

    @property
    def window(self) -> float:
        return self.burst / self.rate

    @classmethod
    def parse(cls, raw: str, name: str) -> Limit | None:
        text = raw.strip().lower()
        if text in ("off", "0", "none"):
            return None
        rate, _, burst = text.partition("/")
        try:
            value = float(rate)
            return cls(value, int(burst) if burst else max(1, round(value * 2)))
        except (ValueError, SettingsError):
            raise SettingsError(f"{name} must be <rate>/<burst> or off, got {raw!r}") from None


def _networks(raw: str) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(n.strip()) for n in raw.split(",") if n.strip())
    except ValueError:
        raise SettingsError(f"FLASHSALE_RATE_EXEMPT: bad network list {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int, low: int) -> int:
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < low:
        raise SettingsError(f"{name} must be at least {low}")
    return value


@dataclass(frozen=True)
class AdmissionConfig:
    buyer_limit: Limit | None = Limit(5, 10)
    ip_limit: Limit | None = Limit(50, 100)
    exempt: tuple[Network, ...] = field(default_factory=lambda: _networks(LOOPBACK))
    trusted_proxies: int = 0
    admission_ttl: int = 300
    challenge_ttl: int = 120
    sync_interval: float = 0.1  # seconds between two exchanges of rate-limit counts with Redis
    policy_interval: float = 0.5  # seconds between two reads of the rounds' admission options

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AdmissionConfig:
        default = cls()
        buyer = env.get("FLASHSALE_RATE_BUYER")
        ip = env.get("FLASHSALE_RATE_IP")
        return cls(
            buyer_limit=default.buyer_limit
            if not buyer
            else Limit.parse(buyer, "FLASHSALE_RATE_BUYER"),
            ip_limit=default.ip_limit if not ip else Limit.parse(ip, "FLASHSALE_RATE_IP"),
            exempt=_networks(env.get("FLASHSALE_RATE_EXEMPT", LOOPBACK)),
            trusted_proxies=_int(env, "FLASHSALE_TRUSTED_PROXIES", 0, 0),
            admission_ttl=_int(env, "FLASHSALE_ADMISSION_TTL", 300, 10),
            challenge_ttl=_int(env, "FLASHSALE_CHALLENGE_TTL", 120, 10),
        )
