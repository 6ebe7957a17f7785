"""The demo's catalog, set up the way a marketer would: through the `flashsale` CLI."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flashsale.core.settings import Settings

AGREEMENT = "2026-11"


@dataclass(frozen=True)
class DemoCatalog:
    offer_id: int
    round_id: str
    pool: str
    numbers: list[str]
    agreement_version: str
    opens_at: float  # epoch seconds


class SetupError(Exception):
    """A CLI step of the demo setup failed."""


def cli_env(settings: Settings) -> dict[str, str]:
    """The CLI as an operator runs it (dev credential from the local secrets file), on the
    services and topics of ``settings``."""
    return {
        **os.environ,
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "FLASHSALE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FLASHSALE_TOPIC_PREFIX": settings.topic_prefix,
        "FLASHSALE_ADMIN_TOKEN": settings.admin_token.reveal(),
        "FLASHSALE_OPERATOR": "demo-marketer",
    }


def cli(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("flashsale")), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(
            f"flashsale {' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()[-500:]}"
        )
    return json.loads(done.stdout)


def number_block(rng: random.Random, used: set[str], size: int) -> list[str]:
    """``size`` fresh mainland numbers sharing one ``1[3-9]…`` prefix not in ``used``."""
    width = max(4, len(str(max(size - 1, 1))))
    while True:
        head = f"1{rng.randint(3, 9)}" + "".join(str(rng.randint(0, 9)) for _ in range(9 - width))
        if head not in used:
            break
    return [f"{head}{n:0{width}d}" for n in rng.sample(range(10**width), size)]


def used_prefixes(settings: Settings, length: int) -> set[str]:
    """Number prefixes of that length already loaded (numbers are unique across pools)."""
    import asyncio

    import asyncpg

    async def fetch() -> set[str]:
        conn = await asyncpg.connect(settings.database_url)
        try:
            rows = await conn.fetch(
                "SELECT DISTINCT left(number, $1) AS head FROM pool_numbers", length
            )
        finally:
            await conn.close()
        return {r["head"] for r in rows}

    return asyncio.run(fetch())


def create_catalog(
    settings: Settings,
    stock: int,
    opens_in: float,
    hold_seconds: int,
    duration: str,
    seed: int,
    workdir: Path,
) -> DemoCatalog:
    env = cli_env(settings)
    rng = random.Random(seed)
    card = cli(
        env,
        "catalog",
        "add-product",
        "--kind",
        "sim_card",
        "--name",
        "20-yuan 3G prepaid card (Fei Young)",
    )
    offer = cli(
        env,
        "catalog",
        "add-offer",
        "--product",
        str(card["id"]),
        "--name",
        "Fei Young 3G card, 1 GB + 1000 yuan credit",
        "--price",
        "20",
        "--data",
        "1GB",
        "--gift",
        "data=1 GB",
        "--gift",
        "credit=1000",
        "--agreement-version",
        AGREEMENT,
        "--agreement",
        "Real-name registration required; one discounted card per ID.",
    )
    handset = cli(
        env, "catalog", "add-product", "--kind", "handset", "--name", "Special-price 3G smartphone"
    )
    cli(
        env,
        "catalog",
        "add-offer",
        "--product",
        str(handset["id"]),
        "--name",
        "Smartphone at 499 yuan with plan 96",
        "--price",
        "499",
        "--monthly-fee",
        "96",
        "--voice",
        "300",
        "--data",
        "500MB",
        "--agreement-version",
        AGREEMENT,
    )
    pool = f"demo-{seed}"
    size = max(stock, 1)
    width = max(4, len(str(max(size - 1, 1))))
    numbers = number_block(rng, used_prefixes(settings, 11 - width), size)
    (workdir / "numbers.txt").write_text(
        "".join(f"{n},88\n" if n.endswith("888") else f"{n}\n" for n in numbers)
    )
    cli(env, "numbers", "load", pool, str(workdir / "numbers.txt"))
    rnd = cli(
        env,
        "round",
        "create",
        "--offer",
        str(offer["id"]),
        "--stock",
        str(stock),
        "--starts",
        f"+{max(1, round(opens_in))}s",
        "--duration",
        duration,
        "--hold-seconds",
        str(hold_seconds),
        "--number-choice",
        "--number-pool",
        pool,
        "--channels",
        "web,mobile,sms",
    )
    return DemoCatalog(
        offer_id=int(offer["id"]),
        round_id=str(rnd["id"]),
        pool=pool,
        numbers=numbers,
        agreement_version=AGREEMENT,
        opens_at=datetime.fromisoformat(rnd["starts_at"]).timestamp(),
    )
