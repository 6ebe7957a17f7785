"""The fault suite's closing table, collected from test reports so it also works when the suite
runs under pytest-xdist (each scenario's outcome travels in its report's ``user_properties``
from the worker that ran it to the process that prints the summary)."""

from __future__ import annotations

from typing import Any

import pytest

KEY = "fault_outcome"


def collected(report: pytest.TestReport) -> list[dict[str, Any]]:
    return [value for name, value in report.user_properties if name == KEY]


def write(tr: pytest.TerminalReporter, outcomes: list[dict[str, Any]]) -> None:
    tr.write_sep("=", "fault injection: scenario → result")
    tr.write_line(
        f"{'scenario':<26} {'result':<6} {'left@fault':>10} {'recover s':>9} {'settle s':>8} "
        f"{'total s':>7}  invariants"
    )
    for o in outcomes:
        rec = "-" if o["recovered_s"] is None else f"{o['recovered_s']:.1f}"
        settle = "-" if o["settled_s"] is None else f"{o['settled_s']:.1f}"
        left = "-" if o["left_at_fault"] is None else str(o["left_at_fault"])
        tr.write_line(
            f"{o['scenario']:<26} {'PASS' if o['passed'] else 'FAIL':<6} {left:>10} {rec:>9} "
            f"{settle:>8} {o['total_s']:>7.1f}  {o['summary']}"
            + ("" if o["reconcile_ok"] else ", reconcile FAILED")
        )
        for problem in o["problems"]:
            tr.write_line(f"{'':<26} ↳ FAILED: {problem}")
        for finding in o["findings"]:
            tr.write_line(f"{'':<26} ↳ note: {finding}")
