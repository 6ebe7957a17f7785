"""Options that set a config field (`fulfill`, `relay`, `demo`) default to that field's default
and land in that field: the default is written once, in the config."""

from __future__ import annotations

import dataclasses
from typing import Any

import click
import pytest

import fulfillment as ff
from checkout.pipeline.relay import RelayConfig
from flashsale.cli.common import from_options
from flashsale.cli.demo import demo
from flashsale.cli.fulfillment import fulfill
from flashsale.cli.pipeline import relay
from flashsale.demo import DemoConfig


def _defaults(config: type[Any]) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(config)}


def _parse(command: click.Command, *args: str) -> dict[str, Any]:
    return command.make_context(command.name or "", list(args)).params


def test_fulfill_options_are_the_worker_and_carrier_configs() -> None:
    params = _parse(fulfill, "--lease", "3", "--batch", "12", "--carrier-lost-rate", "0.5")
    config = from_options(ff.FulfillConfig, params)
    assert (config.lease_seconds, config.batch, config.lanes) == (3.0, 12, ff.FulfillConfig.lanes)
    assert config.max_attempts == ff.FulfillConfig.max_attempts
    assert config.track_every == ff.FulfillConfig.track_every
    carrier = from_options(ff.CarrierConfig, params, prefix="carrier_")
    expected = dataclasses.replace(ff.CarrierConfig(), lost_rate=0.5)
    assert carrier == expected
    defaults = from_options(ff.CarrierConfig, _parse(fulfill), prefix="carrier_")
    assert defaults == ff.CarrierConfig()


def test_relay_and_demo_options_default_to_their_configs() -> None:
    relay_params = _parse(relay)
    relay_defaults = _defaults(RelayConfig)
    for name in ("batch", "min_idle_ms", "max_message_bytes"):
        assert relay_params[name] == relay_defaults[name], name
    assert relay_params["stale_consumer_s"] * 1000 == RelayConfig.stale_consumer_ms
    config = from_options(DemoConfig, _parse(demo, "--cards", "5000", "--opens-in", "5"))
    assert (config.cards, config.opens_in) == (5000, 5.0)
    demo_defaults = _defaults(DemoConfig)
    for name in ("shoppers", "hold_seconds", "concurrency", "workers"):
        assert getattr(config, name) == demo_defaults[name], name


@pytest.mark.parametrize(
    ("command", "flag"), [(fulfill, "--batch"), (relay, "--min-idle-ms"), (demo, "--cards")]
)
def test_help_shows_the_config_default(command: click.Command, flag: str) -> None:
    (option,) = [p for p in command.params if flag in p.opts]
    assert isinstance(option, click.Option)
    assert option.show_default is True
