"""Structured logs: JSON lines with a request id; no ID number, token or secret, even when a
careless caller logs one (the redaction filter is the last line of defence)."""

from __future__ import annotations

import io
import logging

import orjson
from prometheus_client.parser import text_string_to_metric_families

from flashsale.core.logs import JsonFormatter, RedactFilter, redact, request_id
from flashsale.core.settings import Settings
from tests.support.api import arm, body, buyer, headers, new_id, spec
from tests.support.served import served


def test_redact_masks_ids_tokens_and_secrets() -> None:
    idn = new_id()
    text = (
        f"id={idn} lower={idn[:-1]}x Authorization: Bearer abc.def.ghi "
        '{"authorization": "Bearer zzz"} token=s3cr3t admin_token: hunter2 '
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl "
        "order r1-12 phone 13800138000"
    )
    out = redact(text)
    for secret in (idn, idn[:-1], "abc.def.ghi", "zzz", "s3cr3t", "hunter2", "eyJzdWIiOiJ4In0"):
        assert secret not in out
    assert "order r1-12" in out
    assert "13800138000" in out  # 11 digits is a phone number, not an ID
    assert "[ID]" in out


def test_filter_and_formatter_on_a_careless_record() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter())
    log = logging.getLogger("flashsale.test.careless")
    log.addHandler(handler)
    log.propagate = False
    idn = new_id()
    token = request_id.set("req-123")
    try:
        log.warning("buyer sent %s", idn, extra={"header": f"Bearer {idn}", "n": 1})
        try:
            raise ValueError(f"bad id {idn}")
        except ValueError:
            log.exception("failed")
    finally:
        request_id.reset(token)
        log.removeHandler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["request_id"] == "req-123"
    assert lines[0]["n"] == 1
    assert lines[0]["level"] == "warning"
    assert idn not in stream.getvalue()
    assert "ValueError" in lines[1]["exc"]


async def test_served_logs_have_request_ids_and_no_secrets_and_metrics_span_workers(
    settings: Settings, env: dict[str, str], unique: str
) -> None:
    rid = f"logs{unique}"
    await arm(settings, spec(rid, stock=5))
    ids = [new_id() for _ in range(5)]
    tokens: list[str] = []
    own_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    async with served(own_env, "--access-log") as server:  # two workers
        for i, idn in enumerate(ids):
            h = headers(settings, f"lg{i}-{unique}", f"log-key-{i}-{unique}")
            tokens.append(h["Authorization"].split()[1])
            if i == 0:
                h["X-Request-ID"] = f"client-{unique}"
            r = await server.http.post(f"/api/rounds/{rid}/orders", json=body(idn), headers=h)
            assert r.status_code == 201, r.text
            assert r.headers["x-request-id"] == (
                f"client-{unique}" if i == 0 else r.headers["x-request-id"]
            )
            order = r.json()["order_id"]
            paid = await server.http.post(
                f"/api/orders/{order}/pay",
                json={"instant": True},
                headers=buyer(settings, f"lg{i}-{unique}"),
            )
            assert paid.status_code == 200
        # A malformed ID and a bad admin token are refused and must not be logged either.
        bad_id = body("11010519491231002Y")
        bad = headers(settings, "x", f"bad-{unique}")
        await server.http.post(f"/api/rounds/{rid}/orders", json=bad_id, headers=bad)
        await server.http.get(
            "/api/admin/dashboard", headers={"Authorization": "Bearer not-the-token"}
        )
        ok = await server.http.get(
            "/api/admin/dashboard",
            headers={"Authorization": f"Bearer {settings.admin_token.reveal()}"},
        )
        assert ok.status_code == 200
        # Two workers: scrape a few times; every answer sums both workers' counters.
        totals = []
        for _ in range(4):
            text = (await server.http.get("/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            reserved = sum(
                s.value
                for s in families["flashsale_reservations"].samples
                if s.name == "flashsale_reservations_total" and s.labels["result"] == "reserved"
            )
            totals.append(reserved)
        assert totals == [5, 5, 5, 5]
    logs = server.stderr
    lines = [orjson.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert lines, logs[-2000:]
    access = [x for x in lines if x["logger"] == "flashsale.access"]
    assert any(x.get("request_id") == f"client-{unique}" for x in access)
    posted = [x for x in access if x.get("route") == "/api/rounds/{round_id}/orders"]
    assert len(posted) == 6
    assert all(x["request_id"] and x["status"] and "ms" in x for x in posted)
    for secret in (*ids, *tokens, "11010519491231002Y", "not-the-token",
                   settings.admin_token.reveal(), settings.token_secret.reveal(),
                   settings.pii_key.reveal(), settings.payment_secret.reveal()):  # fmt: skip
        assert secret not in logs
