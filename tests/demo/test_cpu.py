"""The demo's CPU accounting from /proc: a process tree's seconds include its children's, the
process listening on a port is found, and per-order figures come from two readings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from flashsale.demo import cpu

# a child that forks a grandchild; the grandchild burns 0.3 s of CPU, then both sleep
_TREE = """
import subprocess, sys, time
code = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass\\n"
code += "print('burnt', flush=True)\\ntime.sleep(60)"
child = subprocess.Popen([sys.executable, "-c", code])
time.sleep(60)
"""


def test_tree_seconds_count_descendants() -> None:
    with subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"burnt"
            got = cpu.tree_seconds({"tree": proc.pid, "gone": None})
            root = cpu._stat(proc.pid)
            assert root is not None
        finally:
            for child in cpu._children().get(proc.pid, []):
                os.kill(child, signal.SIGKILL)
            proc.kill()
    assert got["gone"] is None
    assert got["tree"] is not None
    assert got["tree"] - cpu._seconds(root) >= 0.25  # the grandchild's 0.3 s is in the tree
    assert cpu.tree_seconds({"tree": proc.pid}) == {"tree": None}  # exited


def test_listening_pid_and_per_order() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        found = cpu.listening([port])
    assert found == {port: os.getpid()}
    assert cpu.per_order_ms({"a": 1.0, "b": None}, {"a": 3.0, "b": 2.0}, 1000) == {
        "a": 2.0,
        "b": None,
    }
    assert cpu.own_seconds() > 0
