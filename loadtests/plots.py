"""PNG plots of a benchmark summary (results/bench.json): throughput over time during the
reserve runs, latency percentiles per scenario, and the comparison bars of the medians."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

SCENARIOS = ("ping", "reserve", "sold_out", "baseline", "paced")
LABELS = {
    "ping": "/api/ping",
    "reserve": "reserve",
    "sold_out": "sold out",
    "baseline": "naive PG",
    "paced": "reserve @80%",
}


def throughput(summary: dict[str, Any], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, run in enumerate(summary["runs"]):
        samples = run.get("reserve_timeline") or []
        points = [
            ((t0 + t1) / 2, (n1 - n0) / (t1 - t0))
            for (t0, n0), (t1, n1) in itertools.pairwise(samples)
            if t1 > t0
        ]
        ax.plot(
            [t for t, _ in points],
            [r for _, r in points],
            color=f"C{i}",
            lw=1.5,
            marker=".",
            label=f"repetition {i + 1}",
        )
    ax.set_xlabel("seconds into the reserve run")
    ax.set_ylabel("reservations / s")
    ax.set_title("Reservations acknowledged over time (Redis counter)")
    ax.legend()
    return _save(fig, out / "throughput_over_time.png")


def latency(summary: dict[str, Any], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    run = summary["runs"][len(summary["runs"]) // 2]
    for i, name in enumerate(s for s in SCENARIOS if run.get(s)):
        pcts = run[name]["latency_ms"]
        keys = sorted(pcts, key=int)
        ax.plot(
            [int(k) for k in keys],
            [pcts[k] for k in keys],
            marker="o",
            color=f"C{i}",
            label=f"{LABELS[name]} ({run[name]['rps']:.0f}/s)",
        )
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("Latency percentiles (wrk, middle repetition)")
    ax.legend()
    return _save(fig, out / "latency_percentiles.png")


def comparison(summary: dict[str, Any], out: Path) -> Path:
    rps = {k: v for k, v in summary["rps_median"].items() if v}
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = ax.bar(range(len(rps)), list(rps.values()), color=[f"C{i}" for i in range(len(rps))])
    ax.set_xticks(range(len(rps)), [k.replace("_", " ") for k in rps], rotation=15)
    ax.bar_label(bars, fmt="%.0f")
    ax.set_ylabel("requests / s (median)")
    ratios = ", ".join(
        f"{k.split('_')[0]} {summary[k]}"
        for k in summary
        if k.startswith("P") and summary[k] is not None
    )
    ax.set_title(f"Throughput medians — {ratios}", fontsize=9)
    return _save(fig, out / "comparison.png")


def e2e_curves(summary: dict[str, Any], out: Path) -> Path:
    """Units sold, orders persisted and orders shipped over time in a whole sale
    (results/bench_e2e.json's ``curve``), with the three finishing times marked."""
    curve = summary["curve"]
    t = [p[0] for p in curve]
    fig, ax = plt.subplots(figsize=(8, 4))
    legs = (
        (1, "units sold (held + paid)", "time_to_sell_out_s"),
        (2, "orders in PostgreSQL", "persisted_after_s"),
        (3, "orders shipped", "shipped_after_s"),
    )
    for column, label, done in legs:
        at = summary.get(done)
        ax.plot(t, [p[column] for p in curve], color=f"C{column - 1}", lw=1.5,
                label=label if at is None else f"{label} — {at:.1f} s")  # fmt: skip
        if at is not None:
            ax.axvline(at, color=f"C{column - 1}", lw=0.8, ls=":")
    ax.set_xlabel("seconds from the opening")
    ax.set_ylabel("count")
    ax.set_title(f"A sale of {summary['cards']} cards: sold, persisted, shipped")
    ax.legend(loc="lower right")
    return _save(fig, out / "bench_e2e.png")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(summary: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [throughput(summary, out), latency(summary, out), comparison(summary, out)]
