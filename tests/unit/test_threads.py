"""Helper threads leave SIGINT and SIGTERM to the main thread (tools/lib/threads.py): a process-directed signal
reaches the main thread, which alone runs Python's handlers and is woken from a blocking call by it."""

from __future__ import annotations

import dataclasses
import signal

from tools.lib import threads
from tools.lib.deploy import modes

SIGNALS = {signal.SIGINT, signal.SIGTERM}


def blocked_here() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def test_a_helper_thread_is_born_blocking_both_signals_and_the_main_thread_is_left_as_it_was():
    before = blocked_here()
    seen = []
    threads.start(lambda: seen.append(blocked_here())).join(5)
    assert SIGNALS <= seen[0]
    assert blocked_here() == before


def test_a_pools_workers_block_both_signals():
    pool = threads.pool(2, "probe")
    try:
        assert all(SIGNALS <= mask for mask in pool.map(lambda _: blocked_here(), range(4)))
    finally:
        pool.shutdown()


def test_a_read_started_ahead_blocks_both_signals():
    from tests.unit.test_deploy_sequence import aws_over, make

    ctx = dataclasses.replace(make(aws_over()).ctx, side_by_side=2)
    assert SIGNALS <= modes.ahead(ctx, blocked_here)()
