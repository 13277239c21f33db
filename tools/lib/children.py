"""Running the operator's own commands as child processes, with signals handled once.

A child runs in a session of its own, so a Ctrl-C at the terminal reaches only the
parent; the parent forwards exactly one signal (SIGINT for Ctrl-C, SIGTERM for
SIGTERM) and waits for the child to finish its own cleanup (its frame unwinds its
journal), then re-raises. ``subprocess.run`` would instead kill the child a quarter
of a second after Ctrl-C, in the middle of deleting a change set.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tools.lib.errors import Terminated

CLEANUP_GRACE_SECONDS = 120.0


def run_child(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end (stdin closed, output captured); on a signal, forward it once and wait."""
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except (KeyboardInterrupt, Terminated) as stop:
        process.send_signal(signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM)
        try:
            process.communicate(timeout=CLEANUP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        raise
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
