"""OTP login: ``POST /api/auth/otp`` sends a code (simulated SMS), ``/api/auth/verify`` trades
it for a signed buyer token; ``GET /api/dev/sms`` shows the simulated messages in dev mode."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from flashsale.front import body, otp, tokens
from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.schemas import OtpRequest, OtpSent, OtpVerify, Token
from flashsale.front.state import app_state

TOKEN_TTL = 24 * 3600
LOGIN_MAX_BODY = 1024


def _retry(exc: otp.OtpError) -> dict[str, str] | None:
    seconds = exc.retry_after  # already whole seconds (otp rounds the script's ms up)
    return {"Retry-After": str(max(1, int(seconds)))} if seconds else None


def _refuse(exc: otp.OtpError) -> ApiError:
    return ApiError(exc.code, str(exc), field=getattr(exc, "field", None), headers=_retry(exc))


async def send_code(request: Request) -> Response:
    state = app_state(request)
    asked = await body.read(request, OtpRequest, LOGIN_MAX_BODY)
    try:
        sent = await otp.request_code(
            state.redis, asked.phone, key=state.settings.pii_key, dev=state.settings.dev
        )
    except otp.OtpError as exc:
        raise _refuse(exc) from None
    return JSONResponse(OtpSent(True, sent.expires_in, sent.resend_after))


async def verify(request: Request) -> Response:
    state = app_state(request)
    asked = await body.read(request, OtpVerify, LOGIN_MAX_BODY)
    try:
        buyer = await otp.verify_code(
            state.redis, asked.phone, asked.code, key=state.settings.pii_key
        )
    except otp.OtpError as exc:
        raise _refuse(exc) from None
    token = tokens.issue(state.settings.token_secret, buyer, TOKEN_TTL)
    return JSONResponse(Token(token, buyer, int(time.time()) + TOKEN_TTL))


async def dev_sms(request: Request) -> Response:
    state = app_state(request)
    if not state.settings.dev:
        raise ApiError("not_found", "not found")
    phone = request.query_params.get("phone")
    try:
        messages = await otp.read_outbox(state.redis, 20, phone)
    except otp.OtpError as exc:
        raise _refuse(exc) from None
    return JSONResponse({"messages": messages})
