"""Schemathesis against ``/openapi.json`` of the in-process app (issue 9, "Fuzzing").

Every documented operation gets many generated requests (seeded: the same examples every run),
sent through schemathesis' ASGI transport, which runs the app's lifespan itself. Each request is
sent either as the fuzz buyer (a valid token), anonymously, or with a forged, expired or admin
credential; generated values are sometimes swapped for real ones (the armed live round, a valid
ID number, the current agreement, known order ids) so the buy, pay and cancel paths really run
instead of stopping at validation. Checks: no 5xx, every 4xx is ``{"error": {"code",
"message"}}`` with a code of ``errors.STATUS`` and the status that code maps to, and status,
content type, headers and body conform to the document. A negative pass sends schema-violating
buy requests, which must all be refused with a 4xx.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from checkout import idnumber
from flashsale.core.settings import Settings
from flashsale.front import tokens
from flashsale.front.app import create_app
from flashsale.front.errors import STATUS
from tests.support.api import buyer, reserve, round_client

EXAMPLES = 60  # per operation and credential mix; the whole module stays well under a minute
NEGATIVE_EXAMPLES = 80
BUY = ("/api/rounds/{round_id}/orders", "POST")
FRESH = "x-fuzz-fresh-buyer"  # marker: send a valid token of a new buyer


@dataclass(frozen=True)
class World:
    round_id: str
    buyer: str
    orders: tuple[str, ...]  # the fuzz buyer's: reserved, paid, cancelled; then another buyer's
    credentials: tuple[dict[str, str], ...]
    secret: Any  # the token secret: a fresh buyer per example (rate limits are per buyer)


@pytest.fixture(scope="module")
async def world(settings: Settings) -> World:
    suffix = random.Random().getrandbits(40)
    rid = f"fuzz{suffix:x}"
    who = f"fuzz-buyer-{suffix:x}"
    limits = {"per_account_limit": 10_000, "per_id_limit": 10_000}
    async with round_client(settings, rid, stock=100_000, **limits) as client:
        owners = (who, who, who, f"other-{suffix:x}")
        orders = [
            await reserve(client, settings, rid, owner, f"seed-{i}-{suffix:x}")
            for i, owner in enumerate(owners)
        ]
        paid = await client.post(
            f"/api/orders/{orders[1]}/pay", json={"instant": True}, headers=buyer(settings, who)
        )
        assert paid.status_code == 200, paid.text
        cancelled = await client.post(
            f"/api/orders/{orders[2]}/cancel", headers=buyer(settings, who)
        )
        assert cancelled.status_code == 200, cancelled.text
    secret = settings.token_secret
    admission = tokens.issue(secret, who, 3600, typ="admission", round_id=rid)
    credentials = (
        buyer(settings, who),
        {FRESH: "1"},
        {FRESH: "1"},
        {},
        {"Authorization": f"Bearer {tokens.issue('not-the-secret', who, 3600)}"},
        {"Authorization": f"Bearer {tokens.issue(secret, who, 60, now=1_000_000)}"},
        {"Authorization": f"Bearer {admission}"},
        {"Authorization": f"Bearer {settings.admin_token.reveal()}"},
    )
    return World(rid, who, tuple(orders), credentials, secret)


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is the one error shape, with a known code and that code's status."""
    if response.status_code < 400:
        return None
    data = response.json()
    assert isinstance(data, dict), f"error body is not an object: {response.text[:200]}"
    assert set(data) == {"error"}, f"error body has other keys: {sorted(data)}"
    error = data["error"]
    assert isinstance(error.get("code"), str), f"error without a code: {error}"
    assert isinstance(error.get("message"), str), f"error without a message: {error}"
    assert error["message"], f"empty message: {error}"
    assert error["code"] in STATUS, f"undocumented error code {error['code']!r}"
    assert STATUS[error["code"]] == response.status_code, (
        f"{error['code']} answered {response.status_code}, errors.STATUS says "
        f"{STATUS[error['code']]}"
    )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_shape,
]


def _realistic(world: World, rng: random.Random, case: Any) -> Any:
    """Swap some generated values for real ones, so requests get past validation."""
    params = case.path_parameters
    if params is not None and "round_id" in params and rng.random() < 0.7:
        params["round_id"] = world.round_id
    if params is not None and "order_id" in params and rng.random() < 0.8:
        params["order_id"] = rng.choice(world.orders)
    if isinstance(case.body, dict) and "id_number" in case.body:
        if rng.random() < 0.7:
            case.body["id_number"] = idnumber.generate(rng)
        if rng.random() < 0.7:
            case.body["agreement_version"] = "v3"
        if rng.random() < 0.7:
            case.body["quantity"] = rng.randint(1, 3)
    if case.headers is not None and "Idempotency-Key" in case.headers and rng.random() < 0.7:
        case.headers["Idempotency-Key"] = f"fz-{rng.getrandbits(48):x}"
    return case


def _drive(
    operation: Any,
    world: World,
    *,
    mode: schemathesis.GenerationMode,
    examples: int,
    checks: list[Callable[..., bool | None]],
    realistic: bool,
) -> tuple[list[str], Counter[int]]:
    """Run ``examples`` generated cases of one operation: the failures (text), the statuses."""
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    strategy = operation.as_strategy(generation_mode=mode)

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(
        case=strategy, seed=st.integers(0, 2**32), who=st.sampled_from(world.credentials)
    )
    def run(case: Any, seed: int, who: dict[str, str]) -> None:
        rng = random.Random(seed)
        if realistic:
            case = _realistic(world, rng, case)
        if case.headers and "Authorization" in case.headers:
            if mode == schemathesis.GenerationMode.NEGATIVE:
                who = {}  # the generated (invalid) credential is what is under test
            else:
                del case.headers["Authorization"]
        if FRESH in who:
            who = {"Authorization": f"Bearer {tokens.issue(world.secret, f'fz{seed:x}', 600)}"}
        try:
            response = case.call(headers=dict(who))  # call() adds to the dict it is given
            statuses[response.status_code] += 1
            case.validate_response(response, checks=checks, headers=dict(who))
        except (AssertionError, schemathesis.errors.FailureGroup) as exc:
            failures.append(str(exc)[:1500])  # collected: one run reports every distinct failure

    run()
    return failures, statuses


@pytest.fixture(scope="module")
def schema(settings: Settings, world: World) -> Iterator[Any]:
    app = create_app(settings)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield loaded
    shutdown_lifespans()  # the app's lifespan ran in schemathesis' event loop thread


# Statuses each operation must have answered at least once: proof that the generated requests
# reach the real paths (a reservation made, an order shown, a payment started, figures served)
# and not only the validation in front of them.
REACHED = {
    "POST /api/rounds/{round_id}/orders": {400, 401},
    "GET /api/orders/{order_id}": {200, 401, 404},
    "POST /api/orders/{order_id}/pay": {401, 404},
    "POST /api/orders/{order_id}/cancel": {401, 404, 409},
    "GET /api/admin/dashboard": {200, 401},
    "GET /api/rounds/{round_id}": {200, 404},
    "POST /api/payments/callback": {400},
}


def test_fuzz_every_documented_operation(schema: Any, world: World) -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    report: dict[str, list[str]] = {}
    seen: dict[str, Counter[int]] = {}
    for operation in operations:
        failures, seen[operation.label] = _drive(
            operation,
            world,
            mode=schemathesis.GenerationMode.POSITIVE,
            examples=EXAMPLES,
            checks=CHECKS,
            realistic=True,
        )
        if failures:
            report[operation.label] = sorted(set(failures))
    print("\n".join(f"{label:45} {dict(sorted(n.items()))}" for label, n in seen.items()))
    assert not report, "\n\n".join(
        f"== {label}: {len(f)} distinct failure(s)\n" + "\n--\n".join(f[:3])
        for label, f in report.items()
    )
    for label, wanted in REACHED.items():
        assert wanted <= set(seen[label]), f"{label} never answered {wanted - set(seen[label])}"
    assert seen["POST /api/orders/{order_id}/pay"].keys() & {200, 202}
    # The buy path ran past validation (reserved, refused by the sale, or throttled).
    assert seen["POST /api/rounds/{round_id}/orders"].keys() & {201, 409, 429}


def test_fuzz_buy_with_invalid_data(schema: Any, world: World) -> None:
    """Schema-violating buy requests (wrong types, missing fields, bad patterns) are refused."""
    failures, seen = _drive(
        schema[BUY[0]][BUY[1]],
        world,
        mode=schemathesis.GenerationMode.NEGATIVE,
        examples=NEGATIVE_EXAMPLES,
        checks=[*CHECKS, negative_data_rejection],
        realistic=True,
    )
    print(dict(sorted(seen.items())))
    assert not failures, "\n--\n".join(sorted(set(failures))[:5])
    assert 400 in seen
    assert 201 not in seen
