"""`flashsale catalog …` and `flashsale numbers load` against the real PostgreSQL: round trips,
operator credential, audit rows, and refusals that change nothing."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from flashsale.core.audit import configured_token
from tests.support.cli import counts, flashsale, numbers, refused, typed


async def test_product_offer_round_trip_with_audit(
    env: dict[str, str], pg_pool: asyncpg.Pool, unique: str
) -> None:
    product = (
        await typed(
            env,
            f"catalog add-product --kind sim_card --name 'Fei Young {unique}' --json",
            FLASHSALE_OPERATOR=f"alice-{unique}",
        )
    ).json()
    assert isinstance(product, dict)
    assert product["kind"] == "sim_card"
    offer = (
        await flashsale(
            env,
            "catalog",
            "add-offer",
            "--product",
            str(product["id"]),
            "--name",
            "Card 20",
            "--price",
            "19.90",
            "--monthly-fee",
            "0",
            "--data",
            "1GB",
            "--voice",
            "100",
            "--gift",
            "data=1 GB",
            "--gift",
            "credit=1000",
            "--agreement",
            "Terms…",
            "--agreement-version",
            "v3",
            "--json",
        )
    ).json()
    assert isinstance(offer, dict)
    assert offer["price_fen"] == 1990
    assert offer["currency"] == "CNY"
    assert offer["data_mb"] == 1024
    assert offer["voice_minutes"] == 100
    assert offer["gifts"] == [
        {"kind": "data", "amount": "1 GB"},
        {"kind": "credit", "amount": 1000, "unit": "CNY"},
    ]
    shown = (await flashsale(env, "catalog", "show", "offer", str(offer["id"]), "--json")).json()
    assert isinstance(shown, dict)
    assert shown["agreement_text"] == "Terms…"
    assert shown["agreement_version"] == "v3"
    listed = (await flashsale(env, "catalog", "list", "--json")).json()
    assert isinstance(listed, list)
    assert any(r["offer_id"] == offer["id"] and r["price"] == "19.90" for r in listed)
    table = await flashsale(env, "catalog", "show", "product", str(product["id"]))
    assert table.code == 0
    assert "Card 20" in table.out
    async with pg_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT actor, action, subject FROM audit_log WHERE subject = $1",
            f"product:{product['id']}",
        )
    assert [(r["actor"], r["action"]) for r in rows] == [(f"alice-{unique}", "product.add")]


async def test_handset_variant(env: dict[str, str], unique: str) -> None:
    product = (
        await typed(env, f"catalog add-product --kind handset --name 'Phone {unique}' --json")
    ).json()
    assert isinstance(product, dict)
    variant = (
        await flashsale(
            env,
            "catalog",
            "add-variant",
            "--product",
            str(product["id"]),
            "--sku",
            f"X1-{unique}",
            "--colour",
            "black",
            "--storage",
            "128GB",
            "--json",
        )
    ).json()
    assert isinstance(variant, dict)
    assert variant["sku"] == f"X1-{unique}"
    again = await flashsale(
        env, "catalog", "add-variant", "--product", str(product["id"]), "--sku", f"X1-{unique}"
    )
    refused(again, "already exists")


async def test_non_admin_is_refused_and_nothing_changes(
    env: dict[str, str], pg_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    before = await counts(pg_pool)
    args = ("catalog", "add-product", "--kind", "plan", "--name", "Sneaky")
    refused(await flashsale(env, *args, admin=False), "refused", "credential")
    refused(await flashsale(env, *args, admin=False, token="not-the-token"), "refused")
    bad = tmp_path / "token"
    bad.write_text("wrong\n")
    refused(await flashsale(env, *args, "--token-file", str(bad), admin=False), "refused")
    refused(await flashsale(env, "numbers", "load", "p", str(bad), admin=False), "refused")
    assert await counts(pg_pool) == before
    good = tmp_path / "good"
    good.write_text(configured_token(env).reveal() + "\n")
    ok = await flashsale(env, *args, "--token-file", str(good), admin=False)
    assert ok.code == 0, ok.err


async def test_offer_refusals_change_nothing(
    env: dict[str, str], pg_pool: asyncpg.Pool, unique: str
) -> None:
    product = (
        await flashsale(
            env, "catalog", "add-product", "--kind", "plan", "--name", f"Plan {unique}", "--json"
        )
    ).json()
    assert isinstance(product, dict)
    before = await counts(pg_pool)
    base = ("catalog", "add-offer", "--name", "x", "--agreement-version", "v1")
    pid = str(product["id"])
    refused(await flashsale(env, *base, "--product", "999999", "--price", "1"), "unknown product")
    refused(await flashsale(env, *base, "--product", pid, "--price", "1.999"), "price")
    refused(await flashsale(env, *base, "--product", pid, "--price", "-1"), "price")
    refused(
        await flashsale(env, *base, "--product", pid, "--price", "1", "--gift", "car=1"), "gift"
    )
    refused(await flashsale(env, *base, "--product", pid, "--price", "1", "--data", "lots"), "data")
    refused(
        await flashsale(
            env, "catalog", "add-product", "--kind", "plan", "--name", "x", "--tz", "Mars/Olympus"
        ),
        "time zone",
    )
    assert await counts(pg_pool) == before


async def test_numbers_load_all_or_nothing(
    env: dict[str, str], pg_pool: asyncpg.Pool, tmp_path: Path, unique: str
) -> None:
    pool = f"pool-{unique}"
    good = numbers(5)
    path = tmp_path / "numbers.txt"
    path.write_text("# lucky ones carry a surcharge\n" + "\n".join(good[:4]) + f"\n{good[4]},88\n")
    result = (await flashsale(env, "numbers", "load", pool, str(path), "--json")).json()
    assert result == {
        "pool": pool,
        "pool_id": result["pool_id"],
        "added": 5,
        "total": 5,  # type: ignore[index]
        "lucky": 1,
        "rounds_updated": [],
    }
    async with pg_pool.acquire() as conn:
        fee = await conn.fetchval(
            "SELECT surcharge_fen FROM pool_numbers WHERE number = $1", good[4]
        )
    assert fee == 8800
    before = await counts(pg_pool)
    fresh = numbers(3)
    cases = {
        "malformed": [fresh[0], "2800138000", fresh[1]],
        "short": [fresh[0], "1380013800"],
        "duplicate in file": [fresh[0], fresh[1], fresh[0]],
        "already loaded": [fresh[2], good[0]],
        "bad surcharge": [f"{fresh[0]},-5"],
    }
    for name, lines in cases.items():
        path.write_text("\n".join(lines) + "\n")
        result_bad = await flashsale(env, "numbers", "load", pool, str(path))
        refused(result_bad, "numbers file refused")
        assert await counts(pg_pool) == before, name
    path.write_text("\n".join(fresh) + "\n")
    again = (await flashsale(env, "numbers", "load", pool, str(path), "--json")).json()
    assert isinstance(again, dict)
    assert again["total"] == 8


@pytest.mark.parametrize(
    "command",
    [
        ("catalog", "add-product"),
        ("catalog", "add-offer"),
        ("catalog", "add-variant"),
        ("catalog", "list"),
        ("catalog", "show"),
        ("numbers", "load"),
        ("round", "create"),
        ("round", "list"),
        ("round", "show"),
        ("round", "arm"),
        ("round", "pause"),
        ("round", "resume"),
        ("round", "extend"),
        ("round", "restock"),
        ("round", "close"),
        ("round", "report"),
    ],
)
async def test_every_command_has_help_with_examples(
    env: dict[str, str], command: tuple[str, ...]
) -> None:
    result = await flashsale(env, *command, "--help")
    assert result.code == 0, result.err
    assert "Examples:" in result.out, result.out
