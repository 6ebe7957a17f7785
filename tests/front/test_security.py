"""Security sweep (issue 9): what the feature tests do not already pin down.

Covered elsewhere and not repeated: token forgery/alg/claims unit tests (front/test_tokens),
callback signature/replay/staleness (checkout/test_payments, front/test_orders), dashboard
credentials (front/test_pages), another buyer's paid order with a shipment
(front/test_tracking), IDs and secrets absent from served logs (core/test_logs), PII encryption
(checkout/test_pii), production needs env secrets (core/test_settings).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import orjson
import pytest

from checkout.payments import PaymentProvider
from checkout.pii import PiiKeys
from flashsale.core.settings import SECRET_NAMES, Settings, SettingsError
from flashsale.front import tokens
from flashsale.front.app import create_app
from tests.support import ROOT
from tests.support.api import (
    api_client,
    body,
    buyer,
    headers,
    order_client,
    post_order,
    round_client,
)


def _bad_credentials(settings: Settings, who: str, rid: str) -> dict[str, str]:
    secret = settings.token_secret
    return {
        "forged": tokens.issue("another-secret", who, 3600),
        "expired": tokens.issue(secret, who, 60, now=1_000_000),
        "other round": tokens.issue(secret, who, 3600, round_id=f"{rid}x"),
        "admission": tokens.issue(secret, who, 3600, typ="admission", round_id=rid),
        "admin token": settings.admin_token.reveal(),
        "garbage": "a.b.c",
    }


async def test_bad_buyer_tokens_refused_on_every_buyer_endpoint(
    settings: Settings, unique: str
) -> None:
    rid = f"sec{unique}"
    async with order_client(settings, rid, f"owner-{unique}", stock=5) as (client, order):
        calls = [
            ("POST", f"/api/rounds/{rid}/orders", body()),
            ("GET", f"/api/orders/{order}", None),
            ("POST", f"/api/orders/{order}/pay", {"instant": True}),
            ("POST", f"/api/orders/{order}/cancel", None),
        ]
        for name, token in _bad_credentials(settings, f"owner-{unique}", rid).items():
            for method, path, payload in calls:
                r = await client.request(
                    method,
                    path,
                    json=payload,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "sec-key-2"},
                )
                assert r.status_code == 401, (name, method, path, r.text)
                assert r.json()["error"]["code"] == "unauthorized"
                assert r.headers["www-authenticate"].startswith("Bearer")
        # A token bound to this very round is accepted; nothing above changed the order.
        bound = tokens.issue(settings.token_secret, f"owner-{unique}", 3600, round_id=rid)
        seen = await client.get(
            f"/api/orders/{order}", headers={"Authorization": f"Bearer {bound}"}
        )
        assert seen.status_code == 200
        assert seen.json()["status"] == "reserved"
        stats = await client.app.state.fs.inventory.stats(rid)  # type: ignore[attr-defined]
        assert (stats.left, stats.held) == (4, 1)


async def test_another_buyers_order_cannot_be_seen_paid_or_cancelled(
    settings: Settings, unique: str
) -> None:
    rid = f"own{unique}"
    async with order_client(settings, rid, f"alice-{unique}", stock=5) as (client, order):
        mallory = buyer(settings, f"mallory-{unique}")
        missing = await client.get(f"/api/orders/{rid}-999999", headers=mallory)
        for method, path in (
            ("GET", f"/api/orders/{order}"),
            ("POST", f"/api/orders/{order}/pay"),
            ("POST", f"/api/orders/{order}/cancel"),
        ):
            r = await client.request(method, path, headers=mallory)
            assert r.status_code == 404, (method, path, r.text)
            # Indistinguishable from an order that does not exist.
            assert r.json() == missing.json()
        mine = await client.get(f"/api/orders/{order}", headers=buyer(settings, f"alice-{unique}"))
        assert mine.json()["status"] == "reserved"


async def test_national_id_never_in_api_responses(settings: Settings, unique: str) -> None:
    rid = f"pii{unique}"
    idn = body()["id_number"]
    lowered = idn.lower()
    async with round_client(settings, rid, stock=5) as client:
        alice = buyer(settings, f"alice-{unique}")
        answers = [
            await post_order(client, settings, rid, f"alice-{unique}", "pii-key-1", id_number=idn)
        ]
        order = answers[0].json()["order_id"]
        answers.append(  # the replay
            await post_order(client, settings, rid, f"alice-{unique}", "pii-key-1", id_number=idn)
        )
        answers.append(await client.get(f"/api/orders/{order}", headers=alice))
        answers.append(
            await client.post(f"/api/orders/{order}/pay", json={"instant": True}, headers=alice)
        )
        answers.append(await client.get(f"/api/orders/{order}", headers=alice))
        answers.append(await client.get(f"/api/rounds/{rid}"))
        answers.append(await client.get("/api/rounds"))
        answers.append(
            await client.get(
                "/api/admin/dashboard",
                headers={"Authorization": f"Bearer {settings.admin_token.reveal()}"},
            )
        )
        # A refused request naming the ID must not echo it either.
        other = idn[:-1] + ("0" if idn[-1] != "0" else "1")
        answers.append(
            await post_order(client, settings, rid, f"bob-{unique}", "pii-key-2", id_number=other)
        )
    for r in answers:
        assert r.status_code < 500, r.text
        text = r.text.lower()
        assert lowered not in text, (r.request.url, r.text)
        assert lowered[:-1] not in text  # not even without the check character
        for key in ("id_hash", "id_encrypted", "pii", "real_name", "address", "buyer_id"):
            assert f'"{key}"' not in r.text, (r.request.url, key)


OVERSIZE = b'{"a":"' + b"x" * 40_000 + b'"}'
DEEP = b'{"a":' * 50 + b"1" + b"}" * 50


@pytest.mark.parametrize(("payload", "status"), [(OVERSIZE, 413), (DEEP, 400)], ids=["big", "deep"])
async def test_size_and_depth_limits_on_every_json_endpoint(
    settings: Settings, unique: str, payload: bytes, status: int
) -> None:
    rid = f"lim{unique}"
    async with order_client(settings, rid, f"lim-{unique}", stock=5) as (client, order):
        json_ct = {"Content-Type": "application/json"}
        targets = [
            (f"/api/rounds/{rid}/orders", headers(settings, f"lim2-{unique}", f"lim2-{unique}")),
            ("/api/auth/otp", {}),
            ("/api/auth/verify", {}),
            (f"/api/orders/{order}/pay", buyer(settings, f"lim-{unique}")),
        ]
        if status == 413:  # the callback is signed, not JSON-parsed before its signature
            targets.append(("/api/payments/callback", {"Flashsale-Signature": "t=1,v1=00"}))
        for path, extra in targets:
            r = await client.post(path, content=payload, headers={**json_ct, **extra})
            assert r.status_code == status, (path, r.text)
            assert r.json()["error"]["code"] in ("payload_too_large", "invalid_request")
        # A lying Content-Length cannot sneak a big body past the check either.
        seen = await client.get(f"/api/orders/{order}", headers=buyer(settings, f"lim-{unique}"))
        assert seen.json()["status"] == "reserved"


async def test_depth_limit_on_a_body_without_nesting_is_not_triggered(settings: Settings) -> None:
    flat = orjson.dumps({"phone": "13800138000", "x": "{{{{{{{{{{{{[[[[[[[[[["})
    async with api_client(settings) as client:
        r = await client.post(
            "/api/auth/otp", content=flat, headers={"Content-Type": "application/json"}
        )
        assert r.status_code != 400 or r.json()["error"].get("field") == "phone", r.text


def test_secrets_never_in_reprs(settings: Settings) -> None:
    values = [getattr(settings, name).reveal() for name in SECRET_NAMES]
    shown = " ".join(
        [
            repr(settings),
            str(settings),
            *(repr(getattr(settings, n)) for n in SECRET_NAMES),
            repr(PaymentProvider(settings.payment_secret)),
            repr(PiiKeys.derive(settings.pii_key)),
            str(PiiKeys.derive(settings.pii_key)),
        ]
    )
    for value in values:
        assert value
        assert value not in shown


_PATTERNS = [
    re.compile(rb"-----BEGIN (RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    re.compile(rb"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(rb"(?i)(password|passwd|secret|token)\s*[:=]\s*['\"][A-Za-z0-9+/_\-]{20,}['\"]"),
]


def test_no_secrets_in_the_repository(settings: Settings) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    assert len(files) > 50
    secrets = [getattr(settings, n).reveal().encode() for n in SECRET_NAMES]
    found = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        found += [f"{name.decode()}: dev secret" for s in secrets if s in data]
        found += [f"{name.decode()}: {p.pattern[:30]!r}" for p in _PATTERNS if p.search(data)]
    assert not found, found
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(settings.data_dir / "secrets.json")], cwd=ROOT
    )
    assert ignored.returncode == 0, "the dev secrets file must be git-ignored"


def test_production_front_refuses_to_start_without_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in SECRET_NAMES:
        monkeypatch.delenv(f"FLASHSALE_{name.upper()}", raising=False)
    monkeypatch.setenv("FLASHSALE_ENV", "production")
    monkeypatch.setenv("FLASHSALE_DATA_DIR", str(tmp_path))
    with pytest.raises(SettingsError, match="production mode needs"):
        create_app()
    # One missing secret is enough to refuse.
    for name in SECRET_NAMES[1:]:
        monkeypatch.setenv(f"FLASHSALE_{name.upper()}", "x" * 32)
    with pytest.raises(SettingsError, match=f"FLASHSALE_{SECRET_NAMES[0].upper()}"):
        create_app()
    assert not (tmp_path / "secrets.json").exists()
