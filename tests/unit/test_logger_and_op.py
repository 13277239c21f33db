"""Redaction, GitHub Actions masks, and the 1Password resolver."""

from __future__ import annotations

import io
import json
import logging
import os

import pytest

from tests.conftest import STANDIN_BIN, TOKEN
from tools.lib import logger, op_resolver
from tools.lib.logger import REDACTED, RedactionFilter, Secret

REF = "op://Arda-Platform/PostmarkNonProd/credential"


@pytest.fixture
def fresh_redactor(monkeypatch):
    redactor = RedactionFilter()
    monkeypatch.setattr(logger, "REDACTOR", redactor)
    monkeypatch.setattr(logger, "_masked", set())
    monkeypatch.setattr(logger, "_announcing", True)  # as in a fresh process, before any frame ended a run
    return redactor


@pytest.fixture
def log_stream(fresh_redactor):
    """The frame's log handler (redacting), at DEBUG, writing to a string."""
    stream = io.StringIO()
    handler = logger.Handler(stream, debug=True)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_secret_prints_as_stars():
    secret = Secret(TOKEN)
    assert str(secret) == repr(secret) == f"{secret}" == "***"
    assert secret.reveal() == TOKEN
    assert TOKEN not in repr({"token": secret})


@pytest.mark.vcheck("V-PART-019")
def test_registered_secret_is_redacted_in_message_args_and_traceback(log_stream, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    logger.register_secret(TOKEN)
    log = logging.getLogger("tools.test")
    log.info("token is %s", TOKEN)
    log.warning(f"inline {TOKEN} too")
    try:
        raise RuntimeError(f"boom {TOKEN}")
    except RuntimeError:
        log.exception("failed with %r", {"t": TOKEN})
    text = log_stream.getvalue()
    assert TOKEN not in text
    assert text.count(REDACTED) >= 4
    assert "RuntimeError: boom ***" in text


def test_mask_is_printed_once_and_only_on_github_actions(fresh_redactor, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    logger.register_secret(TOKEN)
    logger.register_secret(TOKEN)
    assert capsys.readouterr().out == f"::add-mask::{TOKEN}\n"


@pytest.mark.parametrize("value", [None, "false", "1"])
def test_no_mask_outside_github_actions(fresh_redactor, monkeypatch, capsys, value):
    if value is None:
        monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    else:
        monkeypatch.setenv("GITHUB_ACTIONS", value)
    logger.register_secret(TOKEN)
    assert capsys.readouterr().out == ""


def test_tiny_secrets_are_refused(fresh_redactor):
    with pytest.raises(ValueError):
        fresh_redactor.add("ab")


@pytest.fixture
def op_env(monkeypatch, tmp_path, fresh_redactor):
    monkeypatch.setenv("PATH", f"{STANDIN_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("OP_STANDIN_SECRET", TOKEN)
    monkeypatch.setenv("OP_STANDIN_ARGV_LOG", str(tmp_path / "argv.log"))
    monkeypatch.delenv("OP_STANDIN_EXIT", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path / "argv.log"


def test_resolve_reads_stdout_and_registers_the_secret(op_env, fresh_redactor):
    secret = op_resolver.resolve(REF)
    assert secret.reveal() == TOKEN
    assert fresh_redactor.redact(f"x{TOKEN}x") == "x***x"
    (argv,) = [json.loads(line) for line in op_env.read_text().splitlines()]
    assert argv == ["read", "--no-newline", REF]


def test_resolve_strips_a_trailing_newline(op_env, monkeypatch):
    monkeypatch.setenv("OP_STANDIN_SECRET", TOKEN + "\n")
    assert op_resolver.resolve(REF).reveal() == TOKEN


def test_op_missing(monkeypatch, tmp_path, fresh_redactor):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(op_resolver.OnePasswordError, match="the 1Password CLI 'op' is not on PATH"):
        op_resolver.resolve(REF)


def test_op_failure_shows_stderr_never_stdout(op_env, monkeypatch):
    monkeypatch.setenv("OP_STANDIN_EXIT", "1")
    monkeypatch.setenv("OP_STANDIN_STDERR", "[ERROR] 2026/11/26 You are not currently signed in.")
    with pytest.raises(op_resolver.OnePasswordError) as info:
        op_resolver.resolve(REF)
    message = str(info.value)
    assert f"op read {REF} failed (exit 1): [ERROR] 2026/11/26 You are not currently signed in." in message
    assert "op whoami" in message
    assert TOKEN not in message


def test_op_empty_value(op_env, monkeypatch):
    monkeypatch.setenv("OP_STANDIN_SECRET", "  \n")
    with pytest.raises(op_resolver.OnePasswordError, match="returned an empty value"):
        op_resolver.resolve(REF)


def test_op_timeout(tmp_path, monkeypatch, fresh_redactor):
    slow = tmp_path / "op"
    slow.write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(op_resolver.OnePasswordError, match="did not answer within 0.2s"):
        op_resolver.resolve(REF, timeout=0.2)


def test_bad_reference_is_refused_before_running_op(monkeypatch, tmp_path, fresh_redactor):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(op_resolver.OnePasswordError, match="the 1Password reference must be a 1Password secret"):
        op_resolver.resolve("PostmarkNonProd")
