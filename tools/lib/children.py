"""Running the operator's own commands as child processes, with signals handled once.

A child runs in a session (and process group) of its own, so a Ctrl-C at the
terminal reaches only the parent; the parent forwards the signal (SIGINT for
Ctrl-C, SIGTERM for SIGTERM) and waits, at most ``CLEANUP_GRACE_SECONDS``, for the
child to finish its own cleanup (its frame unwinds its journal and prints its last
line). A further signal during that wait is forwarded too: the child's frame then
stops its cleanup and says what is left. A child still running after the grace is
killed with its whole process group. ``subprocess.run`` would instead kill the child
a quarter of a second after Ctrl-C, in the middle of deleting a change set.

``run_command`` returns how the child ended, signal or not (``Ended``): whoever ran
it reports what the child said, then stops. ``run_child`` raises the signal again
for callers that only need the output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.lib import threads
from tools.lib.errors import Terminated
from tools.lib.logger import MASK_COMMAND, register_secret, unescape_workflow_value

# How long a child may take to clean up after a forwarded signal (a change set deleted, a stack's
# termination protection put back) before it is killed: documented in the README's rollout section.
CLEANUP_GRACE_SECONDS = 120.0
MASK_PREFIX = MASK_COMMAND
SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


@dataclass(frozen=True)
class Ended:
    """How a child command ended: its exit code, its whole output, and the signal that stopped it, if one did."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    stopped_by: str | None = None  # "SIGINT" or "SIGTERM": forwarded to the child while it ran
    killed: bool = False  # it had not ended CLEANUP_GRACE_SECONDS after the signal, and was killed

    def last_line(self) -> str:
        """What the child said last: its last line on stderr (people's stream), else on stdout; "" for none."""
        for stream in (self.stderr, self.stdout):
            lines = [line.strip() for line in stream.splitlines() if line.strip()]
            lines = [line for line in lines if not line.startswith(MASK_PREFIX)]
            if lines:
                return lines[-1]
        return ""

    def document(self) -> dict:
        """The child's ``--json`` document (its stdout), or {} when it printed none (or was killed mid-way)."""
        try:
            document = json.loads(self.stdout)
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}

    def stop(self) -> BaseException:
        """The exception that stops the parent the way the child was stopped."""
        return KeyboardInterrupt() if self.stopped_by == "SIGINT" else Terminated()


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float | None = None,
    heartbeat: tuple[float, Callable[[float, str], None]] | None = None,
    grace: float = CLEANUP_GRACE_SECONDS,
) -> Ended:
    """Run ``argv`` to its end (stdin closed, output captured); a signal meanwhile is forwarded, never raised.

    ``heartbeat`` = (seconds, say): while the child runs, ``say(elapsed, last line it printed)``
    every ``seconds`` (never a ``::add-mask::`` line: it names a secret). ``timeout``:
    the child is killed after that long and ``subprocess.TimeoutExpired`` raised.
    """
    out: list[str] = []
    err: list[str] = []
    last = [""]

    def read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)
            if line.strip() and not line.startswith(MASK_PREFIX):
                last[0] = line.strip()

    started = time.monotonic()
    interval = heartbeat[0] if heartbeat else None
    stopped_by, killed = None, False
    process: subprocess.Popen | None = None
    readers: list[threading.Thread] = []
    try:
        # A signal while the child starts is held until it has, then forwarded: raised inside Popen, it would
        # leave the child running in a session of its own, where no Ctrl-C reaches it.
        with _signals_held() as held:
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
            readers = [threads.start(read, process.stdout, out), threads.start(read, process.stderr, err)]
        if held:
            raise KeyboardInterrupt if held[0] == signal.SIGINT else Terminated()
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
        if process is None:
            raise
        stopped_by = "SIGINT" if isinstance(stop, KeyboardInterrupt) else "SIGTERM"
        killed = _wind_down(process, signal.SIGINT if stopped_by == "SIGINT" else signal.SIGTERM, grace)
    except BaseException:
        if process is not None:
            _kill(process)
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
    return Ended(list(process.args), process.returncode, "".join(out), "".join(err), stopped_by, killed)


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """SIGINT and SIGTERM recorded instead of raised inside the block (main thread only); the list of those held."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def hold(signum, _frame) -> None:
        if previous[signum] is not signal.SIG_IGN:
            held.append(signum)

    for signum in previous:
        signal.signal(signum, hold)
    try:
        yield held
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_child(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float | None = None,
    heartbeat: tuple[float, Callable[[float, str], None]] | None = None,
) -> subprocess.CompletedProcess:
    """``run_command``, for a caller that only needs the output: a signal is raised again once the child ended."""
    ended = run_command(argv, cwd=cwd, env=env, timeout=timeout, heartbeat=heartbeat)
    if ended.stopped_by is not None:
        raise ended.stop()
    return subprocess.CompletedProcess(ended.argv, ended.returncode, ended.stdout, ended.stderr)


def _wind_down(process: subprocess.Popen, signum: int, grace: float) -> bool:
    """Forward ``signum``, then wait at most ``grace`` seconds, forwarding any further signal; True if killed."""
    process.send_signal(signum)
    deadline = time.monotonic() + grace
    while True:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
            return False
        except subprocess.TimeoutExpired:
            _kill(process)
            return True
        except KeyboardInterrupt:  # the operator insists: the child's frame stops its cleanup and says what is left
            _forward(process, signal.SIGINT)
        except Terminated:
            _forward(process, signal.SIGTERM)


def _forward(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)


def _kill(process: subprocess.Popen) -> None:
    """Kill the child and whatever it started (its own process group: a linter, ``op``), then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def _next_wait(started: float, timeout: float | None, interval: float | None) -> float | None:
    """How long to wait for the child before the next heartbeat or the deadline."""
    waits = [
        w for w in (interval, None if timeout is None else timeout - (time.monotonic() - started)) if w is not None
    ]
    return max(0.0, min(waits)) if waits else None


def take_masks(ended: Ended) -> Ended:
    """A child's output without its ``::add-mask::`` lines, each value registered as this run's secret.

    On GitHub Actions a child masks the token by printing the workflow command; the
    parent captures the child's output, so the runner would never see it. Registering
    the value here redacts it from everything the parent prints or writes and prints
    the mask itself, where the runner reads it (once per value).
    """
    masks: list[str] = []

    def without_masks(text: str) -> str:
        kept = []
        for line in text.splitlines(keepends=True):
            if line.startswith(MASK_COMMAND):
                masks.append(unescape_workflow_value(line[len(MASK_COMMAND) :].rstrip("\r\n")))
            else:
                kept.append(line)
        return "".join(kept)

    stdout, stderr = without_masks(ended.stdout), without_masks(ended.stderr)
    for value in masks:
        if len(value) >= 4:
            register_secret(value)
    return Ended(ended.argv, ended.returncode, stdout, stderr, ended.stopped_by, ended.killed)
