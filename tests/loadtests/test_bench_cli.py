"""`flashsale bench --help` says what a person needs before starting it (issue 17): how long it
takes, what it needs, what each ratio means, and `--host` for a server already running."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from flashsale.cli import main
from loadtests.bench import Remote
from tests.support.processes import free_port, until_ping


def test_help_states_duration_prerequisites_and_ratios() -> None:
    result = CliRunner().invoke(main, ["bench", "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for words in (
        "P1 reserve ÷ ping",
        "P2 sold-out answers ÷ ping",
        "P3 reserve ÷ naive PostgreSQL",
        "P4 reserve ÷ naive Redis",
        "take 2-3 minutes",
        "wrk and redis-benchmark",
        "flashsale stack up",
        "--host URL",
        "Runs of each part",  # -n
        "wrk connections",  # -c
        "Front worker processes",  # -w
    ):
        assert words in text, words


async def test_remote_server_is_used_as_it_runs(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("flashsale")), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url) as http:
            await until_ping(http, 150, proc)
        remote = Remote(url + "/")
        assert remote.url == url
        remote.wait_ready(limit=5)
        remote.stop()  # leaves the server alone
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
