"""The CLI frame, in-process: one behaviour for every command (errors, signals, --json, redaction, the journal)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

import pytest

from instances.errors import ConfigError
from templates.errors import PropsError
from tests.conftest import TOKEN
from tools.lib import frame
from tools.lib.errors import ArdaMailError, NotDone, Refused, Terminated
from tools.lib.exits import Exit
from tools.lib.logger import register_secret

COMMAND = frame.Command(
    name="probe",
    prog="probe.py",
    description="A command made for these tests.",
    exits={Exit.OK: "fine", Exit.FAILED: "not fine"},
    aws=True,
)


def add_arguments(parser) -> None:
    parser.add_argument("target")


def run(body, *argv, capsys, check=None):
    code = frame.run(COMMAND, add_arguments, body, ["here", *argv], check=check)
    out, err = capsys.readouterr()
    return code, out, err


def changes(run: frame.Run, undone: list, fail: bool = False) -> None:
    """Two journaled changes; the second one's undo can fail."""
    run.journal.change("first", undo=lambda: undone.append("first"), undone="first undone", manual="undo first by hand")

    def second():
        if fail:
            raise ArdaMailError("AWS said no")
        undone.append("second")

    run.journal.change("second", undo=second, undone="second undone", manual="undo second by hand")


def test_the_shared_arguments_and_the_exit_code_table_are_in_help(capsys):
    code, out, _ = run(lambda r: 0, "--help", capsys=capsys)
    assert code == 0
    for text in ("--json", "--debug", "--profile", "--region", "exit codes:", "130", "143", "not fine"):
        assert text in out


def test_a_bad_command_line_is_the_usage_and_one_line(capsys):
    code, out, err = run(lambda r: 0, "--bogus", capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: probe.py")
    assert err.splitlines()[-1] == "probe: error: unrecognized arguments: --bogus"


def test_under_json_even_a_bad_command_line_is_one_document(capsys):
    code, out, err = run(lambda r: 0, "--json", "--bogus", capsys=capsys)
    assert code == 2
    document = json.loads(out)
    assert document["exit_code"] == 2 and document["outcome"] == "usage-error"
    assert "unrecognized arguments: --bogus" in document["error"]


def test_every_channel_is_redacted(capsys, caplog):
    def body(run):
        register_secret(TOKEN)
        print(f"stdout {TOKEN}")
        print(f"stderr {TOKEN[:10]}", end="", file=sys.stderr)  # a secret written in pieces is found whole
        print(f"{TOKEN[10:]} end", file=sys.stderr)
        logging.getLogger("probe").warning("log %s", TOKEN)
        run.out.result(f"line {TOKEN}")
        run.out.document["leak"] = TOKEN
        raise ArdaMailError(f"error {TOKEN}")

    code, out, err = run(body, capsys=capsys)
    assert code == 1
    assert TOKEN not in out + err and "stdout ***" in out and "stderr *** end" in err
    assert err.splitlines()[-1] == "probe: error: error ***"
    code, out, err = run(body, "--json", capsys=capsys)
    assert TOKEN not in out + err
    assert json.loads(out)["leak"] == "***"


def test_json_means_one_document_on_stdout_and_people_read_stderr(capsys):
    def body(run):
        print("a stray print")
        run.out.result("a human line")
        run.out.document["answer"] = 42
        return Exit.OK

    code, out, err = run(body, "--json", capsys=capsys)
    assert code == 0
    assert json.loads(out) == {"command": "probe", "exit_code": 0, "answer": 42, "outcome": "ok"}
    assert "a stray print" in err and "a human line" in err


def test_a_secret_a_read_learns_after_the_run_ended_is_redacted_but_never_announced(capsys, monkeypatch):
    """A read a signal did not wait for may learn a secret after the run's last line: on GitHub Actions its mask
    line went to stdout, past the ``--json`` document (and into whatever file held it). Inside the run it is the
    one line written past the redaction, on stderr under --json."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    def body(run):
        register_secret("learnt-during-the-run-0001")
        run.out.document["answer"] = 42
        return Exit.OK

    code, out, err = run(body, "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["answer"] == 42
    assert "::add-mask::learnt-during-the-run-0001" in err
    register_secret("learnt-after-the-run-0002")  # as a thread the run left behind
    late_out, late_err = capsys.readouterr()
    assert late_out == "" and late_err == "", "no mask line after the document"
    from tools.lib.logger import redact

    assert redact("learnt-after-the-run-0002") == "***", "still redacted"


def test_a_command_run_inside_another_leaves_its_masking_on(capsys, monkeypatch):
    """As a rollout's step run in its process (the tests' runner): the step's end is not the rollout's."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")

    def body(run):
        assert frame.run(COMMAND, add_arguments, lambda inner: Exit.OK, ["inner"]) == 0
        register_secret("learnt-after-the-step-0003")
        return Exit.OK

    code, out, _ = run(body, capsys=capsys)
    assert code == 0 and "::add-mask::learnt-after-the-step-0003" in out


@pytest.mark.parametrize(
    ("error", "code", "outcome"),
    [
        (ConfigError("instances/x.toml: bad"), 2, "usage-error"),
        (PropsError("PartitionEmailProps.x must be y"), 2, "usage-error"),
        (Refused("no"), 3, "refused"),
        (NotDone("left"), 4, "not-done"),
        (ArdaMailError("failed"), 1, "failed"),
    ],
)
def test_each_layer_has_one_base_and_the_table_has_its_code(capsys, error, code, outcome):
    def body(run):
        raise error

    got, out, err = run(body, "--json", capsys=capsys)
    assert got == code and json.loads(out)["outcome"] == outcome
    label = "not done" if isinstance(error, NotDone) else "error"  # left undone on purpose is no error
    assert err.splitlines() == [f"probe: {label}: {error}"]


def test_a_failing_code_returned_instead_of_raised_still_ends_with_one_error_line(capsys):
    # Old code: a body that printed its table and returned 1 ended without any error line.
    def body(r):
        r.where = "Alpha002-dev-Email"
        r.out.document["outcome"] = "stale"
        return Exit.FAILED

    code, _, err = run(body, capsys=capsys)
    assert (code, err) == (1, "probe: error: Alpha002-dev-Email: not fine\n")
    code, out, err = run(body, "--json", capsys=capsys)
    document = json.loads(out)
    assert code == 1 and err.splitlines()[-1] == "probe: error: Alpha002-dev-Email: not fine"
    assert document["outcome"] == "stale" and document["error"] == "not fine", "the body's own outcome stands"


def test_an_unexpected_exception_is_one_line_and_debug_adds_the_traceback(capsys):
    def body(run):
        register_secret(TOKEN)
        raise KeyError(f"deep {TOKEN}")

    code, _, err = run(body, capsys=capsys)
    assert code == 1 and "Traceback" not in err
    assert err.splitlines() == [
        "probe: error: unexpected KeyError: 'deep ***'; rerun with --debug for the traceback, and report it"
    ]
    code, _, err = run(body, "--debug", capsys=capsys)
    assert "Traceback" in err and TOKEN not in err


def test_an_error_unwinds_the_journal_and_the_last_line_says_so(capsys):
    undone = []

    def body(run):
        run.where = "Stack-1"
        changes(run, undone)
        raise Refused("the guard said no")

    code, _, err = run(body, capsys=capsys)
    assert code == 3 and undone == ["second", "first"], "newest first"
    assert err.splitlines()[-1] == "probe: error: Stack-1: the guard said no; first undone; second undone"


def test_a_failed_undo_leaves_the_command_that_finishes_it(capsys):
    undone = []

    def body(run):
        changes(run, undone, fail=True)
        raise ArdaMailError("boom")

    code, out, err = run(body, "--json", capsys=capsys)
    assert code == 1 and undone == ["first"]
    assert err.splitlines()[-1] == "probe: error: boom; first undone; undo second by hand (AWS said no)"
    assert [e["state"] for e in json.loads(out)["journal"]] == ["undone", "left"]


@pytest.mark.parametrize(
    ("stop", "code", "how"),
    [(KeyboardInterrupt, 130, "interrupted (Ctrl-C)"), (Terminated, 143, "terminated (SIGTERM)")],
)
def test_a_signal_unwinds_then_leaves_with_its_code_and_one_line(capsys, stop, code, how):
    undone = []

    def body(run):
        run.where = "Stack-1"
        changes(run, undone)
        raise stop()

    got, out, err = run(body, capsys=capsys)
    assert got == code and undone == ["second", "first"]
    assert err.splitlines() == [f"probe: {how}; Stack-1: first undone; second undone"]
    assert "Traceback" not in err


def test_a_signal_before_any_change_says_nothing_was_changed(capsys):
    def body(run):
        raise KeyboardInterrupt

    assert run(body, capsys=capsys)[2].splitlines() == ["probe: interrupted (Ctrl-C); nothing was changed"]


def test_sigterm_really_raises_where_the_program_is(capsys):
    undone = []

    def body(run):
        changes(run, undone)
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the body")

    code, _, err = run(body, capsys=capsys)
    assert code == 143 and undone == ["second", "first"]
    assert err.splitlines() == ["probe: terminated (SIGTERM); first undone; second undone"]


def test_one_signal_during_cleanup_waits_for_it_and_a_second_stops_it(capsys):
    undone = []

    def body(run):
        def patient():
            os.kill(os.getpid(), signal.SIGTERM)  # held back: this undo finishes
            undone.append("patient")

        def insistent():
            os.kill(os.getpid(), signal.SIGINT)  # the second signal: cleanup stops here
            undone.append("never")

        run.journal.change("a", undo=lambda: undone.append("a"), undone="a undone", manual="undo a by hand")
        run.journal.change("b", undo=insistent, undone="b undone", manual="undo b by hand")
        run.journal.change("c", undo=patient, undone="c undone", manual="undo c by hand")
        raise ArdaMailError("failed")

    code, _, err = run(body, capsys=capsys)
    assert undone == ["patient"], "c is undone despite the first signal; b and a are left after the second"
    assert code == 143, "the first signal held back sets the exit code"
    assert err.splitlines()[-1] == (
        "probe: terminated (SIGTERM) while failed; undo a by hand (stopped by a second signal); "
        "undo b by hand (stopped by a second signal); c undone"
    )


def test_the_frame_puts_back_what_it_borrowed(capsys):
    stdout, stderr = sys.stdout, sys.stderr
    handlers = list(logging.getLogger().handlers)
    sigterm = signal.getsignal(signal.SIGTERM)
    run(lambda r: 0, capsys=capsys)
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    assert logging.getLogger().handlers == handlers
    assert signal.getsignal(signal.SIGTERM) == sigterm


def test_a_check_of_the_arguments_is_a_usage_error_with_the_usage(capsys):
    def check(args):
        from tools.lib.errors import UsageError

        raise UsageError("--x goes with --y")

    code, _, err = run(lambda r: 0, capsys=capsys, check=check)
    assert code == 2
    assert err.splitlines()[-1] == "probe: error: --x goes with --y"


@pytest.mark.parametrize("name", ["deploy", "generate", "register", "rotate", "verify", "rollout", "rehearse"])
def test_every_cli_runs_in_the_frame_and_a_bad_command_line_is_one_json_document(run_cli, name):
    import importlib

    module = importlib.import_module(
        {
            "deploy": "deploy",
            "generate": "generate",
            "register": "tools.register_partition_mail_signature",
            "rotate": "tools.rotate_dkim",
            "verify": "tools.verify_partition_mail",
            "rollout": "tools.rollout",
            "rehearse": "tools.rehearse",
        }[name]
    )
    assert module.COMMAND.name == name
    result = run_cli(module.main, ["--json", "--no-such-flag"])
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["command"] == name and document["outcome"] == "usage-error" and document["error"]
    assert result.stderr.startswith("usage: ") and result.stderr.splitlines()[-1].startswith(f"{name}: error: ")
    help_text = run_cli(module.main, ["--help"]).stdout
    assert "--json" in help_text and "--debug" in help_text and "130" in help_text and "143" in help_text
    assert ("--profile" in help_text and "--region" in help_text) == module.COMMAND.aws
