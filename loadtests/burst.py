"""Opening burst: the shopper journey (loadtests/locustfile.py) with a crowd that arrives at the
opening second.

Timeline, in seconds from the opening T (read once from ``GET /api/rounds/{id}`` at the first
tick, or ``--opens-in``):

* until T - ``--burst-lead``: an early crowd of ``--early-users`` (a fraction of ``-u``) that
  browses and watches the countdown;
* from T - ``--burst-lead``: spawn up to ``-u`` users over ``--burst-ramp`` seconds
  (spawn rate ``-u / --burst-ramp``) — those spawned after T buy at once;
* at T + ``--burst-hold``: stop; ``--run-time`` caps the whole run (Locust itself does not
  apply it to a shape, so the shape does).

``-u`` is the peak user count (``use_common_options``); ``-r`` is ignored, the ramp sets it.
Users are ``FastHttpUser`` shoppers, one pre-minted buyer each: mint at least ``-u`` buyers.
"""

from __future__ import annotations

import logging
import math
import urllib.parse
import urllib.request
from typing import Any

import orjson
from locust import LoadTestShape, events
from locustfile import Shopper

__all__ = ["OpeningBurst", "Shopper"]

log = logging.getLogger("flashsale.loadtest")


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("flashsale burst")
    group.add_argument(
        "--opens-in",
        type=float,
        default=None,
        help="Seconds from the start of the run to the opening (default: ask the server)",
    )
    group.add_argument("--burst-lead", type=float, default=1.0, help="Start the ramp this "
                       "many seconds before the opening")  # fmt: skip
    group.add_argument("--burst-ramp", type=float, default=3.0, help="Seconds to reach -u")
    group.add_argument("--burst-hold", type=float, default=30.0, help="Seconds after the "
                       "opening before the run stops")  # fmt: skip
    group.add_argument("--early-users", type=float, default=0.05, help="Early crowd before "
                       "the ramp, as a fraction of -u")  # fmt: skip


def seconds_to_opening(host: str, round_id: str, timeout: float = 5.0) -> float | None:
    """Ask the server when the round (or the first listed one) opens; None if it cannot say."""
    base = host.rstrip("/")
    path = f"/api/rounds/{urllib.parse.quote(round_id)}" if round_id else "/api/rounds"
    if not base.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as resp:  # noqa: S310 (http only)
            data = orjson.loads(resp.read())
    except (OSError, ValueError) as exc:
        log.warning("burst: cannot read the opening time from %s%s: %s", base, path, exc)
        return None
    if not round_id:
        rounds = data.get("rounds") or []
        if not rounds:
            return None
        data = rounds[0]
    return max(0.0, int(data.get("starts_in_ms") or 0) / 1000)


class OpeningBurst(LoadTestShape):
    """Few users before the opening, ``-u`` users within a few seconds of it, then stop."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self.opens_at: float | None = None  # seconds of run time

    def reset_time(self) -> None:
        super().reset_time()
        self.opens_at = None

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        env = self.runner.environment
        opts = env.parsed_options
        assert opts is not None  # set by Locust's command line before any tick
        if self.opens_at is None:
            opens_in = getattr(opts, "opens_in", None)
            if opens_in is None:
                opens_in = seconds_to_opening(env.host or "", getattr(opts, "round_id", "") or "")
            self.opens_at = self.get_run_time() + (opens_in or 0.0)
            log.info("burst: opening in %.1fs", self.opens_at - self.get_run_time())
        run_time = getattr(opts, "run_time", None)
        if run_time and self.get_run_time() >= float(run_time):
            return None  # --run-time: Locust waits for the shape, so the shape must stop
        peak = max(1, int(getattr(opts, "num_users", 0) or 1000))
        ramp = max(0.1, float(opts.burst_ramp))
        t = self.get_run_time() - self.opens_at  # negative before the opening
        if t >= opts.burst_hold:
            return None
        if t < -opts.burst_lead:
            early = max(1, math.ceil(peak * opts.early_users))
            return early, max(1.0, early / 10)
        return peak, peak / ramp


if __name__ == "__main__":
    # As in locustfile.py: `python loadtests/burst.py --help` lists the flashsale options too.
    from locust.argument_parser import get_parser

    get_parser().parse_args(["--help"])
