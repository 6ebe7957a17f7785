"""The buy endpoint accepts only what every sink can store (issue 12, "The edge").

Hypothesis drives ``POST /api/rounds/{id}/orders`` with arbitrary Unicode in the free-text
fields: each answer is either a 4xx with a documented code and nothing reserved, or a 201 whose
order then reaches PostgreSQL (relay and writer run in-process once, after the examples) with
exactly the NFC text that was sent.
"""

from __future__ import annotations

import itertools
import json
import random
import unicodedata

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis

from checkout import idnumber
from flashsale.core.settings import Settings
from flashsale.front.errors import STATUS
from inventory import Inventory
from inventory.keys import RoundKeys
from tests.support.api import arm, body, headers, post_order, round_client, spec
from tests.support.edge import app_in_portal, json_bytes, nfc, run_pipeline, storable, texts

# field -> (min characters, max characters, max UTF-8 bytes): the documented limits
LIMITS = {"real_name": (1, 40, 120), "address": (4, 200, 600), "agreement_version": (1, 64, 128)}
STOCK = 1_000_000


def _has_surrogate(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cs" for ch in value)


async def _counts(redis: Redis, round_id: str) -> tuple[int, int, int]:
    stats = await Inventory(redis).stats(round_id)
    return stats.orders, stats.left, int(await redis.hlen(RoundKeys(round_id).idempotency))


@pytest.mark.timeout(300)
async def test_buy_with_arbitrary_text_is_refused_or_stored_exactly(
    settings: Settings, redis: Redis, pg_pool: asyncpg.Pool, unique: str
) -> None:
    rid = f"edge{unique}"
    await arm(settings, spec(rid, stock=STOCK, per_account_limit=STOCK, per_id_limit=STOCK))
    url = f"/api/rounds/{rid}/orders"
    accepted: dict[str, tuple[str, str]] = {}  # order id -> (field, the NFC text sent)
    refusals: dict[str, int] = {}
    counter = itertools.count()

    with app_in_portal(settings) as (portal, client):

        @hsettings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            field=st.sampled_from(sorted(LIMITS)),
            value=st.one_of(texts(), st.sampled_from(["v3", " v3\u3000", "\u200fv3", "v\uff13"])),
            escaped=st.booleans(),
        )
        def buy(field: str, value: str, escaped: bool) -> None:
            n = next(counter)
            data = body(idnumber.generate(random.Random(n)), **{field: value})
            raw = json_bytes(data, ascii_only=escaped)
            response = portal.call(
                client.post(
                    url,
                    content=raw,
                    headers={
                        **headers(settings, f"edge-{unique}-{n}", f"edge-key-{n:08d}"),
                        "Content-Type": "application/json",
                    },
                )
            )
            # What the server can see: escaped surrogate pairs decode to one character; a lone
            # surrogate (escaped, or as raw invalid UTF-8) leaves no valid JSON text at all.
            sent = json.loads(raw.decode("utf-8", "surrogatepass"))[field]
            valid_json = not _has_surrogate(sent)
            ok = valid_json and storable(sent, *LIMITS[field])
            if response.status_code == 201:
                assert ok, f"accepted {sent!r} for {field}"
                accepted[response.json()["order_id"]] = (field, nfc(sent))
                return
            status, error = response.status_code, response.json()["error"]
            assert 400 <= status < 500, response.text
            assert STATUS[error["code"]] == status, response.text
            refusals[error["code"]] = refusals.get(error["code"], 0) + 1
            if not valid_json:
                assert error["code"] == "invalid_request", response.text
            elif not ok:
                assert error["code"] == "invalid_request", response.text
                assert error.get("field") == field, response.text
            else:  # storable: only the round's own rule may refuse it
                assert field == "agreement_version", response.text
                assert nfc(sent) != "v3"
                assert error["code"] == "agreement_outdated", response.text

        buy()

    assert accepted, "no example was accepted: the strategy never reached the script"
    assert refusals.get("invalid_request"), refusals
    # nothing reserved by a refusal: one order, one unit and one idempotency record per 201
    orders, left, records = await _counts(redis, rid)
    assert (orders, left, records) == (len(accepted), STOCK - len(accepted), len(accepted))

    async def landed() -> bool:
        n = await pg_pool.fetchval(
            "SELECT count(*) FROM orders WHERE id = ANY($1::text[]) AND reserved_at IS NOT NULL",
            list(accepted),
        )
        return int(n) == len(accepted)

    await run_pipeline(settings, redis, pg_pool, rid, landed)
    rows = await pg_pool.fetch(
        "SELECT id, pii->>'real_name' AS real_name, pii->>'address' AS address, "
        "agreement_version FROM orders WHERE id = ANY($1::text[])",
        list(accepted),
    )
    stored = {r["id"]: r for r in rows}
    for order_id, (field, text) in accepted.items():
        assert stored[order_id][field] == text, (order_id, field)
        assert unicodedata.is_normalized("NFC", stored[order_id][field])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # the case: "\u0000a" was answered 201 and then killed the writer
        pytest.param("real_name", "\u0000a", id="nul-in-real-name"),
        ("real_name", "张\u0000伟"),
        ("real_name", "Zhang\u0085Wei"),  # C1 control (NEL)
        ("real_name", "\ufffe张伟"),  # noncharacter
        ("real_name", "张伟\u2028"),  # line separator
        ("address", "北京市\n朝阳区建国路 88 号"),
        ("address", "北京市\t朝阳区建国路 88 号"),
        ("address", "北京市朝阳区建国路 88 号" + "\x1b[31m"),
        ("real_name", "\U0001f600" * 31),  # 31 characters, 124 bytes > 120
        ("agreement_version", "v3\x00"),
        ("number", "1380013800\uff10"),  # full-width zero: re's \d matched it
        ("number", "\uff11\uff13\uff18" + "00138000"),
        ("number", "13800138000\n"),  # `$` matched before a final newline
        ("number", "1380013800\u0660"),  # Arabic-Indic zero
        ("id_number", "\uff11\uff11\uff10\uff11\uff10\uff15" + "199001011234"),
        ("channel", ["web"]),
        ("quantity", True),
    ],
)
async def test_unstorable_text_non_ascii_digits_and_odd_types_are_refused(
    settings: Settings, redis: Redis, unique: str, field: str, value: object
) -> None:
    """Refused with invalid_request naming the field, nothing reserved."""
    rid = f"bad{unique}"
    async with round_client(settings, rid, stock=5) as client:
        r = await post_order(
            client, settings, rid, f"bad-{unique}", f"bad-key-{unique}", **{field: value}
        )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": "invalid_request", "message": r.json()["error"]["message"],
                                 "field": field}  # fmt: skip
    assert await _counts(redis, rid) == (0, 5, 0)


async def test_text_is_nfc_before_limits_and_idempotency(
    settings: Settings, redis: Redis, unique: str
) -> None:
    """40 decomposed "é" (80 code points) are 40 characters in NFC: accepted, stored composed;
    the same request re-sent precomposed is the same request (a replay, not a mismatch)."""
    rid = f"nfc{unique}"
    decomposed = "e\u0301" * 40
    composed = "\u00e9" * 40
    hdrs = headers(settings, f"nfc-{unique}", f"nfc-key-{unique}")
    request = body()
    async with round_client(settings, rid, stock=5) as client:
        first = await client.post(
            f"/api/rounds/{rid}/orders", json={**request, "real_name": decomposed}, headers=hdrs
        )
        again = await client.post(
            f"/api/rounds/{rid}/orders", json={**request, "real_name": composed}, headers=hdrs
        )
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["order_id"] == first.json()["order_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    entries = await redis.xrange(RoundKeys(rid).outbox)
    events = [orjson.loads(fields[b"data"]) for _, fields in entries]
    assert [e["pii"]["real_name"] for e in events if "pii" in e] == [composed]
