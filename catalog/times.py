"""Time zones and times as marketers type them, and as they see them.

Input: ISO 8601 with an offset (``2026-05-17T10:00+08:00``), a local time read in the given zone
(``2026-05-17 10:00`` with ``--tz Asia/Shanghai``), ``now``, or ``+30m`` / ``+2h`` / ``+1d``
from now. Output: ISO 8601 in the marketer's zone (``--tz``, ``FLASHSALE_TZ``, else Asia/Shanghai).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from catalog.errors import InvalidInput, InvalidWindow

DEFAULT_TZ = "Asia/Shanghai"
TZ_ENV = "FLASHSALE_TZ"
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def zone(name: str | None = None) -> ZoneInfo:
    """The named zone, else ``FLASHSALE_TZ``, else Asia/Shanghai; a bad name is refused."""
    name = name or os.environ.get(TZ_ENV) or DEFAULT_TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidWindow(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)", zone=name
        ) from None


DURATION_HINT = "a whole number and a unit: 90s, 30m, 2h, 1d"
TIME_HINT = (
    "use ISO 8601 with an offset (2026-05-17T10:00+08:00), a local time read in --tz "
    "('2026-05-17 10:00'), 'now', or a time from now ('+10m', '+2h', '+1d')"
)


def parse_duration(text: str) -> timedelta:
    raw = text.strip()
    if raw.startswith("-") and _DURATION.match(raw[1:].strip()):
        raise InvalidInput(
            f"bad duration {text!r}: durations are positive ({DURATION_HINT}); "
            "an end moves only later",
            value=text,
        )
    match = _DURATION.match(raw)
    if match is None or int(match[1]) <= 0:
        raise InvalidInput(f"bad duration {text!r} ({DURATION_HINT})", value=text)
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def parse_time(text: str, tz: ZoneInfo, now: datetime | None = None) -> datetime:
    """An aware datetime from what a marketer typed (see module docstring)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    raw = text.strip()
    if raw == "now":
        return now
    if raw.startswith("+"):
        return now + parse_duration(raw[1:])
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidWindow(f"bad time {text!r} ({TIME_HINT})", value=text) from None
    if parsed.tzinfo is not None:
        return parsed
    local = parsed.replace(tzinfo=tz)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed:
        raise InvalidWindow(f"{text} does not exist in {tz.key} (clock change)", value=text)
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        raise InvalidWindow(f"{text} is ambiguous in {tz.key}; give an offset", value=text)
    return local


def span(delta: timedelta) -> str:
    """A rough, readable length: ``3 h 20 min``, ``36 years``, ``45 s``."""
    seconds = int(abs(delta.total_seconds()))
    if seconds >= 2 * 365 * 86400:
        return f"{seconds // (365 * 86400)} years"
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def show(value: datetime | None, tz: ZoneInfo) -> str | None:
    """``value`` as ISO 8601 in ``tz``, to the second (an operator never reads microseconds)."""
    return None if value is None else value.astimezone(tz).replace(microsecond=0).isoformat()
