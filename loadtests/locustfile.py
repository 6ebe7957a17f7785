"""Shopper journey: browse rounds, poll the countdown, log in, buy at the opening, pay, check.

Each Locust user is one shopper holding one pre-minted buyer (``flashsale tokens mint``), never
shared: a local run hands the file's buyers out in order; in a distributed run worker *i* of *N*
(``--expect-workers N`` on the master, or ``--processes N``) takes every N-th line from line *i*.

Who the shopper is (``--personas``, weights):

* ``payer`` buys at the opening and pays after a short think (``--pay-delay``, mean seconds);
* ``expirer`` buys and never pays: the hold runs out (the sweeper releases it);
* ``double_click`` buys, then sends the *same* request with the *same* Idempotency-Key again and
  expects the same order back (``Idempotent-Replayed: true``), then pays;
* ``window_shopper`` browses and watches the countdown but never buys.

Every answer is recorded under a request name carrying its outcome, e.g.
``/api/rounds/[id]/orders [reserved]``, ``... [sold_out]``, ``... [limit_reached]``,
``/api/orders/[id] [expired]``. Refusals a flash sale expects (409 sold_out, limit_reached, …)
count as successes; 5xx, 401, 422 and transport errors count as failures. A reserve that fails
with 503/5xx or a dropped connection is retried with the same Idempotency-Key (bounded).

Run: see loadtests/README.md. Shape for the opening crowd: loadtests/burst.py.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import gevent
import orjson
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner

from flashsale.cli.tokens import default_buyers
from flashsale.core.settings import Settings
from inventory.refusals import REFUSALS, RefusalCode

log = logging.getLogger("flashsale.loadtest")

ROUNDS = "/api/rounds"
ROUND = "/api/rounds/[id]"
ORDERS = "/api/rounds/[id]/orders"
ORDER = "/api/orders/[id]"
PAY = "/api/orders/[id]/pay"

DEFAULT_PERSONAS = "payer=70,expirer=10,double_click=10,window_shopper=10"
CHANNELS = {"web": 45, "mobile": 45, "sms": 10}
#: Refusals that are a normal part of a flash sale, not errors (as the API answers them).
EXPECTED_REFUSALS = frozenset(
    REFUSALS[code].answer
    for code in (
        RefusalCode.SOLD_OUT, RefusalCode.LIMIT_REACHED, RefusalCode.NOT_STARTED,
        RefusalCode.PAUSED, RefusalCode.ENDED, RefusalCode.NUMBER_TAKEN,
    )
)  # fmt: skip
RESERVE_TRIES = 4  # one attempt = one Idempotency-Key, sent at most this many times
MAX_POLLS = 3600  # countdown polls per shopper; about an hour at one poll a second
POLL_SECONDS = 1.0


CONFIG = Path(__file__).with_name("locust.conf")


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    # loadtests/locust.conf first: the least weight, so ./locust.conf, the environment and the
    # command line override it (configargparse reads later files over earlier ones).
    files = list(parser._default_config_files)
    if str(CONFIG) not in files:
        parser._default_config_files = [str(CONFIG), *files]
    group = parser.add_argument_group("flashsale")
    group.add_argument(
        "--buyers",
        env_var="FLASHSALE_BUYERS",
        default="",
        help="JSON-lines file from `flashsale tokens mint` (one buyer per Locust user; "
        "default: where it writes, .flashsale/buyers.jsonl)",
    )
    group.add_argument(
        "--round",
        dest="round_id",
        env_var="FLASHSALE_ROUND",
        default="",
        help="Round id to shop in (default: the first round GET /api/rounds lists)",
    )
    group.add_argument(
        "--personas",
        env_var="FLASHSALE_PERSONAS",
        default=DEFAULT_PERSONAS,
        help="Shopper mix as name=weight,... (payer, expirer, double_click, window_shopper)",
    )
    group.add_argument(
        "--pay-delay",
        type=float,
        env_var="FLASHSALE_PAY_DELAY",
        default=3.0,
        help="Mean seconds between a reservation and its payment",
    )


# -- buyers -------------------------------------------------------------------------------------


class BuyerPool:
    """This process's share of the buyers file; each buyer is handed out once."""

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = deque(lines)
        self.size = len(lines)

    @classmethod
    def load(cls, path: Path, index: int = 0, count: int = 1) -> BuyerPool:
        """Lines ``index, index + count, index + 2*count, ...`` (0-based) of ``path``."""
        if not 0 <= index < count:
            raise ValueError(f"worker index {index} outside 0..{count - 1}")
        with path.open("rb") as fh:
            lines = [line for n, line in enumerate(fh) if n % count == index and line.strip()]
        return cls(lines)

    def take(self) -> dict[str, Any] | None:
        if not self._lines:
            return None
        buyer: dict[str, Any] = orjson.loads(self._lines.popleft())
        return buyer


_pool: BuyerPool | None = None


def buyer_pool(environment: Environment) -> BuyerPool:
    """Loaded on first use: a worker only knows its index and the worker count once spawning."""
    global _pool
    if _pool is None:
        opts = environment.parsed_options
        given = getattr(opts, "buyers", "")
        path = Path(given) if given else default_buyers(Settings.from_env())
        index, count = 0, 1
        if isinstance(environment.runner, WorkerRunner):
            index = environment.runner.worker_index
            count = max(1, int(getattr(opts, "expect_workers", 1) or 1))
        _pool = BuyerPool.load(path, index, count)
        log.info("buyers: %d from %s (share %d of %d)", _pool.size, path, index, count)
    return _pool


def parse_weights(spec: str, known: dict[str, int] | None = None) -> dict[str, int]:
    """``"payer=70,expirer=10"`` -> ``{"payer": 70, "expirer": 10}``."""
    weights: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, weight = part.partition("=")
        if known is not None and name not in known:
            raise ValueError(f"unknown persona {name!r}; choose from {', '.join(known)}")
        weights[name] = int(weight or 1)
    if not weights or sum(weights.values()) <= 0:
        raise ValueError(f"no positive weights in {spec!r}")
    return weights


PERSONAS = parse_weights(DEFAULT_PERSONAS)


# -- helpers ------------------------------------------------------------------------------------


def _json(resp: Any) -> dict[str, Any]:
    try:
        data = orjson.loads(resp.content or b"")
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def error_code(resp: Any) -> str:
    """The API's stable error code, ``http_<status>`` without one, ``transport`` on no answer."""
    if not resp.status_code:
        return "transport"
    error = _json(resp).get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else f"http_{resp.status_code}"


def pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


# -- the shopper --------------------------------------------------------------------------------


class Shopper(FastHttpUser):
    """One shopper: one buyer, one journey through the sale, then idle browsing."""

    wait_time = between(2, 6)  # between after-sale visits; the journey paces itself
    connection_timeout = 10.0
    network_timeout = 20.0

    def on_start(self) -> None:
        buyer = buyer_pool(self.environment).take()
        if buyer is None:
            # More users than buyers: a failure to see in the report, not a shared token.
            self._note("no buyer left (mint more)", RuntimeError("buyers file exhausted"))
            raise StopUser
        self.buyer = buyer
        self.rng = random.Random()
        opts = self.environment.parsed_options
        personas = getattr(opts, "personas", DEFAULT_PERSONAS) or DEFAULT_PERSONAS
        self.persona = pick(self.rng, parse_weights(personas, PERSONAS))
        self.pay_delay = float(getattr(opts, "pay_delay", 3.0))
        self.round_id: str = getattr(opts, "round_id", "") or ""
        self.order_id: str | None = None
        self.journey_done = False
        # "Logging in" with a pre-minted token: what an OTP login would have returned.
        self.auth = {"Authorization": f"Bearer {buyer['token']}"}

    @task
    def visit(self) -> None:
        if not self.journey_done:
            self.journey_done = True  # one journey per shopper, even if it is cut short
            self.journey()
        elif self.order_id and self.rng.random() < 0.6:
            self.check_order()
        else:
            self.browse()

    # -- steps ----------------------------------------------------------------------------------

    def journey(self) -> None:
        self.browse()
        if not self.round_id:
            return
        view = self.countdown()
        if view is None or self.persona == "window_shopper":
            return
        order = self.buy(view)
        if order is None:
            return
        self.order_id = order["order_id"]
        if self.persona == "double_click":
            self.replay(order)
        if self.persona != "expirer":
            gevent.sleep(min(self.rng.expovariate(1 / max(self.pay_delay, 0.01)), 60.0))
            self.pay()
        for _ in range(self.rng.randint(1, 3)):
            gevent.sleep(self.rng.uniform(0.5, 2.0))
            self.check_order()

    def browse(self) -> None:
        with self.client.get(ROUNDS, name=ROUNDS, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"{resp.status_code} {error_code(resp)}")
                return
            resp.success()
            rounds = _json(resp).get("rounds") or []
        if not self.round_id and rounds:
            self.round_id = str(rounds[0]["round_id"])

    def countdown(self) -> dict[str, Any] | None:
        """Poll the round until it opens; the view when it is live, None if there is no sale."""
        for _ in range(MAX_POLLS):
            with self.client.get(
                f"/api/rounds/{self.round_id}", name=ROUND, catch_response=True
            ) as resp:
                if resp.status_code != 200:
                    code = error_code(resp)
                    resp.request_meta["name"] = f"{ROUND} [{code}]"
                    if code == "not_found":
                        resp.success()  # not armed yet, or already gone: keep watching
                        gevent.sleep(POLL_SECONDS)
                        continue
                    resp.failure(f"{resp.status_code} {code}")
                    return None
                resp.success()
                view = _json(resp)
            phase = view.get("phase")
            if phase == "live":
                return view
            if phase in ("sold_out", "ended"):
                self._note(f"missed the sale [{phase}]")
                return None
            wait = POLL_SECONDS * self.rng.uniform(0.8, 1.2)
            starts_in = int(view.get("starts_in_ms") or 0) / 1000
            if phase == "upcoming" and starts_in < wait:
                # Press "buy" the moment it opens, plus a human reaction time.
                wait = starts_in + self.rng.uniform(0.0, 0.3)
            gevent.sleep(wait)
        return None

    def _body(self, view: dict[str, Any]) -> dict[str, Any]:
        channels = {c: w for c, w in CHANNELS.items() if c in (view.get("channels") or CHANNELS)}
        return {
            "quantity": 1,
            "real_name": self.buyer["real_name"],
            "id_number": self.buyer["id_number"],
            "address": self.buyer["address"],
            "agreement_version": view.get("agreement_version") or "",
            "channel": pick(self.rng, channels or CHANNELS),
        }

    def buy(self, view: dict[str, Any]) -> dict[str, Any] | None:
        """Reserve one unit; a refused attempt that may succeed later starts a new attempt."""
        body = self._body(view)
        for _ in range(10):
            key = uuid.uuid4().hex  # one attempt, one key; retries of it reuse the key
            order, code = self.reserve(body, key)
            if order is not None:
                order["_key"], order["_body"] = key, body  # for the double click
                return order
            if code == RefusalCode.NOT_STARTED:  # our clock or the round cache a hair behind
                gevent.sleep(self.rng.uniform(0.1, 0.4))
            elif code == RefusalCode.PAUSED:
                gevent.sleep(POLL_SECONDS)
            else:
                return None
        return None

    def reserve(self, body: dict[str, Any], key: str) -> tuple[dict[str, Any] | None, str]:
        """One attempt, sent up to RESERVE_TRIES times with the same key while the answer is
        unknown (transport error) or a retryable 5xx."""
        code = "transport"
        for attempt in range(RESERVE_TRIES):
            with self.client.post(
                f"/api/rounds/{self.round_id}/orders",
                name=ORDERS,
                json=body,
                headers={**self.auth, "Idempotency-Key": key},
                catch_response=True,
            ) as resp:
                replayed = resp.headers.get("Idempotent-Replayed") == "true"
                if resp.status_code == 201:
                    order = _json(resp)
                    outcome = "replayed" if replayed else "reserved"
                    resp.request_meta["name"] = f"{ORDERS} [{outcome}]"
                    resp.success()
                    return order, outcome
                code = error_code(resp)
                resp.request_meta["name"] = f"{ORDERS} [{code}]"
                if resp.status_code == 409 and code in EXPECTED_REFUSALS:
                    resp.success()
                    return None, code
                resp.failure(f"{resp.status_code} {code}")
                retry_after = resp.headers.get("Retry-After") or ""
            if not (code == "transport" or resp.status_code >= 500):
                return None, code
            if attempt + 1 < RESERVE_TRIES:
                backoff = float(retry_after) if retry_after.isdigit() else 0.2 * 2**attempt
                gevent.sleep(min(backoff, 2.0) * self.rng.uniform(0.5, 1.0))
        return None, code

    def replay(self, order: dict[str, Any]) -> None:
        """The double click: the same body and key again must give back the same order."""
        key = order.get("_key")
        if not key:
            return
        gevent.sleep(self.rng.uniform(0.05, 0.4))  # the second click, or a client retry
        again, outcome = self.reserve(order["_body"], key)
        if again is not None and again.get("order_id") == order["order_id"]:
            return
        # Invariant 5: the same key must give the same outcome (a second order is worse).
        self._note(
            "same Idempotency-Key, different answer",
            RuntimeError(f"replay of {order['order_id']} gave {outcome}"),
        )

    def pay(self) -> None:
        with self.client.post(
            f"/api/orders/{self.order_id}/pay",
            name=PAY,
            json={"instant": True},
            headers=self.auth,
            catch_response=True,
        ) as resp:
            if resp.status_code == 200:
                status = str(_json(resp).get("status"))
                resp.request_meta["name"] = f"{PAY} [{status}]"
                resp.success()
            else:
                code = error_code(resp)
                resp.request_meta["name"] = f"{PAY} [{code}]"
                if code == "order_not_payable":  # e.g. the hold expired first
                    resp.success()
                else:
                    resp.failure(f"{resp.status_code} {code}")

    def check_order(self) -> None:
        with self.client.get(
            f"/api/orders/{self.order_id}", name=ORDER, headers=self.auth, catch_response=True
        ) as resp:
            if resp.status_code == 200:
                resp.request_meta["name"] = f"{ORDER} [{_json(resp).get('status')}]"
                resp.success()
            else:
                code = error_code(resp)
                resp.request_meta["name"] = f"{ORDER} [{code}]"
                resp.failure(f"{resp.status_code} {code}")

    def _note(self, name: str, exception: Exception | None = None) -> None:
        """A journey event (not an HTTP request) shown in the report's table as JOURNEY."""
        self.environment.events.request.fire(
            request_type="JOURNEY",
            name=name,
            response_time=0,
            response_length=0,
            exception=exception,
            context={},
            start_time=time.time(),
        )


if __name__ == "__main__":
    # Locust prints `--help` before it imports a locustfile, so `locust -f ... --help` cannot
    # list the options above; `python loadtests/locustfile.py --help` prints Locust's and ours.
    from locust.argument_parser import get_parser

    get_parser().parse_args(["--help"])
