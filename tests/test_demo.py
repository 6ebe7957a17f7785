"""The whole product end to end: `flashsale demo` on a small round — marketer CLI, front,
relay, writer, sweeper and fulfillment as real processes, a crowd of shoppers."""

from __future__ import annotations

import dataclasses

import pytest
from rich.console import Console

from flashsale.demo import DemoConfig, run_demo
from flashsale.settings import Settings


@pytest.mark.timeout(240)
def test_small_demo_sale_ends_consistent(
    settings: Settings, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
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
    assert "reconcile" in console.export_text()
