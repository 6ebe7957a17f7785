"""OTP login: ``POST /api/auth/otp`` sends a code (simulated SMS), ``/api/auth/verify`` trades
it for a signed buyer token; ``GET /api/dev/sms`` shows the simulated messages in dev mode."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from flashsale.front import otp, tokens
from flashsale.front._body import json_body
from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse

TOKEN_TTL = 24 * 3600


def _retry(exc: otp.OtpError) -> dict[str, str] | None:
    ms = getattr(exc, "retry_after", None)
    return {"Retry-After": str(max(1, int(ms) // 1000))} if ms else None


def _refuse(exc: otp.OtpError) -> ApiError:
    return ApiError(exc.code, str(exc), field=getattr(exc, "field", None), headers=_retry(exc))


async def send_code(request: Request) -> Response:
    state = request.app.state.fs
    data = await json_body(request, max_bytes=1024)
    try:
        sent = await otp.request_code(
            state.redis,
            data.get("phone"),  # type: ignore[arg-type]
            key=state.settings.pii_key,
            dev=state.settings.dev,
        )
    except otp.OtpError as exc:
        raise _refuse(exc) from None
    return JSONResponse(
        {"sent": True, "expires_in": sent.expires_in, "resend_after": sent.resend_after}
    )


async def verify(request: Request) -> Response:
    state = request.app.state.fs
    data = await json_body(request, max_bytes=1024)
    try:
        buyer = await otp.verify_code(
            state.redis,
            data.get("phone"),  # type: ignore[arg-type]
            data.get("code"),  # type: ignore[arg-type]
            key=state.settings.pii_key,
        )
    except otp.OtpError as exc:
        raise _refuse(exc) from None
    token = tokens.issue(state.settings.token_secret, buyer, TOKEN_TTL)
    return JSONResponse(
        {"token": token, "buyer_id": buyer, "expires_at": int(time.time()) + TOKEN_TTL}
    )


async def dev_sms(request: Request) -> Response:
    state = request.app.state.fs
    if not state.settings.dev:
        raise ApiError("not_found", "not found")
    phone = request.query_params.get("phone")
    try:
        messages = await otp.read_outbox(state.redis, 20, phone)
    except otp.OtpError as exc:
        raise _refuse(exc) from None
    return JSONResponse({"messages": messages})
