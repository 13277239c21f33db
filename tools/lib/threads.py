"""Helper threads that leave SIGINT and SIGTERM to the main thread.

The kernel delivers a signal sent to the process (Ctrl-C, ``kill``, a rollout passing it
on to its step) to any thread that does not block it. Python runs its handlers in the
main thread only, and a main thread blocked in a call (``waitpid`` on a child, ``recv``
on a held AWS request) is woken only when the signal reaches that very thread: when it
reached a helper (a reader of a child's output, a read started ahead), the main thread
slept on until its call ended by itself, and a rollout stopped with Ctrl-C ran on for as
long as its step did. Every helper thread here is born with both signals blocked, so
they reach the main thread, as a single-threaded program gets them.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def block_signals() -> None:
    """In the calling helper thread: SIGINT and SIGTERM are never delivered to it."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


@contextlib.contextmanager
def signals_kept_from_new_threads() -> Iterator[None]:
    """Threads started inside the block are born with both signals blocked (they inherit the mask). One that
    arrives meanwhile waits, then reaches this thread as the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start(target: Callable[..., object], *args: object, name: str | None = None) -> threading.Thread:
    """``target(*args)`` in a daemon thread that leaves signals to the main thread; started."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    with signals_kept_from_new_threads():
        thread.start()
    return thread


def pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose workers leave signals to the main thread."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=block_signals)
