"""deploy.py's guards against the emulator, as a user runs it: committed work only, one clear line.

Each run deploys from a committed checkout (tools/rehearsal/repo.py), in this process
(deploy.py's main() through its frame; a split endpoint also as a subprocess); the
uncommitted-work cases change that checkout the way a careless operator would, and
regenerate its template from its changed instance file.
"""

from __future__ import annotations

import shutil

import pytest
from werkzeug.wrappers import Response

from tests.conftest import STACK, assert_token_nowhere, committed_clone, deploy, generate_in, ok
from tools.rehearsal.aws import change_record, client
from tools.rehearsal.repo import git

pytestmark = pytest.mark.moto


@pytest.fixture
def checkout(tmp_path, committed_checkout):
    """A fresh committed copy of the working tree that a test may dirty."""
    return committed_clone(tmp_path / "checkout", committed_checkout)


def regenerate(checkout):
    """``python generate.py dev`` in the checkout (a change of its instance files only: in this process)."""
    generate_in(checkout, "dev")


def nothing_changed(world, postmark, tmp_path):
    cfn = client("cloudformation", world["admin"])
    assert cfn.describe_stacks()["Stacks"] == [], "a stack was created"
    assert postmark.requests == [], "Postmark was called"
    assert not (tmp_path / "op-argv.log").exists(), "the token was resolved"


@pytest.mark.vcheck("V-PART-018")
def test_uncommitted_config_and_regenerated_template_are_refused(world, postmark, checkout, tmp_path):
    config = checkout / "instances" / "Alpha002" / "dev.toml"
    config.write_text(config.read_text().replace('policy = "none"', 'policy = "reject"'))
    regenerate(checkout)  # the template now matches the code: only git knows nobody reviewed it
    result = world.deploy("--yes", checkout=checkout)
    assert result.returncode == 3, result.stdout + result.stderr
    (line,) = [entry for entry in result.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert line == (
        "deploy: error: Alpha002-dev-Email: refusing to deploy: not committed as reviewed: "
        "instances/Alpha002/dev.toml (differs from HEAD), templates/Alpha002-dev-Email.yaml (differs from HEAD); "
        "commit them (through review) or remove them, then rerun"
    )
    nothing_changed(world, postmark, tmp_path)


@pytest.mark.vcheck("V-PART-018")
def test_an_edited_handler_or_an_untracked_input_is_refused(world, postmark, checkout, tmp_path):
    handler = checkout / "templates" / "ns_delegation_handler.py"
    handler.write_text(handler.read_text() + "\n# a late-night fix\n")
    git(checkout, "add", "templates/ns_delegation_handler.py")  # staged is not committed
    (checkout / "templates" / "helpers.py").write_text('"""An untracked module beside the templates."""\n')
    result = world.deploy("--yes", checkout=checkout)
    assert result.returncode == 3
    assert (
        "not committed as reviewed: templates/helpers.py (untracked), "
        "templates/ns_delegation_handler.py (differs from HEAD);" in result.stderr
    )
    nothing_changed(world, postmark, tmp_path)


def test_a_plan_of_uncommitted_work_says_so_first(world, postmark, checkout):
    config = checkout / "instances" / "Alpha002" / "dev.toml"
    config.write_text(config.read_text().replace('policy = "none"', 'policy = "reject"'))
    regenerate(checkout)
    result = world.deploy("--plan", checkout=checkout)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "Alpha002-dev-Email: plan of uncommitted work (not deployable until committed): "
        "instances/Alpha002/dev.toml (differs from HEAD), templates/Alpha002-dev-Email.yaml (differs from HEAD)"
    )
    assert "plan only; change set deleted, nothing executed" in result.stdout


def test_outside_a_git_work_tree_only_the_loud_flag_deploys(world, postmark, checkout, tmp_path):
    shutil.rmtree(checkout / ".git")
    refused = world.deploy("--yes", checkout=checkout)
    assert refused.returncode == 3, refused.stderr
    assert "cannot check that the template and its inputs are committed as reviewed (fatal: not a git repository" in (
        refused.stderr
    )
    assert "or pass --deploy-outside-git to deploy what is on disk unchecked" in refused.stderr
    nothing_changed(world, postmark, tmp_path)
    result = world.deploy("--yes", "--deploy-outside-git", checkout=checkout)
    assert result.returncode == 0, result.stderr
    assert "--deploy-outside-git: deploying what is on disk, UNCHECKED against any review" in result.stderr


BYPASSES = {
    "assume-unchanged": lambda c: git(c, "update-index", "--assume-unchanged", "instances/Alpha002/dev.toml"),
    "skip-worktree": lambda c: git(c, "update-index", "--skip-worktree", "instances/Alpha002/dev.toml"),
    "fsmonitor hook says nothing changed": lambda c: (
        (c / "fsmonitor.sh").write_text("#!/bin/sh\nprintf '\\0'\n"),
        (c / "fsmonitor.sh").chmod(0o755),
        git(c, "config", "core.fsmonitor", str(c / "fsmonitor.sh")),
    ),
}


@pytest.mark.parametrize("bypass", BYPASSES, ids=list(BYPASSES))
@pytest.mark.vcheck("V-PART-018")
def test_hiding_a_change_from_the_index_does_not_hide_it_from_the_guard(world, postmark, checkout, tmp_path, bypass):
    config = checkout / "instances" / "Alpha002" / "dev.toml"
    config.write_text(config.read_text().replace('policy = "none"', 'policy = "reject"'))
    regenerate(checkout)
    git(checkout, "update-index", "--assume-unchanged", "templates/Alpha002-dev-Email.yaml")
    BYPASSES[bypass](checkout)
    status = git(checkout, "status", "--porcelain", "--", "instances")
    assert "dev.toml" not in status or bypass.startswith("fsmonitor"), "the bypass hides the change from git status"
    result = world.deploy("--yes", checkout=checkout)
    assert result.returncode == 3, result.stderr
    assert "instances/Alpha002/dev.toml (differs from HEAD)" in result.stderr
    assert "templates/Alpha002-dev-Email.yaml (differs from HEAD)" in result.stderr
    nothing_changed(world, postmark, tmp_path)


def test_a_package_that_would_shadow_a_module_is_refused(world, postmark, checkout, tmp_path):
    shadow = checkout / "templates" / "partition_email"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("from templates._real import *  # a quieter stack policy\n")
    (checkout / "templates" / "escape.py").symlink_to("/etc/hostname")
    result = world.deploy("--yes", checkout=checkout)
    assert result.returncode == 3, result.stderr
    assert "templates/partition_email/__init__.py (untracked)" in result.stderr
    assert "templates/escape.py (untracked)" in result.stderr
    nothing_changed(world, postmark, tmp_path)


def test_a_module_imported_from_elsewhere_is_refused(checkout, tmp_path):
    """A .pth file, sitecustomize or PYTHONPATH that puts another templates package first."""
    import types

    from tools.lib.git_guard import unreviewed

    elsewhere = tmp_path / "elsewhere" / "templates"
    elsewhere.mkdir(parents=True)
    (elsewhere / "partition_email.py").write_text((checkout / "templates" / "partition_email.py").read_text() + "#\n")
    module = types.ModuleType("templates.partition_email")
    module.__file__ = str(elsewhere / "partition_email.py")
    assert unreviewed(checkout, modules=[module]) == [
        f"module templates.partition_email loaded from {module.__file__} (not HEAD's bytes)"
    ]
    assert unreviewed(checkout) == [], "this process's own templates are the committed ones"


def test_a_corrupt_index_or_a_stray_git_dir_changes_nothing_the_guard_says(world, postmark, checkout, tmp_path):
    """The guard reads HEAD's tree and the bytes on disk: the index and GIT_* variables are not asked."""
    (checkout / ".git" / "index").write_bytes(b"DIRC garbage")
    config = checkout / "instances" / "Alpha002" / "dev.toml"
    config.write_text(config.read_text() + "\n# an unreviewed comment\n")
    env = dict(world.env, GIT_DIR=str(tmp_path / "nowhere"), GIT_INDEX_FILE=str(tmp_path / "no-index"))
    result = world.deploy("--yes", env=env, checkout=checkout)
    assert result.returncode == 3, result.stderr
    assert "not committed as reviewed: instances/Alpha002/dev.toml (differs from HEAD)" in result.stderr
    nothing_changed(world, postmark, tmp_path)


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        ("GIT_DIR pointing nowhere", None),
        ("no git on PATH", "git is not installed"),
        ("a checkout owned by another user", "dubious ownership"),
    ],
)
def test_when_git_cannot_answer_the_deploy_is_refused(world, postmark, checkout, tmp_path, breakage, said):
    env = dict(world.env)
    if breakage == "GIT_DIR pointing nowhere":
        env["GIT_DIR"] = str(tmp_path / "nowhere")  # the guard asks the checkout's own repository, not this
    elif breakage == "no git on PATH":
        env["PATH"] = f"{checkout / 'tools' / 'rehearsal' / 'bin'}"
    else:
        shutil.chown(checkout / ".git", "nobody")
    result = world.deploy("--yes", env=env, checkout=checkout)
    if said is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 3, result.stderr
    assert "cannot check that the template and its inputs are committed as reviewed" in result.stderr
    assert said in result.stderr
    nothing_changed(world, postmark, tmp_path)


def test_an_html_answer_from_a_proxy_is_one_line(world, postmark, httpserver, tmp_path):
    from pytest_httpserver import HTTPServer

    proxy = HTTPServer(host="127.0.0.1", port=0)
    proxy.expect_request("").respond_with_response(
        Response("<html><body>502 Bad Gateway</body></html>", status=200, content_type="text/html")
    )
    proxy.start()
    try:
        env = dict(world["env"], AWS_ENDPOINT_URL=proxy.url_for("").rstrip("/"))
        result = world.deploy("--yes", env=env)
    finally:
        proxy.stop()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [entry for entry in result.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert "got an answer that is not AWS's (an HTML error page from a proxy?)" in line
    assert postmark.requests == []


def test_a_token_with_quotes_and_backslashes_stays_hidden_in_debug_logs(world, postmark, tmp_path):
    token = "pm\\acct\"quo'te%7B-0123456789"
    postmark.token = token
    env = dict(world["env"], OP_STANDIN_SECRET=token)
    result = world.deploy("--yes", "--debug", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PostmarkAccountToken" in result.stderr, "botocore's request parameters were logged"
    assert_token_nowhere(result.stdout, result.stderr, token=token, folders=[tmp_path])
    stack = client("cloudformation", world["admin"]).describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


@pytest.mark.vcheck("V-IAC-008")
def test_a_delegation_owned_by_someone_else_fails_the_stack_and_stays(world, postmark):
    route53 = client("route53", world["root"])
    theirs = ["ns-1.elsewhere.example.", "ns-2.elsewhere.example."]
    change_record(route53, world["parent_zone_id"], "CREATE", "dev.ardamails.com.", "NS", theirs)
    result = world.deploy("--yes")
    assert result.returncode == 1
    assert "ROLLBACK_COMPLETE; failed resources:" in result.stdout
    assert "NsDelegation (Custom::NsDelegation) CREATE_FAILED:" in result.stdout
    assert "already delegates dev.ardamails.com. to other name servers" in result.stdout
    records = route53.list_resource_record_sets(HostedZoneId=world["parent_zone_id"])["ResourceRecordSets"]
    (ns,) = [r for r in records if r["Name"].rstrip(".") == "dev.ardamails.com" and r["Type"] == "NS"]
    assert ns["ResourceRecords"] == [{"Value": v} for v in theirs], "someone else's delegation was overwritten"
    # The failed first creation leaves nothing behind: not the (Retain) zone, not the (Retain) webhook secret.
    assert nothing_retained(world), "a failed create left an orphan"
    # They remove their record; the retry deletes the failed stack and creates it: one zone, one secret.
    change_record(route53, world["parent_zone_id"], "DELETE", "dev.ardamails.com.", "NS", theirs)
    ok(world.deploy("--yes", "--delete-failed-stack"))
    ours = client("route53", world["admin"]).list_hosted_zones_by_name(DNSName="dev.ardamails.com")["HostedZones"]
    assert [z["Name"] for z in ours if z["Name"] == "dev.ardamails.com."] == ["dev.ardamails.com."]


def nothing_retained(world) -> bool:
    zones = client("route53", world["admin"]).list_hosted_zones_by_name(DNSName="dev.ardamails.com")["HostedZones"]
    secrets = client("secretsmanager", world["admin"]).list_secrets()["SecretList"]
    return [z for z in zones if z["Name"] == "dev.ardamails.com."] == [] and secrets == []


@pytest.mark.vcheck("V-IAC-008")
def test_a_lost_answer_to_execute_is_retried_as_the_same_request(world, postmark):
    from tools.rehearsal.moto_compat import CONTROLS

    CONTROLS.lose_answer.add("ExecuteChangeSet")  # the aws_env fixture resets it
    result = world.deploy("--yes")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "CREATE_COMPLETE" in result.stdout
    stack = client("cloudformation", world["admin"]).describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


@pytest.fixture
def elsewhere():
    """Another endpoint (another account's CloudFormation, say) that records every request it gets."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("").respond_with_data("", status=500)
    server.start()
    yield server
    server.stop()


def test_a_split_endpoint_is_refused_before_anything_is_called(world, postmark, elsewhere, tmp_path):
    # Old code: STS answered for the configured account, the change set (with the token) went elsewhere.
    env = dict(world["env"], AWS_ENDPOINT_URL_CLOUDFORMATION=elsewhere.url_for("").rstrip("/"))
    result = deploy(env, "--yes", checkout=world.checkout)
    assert result.returncode == 3, result.stderr
    (line,) = [entry for entry in result.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert line.startswith(f"deploy: error: {STACK}: refusing to deploy: the AWS services of this run answer from")
    assert f"cloudformation → {elsewhere.url_for('').rstrip('/')}" in line and "nothing was called" in line
    assert elsewhere.log == [], "the other endpoint was called"
    nothing_changed(world, postmark, tmp_path)


def test_verify_and_rollout_check_the_account_and_the_endpoints_first(world, postmark, elsewhere, tmp_path):
    from tools import rollout, verify_partition_mail
    from tools.rehearsal.aws import credentials

    other = dict(world["env"], **credentials("arn:aws:iam::999988887777:role/Elsewhere"))
    wrong = world.run(verify_partition_mail.main, "Alpha002", "dev", "--no-postmark", env=other)
    assert wrong.returncode == 3, wrong.stderr
    assert f"{STACK}: refusing to verify: the AWS credentials are for account 999988887777" in wrong.stderr
    split = dict(world["env"], AWS_ENDPOINT_URL_ROUTE_53=elsewhere.url_for("").rstrip("/"))
    assert world.run(verify_partition_mail.main, "Alpha002", "dev", "--no-postmark", env=split).returncode == 3
    evidence = tmp_path / "evidence"
    refused = world.run(rollout.main, "--yes", "--evidence-dir", str(evidence), env=split)
    assert refused.returncode == 3, refused.stderr
    assert f"{STACK}: refusing to roll out: the AWS services of this run answer from different endpoints" in (
        refused.stderr
    )
    assert "pre-flight" not in refused.stderr and not evidence.exists(), "no step ran, nothing was written"
    assert elsewhere.log == []
    nothing_changed(world, postmark, tmp_path)


@pytest.mark.vcheck("V-IAC-008")
def test_an_update_does_not_take_over_a_delegation_someone_else_made_since(world, postmark, checkout):
    # Old code: the Update (same physical ID, new TTL) UPSERTed over the other team's record.
    ok(world.deploy("--yes", checkout=checkout))
    route53 = client("route53", world["root"])
    theirs = ["ns-1.elsewhere.example.", "ns-2.elsewhere.example."]
    change_record(route53, world["parent_zone_id"], "UPSERT", "dev.ardamails.com.", "NS", theirs)
    toml = checkout / "instances" / "Alpha002" / "dev.toml"
    toml.write_text(toml.read_text().replace("ns_delegation = 172800", "ns_delegation = 86400"))
    regenerate(checkout)
    git(checkout, "commit", "-qam", "shorter NS TTL")
    result = world.deploy("--yes", checkout=checkout)
    assert result.returncode == 1, result.stderr
    assert "NsDelegation (Custom::NsDelegation) UPDATE_FAILED:" in result.stdout
    assert "already delegates dev.ardamails.com. to other name servers" in result.stdout
    cfn = client("cloudformation", world["admin"])
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    records = route53.list_resource_record_sets(HostedZoneId=world["parent_zone_id"])["ResourceRecordSets"]
    (ns,) = [r for r in records if r["Name"].rstrip(".") == "dev.ardamails.com" and r["Type"] == "NS"]
    assert ns["ResourceRecords"] == [{"Value": v} for v in theirs] and ns["TTL"] == 300
