"""The journal's states and sentences, and the output sink's redaction, tables and file writer."""

from __future__ import annotations

import io
import os

import pytest

from tests.conftest import TOKEN
from tools.lib import logger
from tools.lib.aws.errors import AwsError
from tools.lib.errors import ArdaMailError
from tools.lib.journal import Journal
from tools.lib.output import RedactingStream, Sink, append_file, table_lines, write_file


@pytest.fixture
def secret(monkeypatch):
    redactor = logger.RedactionFilter()
    monkeypatch.setattr(logger, "REDACTOR", redactor)
    redactor.add(TOKEN)
    return TOKEN


class Refusal(Exception):
    changed_nothing = True


def test_an_attempt_is_made_unsure_observed_or_forgotten():
    journal = Journal()
    with journal.attempt("a", done="did a", unsure="a may have happened"):
        pass
    with pytest.raises(KeyboardInterrupt), journal.attempt("b", done="did b", unsure="b may have happened"):
        raise KeyboardInterrupt
    with pytest.raises(Refusal), journal.attempt("c", done="did c", unsure="c may have happened"):
        raise Refusal()
    with pytest.raises(ArdaMailError), journal.attempt("d", done="did d", unsure="d may have happened"):
        raise ArdaMailError("the reply could not be read")
    asked = journal.attempt("e", done="did e", unsure="e may have happened", check=lambda: "the service shows e done")
    with pytest.raises(KeyboardInterrupt), asked:
        raise KeyboardInterrupt  # after the service acted, before its answer was read
    journal.unwind()
    assert journal.summary() == "did a; b may have happened; d may have happened; the service shows e done"
    assert [e.state for e in journal.entries] == ["made", "unsure", "unsure", "observed"]


def test_a_change_is_journaled_before_its_request_and_undone_by_asking_what_exists():
    journal, there = Journal(), {"made": False}

    def undo() -> bool:  # as the service answers: removed if it is there, nothing otherwise
        found, there["made"] = there["made"], False
        return found

    for acted in (False, True):  # stopped before the service acted, or after it acted and before the answer
        making = journal.making("cs", undo=undo, undone="deleted it", absent="none was made", manual="by hand")
        with pytest.raises(KeyboardInterrupt), making as entry:
            assert entry.state == "intended", "journaled before the request is sent"
            there["made"] = acted
            raise KeyboardInterrupt
    journal.unwind()
    assert journal.summary() == "none was made; deleted it"
    journal.unwind()  # an undo run twice changes nothing
    assert [e.state for e in journal.entries] == ["absent", "undone"]


def test_settling_a_change_that_the_service_refused_leaves_it_to_be_undone():
    from botocore.exceptions import ClientError

    journal, undone = Journal(), []
    entry = journal.change(
        "cs", undo=lambda: undone.append("cs") or True, undone="deleted", manual="delete by hand", done="ran"
    )
    refused = AwsError("execute failed")
    refused.__cause__ = ClientError({"Error": {"Code": "InvalidChangeSetStatus"}}, "ExecuteChangeSet")
    with pytest.raises(AwsError), journal.settling(entry, unsure="may have run", check=lambda: None):
        raise refused
    assert refused.changed_nothing and entry.state == "pending"
    with pytest.raises(AwsError), journal.settling(entry, unsure="may have run", check=lambda: None):
        raise AwsError("the connection dropped")  # no answer from AWS: it may have happened
    journal.unwind()
    assert undone == [] and journal.summary() == "may have run", "an execution that may have started is never undone"


@pytest.mark.parametrize(("happened", "said", "undone"), [(True, "ran", []), (False, "deleted", ["cs"])])
def test_a_stopped_execution_is_settled_or_undone_as_the_service_says(happened, said, undone):
    journal, removed = Journal(), []
    entry = journal.change(
        "cs", undo=lambda: removed.append("cs") or True, undone="deleted", manual="delete by hand", done="ran"
    )
    with pytest.raises(KeyboardInterrupt), journal.settling(entry, unsure="may have run", check=lambda: happened):
        raise KeyboardInterrupt
    journal.unwind()
    assert removed == undone and journal.summary() == said


def test_kept_and_settled_entries_are_never_undone():
    journal, undone = Journal(), []
    kept = journal.change("k", undo=lambda: undone.append("k"), undone="k undone", manual="k by hand")
    settled = journal.change("s", undo=lambda: undone.append("s"), undone="s undone", manual="s by hand", done="s ran")
    journal.keep(kept, "k left for review")
    journal.settle(settled)
    journal.unwind()
    assert undone == [] and journal.summary() == "k left for review; s ran"
    assert Journal().summary() == "nothing was changed"


def test_the_redacting_stream_finds_a_secret_written_in_pieces(secret):
    target = io.StringIO()
    stream = RedactingStream(target)
    stream.write(f"token {secret[:7]}")
    stream.write(f"{secret[7:]} and more\nnext {secret}")
    assert target.getvalue() == "token *** and more\n"
    stream.flush()
    assert target.getvalue() == "token *** and more\nnext ***"
    stream.write_unredacted(f"::add-mask::{secret}\n")
    assert target.getvalue().endswith(f"::add-mask::{secret}\n")


def test_one_table_printer():
    rows = [
        ("ACTION", "LOGICAL ID", "TYPE"),
        ("Add", "MailHostedZone", "AWS::Route53::HostedZone"),
        ("Remove", "X", "Y"),
    ]
    assert table_lines(rows) == [
        "  ACTION  LOGICAL ID      TYPE",
        "  Add     MailHostedZone  AWS::Route53::HostedZone",
        "  Remove  X               Y",
    ]
    out = io.StringIO()
    Sink(json_mode=False, human=out).table("title", rows, indent="")
    assert out.getvalue().splitlines()[1] == "ACTION  LOGICAL ID      TYPE"


def test_files_are_written_whole_redacted_and_never_through_a_symlink(tmp_path, secret):
    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched\n")
    link = tmp_path / "plan.md"
    link.symlink_to(target)
    (tmp_path / f".plan.md.{os.getpid()}.tmp").symlink_to(target)  # left by a crashed run with our PID
    write_file(link, f"the plan, not {secret}\n")
    assert not link.is_symlink() and link.read_text() == "the plan, not ***\n"
    assert target.read_text() == "untouched\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    summary = tmp_path / "step-summary"
    summary.symlink_to(target)
    with pytest.raises(OSError):  # ELOOP: O_NOFOLLOW
        append_file(summary, "x")
    assert target.read_text() == "untouched\n"
