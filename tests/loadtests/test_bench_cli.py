"""`flashsale bench --help` says what a person needs before starting it (issue 17): how long it
takes, what it needs, what each ratio means, and `--host` for a server already running."""

from __future__ import annotations

import httpx
from click.testing import CliRunner

from flashsale.cli import main
from loadtests.bench import Remote


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


def test_remote_server_is_used_as_it_runs(served: tuple[dict[str, str], str]) -> None:
    _env, url = served
    remote = Remote(url + "/")
    assert remote.url == url
    remote.wait_ready(limit=5)
    remote.stop()  # leaves the server alone
    assert httpx.get(f"{url}/api/ping", timeout=5).status_code == 200
