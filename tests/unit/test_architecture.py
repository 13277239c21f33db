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


# The AWS layer (tools/lib/aws/): the one place that makes clients, translates botocore's errors and pages.
AWS_LAYER = "tools.lib.aws"
LAMBDA_HANDLER = "templates.ns_delegation_handler"  # runs in AWS Lambda, inlined into the template: stands alone


def calls_named(path: Path, *names: str) -> list[str]:
    """Each attribute in ``path`` named one of ``names`` (``session.client``...), and each bare name of them
    other than ``client`` (a variable holding the Postmark client is not AWS's)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in names:
            found.append(f"{module_name(path)}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and node.id in names and node.id != "client":
            found.append(f"{module_name(path)}:{node.lineno}: {node.id}")
    return found


OUTSIDE_THE_AWS_LAYER = [
    p for p in PRODUCT if not module_name(p).startswith(AWS_LAYER) and module_name(p) != LAMBDA_HANDLER
]


def test_only_the_aws_layer_imports_boto3_or_botocore():
    offenders = {
        f"{module_name(p)}: {name}" for p in OUTSIDE_THE_AWS_LAYER for name in third_party(p) if name in LAMBDA_RUNTIME
    }
    assert offenders == set()


def test_only_the_aws_layer_makes_clients_pages_or_translates_errors():
    """No ``session.client``, paginator, direct client use or own translation of AWS's failures elsewhere:
    every call goes through ``Aws.call``/``Aws.pages`` (one error sentence, one bounded pager)."""
    names = ("client", "get_paginator", "client_for", "aws_call", "AWS_FAILURES", "open_session", "BOTO_CONFIG")
    offenders = [hit for p in OUTSIDE_THE_AWS_LAYER for hit in calls_named(p, *names)]
    assert offenders == []


def test_the_layer_catches_what_it_claims():
    """The checks above can fail: a module of the layer itself does each thing they look for."""
    layer = {module_name(p): p for p in PRODUCT if module_name(p).startswith(AWS_LAYER)}
    assert calls_named(layer["tools.lib.aws.clients"], "client", "aws_call")
    assert "boto3" in third_party(layer["tools.lib.aws.session"])


# The CLI of the deploy steps: the one module outside tools/lib/deploy that may import them.
DEPLOY_CLI = "deploy"


def test_nothing_outside_the_deploy_package_imports_a_deploy_step():
    offenders = {
        f"{module_name(p)}: {name}"
        for p in PRODUCT
        if not module_name(p).startswith("tools.lib.deploy") and module_name(p) != DEPLOY_CLI
        for name in first_party(p)
        if name.startswith("tools.lib.deploy")
    }
    assert offenders == set()


def package_of(module: str) -> str:
    """A module's package for the cycle check: a sub-package of tools.lib (``tools.lib.aws``), or the module."""
    parts = module.split(".")
    if parts[:2] == ["tools", "lib"] and len(parts) > 3:
        return ".".join(parts[:3])
    return module


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def product_graph(by) -> dict[str, set[str]]:
    known = {module_name(p) for p in PRODUCT}
    graph: dict[str, set[str]] = {}
    for path in PRODUCT:
        source = by(module_name(path))
        targets = {by(name) for name in first_party(path) if name in known}
        graph.setdefault(source, set()).update(targets - {source})
    return graph


@pytest.mark.parametrize("by", [package_of, lambda module: module], ids=["packages", "modules"])
def test_no_import_cycle(by):
    assert cycles(product_graph(by)) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# One way to print (tools/lib/output.py): a run's lines go through its sink (result, progress, warning);
# logging is for --debug diagnostics only. Who else writes to the process's streams, and why:
STREAM_WRITERS = {
    "tools.lib.output",  # the sink itself, and console() outside any run
    "tools.lib.frame",  # installs the redacting streams, writes the last line
    "tools.lib.logger",  # GitHub Actions' ::add-mask:: line, the one line written past the redaction
    "tools.lib.prompt",  # a question on a terminal, without a newline, before the answer is read
    "tools.lib.cfn_lint_worker",  # the lint child: its JSON answer on stdout is its protocol with deploy.py
}


def test_nothing_prints_and_logging_is_for_debug_only():
    offenders = []
    for path in PRODUCT:
        if module_name(path) == LAMBDA_HANDLER:
            continue  # runs in AWS Lambda: its logging is its CloudWatch log
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = ast.unparse(node.func)
            if called == "print":
                offenders.append(f"{module_name(path)}:{node.lineno}: print(")
            elif called.startswith(("LOG.", "logging.", "logger.")) and called.rsplit(".", 1)[-1] in (
                "info",
                "warning",
                "warn",
                "error",
                "exception",
                "critical",
            ):
                offenders.append(f"{module_name(path)}:{node.lineno}: {called}(")
            elif called.startswith(("sys.stdout.", "sys.stderr.")) and module_name(path) not in STREAM_WRITERS:
                offenders.append(f"{module_name(path)}:{node.lineno}: {called}(")
    assert offenders == []


def test_every_helper_thread_of_the_product_leaves_signals_to_the_main_thread():
    """A thread made any other way could receive the Ctrl-C meant to wake the main thread (tools/lib/threads.py)."""
    offenders = []
    for path in PRODUCT:
        if module_name(path) == "tools.lib.threads":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in ("Thread", "ThreadPoolExecutor"):
                offenders.append(f"{module_name(path)}:{node.lineno}: {ast.unparse(node.func)}(")
    assert offenders == []


def test_no_deploy_step_writes_the_json_document():
    """Steps return what they found; deploy.py writes the document once (issue 30)."""
    offenders = [
        f"{module_name(p)}:{node.lineno}"
        for p in files("tools/lib/deploy")
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "document" and ast.unparse(node.value).endswith("out")
    ]
    assert offenders == []
