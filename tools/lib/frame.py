"""One frame for every CLI: arguments, output, errors, signals and cleanup, handled once.

In the spirit of aws-cli's driver and Sceptre's ``catch_exceptions``. A command is a
``Command`` (its name, description and exit codes), a function that adds its own
arguments, and a body that does the work with a ``Run``::

    def main(argv=None) -> int:
        return frame.run(COMMAND, add_arguments, body, argv)

The frame gives every command the same behaviour:

- shared arguments: ``--json`` and ``--debug`` everywhere, ``--profile`` and
  ``--region`` for every command that talks to AWS; a bad command line is the usage
  and one line, exit 2;
- stdout and stderr are wrapped for the whole run so nothing reaches the terminal
  unredacted (``tools.lib.output``); under ``--json`` stdout holds exactly one JSON
  document, written at the end, and everything human goes to stderr;
- one exception base per layer, caught here once: ``instances`` and ``templates``
  errors exit 2, the tools layer's ``ArdaMailError`` with its own code, anything
  else is one "unexpected" line with exit 1 (``--debug`` adds the traceback);
- SIGINT (Ctrl-C) raises KeyboardInterrupt and SIGTERM raises ``Terminated`` where
  the program is, so the journal (``tools.lib.journal``) is unwound before the
  process leaves with 130 or 143; a first signal during that cleanup waits for it,
  a second one stops it (the last line then says what is left);
- the last line is built from the journal: what the run changed, undid or left;
- every run that fails ends with one ``<command>: error: ...`` line: a body that
  returns a failing exit code instead of raising gets its code's meaning from the
  command's exit table (better: raise an ``ArdaMailError`` that says what failed).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from instances.errors import InstanceError
from templates.errors import TemplateError
from tools.lib.errors import ArdaMailError, NotDone, Terminated, UsageError
from tools.lib.exits import Exit, epilog
from tools.lib.journal import Journal
from tools.lib.logger import NOISY_LOGGERS, Handler, forget_secrets, redact, stop_announcing
from tools.lib.output import RedactingStream, Sink
from tools.lib.output import install as install_console
from tools.lib.output import uninstall as uninstall_console

LOG = logging.getLogger(__name__)
_RUNNING: list[str] = []  # the commands running in this process, outermost first (tests nest them)

AWS_ENVIRONMENT = {
    "AWS_PROFILE, AWS_ENDPOINT_URL": "standard boto3 settings (--profile wins over AWS_PROFILE)",
}
# What exit 2 means for every command, unless it says more.
USAGE_MEANING = "bad arguments, unknown infrastructure or partition, bad instance config"


@dataclass(frozen=True)
class Command:
    """What a CLI is: its name (the prefix of its error lines), its help, and its exit codes."""

    name: str
    prog: str
    description: str
    exits: Mapping[Exit, str]
    aws: bool = False
    environment: Mapping[str, str] = field(default_factory=dict)

    def parser(self) -> Parser:
        """The argument parser with the shared arguments; the command adds its own."""
        environment = {**(AWS_ENVIRONMENT if self.aws else {}), **self.environment}
        parser = Parser(
            prog=self.prog,
            description=self.description,
            epilog=epilog({Exit.USAGE: USAGE_MEANING, **self.exits}, environment),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        shared = parser.add_argument_group("shared options")
        shared.add_argument(
            "--json", action="store_true", help="print one JSON document on stdout and nothing else (people: stderr)"
        )
        shared.add_argument("--debug", action="store_true", help="verbose logs and tracebacks (secrets stay redacted)")
        if self.aws:
            aws = parser.add_argument_group("AWS")
            aws.add_argument("--profile", help="AWS profile (default: the standard boto3 chain)")
            aws.add_argument("--region", help="AWS region; must be the one the instance config names")
        return parser


def add_target(parser: argparse.ArgumentParser) -> None:
    """The two positional arguments of every command that acts on one partition."""
    parser.add_argument("infrastructure", help="e.g. Alpha002")
    parser.add_argument("partition", help="dev, stage, demo or prod")


def subcommand_options() -> argparse.ArgumentParser:
    """The shared options again, for a subcommand's parser (``rehearse.py up --json`` as well as before ``up``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON document on stdout")
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="verbose logs and tracebacks")
    return parent


class Parser(argparse.ArgumentParser):
    """argparse, except that a bad command line raises UsageError for the frame to report."""

    def error(self, message: str):
        raise UsageError(message, usage=self.format_usage())


@dataclass
class Run:
    """One run of a command: its arguments, its output, its journal, and what it acts on."""

    command: Command
    args: argparse.Namespace
    out: Sink
    journal: Journal
    where: str | None = None  # the stack or partition every error line names
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


def run(
    command: Command,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    body: Callable[[Run], int],
    argv: list[str] | None = None,
    *,
    check: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Parse ``argv``, run ``body`` in the frame, and return the exit code (never raises, never exits)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in argv
    forget_secrets()
    real_out, real_err = sys.stdout, sys.stderr
    err = RedactingStream(real_err)
    human = err if json_mode else RedactingStream(real_out)
    sink = Sink(json_mode=json_mode, human=human, document_stream=real_out, progress_stream=err)
    journal = Journal()
    handler = Handler(err, debug="--debug" in argv)
    state = _Signals()
    current: Run | None = None
    sys.stdout, sys.stderr = human, err
    _install_logging(handler, debug="--debug" in argv)
    install_console(sink)
    state.install()
    code, kind, message = Exit.OK, "ok", ""
    returned = False  # the body returned a failing code: the outcome it wrote stands
    _RUNNING.append(command.name)
    try:
        try:
            parser = command.parser()
            add_arguments(parser)
            args = parser.parse_args(argv)
            if check is not None:
                check(args)
            current = Run(command, args, sink, journal)
            code = Exit(body(current))
            if code != Exit.OK:  # a failure returned, not raised: still one line, and the body's own outcome
                kind = "not-done" if code == Exit.NOT_DONE else "error"
                message, returned = command.exits.get(code, OUTCOMES.get(code, "failed")), True
        except SystemExit as exc:  # --help and --version: argparse printed, and says how it ended
            code = Exit.OK if exc.code in (0, None) else Exit.USAGE
        except UsageError as exc:
            if exc.usage and current is None:
                err.write(exc.usage)
            code, kind, message = Exit.USAGE, "error", str(exc)
        except KeyboardInterrupt:
            code, kind = Exit.INTERRUPTED, "interrupted"
        except Terminated:
            code, kind = Exit.TERMINATED, "terminated"
        except (InstanceError, TemplateError) as exc:
            LOG.debug("failed", exc_info=True)
            code, kind, message = Exit.USAGE, "error", str(exc)
        except ArdaMailError as exc:
            LOG.debug("failed", exc_info=True)
            # A step deliberately left undone (answered no, no --yes) is not an error: say so.
            kind = "not-done" if isinstance(exc, NotDone) else "error"
            code, message = Exit(exc.exit_code), str(exc)
        except Exception as exc:  # noqa: BLE001 - the one top-level handler: one redacted line, never a traceback
            LOG.debug("failed", exc_info=True)
            text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            code, kind = Exit.FAILED, "error"
            message = f"unexpected {text}; rerun with --debug for the traceback, and report it"
        code, kind = _clean_up(current, journal, state, code, kind)
        returned = returned and kind in ("error", "not-done")  # a signal during cleanup says how it ended
        line = _last_line(command, current, journal, kind, message)
        if line:
            err.write(line + "\n")
        if json_mode and not sink.emitted:
            _finish_document(command, sink, journal, code, "ok" if returned else kind, message)
            sink.emit_document()
    finally:
        state.restore()
        for stream in (human, err):
            with contextlib.suppress(Exception):
                stream.flush()
        if len(_RUNNING) == 1:  # the process's own run (a test may run a command inside another's)
            stop_announcing()  # before stdout is the document's stream again
        _RUNNING.pop()
        sys.stdout, sys.stderr = real_out, real_err
        _remove_logging(handler)
        uninstall_console(sink)
    return int(code)


def _clean_up(current: Run | None, journal: Journal, state: _Signals, code: Exit, kind: str) -> tuple[Exit, str]:
    """Unwind the journal and close the run's resources with signals held back; a signal then sets the code."""
    state.hold()
    try:
        journal.unwind()
        if current is not None:
            current.resources.close()
    except BaseException:  # noqa: BLE001 - a second signal stopped the cleanup: the journal says what is left
        journal.abandon("stopped by a second signal")
    signum = state.released()
    if signum == signal.SIGINT and kind != "interrupted":
        return Exit.INTERRUPTED, "interrupted"
    if signum == signal.SIGTERM and kind != "terminated":
        return Exit.TERMINATED, "terminated"
    return code, kind


def _last_line(command: Command, current: Run | None, journal: Journal, kind: str, message: str) -> str:
    """The one line a failed or stopped run ends with, built from the exception and the journal."""
    where = current.where if current is not None else None
    if kind == "ok":
        return ""
    if kind in ("error", "not-done"):
        text = " ".join(redact(message).split())
        if where and where not in text:
            text = f"{where}: {text}"
        if journal.entries:
            text += f"; {journal.summary()}"
        return f"{command.name}: {'error' if kind == 'error' else 'not done'}: {text}"
    how = "interrupted (Ctrl-C)" if kind == "interrupted" else "terminated (SIGTERM)"
    after = f" while {' '.join(redact(message).split())}" if message else ""
    return f"{command.name}: {how}{after}; {where + ': ' if where else ''}{journal.summary()}"


OUTCOMES = {
    Exit.FAILED: "failed",
    Exit.USAGE: "usage-error",
    Exit.REFUSED: "refused",
    Exit.NOT_DONE: "not-done",
    Exit.INTERRUPTED: "interrupted",
    Exit.TERMINATED: "terminated",
}


def _finish_document(command: Command, sink: Sink, journal: Journal, code: Exit, kind: str, message: str) -> None:
    """The frame's part of the JSON document: which command, how it ended, and what it changed."""
    document = {"command": command.name, "exit_code": int(code), **sink.document}
    if kind != "ok" or "outcome" not in document:
        document["outcome"] = "ok" if code == Exit.OK else OUTCOMES.get(code, "failed")
    if message:
        document["error"] = " ".join(redact(message).split())
    if journal.entries:
        document["journal"] = journal.to_list()
    sink.document = document


def _install_logging(handler: logging.Handler, *, debug: bool) -> None:
    root = logging.getLogger()
    root.addHandler(handler)
    # Logging is for --debug diagnostics (output.py: what a command says goes through its sink); without
    # --debug only a library's own warnings come through.
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


def _remove_logging(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)


class _Signals:
    """SIGTERM raises Terminated; during cleanup both signals are held, and a second one stops it."""

    def __init__(self) -> None:
        self._active = threading.current_thread() is threading.main_thread()
        self._previous: dict[int, object] = {}
        self._held: list[int] = []

    def install(self) -> None:
        if not self._active:
            return
        self._previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGTERM, _raise_terminated)

    def hold(self) -> None:
        if not self._active:
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, self._hold)

    def _hold(self, signum, _frame) -> None:
        self._held.append(signum)
        if len(self._held) >= 2:
            raise KeyboardInterrupt  # the operator insists: stop cleaning up

    def released(self) -> int | None:
        """The first signal held back during cleanup, if any."""
        return self._held[0] if self._held else None

    def restore(self) -> None:
        if not self._active:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _raise_terminated(_signum, _frame) -> None:
    raise Terminated()
