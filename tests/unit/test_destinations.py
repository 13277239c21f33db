"""Where a command may write: never under /proc, /sys or /dev, refused before anything runs (exit 2).

The rollout's --evidence-dir (and ROLLOUT_EVIDENCE_ROOT) and deploy.py's
--summary-file. Old code: ``--evidence-dir /proc/x`` passed the writability check
(root may write to /proc) and ended in "unexpected FileNotFoundError", exit 1.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.clock import FakeClock
from tests.conftest import REPO
from tools.lib.output import kernel_filesystem_problem


def via_symlink(tmp_path: Path) -> Path:
    link = tmp_path / "looks-like-a-folder"
    link.symlink_to("/proc/self")
    return link / "evidence"


KERNEL_PATHS = [
    (lambda tmp: Path("/proc/x"), "it is under /proc, a kernel file system, not storage"),
    (lambda tmp: Path("/sys/kernel/x"), "it is under /sys, a kernel file system, not storage"),
    (lambda tmp: Path("/dev/null"), "it is under /dev, a kernel file system, not storage"),
    (lambda tmp: Path("/dev/shm/evidence"), "it is under /dev, a kernel file system, not storage"),
    (lambda tmp: Path("/proc"), "it is under /proc, a kernel file system, not storage"),
    (via_symlink, "it is under /proc, a kernel file system, not storage"),
]


@pytest.mark.parametrize(("path", "error"), KERNEL_PATHS)
def test_a_path_under_a_kernel_file_system_is_no_destination(tmp_path, path, error):
    assert kernel_filesystem_problem(path(tmp_path)) == error


@pytest.mark.parametrize("path", [Path("/tmp/x"), Path("relative/evidence"), Path("/procedures/x"), Path("/device")])
def test_other_paths_are_not_refused_for_it(path):
    assert kernel_filesystem_problem(path) is None


class NoStep:
    """A rollout runner that fails the test if anything runs."""

    def run(self, argv, label):
        raise AssertionError(f"a step ran: {argv}")

    def check_account(self, config):
        pass

    def exports(self, config):
        raise AssertionError("exports read")


@pytest.mark.parametrize(("path", "error"), KERNEL_PATHS)
def test_the_rollout_refuses_such_an_evidence_folder_before_any_step(tmp_path, run_cli, path, error):
    from tools import rollout as cli

    where = path(tmp_path)
    shutil.copytree(REPO / "instances", tmp_path / "instances", ignore=shutil.ignore_patterns("__pycache__"))
    argv = ["dev", "--yes", "--evidence-dir", str(where)]
    result = run_cli(cli.main, argv, checkout=tmp_path, runner=NoStep(), clock=FakeClock().clock())
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"rollout: error: --evidence-dir must be a folder this user can write, got: {str(where)!r} ({error})"
    )


def test_the_rollout_refuses_an_evidence_root_there_too(tmp_path, run_cli, monkeypatch):
    from tools import rollout as cli

    monkeypatch.setenv("ROLLOUT_EVIDENCE_ROOT", "/proc/evidence")
    result = run_cli(cli.main, ["dev", "--yes"], runner=NoStep(), clock=FakeClock().clock())
    assert result.returncode == 2 and "(it is under /proc, a kernel file system, not storage)" in result.stderr


@pytest.mark.parametrize(("path", "error"), KERNEL_PATHS)
def test_deploy_refuses_such_a_summary_file_before_anything_runs(tmp_path, run_cli, path, error):
    import deploy

    where = path(tmp_path)
    result = run_cli(deploy.main, ["Alpha002", "dev", "--plan", "--summary-file", str(where)])
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "deploy: error: --summary-file must be a file in an existing folder this user can write, got: "
        f"{str(where)!r} ({error})"
    )
