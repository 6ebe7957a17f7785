"""`flashsale tokens mint` keeps its bearer tokens private (issue 17): by default in the
git-ignored data folder (where the locustfile looks), always mode 0600."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import orjson
from click.testing import CliRunner

from flashsale.cli import main
from tests.support import ROOT


def mint_env(data_dir: Path) -> dict[str, str]:
    return {
        "FLASHSALE_ENV": "dev",
        "FLASHSALE_DATA_DIR": str(data_dir),
        "FLASHSALE_TOKEN_SECRET": "mint-test-token-secret",
        "FLASHSALE_PII_KEY": "mint-test-pii-key",
    }


def test_default_file_is_private_and_in_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["tokens", "mint", "--count", "4"], env=mint_env(data))
    assert result.exit_code == 0, result.output
    out = data / "buyers.jsonl"
    assert str(out) in "".join(result.output.split())  # the console may wrap a long path
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len([orjson.loads(line) for line in out.read_bytes().splitlines()]) == 4


def test_an_existing_file_becomes_private(tmp_path: Path) -> None:
    out = tmp_path / "mine.jsonl"
    out.write_text("old\n")
    out.chmod(0o644)
    args = ["tokens", "mint", "-n", "2", "--out", str(out)]
    result = CliRunner().invoke(main, args, env=mint_env(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"old" not in out.read_bytes()


def test_the_data_folder_and_buyer_files_are_git_ignored() -> None:
    for path in (".flashsale/buyers.jsonl", "buyers.jsonl", "buyers-drop1.jsonl"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=ROOT, check=False, capture_output=True
        )
        assert ignored.returncode == 0, path
