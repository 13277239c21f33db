"""The deploy benchmark's options and report (tools/bench/deploy.py), without a world: fabricated results.

``pytest -m bench`` runs the benchmark itself, once, at 0 and 20 ms; the targets (at 60 ms) are read here.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tools.bench import deploy as bench
from tools.rehearsal.world import BIN


def observed(wall: float, *calls: tuple[str, float, float]) -> bench.Observed:
    made = [bench.Call(what, a, b, what.startswith("Postmark")) for what, a, b in calls]
    return bench.Observed(wall, made, started=-0.5, ended=wall - 0.5)


def results(latencies=(0, 60), deploy_wall=1.0, cli_wall=1.0) -> bench.Results:
    found = bench.Results()
    for latency in latencies:
        for name in bench.SCENARIOS:
            guards = [("sts GetCallerIdentity", 0.0, 0.1), ("cloudformation DescribeStacks", 0.0, 0.1)]
            found.add(latency, name, "deploy.py", observed(deploy_wall, *guards, ("Postmark GET /domains", 0.05, 0.1)))
            found.add(latency, name, "aws-cli", observed(cli_wall, ("cloudformation DescribeStacks", 0.0, 0.1)))
    return found


def lines(args, found, slow=None) -> list[str]:
    printed: list[str] = []
    bench.report(args, found, slow or {}, printed.append)
    return "\n".join(printed).splitlines()


def test_latencies_default_to_0_and_60_and_are_checked():
    assert bench.parse([]).latency_ms == [0, 60]
    assert bench.parse(["--latency-ms", "60", "0", "60"]).latency_ms == [60, 0], "each once, in the order given"
    for bad in ("2001", "-1", "0.5", "x"):
        with pytest.raises(SystemExit) as stopped:
            bench.parse(["--latency-ms", bad])
        assert stopped.value.code == 2


def test_the_targets_stand_beside_the_ratios_at_60_ms_only():
    args = bench.parse(["--runs", "1"])
    printed = lines(args, results(deploy_wall=1.2, cli_wall=1.0))
    at = {line: i for i, line in enumerate(printed)}
    zero, sixty = at["at 0 ms per AWS and Postmark call:"], at["at 60 ms per AWS and Postmark call:"]
    rows = {line.split("  ")[1].strip(): line for line in printed[sixty:] if line.startswith("  ") and " s (" in line}
    assert "<= 1.5 met" in rows["first create"] and "<= 1.5 met" in rows["create after --plan"]
    assert "<= 1.0 MISSED" in rows["no-change"] and "<= 1.0 MISSED" in rows["one-record update"]
    assert not any("<=" in line for line in printed[zero:sixty])
    # Calls per deploy, deploy.py / aws-cli: AWS, Postmark, most in flight at once (the two guards overlapped).
    assert re.search(r"1\.20  <= 1\.0 MISSED +2 / 1 +1 / 0 +3 / 1$", rows["no-change"]), rows["no-change"]


def test_calls_are_listed_in_waves_of_calls_in_flight_together():
    printed = []
    calls = (("sts GetCallerIdentity", 0.0, 0.06), ("cloudformation DescribeStacks", 0.01, 0.07))
    bench._list_calls(printed.append, "deploy.py, no-change, at 60 ms", observed(1.0, *calls, ("x Y", 0.07, 0.1)))
    assert printed[0] == "\ndeploy.py, no-change, at 60 ms: 3 AWS, 0 Postmark call(s), 1.00 s"
    assert [line.split()[1] for line in printed[1:-1]] == ["1", "1", "2"]
    assert printed[2] == "  wave  1  +    10 ms     60 ms  cloudformation DescribeStacks"
    assert printed[-1] == "  0.50 s before the first call, 0.10 s from it to the last answer (2 waves), 0.40 s after"


def test_without_aws_cli_only_deploy_py_is_shown():
    args = bench.parse(["--no-aws-cli", "--latency-ms", "60"])
    slow = {60: (observed(11.0), None)}
    printed = lines(args, results(latencies=(60,)), slow)
    assert not any("ratio" in line or "<=" in line for line in printed)
    assert "  at 60 ms: deploy.py 11.00 s" in printed


def test_both_sides_run_on_what_this_project_installs_whatever_the_shells_path_holds(tmp_path, monkeypatch):
    """A version manager's shims first on PATH (pyenv's ``aws`` and ``python3``) would time another aws-cli, and
    the stand-in op would start through a shim: the world's stand-ins come first, then this interpreter's scripts."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("aws", "python3"):
        (shims / name).write_text("#!/bin/sh\nexit 1\n")
        (shims / name).chmod(0o755)
    scripts = str(Path(sys.executable).parent)
    path = bench._tools_first(os.pathsep.join([str(BIN), str(shims), scripts, "/usr/bin"]))
    assert path.split(os.pathsep) == [str(BIN), scripts, str(shims), "/usr/bin"], "each once, shims after ours"

    monkeypatch.setattr(sys, "executable", str(tmp_path / "elsewhere" / "python"))
    with pytest.raises(SystemExit, match="aws-cli is not installed beside"):
        bench._tools_first(str(shims))
