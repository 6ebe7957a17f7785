"""`flashsale bench`: throughput ratios measured in one run (not a test)."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from flashsale.settings import Settings

from ._output import console


@click.command()
@click.option(
    "--writer",
    "writer_orders",
    type=click.IntRange(1000),
    default=None,
    metavar="ORDERS",
    help="Instead: the Kafka→PostgreSQL writer benchmark.",
)
@click.option(
    "--seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(1, 120),
    help="Duration of each wrk run.",
)
@click.option("--repetitions", "-n", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--connections", "-c", default=64, show_default=True, type=click.IntRange(1, 4096))
@click.option("--workers", "-w", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--buyers",
    default=100_000,
    show_default=True,
    type=click.IntRange(1000),
    help="Distinct pre-minted buyers per repetition.",
)
@click.option("--no-baseline", is_flag=True, help="Skip the naive PostgreSQL baseline (P3).")
@click.option(
    "--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True
)
def bench(
    writer_orders: int | None,
    seconds: float,
    repetitions: int,
    connections: int,
    workers: int,
    buyers: int,
    no_baseline: bool,
    results: Path,
) -> None:
    """Measure reserve, sold-out and baseline throughput against /api/ping on one server and
    one load generator (wrk); print the median ratios and write results/bench.json.

    \b
    Examples:
      flashsale bench
      flashsale bench --seconds 10 -n 5 -c 128
      flashsale bench --writer 50000 -n 3      # orders/s into PostgreSQL vs a plain COPY
    """
    results.mkdir(parents=True, exist_ok=True)
    if writer_orders is not None:
        from loadtests.bench_writer import run as run_writer

        summary = run_writer(Settings.from_env(), writer_orders, repetitions, say=console.print)
        out = results / "bench_writer.json"
        out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        console.print_json(data={k: v for k, v in summary.items() if k != "runs"})
        console.print(f"written: {out}")
        return
    from loadtests.bench import BenchConfig, run

    config = BenchConfig(
        seconds=seconds,
        repetitions=repetitions,
        connections=connections,
        workers=workers,
        buyers_per_rep=buyers,
        results=results,
        baseline=not no_baseline,
    )
    summary = run(Settings.from_env(), config, say=console.print)
    out = results / "bench.json"
    out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    from loadtests.plots import plot_all

    for png in plot_all(summary, results):
        console.print(f"plot: {png}")
    console.print_json(data={k: v for k, v in summary.items() if k != "runs"})
    console.print(f"written: {out}")
