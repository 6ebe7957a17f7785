"""Waiting room and proof-of-work endpoints of a round (see ``flashsale.front.admission``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from flashsale.front.admission import Admission, Refused
from flashsale.front.admission import pow as proof
from flashsale.front.admission.room import admission_token, place
from flashsale.front.auth import buyer_id
from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.schemas import Challenge
from flashsale.front.state import app_state

POW_HOW = "find a decimal solution with SHA-256(challenge + ':' + solution) starting with "
POW_HOW += "`difficulty` zero bits; send X-PoW: <challenge>.<solution> with the order"


def _admission(request: Request) -> Admission:
    return app_state(request).admission


def refused(exc: Refused) -> ApiError:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return ApiError(exc.code, exc.message, headers=headers)


async def admit_buyer(request: Request, buyer: str, key: str) -> None:
    """The buy endpoint's gate: rate limits from memory; the round's waiting room and proof of
    work only when it has them on (then at most one Redis call, to spend the proof)."""
    admission = _admission(request)
    try:
        admission.limit(request, buyer)
        await admission.admit(request, request.path_params["round_id"], buyer, key)
    except Refused as exc:
        raise refused(exc) from None


async def _queue(request: Request, *, join: bool) -> Response:
    buyer = buyer_id(request)
    admission = _admission(request)
    try:
        admission.limit(request, buyer)
    except Refused as exc:
        raise refused(exc) from None
    round_id = request.path_params["round_id"]
    where = await place(admission.redis, round_id, buyer, join=join)
    if where.state == "unknown":
        raise ApiError("not_found", "no such round")
    if where.state == "absent":
        raise ApiError("not_found", "not in this round's queue: join it with POST first")
    view: dict[str, Any] = {"round_id": round_id, **where.view(), "token": None}
    if where.state == "admitted":
        token, expires = admission_token(
            admission.secret, round_id, buyer, admission.config.admission_ttl
        )
        view |= {"token": token, "token_expires_at": expires}
    return JSONResponse(view)


async def join_queue(request: Request) -> Response:
    """Join the round's waiting room (repeating it keeps the place) and see where you stand."""
    return await _queue(request, join=True)


async def queue_status(request: Request) -> Response:
    """Your place, an estimate, and once admitted the admission token for the buy request."""
    return await _queue(request, join=False)


async def challenge(request: Request) -> Response:
    """A proof-of-work challenge for this buyer and round (difficulty 0 when the round has none)."""
    buyer = buyer_id(request)
    admission = _admission(request)
    round_id = request.path_params["round_id"]
    policy = admission.policies.get(round_id)
    bits = policy.pow_bits if policy is not None else 0
    token, expires = proof.issue(
        admission.secret, round_id, buyer, bits, admission.config.challenge_ttl
    )
    return JSONResponse(
        Challenge(round_id, token, bits, required=bits > 0, expires_at=expires, how=POW_HOW)
    )
