"""The operator credential and the audit trail, shared by the CLI and (later) the HTTP dashboard.

An operator presents a token; it must equal ``Settings.admin_token`` (compared in constant time).
The CLI reads the presented token from ``FLASHSALE_ADMIN_TOKEN`` or a ``--token-file``; because
``Settings.from_env`` would otherwise take that same variable as the *configured* token, the CLI
resolves the configured token without it (:func:`configured_token`). Every change an operator
makes writes one ``audit_log`` row in the transaction that makes the change (:func:`audit`).

Exceptions::

    AdminError (code)
    └── AdminAuthError        code "admin.unauthorized"
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from flashsale.core.settings import Secret, Settings, SettingsError

TOKEN_ENV = "FLASHSALE_ADMIN_TOKEN"  # noqa: S105 - a variable name
OPERATOR_ENV = "FLASHSALE_OPERATOR"


class AdminError(Exception):
    code = "admin.error"


class AdminAuthError(AdminError):
    """No credential, or a wrong one."""

    code = "admin.unauthorized"


@dataclass(frozen=True)
class Operator:
    """An authenticated operator; ``actor`` is the name written to the audit log."""

    actor: str


def verify_token(presented: str | Secret | None, settings: Settings) -> bool:
    """Whether ``presented`` is the configured admin token (constant time; "" never matches)."""
    expected = settings.admin_token.reveal()
    if presented is None or not expected:
        return False
    value = presented.reveal() if isinstance(presented, Secret) else presented
    if not isinstance(value, str) or len(value) > 4096:
        return False
    # bytes, so any text compares (compare_digest raises TypeError on non-ASCII str);
    # surrogatepass, so a token from an undecodable environment variable is just wrong
    return secrets.compare_digest(
        value.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def authenticate(
    presented: str | Secret | None, settings: Settings, actor: str | None = None
) -> Operator:
    """Return the operator or raise :class:`AdminAuthError` (the HTTP dashboard reuses this)."""
    if presented is None or presented == "":
        raise AdminAuthError(f"operator credential required: set {TOKEN_ENV} or pass --token-file")
    if not verify_token(presented, settings):
        raise AdminAuthError("operator credential rejected")
    return Operator(actor=actor or default_actor())


def default_actor(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    name = env.get(OPERATOR_ENV, "").strip()
    if name:
        return name[:100]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def configured_token(env: Mapping[str, str] | None = None) -> Secret:
    """The configured admin token, resolved without the presented ``FLASHSALE_ADMIN_TOKEN``.

    In dev that is the token in ``<data_dir>/secrets.json``. In production there is no source
    independent of the environment, so the token must be presented with ``--token-file`` and
    the environment's ``FLASHSALE_ADMIN_TOKEN`` is the configured one.
    """
    env = dict(os.environ if env is None else env)
    if env.get("FLASHSALE_ENV", "dev") == "production":
        return Settings.from_env(env).admin_token
    env.pop(TOKEN_ENV, None)
    return Settings.from_env(env).admin_token


def cli_operator(token_file: Path | None, env: Mapping[str, str] | None = None) -> Operator:
    """Authenticate a CLI invocation: ``--token-file`` first, else ``FLASHSALE_ADMIN_TOKEN``."""
    env = os.environ if env is None else env
    production = env.get("FLASHSALE_ENV", "dev") == "production"
    if token_file is not None:
        try:
            presented: str | None = token_file.read_text().strip()
        except OSError as exc:
            raise AdminAuthError(f"cannot read token file {token_file}: {exc.strerror}") from None
    elif production:
        raise AdminAuthError("in production, present the operator credential with --token-file")
    else:
        presented = env.get(TOKEN_ENV) or None
    try:
        expected = configured_token(env)
    except SettingsError as exc:
        raise AdminAuthError(f"no admin token configured: {exc}") from None
    return authenticate(presented, _with_token(expected), default_actor(env))


def _with_token(token: Secret) -> Settings:
    return Settings(admin_token=token)


async def audit(
    conn: asyncpg.Connection,
    operator: Operator,
    action: str,
    subject: str | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Write one audit row; call it inside the transaction that makes the change."""
    await conn.execute(
        "INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, $2, $3, $4::jsonb)",
        operator.actor,
        action,
        subject,
        orjson.dumps(dict(details or {}), default=str).decode(),
    )
