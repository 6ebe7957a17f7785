"""``GET /api/rounds/{round_id}/numbers?limit=20``: a few free phone numbers of a round to pick
from (a random sample of the round's free-number set, with any surcharge). Display only: the
reservation script decides who gets a number."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from flashsale.front.errors import ApiError
from flashsale.front.responses import JSONResponse
from flashsale.front.state import app_state
from inventory.keys import RoundKeys

DEFAULT_LIMIT = 20
MAX_LIMIT = 50


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 3 or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError("invalid_request", f"limit must be 1-{MAX_LIMIT}", field="limit")
    return int(raw)


async def free_numbers(request: Request) -> Response:
    state = app_state(request)
    round_id = request.path_params["round_id"]
    limit = _limit(request.query_params.get("limit"))
    view = state.rounds.rounds.get(round_id)
    if view is None:
        raise ApiError("not_found", "no such round")
    if not view.get("number_choice"):
        raise ApiError("number_choice_disabled", "this round does not offer number choice")
    keys = RoundKeys(round_id)
    sample = await state.redis.srandmember(keys.numbers, limit)
    numbers = sorted(n.decode() if isinstance(n, bytes) else str(n) for n in sample or ())
    fees = await state.redis.hmget(keys.number_fees, numbers) if numbers else []
    return JSONResponse(
        {
            "round_id": round_id,
            "numbers": [
                {"number": n, "surcharge_fen": int(f) if f else 0}
                for n, f in zip(numbers, fees, strict=True)
            ],
        },
        headers={"Cache-Control": "no-store"},
    )
