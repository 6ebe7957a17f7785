"""Who is calling: buyer tokens from ``Authorization: Bearer``, verified in-process."""

from __future__ import annotations

from starlette.requests import Request

from flashsale import tokens

from .errors import ApiError


def buyer_id(request: Request) -> str:
    """The verified buyer id of the request, or ApiError ``unauthorized``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            "unauthorized",
            "send Authorization: Bearer <buyer token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        claims = tokens.verify(request.app.state.fs.settings.token_secret, token.strip())
    except tokens.TokenError:
        raise ApiError(
            "unauthorized",
            "invalid or expired token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    return claims.sub
