"""`flashsale bench`: throughput ratios measured in one run (not a test).

The command lives with the load tools, not in the installed server: ``pyproject.toml`` registers
it under the ``flashsale.commands`` entry-point group, which the ``flashsale`` CLI adds to its
group (so the server's own packages never import ``loadtests``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console

from flashsale.cli.common import Decorator, opt, workers_option
from flashsale.cli.serve import DEFAULT_SERVER, SERVERS
from flashsale.core.settings import Settings

console = Console()


def _instead(flag: str, dest: str, least: int, metavar: str, help: str) -> Decorator:
    """A size that runs another benchmark instead of the reserve one (unset: not that one)."""
    kind = click.IntRange(least)
    return click.option(
        flag, dest, type=kind, default=None, metavar=metavar, help=f"Instead: {help}"
    )


def _write(results: Path, name: str, summary: dict[str, Any], hide: str = "runs") -> Path:
    """Write ``summary`` as ``results/name`` and print it (without its ``hide`` part)."""
    out = results / name
    out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    console.print_json(data={k: v for k, v in summary.items() if k != hide})
    return out


@click.command()
@_instead("--writer", "writer_orders", 1000, "ORDERS", "the Kafka→PostgreSQL writer benchmark.")
@_instead(
    "--fulfillment",
    "fulfillment_orders",
    1000,
    "ORDERS",
    "fulfillment orders/s vs the writer's on the same backlog of ORDERS paid orders.",
)
@opt(
    "--carrier-latency-ms",
    "carrier_latencies",
    kind=click.IntRange(0, 10_000),
    multiple=True,
    default=(0, 150),
    help="With --fulfillment: the carrier simulation's latencies to run (repeatable).",
)
@_instead(
    "--e2e",
    "e2e_cards",
    100,
    "CARDS",
    "a whole sale of CARDS cards (the demo's), timed sold → persisted → shipped.",
)
@_instead(
    "--scaling",
    "scaling_buckets",
    1,
    "BUCKETS",
    "reserve/s of 1, 2, 4… (up to --workers) front processes, each with -c shoppers in flight, "
    "x 1, 2, 4… BUCKETS stock buckets on a Redis Cluster, as ratios to 1 x 1 "
    "(loadtests/bench_scaling.py).",
)
@click.option(
    "--fsync",
    "fsync",
    is_flag=True,
    help="Instead: reserve ÷ ping with Redis appendfsync everysec and always, in one run.",
)
@opt(
    "--seconds",
    default=5.0,
    kind=click.FloatRange(1, 120),
    help="Duration of each wrk run.",
)
@opt("-n", "--repetitions", default=3, kind=click.IntRange(1, 20), help="Runs of each part.")
@opt("-c", "--connections", default=64, kind=click.IntRange(1, 4096), help="wrk connections.")
@workers_option(2, "Front worker processes of the server the bench starts (not with --host).")
@opt(
    "--buyers",
    default=100_000,
    kind=click.IntRange(1000),
    help="Distinct pre-minted buyers per repetition.",
)
@click.option(
    "--no-baseline", is_flag=True, help="Skip the naive baselines (P3 PostgreSQL, P4 EVALSHA)."
)
@opt(
    "--server",
    "servers",
    default=(DEFAULT_SERVER,),
    multiple=True,
    kind=click.Choice(SERVERS),
    help="ASGI server of `flashsale serve`; repeat it to compare servers in one run.",
)
@click.option(
    "--host",
    default=None,
    metavar="URL",
    help="Bench a server already running (here or remote) instead of starting one; it must use "
    "the same Redis as this machine's settings (FLASHSALE_REDIS_URL). The naive baselines "
    "(P3, P4) are then skipped: they need routes only the bench's own server has.",
)
@opt(
    "--results",
    kind=click.Path(path_type=Path),
    default=Path("results"),
    help="Folder for the JSON summaries and plots.",
)
def bench(
    writer_orders: int | None,
    fulfillment_orders: int | None,
    carrier_latencies: tuple[int, ...],
    e2e_cards: int | None,
    scaling_buckets: int | None,
    fsync: bool,
    seconds: float,
    repetitions: int,
    connections: int,
    workers: int,
    buyers: int,
    no_baseline: bool,
    servers: tuple[str, ...],
    host: str | None,
    results: Path,
) -> None:
    """Measure reserve, sold-out and baseline throughput against /api/ping on one server and
    one load generator (wrk); print the median ratios and write results/bench.json. Not a
    test: figures depend on the machine; compare the ratios, taken within one run.

    \b
    Ratios (medians over the -n repetitions; -c connections held open by one wrk):
      P1  reserve ÷ ping: a reservation against the server's floor (no I/O)
      P2  sold-out answers ÷ ping: refusing once the stock is gone
      P3  reserve ÷ naive PostgreSQL (one conditional UPDATE + INSERT per request)
      P4  reserve ÷ naive Redis (one EVALSHA per request, no batching)

    \b
    Duration: about 7 wrk runs of --seconds per repetition plus a few seconds of set-up each,
    so the defaults (5 s, -n 3) take 2-3 minutes. Needs the stack up (`flashsale stack up`),
    wrk and redis-benchmark on PATH (`make debian-bench` installs both on Debian), and the
    project's venv. --writer, --fulfillment, --e2e and --fsync run other benchmarks instead.

    \b
    Examples:
      flashsale bench
      flashsale bench --host http://10.0.0.7:8000 -c 256   # a server already running
      flashsale bench --seconds 10 -n 5 -c 128
      flashsale bench --server uvicorn --server granian   # both servers, same run
      flashsale bench --writer 50000 -n 3      # orders/s into PostgreSQL vs a plain COPY
      flashsale bench --fulfillment 25000 -n 3 # shipped orders/s vs the writer's, same backlog
      flashsale bench --e2e 100000             # sold, persisted and shipped wall times
      flashsale bench --fsync                  # P1 with appendfsync everysec vs always
      flashsale bench --scaling 8 --workers 4  # reserve/s: 1-4 fronts x 1-8 stock buckets
    """
    results.mkdir(parents=True, exist_ok=True)
    if scaling_buckets is not None:
        from loadtests.bench_scaling import ScalingConfig, doubling
        from loadtests.bench_scaling import run as run_scaling

        fronts, buckets = doubling(max(2, workers)), doubling(scaling_buckets)
        cfg = ScalingConfig(fronts, buckets, seconds, repetitions, concurrency=connections)
        summary = run_scaling(Settings.from_env(), cfg, say=console.print)
        console.print(f"written: {_write(results, 'bench_scaling.json', summary)}")
        return
    if e2e_cards is not None:
        _end_to_end(e2e_cards, results)
        return
    if fulfillment_orders is not None:
        from loadtests.bench_fulfillment import run as run_fulfillment

        summary = run_fulfillment(
            Settings.from_env(),
            fulfillment_orders,
            repetitions,
            latencies=carrier_latencies,
            say=console.print,
        )
        console.print(f"written: {_write(results, 'bench_fulfillment.json', summary)}")
        return
    if writer_orders is not None:
        from loadtests.bench_writer import run as run_writer

        summary = run_writer(Settings.from_env(), writer_orders, repetitions, say=console.print)
        console.print(f"written: {_write(results, 'bench_writer.json', summary)}")
        return
    from loadtests.bench import BenchConfig, run

    config = BenchConfig(
        seconds=seconds,
        repetitions=repetitions,
        connections=connections,
        workers=workers,
        buyers_per_rep=buyers,
        results=results,
        baseline=not no_baseline and host is None,
        servers=tuple(dict.fromkeys(servers)),
        host=host,
    )
    if host is not None:
        console.print(
            f"benching {host} as it runs: not starting a server (--workers and --server do not "
            "apply); P3/P4 skipped (the naive baselines are routes of the bench's own server)"
        )
    if fsync:
        from loadtests.bench_fsync import run as run_fsync

        summary = run_fsync(Settings.from_env(), config, say=console.print)
        console.print(f"written: {_write(results, 'bench_fsync.json', summary)}")
        return
    summary = run(Settings.from_env(), config, say=console.print)
    from loadtests.plots import plot_all

    for png in plot_all(summary, results):
        console.print(f"plot: {png}")
    console.print(f"written: {_write(results, 'bench.json', summary)}")


def _end_to_end(cards: int, results: Path) -> None:
    """The demo's whole sale, reduced to its wall times (seconds from the opening second)."""
    from flashsale.demo import DemoConfig, run_demo
    from loadtests.bench_writer import scratch_settings

    with scratch_settings(Settings.from_env()) as own:  # a clean database and topics
        report = run_demo(own, DemoConfig(cards=cards), console)
    keys = (
        "cards",
        "shoppers",
        "time_to_sell_out_s",
        "persisted_after_s",
        "shipped_after_s",
        "peak_reservations_per_s",
        "mean_reservations_per_s",
        "reserve_latency_ms",
        "orders_acknowledged",
        "orders_in_postgres",
        "paid",
        "shipments",
        "oversold",
    )
    summary = {k: report[k] for k in keys} | {"reconcile_ok": report["reconcile"]["ok"]}
    summary |= {k: report[k] for k in ("cpu_seconds", "cpu_ms_per_order", "curve")}
    out = _write(results, "bench_e2e.json", summary, hide="curve")
    from loadtests.plots import e2e_curves

    console.print(f"plot: {e2e_curves(summary, results)}")
    console.print(f"written: {out}")
