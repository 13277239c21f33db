"""Comments and docs that must stay true: the README's deploy steps are the code's, the dry run prints them."""

from __future__ import annotations

import re

import deploy
from tests.conftest import REPO
from tools.lib.deploy.steps import STEPS


def readme_steps() -> list[tuple[int, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Deploying a partition", 1)[1].split("\n## ", 1)[0]
    return [(int(n), name) for n, name in re.findall(r"^(\d+)\. \*\*([a-z-]+)\*\*", section, re.M)]


def test_the_readme_numbers_the_deploy_steps_as_the_code_does():
    assert readme_steps() == [(s.number, s.name) for s in STEPS]


def test_the_dry_run_and_deploy_py_use_the_same_numbers(run_cli):
    result = run_cli(deploy.main, ["Alpha002", "dev", "--dry-run"])
    numbered = re.findall(r"^(\d+)\. ([a-z-]+): ", result.stdout, re.M)
    assert [(int(n), name) for n, name in numbered] == [(s.number, s.name) for s in STEPS]
    listed = ", ".join(f"{s.number} {s.name}" for s in STEPS)
    assert " ".join(listed.split()) in " ".join(deploy.__doc__.split()), "deploy.py's docstring lists the steps"


def test_no_stale_words_about_polling_or_moved_files():
    for path in [REPO / "README.md", REPO / "setup.cfg", *REPO.glob("*.py"), *(REPO / "tools").rglob("*.py")]:
        if "node_modules" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "polling every second" not in text and "polls every second" not in text, path
        assert "tests/moto_compat.py" not in text and "rehearsal/moto_compat.py" not in text, path  # a package now
