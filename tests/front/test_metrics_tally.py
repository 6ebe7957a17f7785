"""Per-worker tallies of the front's metrics (flashsale/front/metrics.py ``_Tally``): the same
series and values as direct increments, and every worker's requests in whichever worker's
``/metrics`` answers (prometheus multiprocess mode, a real ``flashsale serve --workers 2``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from flashsale.core.settings import Settings
from flashsale.front.metrics import FLUSH_SECONDS, _Tally
from tests.front.test_metrics import samples
from tests.support.metrics_worker import ping_count

BUCKETS = (0.001, 0.01, 0.1, 1.0)


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(
        st.floats(0, 20, allow_nan=False) | st.sampled_from([0.0, 0.001, 0.01, 0.1, 1.0]),
        max_size=40,
    )
)
def test_a_flushed_tally_equals_direct_increments(amounts: list[float]) -> None:
    """Bounds included (an amount equal to a bound falls in that bucket, as observe() does)."""
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    outputs = []
    for registry, tally in ((direct, None), (tallied, _Tally())):
        count = Counter("c", "c", ("k",), registry=registry).labels("x")
        hist = Histogram("h", "h", ("k",), buckets=BUCKETS, registry=registry).labels("x")
        for amount in amounts:
            if tally is None:
                count.inc()
                hist.observe(amount)
            else:
                tally.inc(count)
                tally.observe(hist, (*BUCKETS, float("inf")), amount)
        if tally is not None:
            tally.flush()
        outputs.append(samples(generate_latest(registry).decode()))
    for seen in outputs:  # drop the creation timestamps, which differ
        for key in [k for k in seen if k[0].endswith("_created")]:
            del seen[key]
    assert outputs[0].keys() == outputs[1].keys()
    for key, expected in outputs[0].items():
        assert abs(outputs[1][key] - expected) < 1e-9, key


def test_every_workers_requests_reach_any_workers_metrics(
    settings: Settings, tmp_path: Path
) -> None:
    """Two worker processes sharing one multiprocess folder: each one's tally reaches the
    files within FLUSH_SECONDS while it idles (no scrape, no shutdown), and either one's
    /metrics reports both workers' pings."""
    env = {
        **os.environ,
        "FLASHSALE_REDIS_URL": settings.redis_url,
        "FLASHSALE_DATABASE_URL": settings.database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.metrics_worker", str(n)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (30, 50)
    ]
    try:
        for w in workers:
            assert w.stdout is not None
            assert w.stdout.readline().strip() == "idle"
        time.sleep(FLUSH_SECONDS + 0.5)
        assert _ping_total(tmp_path) == 80  # in the files, from both, with no scrape
        for w in workers:
            assert w.stdin is not None
            assert w.stdout is not None
            w.stdin.write("scrape\n")
            w.stdin.flush()
            assert float(w.stdout.readline()) == 80
    finally:
        for w in workers:
            if w.stdin is not None:
                w.stdin.close()
            w.wait(timeout=30)
            if w.stdout is not None:
                w.stdout.close()


def _ping_total(folder: Path) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    return ping_count(generate_latest(registry).decode())
