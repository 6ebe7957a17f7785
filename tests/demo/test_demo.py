"""The whole product end to end: `flashsale demo` on a small round — marketer CLI, front,
relay, writer, sweeper and fulfillment as real processes, a crowd of shoppers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import asyncpg
import pytest
from rich.console import Console

from flashsale.core.settings import Settings
from flashsale.demo import DemoConfig, run_demo
from flashsale.demo.crowd import mint
from tests.support.services import private_services, service_env


@pytest.fixture
def demo_settings(settings: Settings, unique: str) -> Iterator[Settings]:
    """The demo's own database and topics: its fulfillment worker takes in every paid order of
    the topic and the database, and must not ship earlier tests' orders with the demo's stock."""
    with asyncio.Runner() as runner:
        services = private_services(settings, f"demo_{unique}")
        own = runner.run(services.__aenter__())
        try:
            yield own
        finally:
            runner.run(services.__aexit__(None, None, None))


@pytest.mark.timeout(240)
def test_small_demo_sale_ends_consistent(
    demo_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = demo_settings
    for name, value in service_env(settings).items():
        if name.startswith("FLASHSALE_"):
            monkeypatch.setenv(name, value)
    console = Console(record=True, width=120)
    config = DemoConfig(
        cards=300,
        shoppers=900,
        workers=2,
        hold_seconds=3,
        opens_in=6,
        concurrency=64,
        settle_seconds=90,
        seed=4242,
    )
    result = run_demo(dataclasses.replace(settings), config, console)

    assert result["oversold"] == 0
    assert result["server_errors"] == 0
    assert result["retries_different_order"] == 0
    assert result["retries_same_order"] > 0
    answers = result["answers"]
    assert answers["reserved"] == result["orders_acknowledged"]
    assert answers.get("sold_out", 0) > 0
    # Every acknowledged reservation is exactly one order row; every paid order one shipment.
    assert result["orders_in_postgres"] == result["orders_acknowledged"]
    assert result["shipments"] + result["dead_letters"] == result["paid"]
    assert result["dead_letters"] == 0
    # Unpaid holds expired and their units came back.
    assert result["expired_holds"] > 0
    assert result["reconcile"]["ok"], result["reconcile"]["differences"]
    text = console.export_text()
    assert "reconcile" in text
    # CPU per process from the opening to the end, every process the demo started included
    cpu = result["cpu_ms_per_order"]
    assert {"serve", "relay", "writer", "fulfill", "demo (crowd)"} <= set(cpu)
    assert all(cpu[p] is not None for p in ("serve", "relay", "writer", "fulfill"))
    assert "ms / order" in text
    # the three curves, one point per sample, ending at the final figures
    curve = result["curve"]
    for column in (2, 3):  # units sold go down when holds expire
        values = [point[column] for point in curve]
        assert values == sorted(values)
    assert curve[-1][2] == result["orders_in_postgres"]
    assert curve[-1][3] == result["shipments"]
    # National ID numbers reach PostgreSQL only hashed, encrypted or masked: none of the
    # crowd's real ID numbers appears in any stored row of the round.
    ids = {m.id_number for m in mint(settings.token_secret, config.shoppers or 0, config.seed)}
    rows = asyncio.run(_stored_rows(settings, result["round_id"]))
    assert len(rows) > result["orders_acknowledged"]
    assert [r for r in rows if any(i in r for i in ids)] == []
    assert any(i[:6] in r for r in rows for i in ids)  # masked IDs are there (first 6 kept)


async def _stored_rows(settings: Settings, round_id: str) -> list[str]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            """SELECT row_to_json(o)::text AS t FROM orders o WHERE round_id = $1
               UNION ALL SELECT row_to_json(e)::text FROM order_events e WHERE round_id = $1
               UNION ALL SELECT row_to_json(f)::text FROM fulfillment_orders f
                         WHERE round_id = $1""",
            round_id,
        )
    finally:
        await conn.close()
    return [r["t"] for r in rows]
