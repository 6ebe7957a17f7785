"""Settings read once from the environment (``FLASHSALE_*``) with loopback defaults.

Secrets are wrapped in :class:`Secret` so they never show in a repr or a log line. In the
``dev`` environment (the default) a missing secret is generated once and kept in
``<data_dir>/secrets.json`` (mode 0600, git-ignored); with ``FLASHSALE_ENV=production`` every
secret must come from the environment.

A secret becomes key material in one way only: :func:`key_bytes` (its UTF-8 bytes, an empty
one refused) and, for an independent key per purpose, :func:`subkey` (HMAC-SHA256 of a label).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SECRET_NAMES = ("token_secret", "admin_token", "payment_secret", "pii_key")


class Secret:
    """A string that hides itself in reprs and str() (starlette.config.Secret)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def reveal(self) -> str:
        return self._value


SecretLike = Secret | str | bytes


def key_bytes(
    secret: SecretLike, what: str, error: Callable[[str], Exception] = ValueError
) -> bytes:
    """The secret as key bytes (UTF-8); an empty one raises ``error(f"{what} is empty")``."""
    if isinstance(secret, Secret):
        secret = secret.reveal()
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise error(f"{what} is empty")
    return key


def subkey(secret: SecretLike, label: bytes, what: str) -> bytes:
    """A key for one purpose (``label``) from a shared secret: HMAC-SHA256(secret, label).
    Cached, so hot paths derive it once per process."""
    return _subkey(key_bytes(secret, what), label)


@lru_cache(maxsize=32)
def _subkey(raw: bytes, label: bytes) -> bytes:
    return hmac.digest(raw, label, hashlib.sha256)


class SettingsError(Exception):
    """A setting is missing or malformed."""


def _project_root() -> Path:
    """FLASHSALE_HOME, else the source checkout this package runs from, else the cwd."""
    if home := os.environ.get("FLASHSALE_HOME"):
        return Path(home)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout
    return Path.cwd()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


APPENDFSYNC = ("always", "everysec")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = env.get(name) or default
    if raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    env: str = "dev"
    data_dir: Path = field(default_factory=lambda: _project_root() / ".flashsale")
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://flashsale@127.0.0.1:5432/flashsale"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 4
    kafka_version: str = "4.3.1"
    topic_prefix: str = "flashsale"
    # fsync of the local Redis' AOF: "always" (an acknowledged reservation survives a host crash)
    # or "everysec" (up to ~1 s of them may be lost then); see README "Durability".
    redis_appendfsync: str = "always"
    token_secret: Secret = field(default=Secret(""), repr=False)
    admin_token: Secret = field(default=Secret(""), repr=False)
    payment_secret: Secret = field(default=Secret(""), repr=False)
    pii_key: Secret = field(default=Secret(""), repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = env.get("FLASHSALE_ENV", "dev")
        if mode not in ("dev", "production"):
            raise SettingsError(f"FLASHSALE_ENV must be dev or production, got {mode!r}")
        data_dir = Path(env.get("FLASHSALE_DATA_DIR") or _project_root() / ".flashsale")
        values = {name: env.get(f"FLASHSALE_{name.upper()}", "") for name in SECRET_NAMES}
        missing = [name for name, value in values.items() if not value]
        if missing:
            if mode == "production":
                names = ", ".join(f"FLASHSALE_{n.upper()}" for n in missing)
                raise SettingsError(
                    f"production mode needs these secrets in the environment: {names}"
                )
            stored = _dev_secrets(data_dir)
            for name in missing:
                values[name] = stored[name]
        return cls(
            env=mode,
            data_dir=data_dir,
            redis_url=env.get("FLASHSALE_REDIS_URL") or cls.redis_url,
            database_url=env.get("FLASHSALE_DATABASE_URL") or cls.database_url,
            kafka_bootstrap=env.get("FLASHSALE_KAFKA_BOOTSTRAP") or cls.kafka_bootstrap,
            kafka_partitions=_int(env, "FLASHSALE_KAFKA_PARTITIONS", cls.kafka_partitions),
            kafka_version=env.get("FLASHSALE_KAFKA_VERSION") or cls.kafka_version,
            topic_prefix=env.get("FLASHSALE_TOPIC_PREFIX") or cls.topic_prefix,
            redis_appendfsync=_choice(
                env, "FLASHSALE_REDIS_APPENDFSYNC", APPENDFSYNC, cls.redis_appendfsync
            ),
            **{name: Secret(value) for name, value in values.items()},
        )

    @property
    def dev(self) -> bool:
        return self.env == "dev"


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Load or create (once, race-free) the dev-only secrets file; never used in production."""
    path = data_dir / "secrets.json"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".secrets.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({name: secrets.token_urlsafe(32) for name in SECRET_NAMES}, fh)
        try:
            os.link(tmp, path)  # atomic create-if-absent: concurrent first runs agree
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    stored: dict[str, str] = json.loads(path.read_text())
    missing = [name for name in SECRET_NAMES if not stored.get(name)]
    if missing:
        raise SettingsError(f"{path} lacks {', '.join(missing)}; delete it to regenerate")
    return stored
