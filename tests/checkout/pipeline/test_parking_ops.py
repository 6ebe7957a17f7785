"""Operators see parked events: the ops dashboard's count and latest, the /metrics gauge, the
parking counter, `flashsale parked resolve` (audited) and `parked list` (issue 12)."""

from __future__ import annotations

import asyncpg
import orjson
from prometheus_client import REGISTRY

from flashsale.core.parked import ParkedEvent, clean, park
from flashsale.core.settings import Settings
from tests.support.api import api_client
from tests.support.cli import changes_once, cli, operator_env


def _counted(process: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "flashsale_parked_events_total", {"process": process, "reason": reason}
    )
    return value or 0.0


async def test_dashboard_metrics_and_resolve(
    settings: Settings, pg_pool: asyncpg.Pool, env: dict[str, str], unique: str
) -> None:
    before = _counted("writer", "sink_rejected:23514")
    item = ParkedEvent.from_kafka(
        "writer",
        f"t-{unique}",
        0,
        7,
        b"\x00\xff raw bytes",
        "sink_rejected:23514",
        "PostgreSQL CheckViolationError (SQLSTATE 23514)",
    )
    assert await park(pg_pool, [item]) == 1
    assert await park(pg_pool, [item]) == 0  # a replayed batch parks nothing twice
    assert _counted("writer", "sink_rejected:23514") == before + 1
    pid = await pg_pool.fetchval(
        "SELECT id FROM parked_events WHERE dedupe_key = $1", item.dedupe_key
    )
    async with api_client(settings) as client:
        token = {"Authorization": f"Bearer {settings.admin_token.reveal()}"}
        snap = (await client.get("/api/admin/dashboard", headers=token)).json()
        assert snap["parked"]["open"] >= 1
        assert pid in [x["id"] for x in snap["parked"]["latest"]]
        assert {"process": "writer", "reason": "sink_rejected:23514", "count": 1} in snap["parked"][
            "by_reason"
        ]
        text = (await client.get("/metrics")).text
        assert 'flashsale_parked_events{process="writer",reason="sink_rejected:23514"} 1.0' in text

    rc, out = await cli(env, "parked", "list", "--process", "writer", "--json")
    assert rc == 0, out
    assert pid in [x["id"] for x in orjson.loads(out)]
    token_env = operator_env(env, settings, "rosa")
    await changes_once(token_env, "parked", "resolve", str(pid))
    row = await pg_pool.fetchrow("SELECT * FROM parked_events WHERE id = $1", pid)
    assert (row["state"], row["resolved_by"]) == ("resolved", "rosa")
    rc, out = await cli(env, "parked", "list", "--process", "writer", "--json")
    assert pid not in [x["id"] for x in orjson.loads(out)]
    rc, out = await cli(token_env, "parked", "retry", "999999999")
    assert rc == 1
    assert "no parked event" in out


def test_clean_makes_any_text_storable() -> None:
    assert clean("a\x00b") == "a\ufffdb"
    assert clean("\ud800x") == "?x"
    assert len(clean("é" * 1000)) == 200
