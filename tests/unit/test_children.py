"""tools/lib/children.py with real processes: a signal to the parent is passed to the child, which says its last line.

The parent is a small Python process running ``run_command`` (as the rollout does);
the test signals only the parent, as a terminal's Ctrl-C reaches only the rollout
(its children run in sessions of their own). Each child writes a file when it is
ready and when a signal arrives, so the test waits for facts, not for time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

PARENT = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tools.lib.children import run_command
ended = run_command([sys.executable, "-c", sys.argv[1]], cwd=Path("."), env=dict(os.environ), grace=float(sys.argv[2]))
print(json.dumps(ended.__dict__))
"""

CHILD = """
import signal, sys, time
from pathlib import Path
folder = Path({folder!r})
signals = []
def on_signal(signum, _frame):
    signals.append(signum)
    (folder / f"signal-{{len(signals)}}").write_text("")
    if {cleanup_seconds} and len(signals) == 1:
        print("child: cleaning up", file=sys.stderr, flush=True)
        time.sleep({cleanup_seconds})
    print(f"child: stopped after {{len(signals)}} signal(s); nothing left", file=sys.stderr, flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, {handler})
print("child: working", flush=True)
(folder / "ready").write_text("")
time.sleep(60)
"""


def wait_for(path: Path, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if path.exists():
            return
        time.sleep(0.02)
    raise AssertionError(f"{path.name} never appeared")


def parent(tmp_path: Path, *, grace: float, cleanup_seconds: float = 0.0, ignores: bool = False):
    child = CHILD.format(
        folder=str(tmp_path), cleanup_seconds=cleanup_seconds, handler="signal.SIG_IGN" if ignores else "on_signal"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(repo=str(REPO)), child, str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    wait_for(tmp_path / "ready")
    return process


def ended(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return json.loads(out)


def test_a_signal_to_the_parent_reaches_the_child_once_and_its_last_line_is_kept(tmp_path):
    process = parent(tmp_path, grace=30)
    os.kill(process.pid, signal.SIGINT)
    result = ended(process)
    assert (result["returncode"], result["stopped_by"], result["killed"]) == (130, "SIGINT", False)
    assert result["stdout"] == "child: working\n"
    assert result["stderr"] == "child: stopped after 1 signal(s); nothing left\n", "once, and its words kept"
    assert not (tmp_path / "signal-2").exists()


def test_a_second_signal_during_the_childs_cleanup_is_passed_on_too(tmp_path):
    process = parent(tmp_path, grace=30, cleanup_seconds=20)
    started = time.monotonic()
    os.kill(process.pid, signal.SIGINT)
    wait_for(tmp_path / "signal-1")
    os.kill(process.pid, signal.SIGINT)  # the operator insists: the child stops its cleanup and says so
    result = ended(process)
    assert time.monotonic() - started < 15, "the second signal cut the 20 s cleanup short"
    assert result["stderr"].splitlines()[-1] == "child: stopped after 2 signal(s); nothing left"
    assert (result["returncode"], result["killed"]) == (130, False)


def test_a_child_that_outlives_the_grace_is_killed_and_what_it_said_is_kept(tmp_path):
    process = parent(tmp_path, grace=0.5, ignores=True)
    os.kill(process.pid, signal.SIGINT)
    result = ended(process)
    assert (result["returncode"], result["stopped_by"], result["killed"]) == (-signal.SIGKILL, "SIGINT", True)
    assert result["stdout"] == "child: working\n"


def test_a_signal_while_a_child_starts_is_held_then_handed_over_not_raised_inside_popen():
    # Seen under load: Ctrl-C inside Popen or while the readers started left the child running, unreachable.
    from tools.lib.children import _signals_held

    before = signal.getsignal(signal.SIGINT)
    with _signals_held() as held:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between two bytecodes of this thread
            if held:
                break
    assert held == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is before
