"""Who is calling: buyer tokens from ``Authorization: Bearer``, verified in-process."""

from __future__ import annotations

from starlette.requests import Request

from flashsale.front import tokens
from flashsale.front.errors import ApiError
from flashsale.front.state import app_state


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
        claims = tokens.verify(
            app_state(request).settings.token_secret, token.strip(), round_id=_round_of(request)
        )
    except tokens.TokenError:
        raise ApiError(
            "unauthorized",
            "invalid or expired token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    return claims.sub


def _round_of(request: Request) -> str | None:
    """The round the request is about (path ``round_id``, or the round of ``order_id``): a
    token bound to another round is refused."""
    params = request.path_params
    if "round_id" in params:
        return str(params["round_id"])
    round_id, sep, _ = str(params.get("order_id", "")).rpartition("-")
    return round_id if sep and round_id else None
