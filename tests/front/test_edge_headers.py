"""Headers the API parses, with non-ASCII, huge and empty values, through the HTTP app: always a
4xx with a stable code, never a 500 (``hmac.compare_digest`` raises TypeError on a non-ASCII
str; ``int()`` refuses "²" although ``"²".isdigit()`` is true, and any 5000-digit string).

Header values are sent as raw bytes: the server decodes them as latin-1, as HTTP servers do.
"""

from __future__ import annotations

import time

import httpx
import pytest

from checkout import payments
from flashsale.core.audit import verify_token
from flashsale.core.settings import Secret, Settings
from flashsale.front import tokens
from flashsale.front.admission import Policy
from flashsale.front.admission import pow as proof
from flashsale.front.errors import STATUS
from tests.support.admission import policy_client
from tests.support.api import body, buyer, headers, spec

ODD_VALUES = [
    "é".encode(),  # UTF-8 bytes: two latin-1 characters
    b"\xb2",  # "²" in latin-1: isdigit() but not int()
    "x\u00e9".encode("latin-1"),
    b"9" * 5000,  # int() of more than 4300 digits raises
    b"a" * 100_000,
    b"",
    b" ",
]


def _check(r: httpx.Response, *codes: str) -> None:
    assert r.status_code < 500, r.text
    error = r.json()["error"]
    assert error["code"] in codes, r.text
    assert STATUS[error["code"]] == r.status_code


@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
async def test_odd_header_values_are_refused_cleanly(
    settings: Settings, unique: str, value: bytes
) -> None:
    rid = f"hdr{unique}"
    now = int(time.time())
    async with policy_client(settings, Policy(room=True, pow_bits=4), spec(rid, stock=5)) as client:
        # payment callback signature: t= fresh, v1= the odd value
        callback = b'{"id":"evt_1"}'
        for signature in (b"t=%d,v1=" % now + value, value):
            r = await client.post(
                "/api/payments/callback",
                content=callback,
                headers={payments.SIGNATURE_HEADER: signature, "Content-Type": "application/json"},
            )
            _check(r, "invalid_signature")
        # buyer bearer token
        r = await client.get(f"/api/orders/{rid}-1", headers={"Authorization": b"Bearer " + value})
        _check(r, "unauthorized")
        r = await client.get(f"/api/orders/{rid}-1", headers={"Authorization": value})
        _check(r, "unauthorized")
        for method, path in (("POST", "queue"), ("GET", "queue"), ("GET", "challenge")):
            r = await client.request(
                method, f"/api/rounds/{rid}/{path}", headers={"Authorization": b"Bearer " + value}
            )
            _check(r, "unauthorized")
        # operator token on the dashboard
        r = await client.get("/api/admin/dashboard", headers={"Authorization": b"Bearer " + value})
        _check(r, "unauthorized")
        # Idempotency-Key
        h: dict[str, str | bytes] = {**buyer(settings, f"h-{unique}"), "Idempotency-Key": value}
        r = await client.post(f"/api/rounds/{rid}/orders", json=body(), headers=h)
        _check(r, "invalid_request")
        # X-Admission-Token (the round has a waiting room)
        h = {**headers(settings, f"h-{unique}", f"hdr-{unique}"), "X-Admission-Token": value}
        r = await client.post(f"/api/rounds/{rid}/orders", json=body(), headers=h)
        _check(r, "admission_required")
        # Content-Length
        r = await client.post(
            "/api/auth/otp",
            content=b'{"phone": "13800138000"}',
            headers={"Content-Length": value, "Content-Type": "application/json"},
        )
        _check(r, "invalid_request", "payload_too_large")
        # ?limit= of the free-numbers page (a URL has no room for the 100 kB value)
        limit = value.decode("latin-1")[:5000]
        r = await client.get(f"/api/rounds/{rid}/numbers", params={"limit": limit})
        _check(r, "invalid_request", "number_choice_disabled", "not_found")


@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
async def test_odd_proof_of_work_headers_are_refused_cleanly(
    settings: Settings, unique: str, value: bytes
) -> None:
    rid = f"pw{unique}"
    who = f"pw-{unique}"
    challenge, _ = proof.issue(settings.token_secret, rid, who, 4, 60)
    payload, signature = challenge.split(".")
    solution = str(proof.solve(challenge, 4)).encode()
    candidates = [
        value,
        payload.encode() + b"." + value + b"." + solution,  # the signature compared with HMAC
        payload.encode() + b"." + signature[:-1].encode() + "é".encode() + b"." + solution,
        challenge.encode() + b"." + value,  # the solution
        challenge.encode() + b".\xb2",
    ]
    async with policy_client(settings, Policy(pow_bits=4), spec(rid, stock=5)) as client:
        for i, x_pow in enumerate(candidates):
            h: dict[str, str | bytes] = {**headers(settings, who, f"pw-{unique}-{i}")}
            h["X-PoW"] = x_pow
            r = await client.post(f"/api/rounds/{rid}/orders", json=body(), headers=h)
            _check(r, "challenge_failed")


def test_verify_functions_refuse_non_ascii_str() -> None:
    """The library functions themselves, with str that no HTTP header could carry."""
    secret = Secret("t" * 32)
    for odd in ("é", "\ud800", "\uff11\uff12", "a" * 100_000, ""):
        with pytest.raises(proof.ChallengeError):
            proof.verify(secret, f"a.{odd}.1", "r", "b", 1)
        with pytest.raises(proof.ChallengeError):
            proof.verify(secret, f"a.b.{odd}", "r", "b", 1)
        with pytest.raises(tokens.TokenError):
            tokens.verify(secret, f"{odd}.{odd}.{odd}")
        assert verify_token(odd, Settings(admin_token=secret)) is False
