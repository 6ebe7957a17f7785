"""How the crowd counts a shopper's same-key retry: the same order, an answer that is not the
same order (an invariant-5 breach the demo and the fault scenarios report), or no answer at all
(5xx and transport errors until the crowd gives up — nothing was said about the order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from flashsale.core.settings import Secret
from flashsale.demo.crowd import Behaviour, Crowd, mint
from flashsale.demo.http1 import Reply

Answer = Callable[[], Reply]


def reply(status: int, body: dict[str, Any]) -> Answer:
    return lambda: Reply(status, {}, orjson.dumps(body))


def refused() -> Reply:
    raise ConnectionResetError("the front went away")


ORDER = reply(201, {"order_id": "o-1"})


class ScriptedFront:
    """Answers the crowd's requests in order from a script (stands in for the HTTP pool)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)

    async def request(self, method: str, path: str, headers: Any = None, body: Any = None) -> Reply:
        return self.answers.pop(0)()


@pytest.mark.parametrize(
    ("retry", "same", "wrong", "unanswered"),
    [
        ([ORDER], 1, 0, 0),
        ([reply(201, {"order_id": "o-2"})], 0, 1, 0),
        ([reply(409, {"error": {"code": "limit_reached"}})], 0, 1, 0),
        ([reply(503, {"error": {"code": "inventory_unavailable"}})] * 3 + [ORDER], 1, 0, 0),
        ([reply(503, {"error": {"code": "inventory_unavailable"}})] * 4, 0, 0, 1),
        ([refused] * 2 + [reply(500, {})] * 2, 0, 0, 1),
    ],
    ids=["same", "other-order", "refusal", "503-then-same", "503-throughout", "transport-and-500"],
)
async def test_a_retry_is_counted_by_what_answered_it(
    retry: list[Answer], same: int, wrong: int, unanswered: int
) -> None:
    front = ScriptedFront(ORDER, *retry)
    crowd = Crowd(
        front,  # type: ignore[arg-type]
        "r1",
        "v1",
        Behaviour(pay=0.0, retry_same_key=1.0, choose_number=0.0),
    )
    (shopper,) = mint(Secret("s" * 32), 1, seed=1)
    await crowd.shop(shopper, 0)
    stats = crowd.stats
    assert (stats.replays_same_order, stats.replays_wrong, stats.replays_unanswered) == (
        same,
        wrong,
        unanswered,
    )
    assert stats.reserved == 1
    assert front.answers == []
