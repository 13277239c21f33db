"""The layers, checked: an AST scan of every module's imports (not a grep), and the hacks that must not return.

instances/ ← templates/ ← tools/lib/ ← the CLIs (deploy.py, generate.py, tools/*.py).
The rehearsal world (tools/rehearsal/) serves the tests, ``tools/rehearse.py`` and
the benchmarks only; the product never imports it, nor moto, nor the tests.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FIRST_PARTY = {"instances", "templates", "tools", "tests", "deploy", "generate"}
CLI_MODULES = {
    "deploy",
    "generate",
    "tools.register_partition_mail_signature",
    "tools.rotate_dkim",
    "tools.verify_partition_mail",
    "tools.rollout",
    "tools.rehearse",
    "tools.bench_generate",
    "tools.bench_deploy",
    "tools.bench.generate",
    "tools.bench.deploy",
}
# Third-party packages the AWS Lambda runtime provides to the inlined delegation handler.
LAMBDA_RUNTIME = {"boto3", "botocore"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def files(*folders: str) -> list[Path]:
    found = []
    for folder in folders:
        target = REPO / folder
        found += [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
    return [p for p in found if "node_modules" not in p.parts]


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, absolute names (``from a import b`` gives a and a.b)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def first_party(path: Path) -> set[str]:
    return {name for name in imports(path) if name.split(".")[0] in FIRST_PARTY}


def third_party(path: Path) -> set[str]:
    return {
        name.split(".")[0]
        for name in imports(path)
        if name.split(".")[0] not in FIRST_PARTY and name.split(".")[0] not in sys.stdlib_module_names
    }


PRODUCT = files("deploy.py", "generate.py", "instances", "templates", "tools/lib") + [
    p for p in files("tools") if p.parent == REPO / "tools" and not p.name.startswith(("rehearse", "bench"))
]
TEST_ONLY_USERS = ("tests", "tools.rehearse", "tools.rehearsal", "tools.bench")


def test_only_the_tests_the_rehearsal_and_the_benchmarks_use_the_rehearsal_world():
    offenders = {
        f"{module_name(p)}: {name}"
        for p in files("deploy.py", "generate.py", "instances", "templates", "tools")
        if not module_name(p).startswith(TEST_ONLY_USERS)
        for name in imports(p)
        if name.startswith("tools.rehearsal")
    }
    assert offenders == set()


def test_instances_import_only_the_standard_library_and_themselves():
    offenders = {
        f"{module_name(p)}: {name}"
        for p in files("instances")
        for name in first_party(p) | third_party(p)
        if not name.startswith("instances")
    }
    assert offenders == set()


def test_templates_import_only_instances_and_themselves():
    offenders = {
        f"{module_name(p)}: {name}"
        for p in files("templates")
        for name in first_party(p)
        if not name.startswith(("instances", "templates"))
    }
    assert offenders == set()
    allowed = {"troposphere", "awacs"} | LAMBDA_RUNTIME
    assert {f"{module_name(p)}: {n}" for p in files("templates") for n in third_party(p) - allowed} == set()
    handler = REPO / "templates" / "ns_delegation_handler.py"
    assert first_party(handler) == set(), "the inlined Lambda handler stands alone"
    assert {module_name(p) for p in files("templates") if third_party(p) & LAMBDA_RUNTIME} == {
        "templates.ns_delegation_handler"
    }, "only the Lambda handler talks to AWS"


def test_the_library_never_imports_a_cli():
    offenders = {
        f"{module_name(p)}: {name}"
        for p in files("tools/lib")
        for name in first_party(p)
        if name in CLI_MODULES or name.split(".")[0] in ("deploy", "generate") or name.startswith("tests")
    }
    assert offenders == set()


def test_the_product_never_imports_the_rehearsal_world_moto_or_the_tests():
    offenders = {
        f"{module_name(p)}: {name}"
        for p in PRODUCT
        for name in imports(p)
        if name.startswith(("tools.rehearsal", "tests", "moto"))
    }
    assert offenders == set()


@pytest.mark.parametrize("layer", ["instances", "templates"])
def test_each_layer_defines_its_own_errors(layer):
    """Exception classes of a layer live in its errors module, or derive from that module's base."""
    for path in files(layer):
        if path.name == "ns_delegation_handler.py":
            continue  # Lambda code, inlined into the template: it stands alone and defines its own
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and path.name != "errors.py":
                bases = {ast.unparse(b) for b in node.bases}
                assert not bases & {"Exception", "ValueError", "RuntimeError", "BaseException"}, (
                    f"{module_name(path)}.{node.name} should derive from {layer}.errors"
                )
    assert (REPO / layer / "errors.py").is_file()


# The one module stand-in the product keeps: the deferred cfn_flip (templates/__init__.py says why, with numbers).
PLANTED_ALLOWED = {"templates": "sys.modules['cfn_flip']"}


def test_no_module_is_planted_in_sys_modules_and_nothing_skips_teardown():
    for path in PRODUCT:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    written = ast.unparse(target)
                    if "sys.modules" in written:
                        assert PLANTED_ALLOWED.get(module_name(path)) == written, f"{path}: writes {written}"
            if isinstance(node, ast.Call):
                assert ast.unparse(node.func) != "os._exit", f"{path}: leaves through os._exit"


# Function-local imports the product keeps, each for a reason other than speed.
LOCAL_IMPORTS_ALLOWED = {
    # requests (about 0.1 s of every deploy's start) loads when Postmark is first called: deploy.py starts its
    # cfn-lint child that much sooner (measured with tools/bench/deploy.py, closing note of stop 16).
    ("tools.lib.postmark_client", "requests"),
    ("tools.lib.postmark_client", "urllib3.exceptions"),  # loads with requests, for the same reason
    # The lint worker runs isolated (python -I): cfn-lint is imported after the template is read from stdin.
    ("tools.lib.cfn_lint_worker", "cfnlint.api"),
}


def test_function_local_imports_are_the_documented_few():
    found = set()
    for path in PRODUCT:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom):
                    found.add((module_name(path), node.module))
                elif isinstance(node, ast.Import):
                    found |= {(module_name(path), alias.name) for alias in node.names}
    assert found == LOCAL_IMPORTS_ALLOWED
