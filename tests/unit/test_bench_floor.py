"""The generate benchmark's floor: exactly the troposphere and awacs modules a process really imported."""

from __future__ import annotations

import os

from tests.conftest import PYTHON, REPO
from tools.bench.generate import floor_modules, imported_modules


def test_the_floor_is_the_troposphere_and_awacs_modules_a_process_imported():
    imported = imported_modules([PYTHON, "-c", "import json, troposphere.route53, awacs.sts"], REPO, dict(os.environ))
    assert {"json", "troposphere", "troposphere.route53", "awacs", "awacs.sts", "cfn_flip"} <= imported
    assert "imported package" not in imported  # -X importtime's header is not a module
    modules = floor_modules(imported)
    assert {"troposphere", "troposphere.route53", "awacs", "awacs.sts"} <= set(modules)
    assert {m.split(".")[0] for m in modules} == {"troposphere", "awacs"}  # not json, not what troposphere imports
    assert modules == sorted(modules)
