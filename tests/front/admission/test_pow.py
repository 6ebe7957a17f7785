"""Proof of work on the buy endpoint: accepted once, refused when wrong, expired or reused."""

from __future__ import annotations

import time

from flashsale.core.settings import Settings
from flashsale.front.admission import Policy
from flashsale.front.admission import pow as proof
from tests.support.admission import admission_client, policy_client
from tests.support.api import arm, body, headers, spec


async def test_proof_of_work(settings: Settings, unique: str) -> None:
    rid = f"pow{unique}"
    url = f"/api/rounds/{rid}/orders"
    armed = spec(rid, stock=10, per_account_limit=5)
    async with policy_client(settings, Policy(pow_bits=8), armed) as client:
        got = await client.get(
            f"/api/rounds/{rid}/challenge", headers=headers(settings, "pat", "x" * 8)
        )
        assert got.status_code == 200
        c = got.json()
        assert c["required"] is True
        assert c["difficulty"] == 8
        solution = proof.solve(c["challenge"], 8)
        x_pow = f"{c['challenge']}.{solution}"

        async def buy(key: str, pow_header: str | None, who: str = "pat") -> int:
            h = headers(settings, who, key)
            if pow_header is not None:
                h["X-PoW"] = pow_header
            r = await client.post(url, json=request, headers=h)
            if r.status_code == 403:
                assert r.json()["error"]["code"] == "challenge_failed"
            return r.status_code

        request = body()
        assert await buy("kpow-none", None) == 403
        wrong = next(n for n in range(solution + 1, 10**6) if not _solves(c["challenge"], n, 8))
        assert await buy("kpow-wrong", f"{c['challenge']}.{wrong}") == 403
        assert await buy("kpow-tamper", f"{c['challenge'][:-2]}AA.{solution}") == 403
        assert await buy("kpow-other", x_pow, who="sam") == 403  # bound to pat
        assert await buy("kpow-0001", x_pow) == 201
        assert await buy("kpow-0001", x_pow) == 201  # the same request again: a replay
        request = body()
        assert await buy("kpow-0002", x_pow) == 403  # spent
        stale, _ = proof.issue(settings.token_secret, rid, "pat", 8, 10, now=time.time() - 60)
        assert await buy("kpow-0003", f"{stale}.{proof.solve(stale, 8)}") == 403
        easy, _ = proof.issue(settings.token_secret, rid, "pat", 2, 60)
        assert await buy("kpow-0004", f"{easy}.{proof.solve(easy, 2)}") == 403  # too easy
        fresh = (
            await client.get(
                f"/api/rounds/{rid}/challenge", headers=headers(settings, "pat", "x" * 8)
            )
        ).json()
        assert (
            await buy("kpow-0005", f"{fresh['challenge']}.{proof.solve(fresh['challenge'], 8)}")
            == 201
        )


async def test_no_proof_needed_by_default(settings: Settings, unique: str) -> None:
    rid = f"pow0{unique}"
    await arm(settings, spec(rid, stock=1))
    async with admission_client(settings) as client:
        c = (
            await client.get(
                f"/api/rounds/{rid}/challenge", headers=headers(settings, "z", "x" * 8)
            )
        ).json()
        assert c["required"] is False
        r = await client.post(
            f"/api/rounds/{rid}/orders", json=body(), headers=headers(settings, "z", "kz-00001")
        )
        assert r.status_code == 201


def _solves(challenge: str, n: int, bits: int) -> bool:
    import hashlib

    return proof.leading_zero_bits(hashlib.sha256(f"{challenge}:{n}".encode()).digest()) >= bits
