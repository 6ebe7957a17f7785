"""Installing what the stack needs from Debian's packages, when we are root and apt is there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from flashsale.stack._process import StackError

# Keep apt from creating and starting Debian's own "main" cluster on port 5432.
_NO_MAIN_CLUSTER = Path("/etc/postgresql-common/createcluster.d/flashsale-no-main.conf")
_updated = False


def ensure(executable: str, package: str, search: tuple[str, ...] = ()) -> str:
    """Return the path of ``executable``; install ``package`` with apt when it is missing."""
    found = _find(executable, search)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            f"{executable} is missing: install the Debian package {package!r} "
            f"(apt-get install {package}) or point the matching FLASHSALE_* URL at a "
            "running service"
        )
    _apt_install(package)
    found = _find(executable, search)
    if not found:
        raise StackError(f"installed {package!r} but still cannot find {executable}")
    return found


def _find(executable: str, search: tuple[str, ...]) -> str | None:
    for directory in search:
        candidate = Path(directory) / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(executable)


def _apt_install(package: str) -> None:
    global _updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if package.startswith("postgresql"):
        _NO_MAIN_CLUSTER.parent.mkdir(parents=True, exist_ok=True)
        _NO_MAIN_CLUSTER.write_text("create_main_cluster = false\n")
    steps = [] if _updated else [["apt-get", "update", "-qq"]]
    steps.append(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package])
    for argv in steps:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"{' '.join(argv)} failed:\n{result.stderr.strip()[-2000:]}")
    _updated = True
