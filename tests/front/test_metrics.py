"""``GET /metrics``: valid Prometheus text whose counters move when orders are placed."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from flashsale.core.settings import Settings
from tests.support.api import api_client, arm, body, headers, spec


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(seen: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return seen.get((name, tuple(sorted(labels.items()))), 0.0)  # type: ignore[no-any-return]


async def test_metrics_parse_and_move_with_orders(settings: Settings, unique: str) -> None:
    rid = f"met{unique}"
    await arm(settings, spec(rid, stock=2))
    route = "/api/rounds/{round_id}/orders"
    async with api_client(settings) as client:
        await client.app.state.fs.rounds.refresh()  # type: ignore[attr-defined]
        before = samples((await client.get("/metrics")).text)
        first = body()
        codes = []
        for i in range(4):
            r = await client.post(
                f"/api/rounds/{rid}/orders",
                json=first if i == 0 else body(),
                headers=headers(settings, f"m{i}", f"met-key-{i}-{unique}"),
            )
            codes.append(r.status_code)
            if i == 0:  # a retry of the first purchase, before the round sells out
                replay = await client.post(
                    f"/api/rounds/{rid}/orders",
                    json=first,
                    headers=headers(settings, "m0", f"met-key-0-{unique}"),
                )
                assert replay.headers["idempotent-replayed"] == "true"
        assert codes == [201, 201, 409, 409]
        await client.get(f"/api/orders/{rid}-999999", headers=headers(settings, "m0", "x" * 8))
        await client.get(f"/nowhere/{unique}")
        await client.app.state.fs.rounds.refresh()  # type: ignore[attr-defined]
        r = await client.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        after = samples(r.text)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    post = {"route": route, "method": "POST"}
    assert moved("flashsale_http_requests_total", **post, status="201") >= 2
    assert moved("flashsale_http_requests_total", **post, status="409") == 2
    assert moved("flashsale_http_request_duration_seconds_count", **post, status="409") == 2
    assert (
        moved("flashsale_http_request_duration_seconds_bucket", **post, status="201", le="+Inf")
        >= 2
    )
    assert moved("flashsale_reservations_total", result="reserved") == 2
    assert moved("flashsale_reservations_total", result="sold_out") == 2
    assert (
        moved("flashsale_reservations_total", result="replayed")
        + moved("flashsale_reservations_total", result="idempotency_mismatch")
        == 1
    )
    # Route templates, never raw paths (bounded label cardinality).
    paths = {labels for (name, labels) in after if name == "flashsale_http_requests_total"}
    assert not any(rid in v for labels in paths for _, v in labels)
    assert moved("flashsale_http_requests_total", route="unmatched", method="GET", status="404")
    assert value(after, "flashsale_stock_left", round=rid) == 0
    assert value(after, "flashsale_outbox_length", round=rid) >= 2
