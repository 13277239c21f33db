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
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tools.lib.errors import Terminated
from tools.lib.logger import MASK_COMMAND, register_secret, unescape_workflow_value

CLEANUP_GRACE_SECONDS = 120.0
MASK_PREFIX = MASK_COMMAND


def run_child(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float | None = None,
    heartbeat: tuple[float, Callable[[float, str], None]] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end (stdin closed, output captured); on a signal, forward it once and wait.

    ``heartbeat`` = (seconds, say): while the child runs, ``say(elapsed, last line it printed)``
    every ``seconds`` (never a ``::add-mask::`` line: it names a secret).
    """
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
    out: list[str] = []
    err: list[str] = []
    last = [""]

    def read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)
            if line.strip() and not line.startswith(MASK_PREFIX):
                last[0] = line.strip()

    readers = [threading.Thread(target=read, args=(process.stdout, out), daemon=True),
               threading.Thread(target=read, args=(process.stderr, err), daemon=True)]  # fmt: skip
    for reader in readers:
        reader.start()
    started = time.monotonic()
    interval = heartbeat[0] if heartbeat else None
    try:
        while True:
            try:
                process.wait(timeout=_next_wait(started, timeout, interval))
                break
            except subprocess.TimeoutExpired:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise
                if heartbeat is not None:
                    heartbeat[1](time.monotonic() - started, last[0])
    except (KeyboardInterrupt, Terminated) as stop:
        process.send_signal(signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM)
        try:
            process.wait(timeout=CLEANUP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(out), "".join(err))


def _next_wait(started: float, timeout: float | None, interval: float | None) -> float | None:
    """How long to wait for the child before the next heartbeat or the deadline."""
    waits = [
        w for w in (interval, None if timeout is None else timeout - (time.monotonic() - started)) if w is not None
    ]
    return max(0.0, min(waits)) if waits else None


def take_masks(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """A child's output without its ``::add-mask::`` lines, each value registered as this run's secret.

    On GitHub Actions a child masks the token by printing the workflow command; the
    parent captures the child's output, so the runner would never see it. Registering
    the value here redacts it from everything the parent prints or writes and prints
    the mask itself, where the runner reads it (once per value).
    """
    masks: list[str] = []

    def without_masks(text: str | None) -> str:
        kept = []
        for line in (text or "").splitlines(keepends=True):
            if line.startswith(MASK_COMMAND):
                masks.append(unescape_workflow_value(line[len(MASK_COMMAND) :].rstrip("\r\n")))
            else:
                kept.append(line)
        return "".join(kept)

    stdout, stderr = without_masks(result.stdout), without_masks(result.stderr)
    for value in masks:
        if len(value) >= 4:
            register_secret(value)
    return subprocess.CompletedProcess(result.args, result.returncode, stdout, stderr)
