"""The world's switches (``moto_compat.CONTROLS``), without a server: a request is a call to ``arrive``."""

from __future__ import annotations

import threading

import pytest

from tools.rehearsal.moto_compat import Controls
from tools.rehearsal.moto_compat.controls import WORLD_AGENT, Served, caller_of, most_at_once


def serve(controls: Controls, action: str, log: list[str]) -> threading.Thread:
    """A server thread answering one request as patch 11 does (a held one waits)."""

    def answer() -> None:
        held = controls.arrive(action)
        if held is not None:
            held.wait()
        log.append(action)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_a_held_request_waits_until_released_and_only_the_first_is_held():
    controls, log = Controls(), []
    controls.hold("DescribeChangeSet")
    assert controls.arrive("DescribeStacks") is None, "another action goes on"
    first = serve(controls, "DescribeChangeSet", log)
    assert controls.wait_for("DescribeChangeSet", timeout=5)
    assert not controls.wait_for("DeleteStack", timeout=0), "wait_for names the held action"
    assert controls.arrive("DescribeChangeSet") is None, "the second request for it is not held"
    assert log == []
    controls.release()
    first.join(5)
    assert log == ["DescribeChangeSet"]
    assert controls.seen == ["DescribeStacks", "DescribeChangeSet", "DescribeChangeSet"]


def test_a_hold_after_another_action_arms_on_that_action():
    controls = Controls()
    controls.hold("DescribeStackEvents", after="ExecuteChangeSet")
    assert controls.arrive("DescribeStackEvents") is None, "not yet: no ExecuteChangeSet came"
    assert controls.arrive("ExecuteChangeSet") is None
    held = controls.arrive("DescribeStackEvents")
    assert held is not None and held.when == "before"
    assert controls.arrive("DescribeStackEvents") is None


def test_a_hold_after_the_server_acted_is_marked_so():
    controls = Controls()
    controls.hold("ExecuteChangeSet", when="after")
    held = controls.arrive("ExecuteChangeSet")
    assert held is not None and held.when == "after"
    with pytest.raises(ValueError, match="'before' or 'after'"):
        controls.hold("ExecuteChangeSet", when="during")  # type: ignore[arg-type]


def test_a_new_hold_releases_the_one_before_and_reset_releases_everything():
    controls, log = Controls(), []
    controls.hold("DeleteStack")
    waiting = serve(controls, "DeleteStack", log)
    assert controls.wait_for("DeleteStack", timeout=5)
    controls.hold("DescribeChangeSet")
    waiting.join(5)
    assert log == ["DeleteStack"]
    controls.slow_execution = 4.0
    controls.lose_answer.add("ExecuteChangeSet")
    controls.drift_check_fails["Function"] = "Internal Failure"
    controls.latency_seconds = 0.06
    controls.served.append(Served("DescribeStacks", "cloudformation", "Boto3", 1.0, 1.1))
    controls.reset()
    assert (controls.slow_execution, controls.lose_answer, controls.drift_check_fails) == (0.0, set(), {})
    assert (controls.latency_seconds, controls.seen, controls.served) == (0.0, [], [])
    assert controls.arrive("DescribeChangeSet") is None, "nothing held"


def test_an_answer_is_lost_once_per_action_put_in():
    controls = Controls()
    controls.lose_answer.add("ExecuteChangeSet")
    assert not controls.answer_lost("CreateChangeSet")
    assert controls.answer_lost("ExecuteChangeSet")
    assert not controls.answer_lost("ExecuteChangeSet"), "the retry is answered"


def test_the_execution_flag_belongs_to_its_thread_and_its_request():
    controls, other = Controls(), []
    with controls.executing(retain_except_on_create=True):
        assert controls.retain_except_on_create
        thread = threading.Thread(target=lambda: other.append(controls.retain_except_on_create))
        thread.start()
        thread.join(5)
    assert other == [False]
    assert not controls.retain_except_on_create


# -- patch 21: a round trip per request ----------------------------------------------------------------------


def test_latency_delays_every_clients_request_and_never_the_worlds_own():
    controls = Controls()
    assert controls.latency_seconds == 0.0 and controls.latency_for("aws-cli") == 0.0, "off by default"
    controls.latency_seconds = 0.06
    assert controls.latency_for("aws-cli") == controls.latency_for("Boto3") == 0.06
    assert controls.latency_for(WORLD_AGENT) == 0.0, "the custom resource's handler runs inside AWS"
    controls.latency_seconds = -1.0
    assert controls.latency_for("Boto3") == 0.0


@pytest.mark.parametrize(
    ("user_agent", "caller"),
    [
        ("aws-cli/1.46.3 md/Botocore#1.43.62 ua/2.1 os/linux#6.18 md/arch#x86_64 lang/python#3.11.7", "aws-cli"),
        ("Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 cfg/retry-mode#standard Botocore/1.43.11", "Boto3"),
        (f"Boto3/1.43.11 md/Botocore#1.43.11 cfg/retry-mode#legacy {WORLD_AGENT} Botocore/1.43.11", WORLD_AGENT),
        ("", "unknown"),
    ],
)
def test_the_caller_is_read_from_the_user_agent(user_agent, caller):
    assert caller_of(user_agent) == caller


def test_most_at_once_counts_the_calls_in_flight_together():
    def call(arrived: float, answered: float) -> Served:
        return Served("DescribeStacks", "cloudformation", "Boto3", arrived, answered)

    one_after_another = [call(0.0, 1.0), call(1.0, 2.0), call(2.5, 3.0)]
    assert most_at_once(one_after_another) == 1, "an answer and the next request at the same instant do not overlap"
    assert most_at_once([call(0.0, 1.0), call(0.5, 1.5), call(0.9, 1.2)]) == 3
    assert most_at_once([]) == 0
