"""The benchmark's parsing and plotting (the benchmark itself is not a test)."""

from __future__ import annotations

from pathlib import Path

from loadtests.plots import plot_all
from loadtests.wrk_runner import parse

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8000/api/ping
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.37ms    2.56ms  67.46ms   99.04%
  Latency Distribution
     50%  800.00us
     75%    2.42ms
     90%    2.67ms
     99%    1.02s
  58347 requests in 2.00s, 7.57MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 17
Requests/sec:  29162.46
"""


def test_wrk_report_is_read_with_units() -> None:
    r = parse(WRK_OUTPUT)
    assert r.rps == 29162.46
    assert r.requests == 58347
    assert r.non_2xx == 17
    assert r.errors == 5
    assert r.latency_ms == {"50": 0.8, "75": 2.42, "90": 2.67, "99": 1020.0}


def test_plots_are_written(tmp_path: Path) -> None:
    run = {
        name: {"rps": rps, "latency_ms": {"50": 1.0, "99": 9.0}}
        for name, rps in (("ping", 100.0), ("reserve", 50.0), ("sold_out", 80.0))
    }
    run["reserve_timeline"] = [(0.2, 10), (0.4, 30), (0.6, 55)]  # type: ignore[assignment]
    summary = {
        "runs": [run],
        "rps_median": {"ping": 100, "reserve": 50, "sold_out": 80},
        "P1_reserve_over_ping": 0.5,
        "P2_sold_out_over_ping": 0.8,
    }
    paths = plot_all(summary, tmp_path)
    assert [p.name for p in paths] == [
        "throughput_over_time.png",
        "latency_percentiles.png",
        "comparison.png",
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert p.stat().st_size > 5000
