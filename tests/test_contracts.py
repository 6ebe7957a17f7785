"""The layering is enforced: the import contracts in pyproject.toml hold, and every private
module (``_name.py``) of the installed packages is covered by the private-modules contract."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("flashsale", "inventory", "checkout", "fulfillment", "catalog", "loadtests")


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]  # type: ignore[no-any-return]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_every_private_module_is_under_the_private_contract() -> None:
    private = next(c for c in _contracts() if "Private modules" in str(c["name"]))
    listed = set(private["forbidden_modules"])  # type: ignore[arg-type]
    found = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in PACKAGES
        for path in (ROOT / package).rglob("_*.py")
        if not (path.name.startswith("__") and path.name.endswith("__.py"))  # __init__, __main__
    }
    assert found <= listed, f"private modules missing from the contract: {sorted(found - listed)}"
