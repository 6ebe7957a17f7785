"""The buy route's shortcut past the middleware stack (flashsale/front/lean.py) answers exactly
as the full Starlette stack does: same status, body, headers, request id, metrics and 500s."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.applications import Starlette

from flashsale.core.settings import Settings
from flashsale.front import metrics
from flashsale.front.lean import Front
from flashsale.front.state import state_of
from tests.support.api import api_client, arm, body, buyer, new_id, spec
from tests.support.edge import app_in_portal, json_bytes, texts

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
Answer = tuple[int, dict[str, str], bytes]


async def _call(
    app: ASGI,
    path: str,
    headers: dict[str, str],
    raw: bytes,
    sent: list[dict[str, Any]] | None = None,
) -> Answer:
    """One POST driven as ASGI messages (kept in ``sent``): (status, headers, body)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5555), "server": ("flashsale.test", 80),
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
    }  # fmt: skip
    sent = [] if sent is None else sent
    given_body = False

    async def receive() -> dict[str, Any]:
        nonlocal given_body
        if given_body:
            return {"type": "http.disconnect"}
        given_body = True
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return _answer(sent)


def _answer(sent: list[dict[str, Any]]) -> Answer:
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, content


def _raw(data: dict[str, Any]) -> bytes:
    return json_bytes(data, ascii_only=False)


def _full_stack(app: Starlette) -> ASGI:
    """The same app without the shortcut: Starlette's own entry, middleware and router."""

    async def full(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await Starlette.__call__(app, scope, receive, send)

    return full


def _same(lean: Answer, full: Answer, lean_round: str, full_round: str) -> None:
    (s1, h1, b1), (s2, h2, b2) = lean, full
    assert s1 == s2, (b1, b2)
    h1.pop("x-request-id"), h2.pop("x-request-id")
    assert h1 == h2
    if s1 >= 300:
        assert b1 == b2
        return
    one, two = orjson.loads(b1), orjson.loads(b2)
    assert sorted(one) == sorted(two)
    assert one["order_id"].replace(lean_round, "R") == two["order_id"].replace(full_round, "R")


async def test_buy_requests_skip_the_middleware_stack(settings: Settings, unique: str) -> None:
    rid = f"lean{unique}"
    await arm(settings, spec(rid, stock=5))
    async with api_client(settings) as client:
        app = client.app  # type: ignore[attr-defined]
        assert isinstance(app, Front)
        stack = app.middleware_stack or app.build_middleware_stack()
        through: list[str] = []

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            through.append(f"{scope['method']} {scope['path']}")
            await stack(scope, receive, send)

        app.middleware_stack = counting
        url = f"/api/rounds/{rid}/orders"
        who = {**buyer(settings, f"lean-{unique}"), "Idempotency-Key": f"lean-{unique}-1"}
        reply = await client.post(url, json=body(), headers=who)
        assert reply.status_code == 201, reply.text
        assert reply.headers["x-request-id"]
        assert (await client.post(url, json=body(), headers={})).status_code == 401
        assert through == []
        assert (await client.get("/api/ping")).status_code == 200
        assert (await client.get(url)).status_code == 405  # other methods: the router's answer
        assert through == ["GET /api/ping", f"GET {url}"]


async def test_a_sent_request_id_and_the_metrics_are_kept(settings: Settings, unique: str) -> None:
    rid = f"leanm{unique}"
    await arm(settings, spec(rid, stock=1))
    template = "/api/rounds/{round_id}/orders"
    async with api_client(settings) as client:
        url = f"/api/rounds/{rid}/orders"

        def requests_with(status: int) -> float:
            metrics.flush()
            value = metrics.REGISTRY.get_sample_value(
                "flashsale_http_requests_total",
                {"route": template, "method": "POST", "status": str(status)},
            )
            return value or 0.0

        def answers(result: str) -> float:
            metrics.flush()
            value = metrics.REGISTRY.get_sample_value(
                "flashsale_reservations_total", {"result": result}
            )
            return value or 0.0

        before = (requests_with(201), requests_with(409), answers("reserved"), answers("sold_out"))
        first = {**buyer(settings, f"m1-{unique}"), "Idempotency-Key": f"leanm-{unique}-1"}
        reply = await client.post(url, json=body(), headers={**first, "X-Request-ID": "req-42abc"})
        assert reply.status_code == 201, reply.text
        assert reply.headers["x-request-id"] == "req-42abc"
        second = {**buyer(settings, f"m2-{unique}"), "Idempotency-Key": f"leanm-{unique}-2"}
        assert (await client.post(url, json=body(), headers=second)).status_code == 409
        after = (requests_with(201), requests_with(409), answers("reserved"), answers("sold_out"))
        assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1, 1]


async def test_a_bug_is_answered_500_and_raised_on_both_paths(
    settings: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = f"leanb{unique}"
    await arm(settings, spec(rid, stock=5))
    async with api_client(settings) as client:
        app = client.app  # type: ignore[attr-defined]
        checkout = state_of(app).checkout

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(checkout, "reserve", broken)
        path = f"/api/rounds/{rid}/orders"
        answers = []
        for n, entry in enumerate((app, _full_stack(app))):
            who = {**buyer(settings, f"b-{unique}"), "Idempotency-Key": f"leanb-{unique}-{n}"}
            sent: list[dict[str, Any]] = []
            with pytest.raises(RuntimeError, match="a bug"):
                await _call(entry, path, {**who, "content-type": "application/json"},
                            orjson.dumps(body()), sent)  # fmt: skip
            status, _, content = _answer(sent)
            answers.append((status, orjson.loads(content)))
        assert answers[0] == answers[1]
        assert answers[0][0] == 500
        assert answers[0][1]["error"]["code"] == "internal"


_HEADER_TEXT = st.one_of(
    texts(40).map(lambda s: s.encode("utf-8", "surrogatepass").decode("latin-1"))
)


@pytest.mark.timeout(240)
async def test_lean_and_full_stack_answer_alike(settings: Settings, unique: str) -> None:
    """Arbitrary bodies, keys, credentials and content types: both paths give one answer."""
    lean_round, full_round = f"leanl{unique}", f"leanf{unique}"
    for rid in (lean_round, full_round):
        await arm(settings, spec(rid, stock=1000, per_account_limit=2))
    counter = itertools.count()
    seen: set[int] = set()
    with app_in_portal(settings) as (portal, client):
        app = client.app  # type: ignore[attr-defined]
        full = _full_stack(app)

        @hsettings(
            max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(
            raw=st.one_of(
                st.builds(lambda v, f: _raw(body(new_id(), **{f: v})), texts(),
                          st.sampled_from(["real_name", "address", "agreement_version"])),
                st.builds(lambda q: _raw(body(new_id(), quantity=q)),
                          st.one_of(st.integers(-3, 5), st.floats(), st.text(max_size=3))),
                st.builds(lambda v: _raw(body(v)), texts(24)),
                st.binary(max_size=300),
            ),
            key=st.one_of(st.just("ok"), _HEADER_TEXT),
            auth=st.sampled_from(["ok", "none", "bad", "scheme"]),
            content_type=st.sampled_from(["application/json", "text/plain", ""]),
            repeat=st.booleans(),
        )  # fmt: skip
        def alike(raw: bytes, key: str, auth: str, content_type: str, repeat: bool) -> None:
            n = next(counter)
            headers: dict[str, str] = {}
            if auth != "none":
                token = buyer(settings, f"l-{unique}-{n % 7}")["Authorization"]
                forms = {"ok": token, "bad": token[:-3] + "abc", "scheme": "Basic" + token[6:]}
                headers["authorization"] = forms[auth]
            headers["idempotency-key"] = f"lean-{unique}-{n:06d}" if key == "ok" else key
            if content_type:
                headers["content-type"] = content_type
            headers["content-length"] = str(len(raw))
            for _ in range(2 if repeat else 1):  # a retry: the stored outcome, on both paths
                lean = portal.call(_call(app, f"/api/rounds/{lean_round}/orders", headers, raw))
                same = portal.call(_call(full, f"/api/rounds/{full_round}/orders", headers, raw))
                _same(lean, same, lean_round, full_round)
                seen.add(lean[0])

        alike()
    assert {201, 400, 401} <= seen, seen  # the examples reached the script and the checks
