"""Benchmark generate.py: the whole process beside its floor and ``cdk synth``, and rendering in-process.

    python tools/bench/generate.py [--runs N]

Times the whole ``python generate.py`` process over all active partitions (writing
into a temporary folder) and, interleaved run by run, two others:

- its floor: a fresh interpreter, run the same way, that only imports the
  troposphere and awacs modules generate.py imports. The list is read from a run of
  ``python -X importtime generate.py`` (every module it really imported), so it
  follows generate.py's imports as they change. The floor first imports
  ``templates``, whose ``__init__`` defers cfn_flip as generate.py does; the
  benchmark refuses a floor that imports any module generate.py did not. What
  generate.py takes beyond the floor is its own work: our modules, the standard
  library modules only they need, reading the instances, rendering, writing.
- ``cdk synth`` of the same stack written with AWS CDK (``tools/bench/cdk_anchor/app.js``,
  from the same properties) in its fastest configuration: plain JavaScript, no
  built-in validation, no tree metadata, no version reporting, no telemetry, no
  version check.

Prints the median, best and worst wall time and the median peak RSS of each, and
the targets: under 0.10 of cdk synth's time and of its memory, and at most 1.3
times the floor's time. Then the median time of one in-process render, and the
per-partition cost of rendering 1, 4 and 64 (synthetic) partitions in one process.

generate.py and the floor run as on an operator's machine: Python's bytecode cache
on (the importtime run writes it; an environment with PYTHONDONTWRITEBYTECODE would
compile our modules from source on every run). The anchor needs Node.js and, once,
``npm install --prefix tools/bench/cdk_anchor``; without it only generate.py and the
floor are timed. A benchmark, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CDK_APP = Path(__file__).resolve().parent / "cdk_anchor"
CDK_CLI = CDK_APP / "node_modules" / ".bin" / "cdk"
TIME_TARGET, MEMORY_TARGET = 0.10, 0.10  # of cdk synth's (issue 30: synth itself takes 0.8-1.9 s across machines)
FLOOR_TARGET = 1.3  # generate.py's wall time, at most this many times the floor's
FLOOR_PACKAGES = ("troposphere", "awacs")


# One timed run, started from a small process of its own (about 9 MB). Linux counts the memory of whatever starts
# a program in that program's peak RSS (exec keeps the old address space's high-water mark), so a run started by
# this benchmark (about 20 MB by then, with troposphere imported) could never show less: the floor's 16 MB read as 20.
_MEASURE = """
import os, sys, time
command = sys.argv[1:]
start = time.perf_counter()
quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawnp(command[0], command, os.environ, file_actions=quiet)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open("/proc/self/status") as own:  # this process's own peak, what the run's cannot be told from
    starter = next(line.split()[1] for line in own if line.startswith("VmHWM:"))
print(wall, usage.ru_maxrss, starter, os.waitstatus_to_exitcode(status))
"""


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, the largest of the process and the children it waited for) of one run."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty stderr can never block the child
        measured = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _MEASURE, *command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        errors.seek(0)
        failure = errors.read().decode(errors="replace")[-2000:]
    if measured.returncode != 0:
        raise SystemExit(f"could not run {' '.join(command[:3])}: {failure}")
    wall, peak_kb, starter_kb, code = measured.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed: {failure}")
    if int(peak_kb) <= int(starter_kb):  # the run's own peak is hidden under the starter's
        raise SystemExit(f"{' '.join(command[:3])}: its peak RSS is below the measuring process's, not measurable")
    return float(wall), int(peak_kb) / 1024


def _dev_props():
    """The dev partition's config and the stack properties generate.py renders from."""
    from instances.registry import load_registry
    from templates.render import props_for, read_handler_source

    config = load_registry().partition("dev")
    return config, props_for(config, read_handler_source())


def _cdk_props(folder: Path) -> Path:
    """The dev partition's properties as JSON, for the CDK app (the same inputs as generate.py's)."""
    config, props = _dev_props()
    props = {**dataclasses.asdict(props), "region": config.infrastructure.region}
    path = folder / "props.json"
    path.write_text(json.dumps(props))
    return path


def _same_stack(cdk_template: Path) -> str:
    """Refuse an anchor that is not the same stack as ours: resource types, parameters, conditions, outputs, rules."""
    from collections import Counter

    from templates.partition_email import PartitionEmail

    ours = PartitionEmail(_dev_props()[1]).template.to_dict()
    theirs = json.loads(cdk_template.read_text())
    shape = []
    for section in ("Resources", "Parameters", "Conditions", "Outputs", "Rules"):
        mine, cdk = ours.get(section, {}), theirs.get(section, {})
        if section == "Resources":
            mine, cdk = Counter(r["Type"] for r in mine.values()), Counter(r["Type"] for r in cdk.values())
        else:
            mine, cdk = sorted(mine), sorted(cdk)
        if mine != cdk:
            raise SystemExit(f"tools/bench/cdk_anchor is not the same stack any more ({section}: {cdk} vs ours {mine})")
        shape.append(f"{sum(mine.values()) if isinstance(mine, Counter) else len(mine)} {section.lower()}")
    return f"anchor: the CDK app synthesizes the same stack ({', '.join(shape)})"


def imported_modules(command: list[str], cwd: Path, env: dict[str, str]) -> set[str]:
    """Every module one run of ``command`` (a Python process) imports, as ``-X importtime`` lists them."""
    traced = [command[0], "-X", "importtime", *command[1:]]
    result = subprocess.run(traced, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(traced[:4])} failed: {result.stderr[-2000:]}")
    # "import time: <self us> | <cumulative us> | <module, indented by depth>"; the header line has words instead.
    rows = (line.split("|") for line in result.stderr.splitlines() if line.startswith("import time:"))
    return {row[2].strip() for row in rows if len(row) == 3 and row[1].strip().isdigit()}


def floor_modules(generate_imports: set[str]) -> list[str]:
    """The troposphere and awacs modules generate.py imported: what its floor imports."""
    return sorted(m for m in generate_imports if m.split(".")[0] in FLOOR_PACKAGES)


def floor_command(modules: list[str]) -> list[str]:
    """A fresh interpreter that imports ``modules`` and nothing of generate.py's own work."""
    # templates/__init__ first: it defers cfn_flip as generate.py does (troposphere imports it, generate never uses it).
    return [sys.executable, "-c", f"import templates; import {', '.join(modules)}"]


def whole_process(runs: int, with_cdk: bool) -> tuple[dict[str, list[tuple[float, float]]], list[str]]:
    """(wall, peak RSS) of each run of ``python generate.py`` and, interleaved, of its floor and ``cdk synth``;
    and the modules the floor imports."""
    results: dict[str, list[tuple[float, float]]] = {"generate.py": [], "floor": [], "cdk synth": []}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        ours = [sys.executable, str(REPO / "generate.py"), "--out", str(out)]
        generate_imports = imported_modules(ours, REPO, env)  # also the warm-up: writes the bytecode cache
        modules = floor_modules(generate_imports)
        floor = floor_command(modules)
        extra = imported_modules(floor, REPO, env) - generate_imports
        if extra:
            raise SystemExit(
                f"the floor imports what generate.py does not, so it is no floor: {', '.join(sorted(extra))}"
            )
        # No telemetry sender left running after each synth (it would slow the next run of either), no version check.
        cdk_env = {
            **env,
            "ARDA_CDK_PROPS": str(_cdk_props(out)),
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "true",
        }
        theirs = [str(CDK_CLI), "synth", "--quiet", "--no-notices", "--output", str(out / "cdk.out")]
        if with_cdk:
            _run(theirs, CDK_APP, cdk_env)
            print(_same_stack(out / "cdk.out" / "Alpha002-dev-Email.template.json"))
        for _ in range(runs):
            results["generate.py"].append(_run(ours, REPO, env))
            results["floor"].append(_run(floor, REPO, env))
            if with_cdk:
                results["cdk synth"].append(_run(theirs, CDK_APP, cdk_env))
    return results, modules


def in_process(runs: int) -> list[float]:
    """Seconds to render every active partition once, already imported."""
    from instances.registry import load_registry
    from templates.render import read_handler_source, render

    registry = load_registry()
    source = read_handler_source()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for config in registry.partitions.values():
            render(config, source)
        times.append(time.perf_counter() - start)
    return times


def per_partition(counts: tuple[int, ...] = (1, 4, 64)) -> dict[int, float]:
    """Milliseconds per partition when one process renders N partitions (synthetic ones past the real)."""
    from templates.partition_email import PartitionEmail
    from templates.yaml_emitter import dump

    base = _dev_props()[1]
    partitions = ("dev", "stage", "demo", "prod")
    costs = {}
    for count in counts:
        props = [
            dataclasses.replace(
                base,
                infrastructure=f"Synth{i // 4:03d}",
                partition=partitions[i % 4],
                mail_domain=f"{partitions[i % 4]}.ardamails.com",
            )
            for i in range(count)
        ]
        start = time.perf_counter()
        for p in props:
            dump(PartitionEmail(p).template.to_dict())
        costs[count] = (time.perf_counter() - start) * 1000 / count
    return costs


def main() -> int:
    """Run the benchmarks and print a small report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with_cdk = CDK_CLI.exists() and shutil.which("node") is not None
    results, modules = whole_process(args.runs, with_cdk)
    packages = ", ".join(f"{sum(m.split('.')[0] == p for m in modules)} of {p}" for p in FLOOR_PACKAGES)
    print(f"floor: a fresh interpreter importing the {len(modules)} modules generate.py imports ({packages})")
    print(f"{args.runs} interleaved runs (all active partitions):")
    medians = {}
    for name, runs in results.items():
        if runs:
            walls, peaks = [w for w, _ in runs], [p for _, p in runs]
            medians[name] = statistics.median(walls), statistics.median(peaks)
            print(
                f"  {name:<12} wall median {medians[name][0] * 1000:6.0f} ms "
                f"(best {min(walls) * 1000:.0f}, worst {max(walls) * 1000:.0f}), "
                f"peak RSS median {medians[name][1]:6.1f} MB"
            )
    (ours_s, ours_mb), (floor_s, _) = medians["generate.py"], medians["floor"]
    print(f"  floor        generate.py takes {ours_s / floor_s:.2f}x the floor's time (target <= {FLOOR_TARGET}x)")
    if with_cdk:
        cdk_s, cdk_mb = medians["cdk synth"]
        print(
            f"  ratio        time {ours_s / cdk_s:.3f} (target < {TIME_TARGET:.2f}), "
            f"memory {ours_mb / cdk_mb:.3f} (target < {MEMORY_TARGET:.2f}) of cdk synth's"
        )
    else:
        print(
            "  cdk synth not timed: run `npm install --prefix tools/bench/cdk_anchor` (Node.js 18+) to time it beside; "
            "it took about 0.8-1.9 s and 220 MB on these machines"
        )
    renders = in_process(args.runs)
    print(f"in-process render: median {statistics.median(renders) * 1000:.1f} ms per run of all partitions")
    for count, ms in per_partition().items():
        print(f"  {count:>2} partition(s) in one process: {ms:.1f} ms per partition")
    return 0


if __name__ == "__main__":
    sys.exit(main())
