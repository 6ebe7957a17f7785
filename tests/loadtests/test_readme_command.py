"""The load tools as the README has people type them (issue 17): the quick-start commands of
loadtests/README.md run literally in a shell (the defaults come from loadtests/locust.conf and
the buyers from where `tokens mint` writes them), `burst.py` stops at `--run-time`, and
`python loadtests/locustfile.py --help` lists the flashsale options."""

from __future__ import annotations

import asyncio
import csv
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from flashsale.core.settings import Settings
from inventory.keys import ARMED_ROUNDS
from tests.support import ROOT
from tests.support.api import arm, spec

BIN = Path(sys.executable).parent
README = ROOT / "loadtests" / "README.md"


def quick_start() -> list[str]:
    """The commands of the README's "Quick start" block, as written."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block[1].splitlines() if line.strip()]


async def shell_run(command: str, env: dict[str, str], seconds: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_shell(
        command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.timeout(120)
async def test_the_readme_quick_start_runs_as_written(
    settings: Settings, served: tuple[dict[str, str], str], unique: str, tmp_path: Path
) -> None:
    shell, _url = served
    commands = quick_start()
    assert commands == ["flashsale tokens mint --count 200", "locust -f loadtests/locustfile.py"]
    rid = f"qs{unique}"
    shell["FLASHSALE_ROUND"] = rid  # other tests' rounds may be listed first
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        code, out = await shell_run(commands[0], shell, 60)
        assert code == 0, out
        assert (tmp_path / "data" / "buyers.jsonl").is_file()
        await arm(settings, spec(rid, stock=30, starts_at=datetime.now(UTC) + timedelta(seconds=2)))
        started = time.monotonic()
        code, out = await shell_run(commands[1], shell, 60)
        assert time.monotonic() - started < 50, out[-3000:]
        with (tmp_path / "locust_stats.csv").open(newline="") as fh:
            names = {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(fh)}
        assert names.get("/api/rounds/[id]/orders [reserved]", 0) > 0, names
        assert names.get("/api/rounds", 0) >= 1
        assert code == 0, out[-3000:]  # no failure: every answer was an expected one
    finally:
        await client.srem(ARMED_ROUNDS, rid)  # type: ignore[misc]
        await client.aclose()


@pytest.mark.timeout(60)
async def test_burst_stops_at_run_time(
    settings: Settings, served: tuple[dict[str, str], str], unique: str
) -> None:
    shell, _url = served
    code, out = await shell_run("flashsale tokens mint --count 20", shell, 60)
    assert code == 0, out
    # the opening is two minutes away and the hold 30 s after it: only --run-time ends this run
    command = "locust -f loadtests/burst.py --opens-in 120 --run-time 4s -u 10"
    started = time.monotonic()
    code, out = await shell_run(command, shell, 50)
    elapsed = time.monotonic() - started
    assert elapsed < 20, out[-3000:]
    assert "Traceback" not in out, out[-3000:]


def test_help_lists_the_flashsale_options() -> None:
    described = {
        "loadtests/locustfile.py": {
            "--buyers": "flashsale tokens mint",
            "--round": "Round id to shop in",
            "--personas": "Shopper mix",
            "--pay-delay": "Mean seconds between",
        },
        "loadtests/burst.py": {"--opens-in": "to the opening", "--burst-ramp": "Seconds to reach"},
    }
    for script, options in described.items():
        shown = subprocess.run(
            [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, check=False
        )
        assert shown.returncode == 0, shown.stderr.decode()
        text = " ".join(shown.stdout.decode().split())  # argparse wraps descriptions
        for option, description in options.items():
            assert option in text
            assert description in text, (option, text[-2000:])
