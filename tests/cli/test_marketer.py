"""The marketer's CLI as a person types it (issue 17): `--json` refusals, questions before an
odd start, `round edit`, `numbers list|show`, `catalog retire`, number files as Excel writes them,
restock within the number pool, hints that name every accepted form, tables that never cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from inventory import Inventory
from tests.support.cli import Result, create, flashsale, numbers, refused, typed
from tests.support.inventory import req


def error(result: Result, code: str, exit_code: int = 1) -> str:
    """A ``--json`` refusal: the API's error shape on stdout, nothing on stderr."""
    assert result.code == exit_code, (result.out, result.err)
    assert result.err == ""
    body = orjson.loads(result.out)
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert message
    return message


def spaced(number: str) -> str:
    return f"+86 {number[:3]} {number[3:7]} {number[7:]}"


async def rounds_count(pg_pool: asyncpg.Pool) -> int:
    async with pg_pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM rounds")
        return count


async def test_json_errors_are_json_on_stdout(env: dict[str, str], offer: dict[str, Any]) -> None:
    assert "unknown round" in error(
        await typed(env, "round show nope-x --json"), "catalog.not_found"
    )
    error(await typed(env, "round show --json"), "usage", exit_code=2)
    error(await typed(env, "round pause nope-x --json", admin=False), "unauthorized")
    message = error(
        await typed(env, f"round create --offer {offer['id']} --stock 1 --starts soon --json"),
        "round.invalid_window",
    )
    assert "+10m" in message
    # without --json the same refusal stays one line on stderr
    refused(await typed(env, "round show nope-x"), "unknown round")


async def test_a_start_in_the_past_or_far_ahead_asks_first(
    env: dict[str, str], offer: dict[str, Any], pg_pool: asyncpg.Pool
) -> None:
    before = await rounds_count(pg_pool)
    past = (datetime.now(UTC) - timedelta(hours=3)).isoformat(timespec="seconds")
    command = f"round create --offer {offer['id']} --stock 3 --starts {past} --duration 6h"
    message = error(await typed(env, f"{command} --json"), "confirmation_required")
    assert "in the past" in message
    assert "--yes" in message
    far = f"round create --offer {offer['id']} --stock 3 --starts 2062-01-01T10:00Z --duration 1h"
    refused(await typed(env, far), "years away", "--yes")
    assert await rounds_count(pg_pool) == before  # nothing created without the confirmation
    live = (await typed(env, f"{command} --yes --no-arm --json")).json()
    assert live["status"] == "live"  # type: ignore[index]
    later = (await typed(env, f"{far} --yes --json")).json()
    assert later["status"] == "scheduled"  # type: ignore[index]


async def test_edit_a_scheduled_round(
    env: dict[str, str], offer: dict[str, Any], pg_pool: asyncpg.Pool
) -> None:
    rnd = await create(
        env, offer, "--stock", "5", "--starts", "2040-03-01T10:00Z", "--duration", "2h"
    )
    rid = rnd["id"]
    window = "--starts '2040-03-01 20:00' --ends '2040-03-01 22:00' --tz UTC"
    command = f"round edit {rid} --stock 7 --per-id 2 {window} --yes"
    edited = (await typed(env, f"{command} --json")).json()
    assert edited["changed"] is True  # type: ignore[index]
    assert edited["stock"] == 7  # type: ignore[index]
    assert edited["per_id_limit"] == 2  # type: ignore[index]
    assert edited["starts_at"] == "2040-03-01T20:00:00+00:00"  # type: ignore[index]
    assert edited["ends_at"] == "2040-03-01T22:00:00+00:00"
    assert edited["per_account_limit"] == 1  # not given: unchanged
    again = (await typed(env, f"{command} --json")).json()
    assert again["changed"] is False  # type: ignore[index]
    async with pg_pool.acquire() as conn:
        audit = await conn.fetch(
            "SELECT details FROM audit_log WHERE subject = $1 AND action = 'round.edit'",
            f"round:{rid}",
        )
    assert len(audit) == 1
    detail = audit[0]["details"]
    detail = orjson.loads(detail) if isinstance(detail, str) else detail
    assert detail["before"] == {"stock": 5, "per_id_limit": 1,
                                "starts_at": "2040-03-01T10:00:00+00:00",
                                "ends_at": "2040-03-01T12:00:00+00:00"}  # fmt: skip
    assert detail["after"]["stock"] == 7
    refused(await typed(env, f"round edit {rid}"), "nothing to change")
    refused(await typed(env, f"round edit {rid} --stock 0"), "stock")
    refused(await typed(env, f"round edit nope-{rid} --stock 3"), "unknown round")
    live = await create(
        env, offer, "--stock", "2", "--starts", "now", "--duration", "1h", "--no-arm"
    )
    refused(await typed(env, f"round edit {live['id']} --stock 3"), "only a scheduled round")


async def test_number_files_as_people_write_them(
    env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    a, b, c, d = numbers(4)
    path = tmp_path / "excel.csv"
    dashed = f"{b[:3]}-{b[3:7]}-{b[7:]}"
    path.write_bytes(f"\ufeff{spaced(a)}\n{dashed},88\n0086{c}\n{d}\n".encode())
    pool = f"excel-{unique}"
    loaded = (await typed(env, f"numbers load {pool} {path} --json")).json()
    assert loaded["added"] == 4  # type: ignore[index]
    shown = (await typed(env, f"numbers show {pool} --json")).json()
    assert isinstance(shown, dict)
    assert [n["number"] for n in shown["shown"]] == sorted([a, b, c, d])
    assert shown["numbers"] == 4
    assert shown["lucky"] == 1
    listed = (await typed(env, "numbers list --json")).json()
    assert isinstance(listed, list)
    assert {"pool": pool, "numbers": 4, "lucky": 1}.items() <= next(
        p for p in listed if p["pool"] == pool
    ).items()
    # loaded again: every number is a duplicate, and the total says how many
    message = error(await typed(env, f"numbers load {pool} {path} --json"), "numbers.invalid_file")
    assert "4 of its 4 numbers are already loaded" in message
    big = tmp_path / "big.txt"
    more = numbers(8)
    big.write_text("\n".join([a, b, c, d, *more]) + "\n")
    message = error(
        await typed(env, f"numbers load other-{unique} {big} --json"), "numbers.invalid_file"
    )
    assert "4 of its 12 numbers" in message
    assert "(pool excel-" in message
    error(await typed(env, f"numbers show none-{unique} --json"), "catalog.not_found")


async def test_restock_stays_within_the_number_pool(
    env: dict[str, str], offer: dict[str, Any], tmp_path: Path, unique: str
) -> None:
    path = tmp_path / "n.txt"
    path.write_text("\n".join(numbers(3)) + "\n")
    pool = f"cap-{unique}"
    assert (await typed(env, f"numbers load {pool} {path}")).code == 0
    rnd = await create(
        env, offer, "--stock", "2", "--starts", "+2h", "--duration", "1h", "--no-arm",
        "--number-choice", "--number-pool", pool,
    )  # fmt: skip
    message = error(await typed(env, f"round restock {rnd['id']} 2 --json"), "catalog.invalid")
    assert "more than the 3 numbers" in message
    assert (await typed(env, f"round restock {rnd['id']} 1 --json")).json()["stocked"] == 3  # type: ignore[index]


async def test_hints_name_every_form(env: dict[str, str], offer: dict[str, Any]) -> None:
    rnd = await create(
        env, offer, "--stock", "2", "--starts", "+3h", "--duration", "1h", "--no-arm"
    )
    message = error(
        await typed(env, f"round create --offer {offer['id']} --stock 1 --starts tomorrow "
                         "--duration 1h --json"),
        "round.invalid_window",
    )  # fmt: skip
    for form in ("2026-05-17T10:00+08:00", "2026-05-17 10:00", "now", "+10m"):
        assert form in message
    message = error(
        await typed(env, f"round extend {rnd['id']} --by -10m --json"), "catalog.invalid"
    )
    assert "positive" in message
    assert "later" in message


async def test_retire_an_offer_and_a_product(
    env: dict[str, str], offer: dict[str, Any], pg_pool: asyncpg.Pool
) -> None:
    rnd = await create(
        env, offer, "--stock", "2", "--starts", "+5h", "--duration", "1h", "--no-arm"
    )
    refused(await typed(env, f"catalog retire offer {offer['id']}"), rnd["id"], "close")
    assert (await typed(env, f"round close {rnd['id']}")).code == 0
    out = (await typed(env, f"catalog retire offer {offer['id']} --json")).json()
    assert out["changed"] is True  # type: ignore[index]
    again = (await typed(env, f"catalog retire offer {offer['id']} --json")).json()
    assert again["changed"] is False  # type: ignore[index]
    refused(
        await typed(
            env, f"round create --offer {offer['id']} --stock 1 --starts +6h --duration 1h"
        ),
        "retired",
    )
    product = offer["product_id"]
    assert (await typed(env, f"catalog retire product {product}")).code == 0
    add = f"catalog add-offer --product {product} --name x --price 1 --agreement-version v1"
    refused(await typed(env, add), "retired")
    listed = (await typed(env, "catalog list --json")).json()
    assert isinstance(listed, list)
    assert all(r["retired"] for r in listed if r["product_id"] == product)
    error(await typed(env, "catalog retire offer 99999999 --json"), "catalog.not_found")
    async with pg_pool.acquire() as conn:
        actions = await conn.fetch(
            "SELECT action FROM audit_log WHERE action LIKE '%.retire' AND subject = ANY($1)",
            [f"offer:{offer['id']}", f"product:{product}"],
        )
    assert sorted(r["action"] for r in actions) == ["offer.retire", "product.retire"]


async def test_tables_never_cut_ids_or_times(env: dict[str, str], offer: dict[str, Any]) -> None:
    rnd = await create(
        env, offer, "--stock", "2", "--starts", "2041-07-01T10:00:00.123456+08:00",
        "--duration", "1h", "--id", f"r-long-id-{offer['id']}-abcdefghijk",
    )  # fmt: skip
    shown = await flashsale(env, "round", "show", rnd["id"], COLUMNS="80")
    assert "2041-07-01T10:00:00+08:00" in shown.out  # whole, without microseconds
    assert ".123456" not in shown.out
    fields = [line.split("│")[1].strip() for line in shown.out.splitlines() if line.count("│") > 2]
    assert "stocked" in fields
    assert "stock" not in fields  # one stock figure, not two
    for extra in ((), ("--wide",)):
        listed = await flashsale(
            env, "round", "list", "--offer", str(offer["id"]), *extra, COLUMNS="80"
        )
        assert rnd["id"] in listed.out, listed.out
        assert "2041-07-01T10:00:00+08:00" in listed.out
        assert "…" not in listed.out


async def test_report_is_true_at_every_stage(
    env: dict[str, str], offer: dict[str, Any], redis: aioredis.Redis, tmp_path: Path
) -> None:
    later = await create(env, offer, "--stock", "2", "--starts", "+2h", "--duration", "1h")
    rid = later["id"]

    async def report() -> dict[str, Any]:
        data: dict[str, Any] = (await typed(env, f"round report {rid} --json")).json()  # type: ignore[assignment]
        text = (await typed(env, f"round report {rid}")).out
        assert data["stage"].replace("_", " ") in text or data["stage"] in text, text
        return data

    upcoming = await report()
    assert (upcoming["stage"], upcoming["left"], upcoming["sold"]) == ("upcoming", 2, 0)
    rid = (await create(env, offer, "--stock", "2", "--starts", "now", "--duration", "1h"))["id"]
    inv = Inventory(redis)
    try:
        assert (await report())["stage"] == "live"
        holds = [await inv.reserve(req(rid, f"b{i}")) for i in range(2)]
        assert all(h.ok for h in holds)
        sold_out = await report()
        assert (sold_out["stage"], sold_out["left"], sold_out["held"]) == ("sold_out", 0, 2)
        assert sold_out["orders"] == 2
        assert sold_out["sold_out_at"] is not None
        # one hold expires: sold out once, now one unit is back and on sale again
        assert holds[0].order_id is not None
        assert await inv.release(rid, holds[0].order_id, "expired")
        returned = await report()
        assert returned["stage"] == "units_returned"
        assert (returned["left"], returned["held"], returned["orders"]) == (1, 1, 2)
        assert returned["status"] == "live"
        assert returned["sold_out_at"] == sold_out["sold_out_at"]
        text = (await typed(env, f"round report {rid}")).out
        assert "came back" in text
        assert (await typed(env, f"round close {rid}")).code == 0
        closed = await report()
        assert closed["stage"] == "closed"
        png = tmp_path / "curve.png"
        plotted = (await typed(env, f"round report {rid} --plot {png} --json")).json()
        assert plotted["plot"] == str(png)  # type: ignore[index]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        await inv.aclose()
