"""Comments and docs that must stay true: docs/deploy.md's deploy steps are the code's, the dry run prints them."""

from __future__ import annotations

import re

import deploy
from instances.registry import PARTITION_IDS, load_registry
from tests.conftest import REPO
from tools.lib.deploy.steps import STEPS


def documented_steps() -> list[tuple[int, str]]:
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("\n## The sequence\n", 1)[1].split("\n## ", 1)[0]
    return [(int(n), name) for n, name in re.findall(r"^(\d+)\. \*\*([a-z-]+)\*\*", section, re.M)]


def test_the_deploy_doc_numbers_the_deploy_steps_as_the_code_does():
    assert documented_steps() == [(s.number, s.name) for s in STEPS]


def test_the_dry_run_and_deploy_py_use_the_same_numbers(run_cli):
    result = run_cli(deploy.main, ["Alpha002", "dev", "--dry-run"])
    numbered = re.findall(r"^(\d+)\. ([a-z-]+): ", result.stdout, re.M)
    assert [(int(n), name) for n, name in numbered] == [(s.number, s.name) for s in STEPS]
    listed = ", ".join(f"{s.number} {s.name}" for s in STEPS)
    assert " ".join(listed.split()) in " ".join(deploy.__doc__.split()), "deploy.py's docstring lists the steps"


def test_no_stale_words_about_polling_or_moved_files():
    docs = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    for path in [*docs, REPO / "setup.cfg", *REPO.glob("*.py"), *(REPO / "tools").rglob("*.py")]:
        if "node_modules" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert "polling every second" not in text and "polls every second" not in text, path
        assert "tests/moto_compat.py" not in text and "rehearsal/moto_compat.py" not in text, path  # a package now


# -- references: every link and every path a doc names exists ---------------------------------------

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP = ("instances/", "templates/", "tools/", "tests/", "docs/", ".github/", ".ci/")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_every_link_between_the_docs_reaches_a_file_and_a_heading():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file, _, fragment = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif fragment and fragment not in anchors(path):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert broken == []


def to_be_made(path: str) -> bool:
    """The instance file or template of a partition not active here: what the runbook makes to activate it."""
    inactive = "|".join(p for p in PARTITION_IDS if p not in load_registry().partitions)
    return bool(inactive) and re.search(rf"(/({inactive})\.toml|-({inactive})-Email\.yaml)$", path) is not None


def test_every_path_a_doc_names_exists():
    missing = []
    for doc in DOCS:
        if doc.name == "permissions.md":
            continue  # generated from templates/permissions.py
        for span in re.findall(r"`([^`\s]+)`", doc.read_text(encoding="utf-8")):
            path = span.split("::")[0].rstrip(",.:;")
            if path.startswith(TOP) and not any(c in path for c in "<>*{}$") and not to_be_made(path):
                if not (REPO / path).exists():
                    missing.append(f"{doc.name}: {span}")
    assert missing == []
