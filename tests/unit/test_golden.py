"""The committed YAML is the golden: it must equal what the code renders now."""

from __future__ import annotations

import difflib

import pytest

from instances.registry import load_registry
from templates.render import read_handler_source, render, template_path

REGISTRY = load_registry()


@pytest.mark.parametrize("partition", list(REGISTRY.partitions))
@pytest.mark.vcheck("V-IAC-003")
def test_committed_template_matches_the_code(partition):
    config = REGISTRY.partition(partition)
    path = template_path(config)
    assert path.is_file(), f"{path.name} is not committed; run: python generate.py {partition}"
    committed = path.read_text(encoding="utf-8")
    rendered = render(config, read_handler_source())
    if committed != rendered:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                f"{path.name} (committed)",
                f"{path.name} (rendered)",
            )
        )
        pytest.fail(f"{path.name} is stale; run: python generate.py {partition}\n{diff}")


@pytest.mark.vcheck("V-IAC-005")
def test_committed_template_passes_cfn_lint_without_warnings():
    from cfnlint.api import lint

    for config in REGISTRY.partitions.values():
        text = template_path(config).read_text(encoding="utf-8")
        assert [str(m) for m in lint(text, regions=[config.infrastructure.region])] == []
