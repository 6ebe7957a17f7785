"""Typed application state: one AppState from the lifespan, read through one accessor."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import flashsale.front
from checkout.flow import Checkout
from flashsale.core.settings import Settings
from flashsale.front.app import create_app
from flashsale.front.state import AppState, state_of
from tests.support.api import api_client

FRONT = Path(flashsale.front.__file__).parent


async def test_the_lifespan_opens_one_typed_state(settings: Settings) -> None:
    with pytest.raises(RuntimeError):
        state_of(create_app(settings))  # before the lifespan: no state to read
    async with api_client(settings) as client:
        state = state_of(client.app)  # type: ignore[attr-defined]
        assert isinstance(state, AppState)
        assert isinstance(state.checkout, Checkout)
        assert state.checkout.inventory is state.inventory


def test_no_route_reads_the_untyped_app_state() -> None:
    """Only state.py touches ``app.state``; no handler reads it behind a ``type: ignore``."""
    offenders = [
        f"{path.relative_to(FRONT)}:{n}"
        for path in FRONT.rglob("*.py")
        if path.name != "state.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bapp\.state\.", line)
    ]
    assert not offenders, offenders
