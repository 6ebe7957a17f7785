"""`flashsale demo`: a whole sale on the local stack, watched live, with a closing report."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from checkout.pipeline.reconcile import reconcile
from flashsale.core.redis import redis_client
from flashsale.core.settings import Settings
from flashsale.demo import cpu
from flashsale.demo.crowd import Behaviour, Crowd, CrowdStats, Shopper, mint
from flashsale.demo.figures import Sample, Watcher
from flashsale.demo.http1 import Pool
from flashsale.demo.services import Services, free_port
from flashsale.demo.setup import DemoCatalog, cli, cli_env, create_catalog


@dataclass
class DemoConfig:
    cards: int = 100_000
    shoppers: int | None = None  # default: twice the cards
    workers: int = 2
    hold_seconds: int = 20
    opens_in: float = 8.0
    concurrency: int = 512
    settle_seconds: float = 480.0  # enough for fulfillment to ship 100k paid orders here
    seed: int = field(default_factory=lambda: int(time.time()))
    behaviour: Behaviour = field(default_factory=Behaviour)


@dataclass
class SaleTimeline:
    opened_at: float = 0.0  # time.monotonic() at the opening second
    sold_out_after: float | None = None
    crowd_done_after: float | None = None
    persisted_after: float | None = None  # every reservation in PostgreSQL
    shipped_after: float | None = None  # every paid order has a shipment
    settled_after: float | None = None
    curve: list[tuple[float, int, int, int]] = field(default_factory=list)  # t, sold,
    # orders in PostgreSQL, shipments: one point per sample


def _bars() -> tuple[Progress, dict[str, Any]]:
    progress = Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(bar_width=40),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
    )
    tasks = {
        "sold": progress.add_task("units sold (held + paid)", total=1, note=""),
        "persisted": progress.add_task("orders in PostgreSQL", total=1, note=""),
        "shipped": progress.add_task("paid orders shipped", total=1, note=""),
        "settled": progress.add_task("holds paid or expired", total=1, note=""),
    }
    return progress, tasks


def _update(progress: Progress, tasks: dict[str, Any], s: Sample, rate: float) -> None:
    lag = s.kafka_lag if s.kafka_lag is not None else "?"
    bars = {  # task: (done, of, note)
        "sold": (s.sold, s.stocked, f"{rate:8.0f} reservations/s   left {s.left}"),
        "persisted": (s.pg_orders, s.orders, f"outbox {s.outbox}  kafka lag {lag}"),
        "shipped": (s.shipments, s.paid, f"delivered {s.delivered}  dead letters {s.dead_letters}"),
        "settled": (s.orders - s.held, s.orders, f"paid {s.paid}  expired {s.released}"),
    }
    for name, (done, of, note) in bars.items():
        progress.update(tasks[name], completed=done, total=max(1, of), note=note)


async def _watch(
    watcher: Watcher,
    timeline: SaleTimeline,
    crowd_done: asyncio.Event,
    stop: asyncio.Event,
    config: DemoConfig,
    services: Services,
    console: Console,
) -> Sample:
    progress, tasks = _bars()
    last: Sample | None = None
    deadline: float | None = None
    with Live(progress, console=console, refresh_per_second=4, transient=False):
        while not stop.is_set():
            s = await watcher.sample()
            rate = 0.0
            if last is not None and s.at > last.at:
                rate = (s.orders - last.orders) / (s.at - last.at)
            _update(progress, tasks, s, rate)
            since = s.at - timeline.opened_at
            timeline.curve.append((round(since, 2), s.sold, s.pg_orders, s.shipments))
            if timeline.sold_out_after is None and s.left == 0 and s.orders:
                timeline.sold_out_after = since
            if crowd_done.is_set():
                deadline = deadline or s.at + config.settle_seconds
                if timeline.persisted_after is None and s.pg_orders == s.orders and not s.outbox:
                    timeline.persisted_after = since
                if (
                    timeline.shipped_after is None
                    and s.shipments + s.dead_letters >= s.paid
                    and s.pg_orders == s.orders
                ):
                    timeline.shipped_after = since
                if (
                    s.held == 0
                    and s.pg_orders == s.orders
                    and s.pg_paid == s.paid
                    and s.shipments + s.dead_letters >= s.paid
                    and not s.outbox
                ):
                    timeline.settled_after = since
                    return s
                if s.at > deadline:
                    console.print("[yellow]settle time is up; reporting what is there[/]")
                    return s
            if dead := services.check():
                console.print(f"[red]processes exited: {', '.join(dead)}[/]")
                return s
            last = s
            await asyncio.sleep(0.5)
    assert last is not None
    return last


def _report(
    cat: DemoCatalog,
    config: DemoConfig,
    stats: CrowdStats,
    final: Sample,
    timeline: SaleTimeline,
    reconciled: dict[str, Any],
    cpu_seconds: dict[str, float | None],
) -> dict[str, Any]:
    sold_out = timeline.sold_out_after
    return {
        "round_id": cat.round_id,
        "cards": config.cards,
        "shoppers": config.shoppers,
        "time_to_sell_out_s": round(sold_out, 2) if sold_out is not None else None,
        "peak_reservations_per_s": max(stats.reserved_per_second.values(), default=0),
        "mean_reservations_per_s": round(stats.reserved / sold_out, 1) if sold_out else None,
        "reserve_latency_ms": {"p50": stats.percentile(50), "p99": stats.percentile(99)},
        "answers": dict(stats.answers),
        "retries_same_order": stats.replays_same_order,
        "retries_different_order": stats.replays_wrong,
        "retries_unanswered": stats.replays_unanswered,
        "server_errors": stats.server_errors,
        "transport_errors": stats.transport_errors,
        "orders_acknowledged": final.orders,
        "orders_in_postgres": final.pg_orders,
        "paid": final.paid,
        "shipments": final.shipments,
        "delivered_so_far": final.delivered,
        "dead_letters": final.dead_letters,
        "expired_holds": final.released,
        "oversold": final.oversold,
        "persisted_after_s": timeline.persisted_after,
        "shipped_after_s": timeline.shipped_after,
        "reconcile": reconciled,
        "cpu_seconds": cpu_seconds,
        "cpu_ms_per_order": {
            name: None if sec is None or not final.orders else round(sec * 1000 / final.orders, 3)
            for name, sec in cpu_seconds.items()
        },
        "curve": timeline.curve,
    }


def _print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(title=f"Demo sale {report['round_id']}", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("cards / shoppers", f"{report['cards']} / {report['shoppers']}"),
        ("time to sell out", f"{report['time_to_sell_out_s']} s"),
        (
            "peak / mean reservations/s",
            f"{report['peak_reservations_per_s']} / {report['mean_reservations_per_s']}",
        ),
        (
            "reserve latency p50 / p99",
            "{:.1f} / {:.1f} ms".format(
                report["reserve_latency_ms"]["p50"] or 0, report["reserve_latency_ms"]["p99"] or 0
            ),
        ),
        ("answers", ", ".join(f"{k} {v}" for k, v in sorted(report["answers"].items()))),
        (
            "retries with the same key → same order",
            f"{report['retries_same_order']} (different: {report['retries_different_order']})",
        ),
        (
            "orders acknowledged / in PostgreSQL",
            f"{report['orders_acknowledged']} / {report['orders_in_postgres']}",
        ),
        (
            "paid / shipped / dead letters",
            f"{report['paid']} / {report['shipments']} / {report['dead_letters']}",
        ),
        ("expired holds (units returned)", str(report["expired_holds"])),
        (
            "all persisted / all shipped after",
            f"{report['persisted_after_s'] and round(report['persisted_after_s'], 1)} s / "
            f"{report['shipped_after_s'] and round(report['shipped_after_s'], 1)} s",
        ),
        ("server errors (5xx)", str(report["server_errors"])),
        ("oversold", f"[bold]{report['oversold']}[/]"),
        (
            "reconcile",
            "[green]passed[/]"
            if report["reconcile"]["ok"]
            else "[red]FAILED[/] "
            + "; ".join(d["code"] for d in report["reconcile"]["differences"]),
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    cpu = Table(title="CPU per process, opening to the end (per order acknowledged)")
    cpu.add_column("process")
    cpu.add_column("CPU s", justify="right")
    cpu.add_column("ms / order", justify="right")
    per = report["cpu_ms_per_order"]
    for name, sec in sorted(report["cpu_seconds"].items(), key=lambda kv: -(kv[1] or 0)):
        cpu.add_row(name, "?" if sec is None else f"{sec:.1f}", str(per[name] or "?"))
    console.print(cpu)


async def _sale(
    settings: Settings,
    cat: DemoCatalog,
    crowd_members: list[Shopper],
    config: DemoConfig,
    services: Services,
    port: int,
    console: Console,
) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    redis = redis_client(settings.redis_url)
    pg = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
    http = Pool("127.0.0.1", port, config.concurrency)
    try:
        watcher = Watcher(settings, redis, pg, cat.round_id)
        crowd = Crowd(
            http,
            cat.round_id,
            cat.agreement_version,
            config.behaviour,
            numbers=cat.numbers[: max(50, len(cat.numbers) // 20)],
            seed=config.seed,
        )
        wait = cat.opens_at - time.time()
        console.print(
            f"round {cat.round_id} opens in {max(0.0, wait):.1f} s: "
            f"{config.cards} cards, {config.shoppers} shoppers, hold {config.hold_seconds} s"
        )
        timeline = SaleTimeline()
        crowd_done = asyncio.Event()
        pids = services.pids() | _service_pids(settings)

        async def release_crowd() -> CrowdStats:
            try:
                return await crowd.run(crowd_members, cat.opens_at, config.concurrency, stop)
            finally:
                crowd_done.set()

        crowd_task = asyncio.create_task(release_crowd())
        await asyncio.sleep(max(0.0, cat.opens_at - time.time()))
        timeline.opened_at = time.monotonic()
        cpu_before = _cpu(pids)
        final = await _watch(watcher, timeline, crowd_done, stop, config, services, console)
        cpu_after = _cpu(pids)
        stop.set()
        stats = await crowd_task
        report = await reconcile(settings, redis, pg, cat.round_id)
        spent = {
            k: None if (a := cpu_after[k]) is None or (b := cpu_before.get(k)) is None else a - b
            for k in cpu_after
        }
        result = _report(cat, config, stats, final, timeline, report.as_dict(), spent)
        _print_report(console, result)
        return result
    finally:
        await http.close()
        await pg.close()
        await redis.aclose()


def _service_pids(settings: Settings) -> dict[str, int | None]:
    """The processes listening on the ports of Redis, PostgreSQL and Kafka (this host)."""
    ports = {
        "redis": urlsplit(settings.redis_url).port or 6379,
        "postgres": urlsplit(settings.database_url).port or 5432,
        "kafka": urlsplit("//" + settings.kafka_bootstrap.split(",")[0]).port or 9092,
    }
    found = cpu.listening(ports.values())
    return {name: found[port] for name, port in ports.items()}


def _cpu(pids: dict[str, int | None]) -> dict[str, float | None]:
    """CPU seconds so far of each process tree, and of the demo itself (crowd, watcher)."""
    return cpu.tree_seconds(pids) | {"demo (crowd)": cpu.own_seconds()}


def run_demo(settings: Settings, config: DemoConfig, console: Console) -> dict[str, Any]:
    workdir = settings.data_dir / "demo" / str(config.seed)
    workdir.mkdir(parents=True, exist_ok=True)
    env = cli_env(settings)
    console.print("seeding fulfillment stock (blank SIM cards, spare numbers) …")
    cli(env, "fulfillment", "seed", "--sims", str(config.cards), "--numbers", str(config.cards))
    config.shoppers = config.shoppers or 2 * config.cards
    console.print(f"minting {config.shoppers} shoppers (tokens + generated ID numbers) …")
    crowd_members = mint(settings.token_secret, config.shoppers, config.seed, config.behaviour)
    services = Services(workdir / "logs", env)
    port = free_port()
    try:
        services.start("serve", "serve", "--port", str(port), "--workers", str(config.workers))
        services.start("writer", "writer")
        services.start("sweeper", "sweeper", "--interval", "0.5")
        services.start(
            "fulfill",
            "fulfill",
            "--carrier-latency-ms",
            "5",
            "--carrier-step-seconds",
            "1",
        )
        console.print("creating the catalog and the round with the marketer CLI …")
        cat = create_catalog(
            settings, config.cards, config.opens_in, config.hold_seconds, "1h", config.seed, workdir
        )
        services.start(
            "relay",
            "relay",
            "--consumer",
            f"demo-relay-{config.seed}",
            "--round-prefix",
            cat.round_id,
        )
        services.wait_http(f"http://127.0.0.1:{port}/api/ping")
        console.print(
            f"front on http://127.0.0.1:{port} (storefront /, dashboard /ops); "
            f"logs in {workdir / 'logs'}"
        )
        result = asyncio.run(_sale(settings, cat, crowd_members, config, services, port, console))
    finally:
        codes = services.stop()
        console.print("stopped: " + ", ".join(f"{n} ({c})" for n, c in codes.items()))
    out = workdir / "report.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2, default=str))
    console.print(f"report: {out}")
    return result
