"""Deploy one partition's mail stack: the operator's command.

    python deploy.py <infrastructure> <partition> [--yes] [--plan | --dry-run | --preflight]

The sequence is fixed: load the instance config → check the AWS account →
refuse uncommitted work (in a git work tree) → check the stack's state → resolve
the Postmark token from 1Password (masked on GitHub Actions) → refuse a committed
template that differs from the code → cfn-lint → register the domain with
Postmark → create a change set (token as a NoEcho parameter) → show it → execute
after confirmation → follow the stack → print the exports. Every read-only guard
runs before the first change (Postmark registration); a change set that will not
be executed (Ctrl-C, an error) is deleted again, or the message says what is left.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from instances.registry import PartitionConfig, load_registry
from templates.dkim import SELECTOR_PATTERN, SlotError, assign_slots, txt_record_value
from templates.mail_dns import return_path_domain
from templates.partition_email import (
    DKIM_SLOT_NUMBERS,
    O_TOKEN_SECRET,
    O_ZONE_ID,
    P_TOKEN,
    dkim_selector_parameter,
    dkim_value_parameter,
    partition_tags,
)
from templates.render import read_handler_source, render, render_inputs, template_path
from tools.lib.cfn_lint import LintJob
from tools.lib.cli import ask, ask_yes, report_error, report_unexpected
from tools.lib.errors import ArdaMailError, UsageError
from tools.lib.logger import Secret, on_github_actions, redact, register_secret, setup_logging
from tools.lib.plan import (
    MASK,
    Plan,
    iam_widening,
    live_resources,
    markdown,
    parameter_changes,
    property_changes,
    record_drift,
)
from tools.lib.postmark_client import BASE_URL_ENV, DEFAULT_BASE_URL, PostmarkClient
from tools.lib.registration import Registration, lookup_registration, register_domain

LOG = logging.getLogger("deploy")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_NOT_EXECUTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_CODES = """exit codes:
  0    deployed, no changes, plan shown, or every pre-flight check passed
  1    a step failed (AWS, 1Password, Postmark, the change set or the stack update)
  2    bad arguments, unknown infrastructure or partition, bad instance config
  3    refused: wrong AWS account, uncommitted or stale template inputs, cfn-lint
       errors, or a stack state that needs the operator (e.g. ROLLBACK_COMPLETE)
  4    change set created but not executed (no terminal and no --yes, or answered no)
  130  interrupted (Ctrl-C); an unexecuted change set is deleted, a stack update
       already started carries on"""
MANAGED_BY = "arda-partition-mail/deploy.py"
# CloudFormation's limit for a template passed inline (TemplateBody); larger ones need S3.
MAX_TEMPLATE_BODY_BYTES = 51_200


class Refused(ArdaMailError):
    """A guard said no before anything was changed."""

    exit_code = EXIT_REFUSED


class NotExecuted(ArdaMailError):
    """The change set was left for the operator to execute."""

    exit_code = EXIT_NOT_EXECUTED


class Interrupted(ArdaMailError):
    """Ctrl-C: what was cleaned up, and what is left."""

    exit_code = EXIT_INTERRUPTED


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: infrastructure and partition are positional."""
    parser = argparse.ArgumentParser(
        prog="deploy.py",
        description="Lint, register with Postmark, and deploy one partition's mail stack by change set.",
        epilog=EXIT_CODES + f"\n\nenvironment:\n  AWS_ENDPOINT_URL, AWS_PROFILE  standard boto3 settings\n"
        f"  {BASE_URL_ENV}  Postmark API base URL (default {DEFAULT_BASE_URL})\n"
        "  GITHUB_ACTIONS=true  print ::add-mask:: for the token (GitHub Actions only)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("infrastructure", help="e.g. Alpha002")
    parser.add_argument("partition", help="dev, stage, demo or prod")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the target and the steps; touch nothing")
    mode.add_argument("--plan", action="store_true", help="show the change set, then delete it; never execute")
    mode.add_argument("--preflight", action="store_true", help="check token, AWS identity and Postmark only")
    mode.add_argument(
        "--destroy", action="store_true", help="take the partition down: delete the stack (asks for its name)"
    )
    parser.add_argument(
        "--purge-retained",
        action="store_true",
        help="with --destroy: also empty and delete the retained zone and schedule the webhook secret's deletion",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="stop following a stack that has not settled after this long (default 60)",
    )
    parser.add_argument(
        "--keep-change-set",
        action="store_true",
        help="keep change sets earlier runs left unexecuted (default: delete them before creating a new one)",
    )
    parser.add_argument("--yes", action="store_true", help="execute without asking")
    parser.add_argument(
        "--delete-failed-stack",
        action="store_true",
        help="delete a ROLLBACK_COMPLETE stack (a failed first creation) before creating it again",
    )
    parser.add_argument(
        "--allow-iam-changes",
        action="store_true",
        help="without a terminal: accept changes that widen IAM permissions (besides --yes)",
    )
    parser.add_argument(
        "--overwrite-drift",
        action="store_true",
        help="deploy although records were changed by hand, and put them back as the deployed template says",
    )
    parser.add_argument("--summary-file", type=Path, help="write the plan as Markdown here (for pull requests)")
    parser.add_argument("--json", action="store_true", help="print the plan as one JSON object on stdout")
    parser.add_argument("--profile", help="AWS profile (default: the standard boto3 chain)")
    parser.add_argument("--region", help="AWS region; must be the one the instance config names")
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks (secrets stay redacted)")
    args = parser.parse_args(argv)
    if args.purge_retained and not args.destroy:
        parser.error("--purge-retained goes with --destroy")
    if not args.timeout > 0:
        parser.error(f"--timeout must be a positive number of minutes, got: {args.timeout:g}")
    return args


@dataclass
class Target:
    """Where a deploy goes: stated once, printed first."""

    config: PartitionConfig
    region: str

    @property
    def stack(self) -> str:
        return self.config.stack_name

    @property
    def account(self) -> str:
        return self.config.infrastructure.account_id

    def describe(self) -> str:
        return f"target: account {self.account}, region {self.region}, stack {self.stack}"


def stack_outputs(stack: dict | None) -> dict[str, str]:
    """A described stack's outputs, OutputKey → OutputValue."""
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs") or []}


def deployed_dkim_selectors(stack: dict | None) -> list[str]:
    """The selector each DKIM slot holds in the deployed stack ("" for an empty slot or no stack)."""
    values = {p["ParameterKey"]: p.get("ParameterValue") or "" for p in (stack or {}).get("Parameters", [])}
    return [values.get(dkim_selector_parameter(slot), "") for slot in DKIM_SLOT_NUMBERS]


def template_parameters(
    token: Secret, registration: Registration | None, deployed: list[str], where: str
) -> dict[str, str]:
    """The stack parameters: the token (NoEcho) and each DKIM key Postmark needs, in its slot.

    ``deployed`` is the selector each slot holds in the deployed stack, so that a key
    keeps its slot (and its CloudFormation resource) whatever its role becomes.
    """
    keys = registration.dkim_keys if registration else ()
    for key in keys:
        if not re.fullmatch(SELECTOR_PATTERN, key.selector):
            raise ArdaMailError(
                f"{where}: Postmark's {key.state} DKIM selector must be a DNS label, got: {key.selector!r}"
            )
    try:
        values = {key.selector: txt_record_value(key.value) for key in keys}
        slots = assign_slots([(key.selector, values[key.selector]) for key in keys], deployed)
    except (ValueError, SlotError) as exc:
        raise ArdaMailError(f"{where}: Postmark's DKIM keys cannot be published: {exc}") from None
    params = {P_TOKEN: token.reveal()}
    for slot, assigned in zip(DKIM_SLOT_NUMBERS, slots, strict=True):
        selector, value = assigned or ("", "")
        params[dkim_selector_parameter(slot)] = selector
        params[dkim_value_parameter(slot)] = value
        if assigned:
            state = next(k.state for k in keys if k.selector == selector)
            LOG.info("%s: DKIM slot %d holds the %s key %s", where, slot, state, selector)
    return params


class PartitionDeploy:
    """The deploy sequence for one partition; each method is one named step."""

    def __init__(
        self,
        target: Target,
        session,
        *,
        out=None,
        poll_seconds: float = 2.0,
        sleep=time.sleep,
        timeout_seconds: float = 3600.0,
        keep_change_sets: bool = False,
        lint_job: LintJob | None = None,
    ) -> None:
        from tools.lib.aws_session import BOTO_CONFIG
        from tools.lib.deployer import Deployer

        self.target = target
        self.session = session
        self.out = out or sys.stdout
        self.aws_calls = 0
        session.events.register("before-call", self._count_call)
        self.cfn = session.client("cloudformation", region_name=target.region, config=BOTO_CONFIG)
        self.deployer = Deployer(
            self.cfn,
            target.stack,
            poll_seconds=poll_seconds,
            sleep=sleep,
            on_event=self._print_event,
            on_heartbeat=self._print,
            timeout_seconds=timeout_seconds,
        )
        self.keep_change_sets = keep_change_sets
        self.lint_job = lint_job
        self.plan = Plan(target=target.describe())
        self._deployed: tuple[dict, dict[str, str]] = ({}, {})
        self._detection: str | None = None  # CloudFormation's drift detection, running meanwhile
        self._overwrite_drift = False

    def _count_call(self, **_) -> None:
        self.aws_calls += 1

    def _print(self, text: str = "") -> None:
        self.out.write(redact(text) + "\n")
        self.out.flush()

    def _print_event(self, event) -> None:
        reason = f"  {event.reason}" if event.reason else ""
        self._print(
            f"{self.target.stack}: {event.timestamp:%H:%M:%S} {event.status:<22} "
            f"{event.resource_type:<34} {event.logical_id}{reason}"
        )

    # -- the steps -----------------------------------------------------------

    def check_account(self) -> dict:
        """Step 2: refuse credentials of any account but the configured one."""
        from tools.lib.aws_errors import aws_call
        from tools.lib.aws_session import BOTO_CONFIG

        sts = self.session.client("sts", region_name=self.target.region, config=BOTO_CONFIG)
        with aws_call("sts get-caller-identity", self.target.stack):
            identity = sts.get_caller_identity()
        if identity["Account"] != self.target.account:
            raise Refused(
                f"refusing to deploy {self.target.stack}: the AWS credentials are for account "
                f"{identity['Account']} ({identity.get('Arn', '?')}), but "
                f"{self.target.config.infrastructure.source.parent.name}/infrastructure.toml names "
                f"{self.target.account}; switch --profile or credentials"
            )
        LOG.info("%s: AWS identity %s in account %s", self.target.stack, identity.get("Arn"), identity["Account"])
        return identity

    def resolve_token(self) -> Secret:
        """Step 3: the Postmark account token from 1Password (masked on Actions)."""
        from tools.lib import op_resolver

        LOG.info(
            "%s: resolving the Postmark token (op read %s)", self.target.stack, self.target.config.postmark_token_ref
        )
        return op_resolver.resolve(self.target.config.postmark_token_ref)

    def committed_template(self) -> str:
        """Step 4: the committed YAML, refused if the code renders something else."""
        path = template_path(self.target.config)
        if not path.is_file():
            raise Refused(
                f"{self.target.stack}: {path.name} is not committed; run: python generate.py "
                f"{self.target.config.partition.value}, review and commit it"
            )
        committed = path.read_text(encoding="utf-8")
        if committed != render(self.target.config, read_handler_source()):
            raise Refused(
                f"{self.target.stack}: templates/{path.name} differs from what the code renders; "
                f"run: python generate.py {self.target.config.partition.value}, review and commit it"
            )
        size = len(committed.encode("utf-8"))
        if size > MAX_TEMPLATE_BODY_BYTES:
            raise Refused(
                f"{self.target.stack}: templates/{path.name} is {size} bytes, over CloudFormation's "
                f"{MAX_TEMPLATE_BODY_BYTES}-byte limit for an inline template; it must shrink (or be uploaded to S3)"
            )
        return committed

    def lint(self, body: str, started: LintJob | None = None) -> None:
        """Step 5: cfn-lint's verdict; errors stop the deploy, warnings are shown.

        ``started`` is the job main() began as soon as the committed bytes were read;
        it is used when it linted exactly these bytes. A pass is remembered
        (``tools.lib.lint_cache``) for the same bytes, cfn-lint version and region.
        """
        job = started if started is not None and started.body == body else LintJob(body, self.target.region)
        if job is not started and started is not None:
            started.cancel()
        verdict = job.verdict()
        if verdict.errors:
            shown = "; ".join(verdict.errors[:3])
            raise Refused(f"{self.target.stack}: cfn-lint found {len(verdict.errors)} error(s): {shown}")
        for warning in verdict.warnings:
            LOG.warning("%s: cfn-lint %s", self.target.stack, warning)
        how = " (these exact bytes passed before: cached)" if verdict.cached else ""
        LOG.info("%s: cfn-lint passed (%d warning(s))%s", self.target.stack, len(verdict.warnings), how)

    def register(self, token: Secret, *, read_only: bool) -> Registration | None:
        """Step 6: Postmark registration (read-only for --plan)."""
        client = PostmarkClient(token)
        domain = self.target.config.mail_domain
        if read_only:
            registration = lookup_registration(client, domain)
            if registration is None:
                LOG.warning(
                    "%s: %s is not registered with Postmark yet; deploy will register it", self.target.stack, domain
                )
            return registration
        return register_domain(client, domain)

    def tags(self) -> dict[str, str]:
        """Stack tags: the partition's own plus who and what manages it."""
        config = self.target.config
        return {
            **partition_tags(config.tags, config.infrastructure.name, config.partition.value),
            "arda:managed-by": MANAGED_BY,
        }

    def show_changes(self, changes) -> None:
        """Step 9: the change set as a table."""
        rows = [("ACTION", "LOGICAL ID", "RESOURCE TYPE", "REPLACEMENT")] + [
            (c.action, c.logical_id, c.resource_type, c.replacement or "-") for c in changes
        ]
        self._print_rows(f"{self.target.stack}: change set ({len(changes)} change(s))", rows)

    def confirm(self, assume_yes: bool, change_set_id: str, is_tty: bool) -> None:
        """Step 10: --yes, or y on a terminal; otherwise leave the change set."""
        if assume_yes:
            return
        how = (
            f"execute it with: aws cloudformation execute-change-set --change-set-name {change_set_id} "
            f"--region {self.target.region}"
        )
        if not is_tty:
            raise NotExecuted(
                f"{self.target.stack}: not executing without a terminal or --yes; change set {change_set_id} left "
                f"for review ({how}); the next deploy deletes it unless run with --keep-change-set"
            )
        if not ask_yes(f"Execute this change set on {self.target.stack} in account {self.target.account}?"):
            raise NotExecuted(
                f"{self.target.stack}: not executed; change set {change_set_id} left for review ({how}); "
                "the next deploy deletes it unless run with --keep-change-set"
            )

    # -- the modes -----------------------------------------------------------

    def deploy(
        self,
        *,
        plan: bool,
        assume_yes: bool,
        is_tty: bool,
        delete_failed_stack: bool,
        allow_iam_changes: bool = False,
        overwrite_drift: bool = False,
    ) -> int:
        """Steps 2-11 (plan: 2-9, then delete the change set)."""
        stack = self.target.stack
        self.check_account()
        self.check_committed(plan=plan)
        body = self.committed_template()
        existing = self.deployer.describe_stack()
        recreate = bool(existing) and existing["StackStatus"] == "ROLLBACK_COMPLETE" and delete_failed_stack
        if recreate and plan:
            raise Refused(
                f"{stack}: the stack is ROLLBACK_COMPLETE; a plan never deletes it: run without --plan "
                "(with --delete-failed-stack) to delete and recreate it"
            )
        kind = "CREATE" if recreate else self.deployer.change_set_type(existing)
        if kind == "UPDATE":
            self._deployed = self.deployed_state(existing)
            self.check_drift(existing, plan=plan, overwrite=overwrite_drift)
        token = self.resolve_token()
        self.lint(body, self.lint_job)  # started by main(); its verdict comes before the first change
        registration = self.register(token, read_only=plan)

        if recreate:
            self.deployer.delete_failed_stack()
            existing = None
        deployed = deployed_dkim_selectors(existing if kind == "UPDATE" else None)
        parameters = template_parameters(token, registration, deployed, stack)
        self.clean_stale_change_sets()
        LOG.info("%s: creating a %s change set", stack, kind)
        change_set = self.deployer.create_change_set(body, parameters, self.tags(), kind)
        self.plan.change_set = change_set
        self._new = (body, parameters, token, existing if kind == "UPDATE" else None)
        self._overwrite_drift = overwrite_drift
        try:
            done = self.review(
                change_set, kind, plan=plan, assume_yes=assume_yes, is_tty=is_tty, allow_iam_changes=allow_iam_changes
            )
        except NotExecuted:
            raise  # left for review on purpose
        except KeyboardInterrupt:
            raise Interrupted(
                f"{stack}: interrupted before executing; {self._discard_safely(change_set, kind)}"
            ) from None
        except ArdaMailError as exc:
            exc.args = (f"{exc}; {self._discard_safely(change_set, kind)}",)
            raise
        if done:
            if overwrite_drift and self.plan.drift and not plan:
                self.repair_drift(existing)
            if existing and kind == "UPDATE" and not plan:
                self.protect(existing)
            return EXIT_OK
        if overwrite_drift and self.plan.drift:
            self.repair_drift(existing)
        return self.execute(change_set)

    def review(
        self, change_set: str, kind: str, *, plan: bool, assume_yes: bool, is_tty: bool, allow_iam_changes: bool = False
    ) -> bool:
        """Steps 8-10: wait, show, confirm. True when there is nothing to execute (no changes, or a plan)."""
        from tools.lib.deployer import NoChanges

        stack = self.target.stack
        try:
            changes = self.deployer.wait_for_change_set(change_set)
        except NoChanges:
            self._discard(change_set, kind)
            self._print(f"{stack}: no changes; the stack already matches the committed template")
            self.finish_cloudformation_drift(plan=plan, overwrite=self._overwrite_drift)
            return True
        self.show_changes(changes)
        self.describe_changes(changes)
        self.finish_cloudformation_drift(plan=plan, overwrite=self._overwrite_drift)
        if plan:
            self._discard(change_set, kind)
            self._print(f"{stack}: plan only; change set deleted, nothing executed")
            return True
        # A creation grants everything anew and was reviewed whole with its pull request: the table shows
        # its grants, the gate guards changes to a running partition.
        if self._deployed[0]:
            self.gate_iam(is_tty=is_tty, allow=allow_iam_changes)
        self.confirm(assume_yes, change_set, is_tty)
        self.check_change_set_account(change_set)
        return False

    # -- what changes, in detail ------------------------------------------------------

    def deployed_state(self, existing: dict) -> tuple[dict, dict[str, str]]:
        """The deployed template and its parameter values (NoEcho ones masked)."""
        from tools.lib.aws_errors import aws_call

        with aws_call("cloudformation get-template", self.target.stack):
            body = self.cfn.get_template(StackName=existing["StackId"], TemplateStage="Original")["TemplateBody"]
        template = parse_template(body, f"the deployed template of {self.target.stack}")
        values = {p["ParameterKey"]: p.get("ParameterValue") or "" for p in existing.get("Parameters", [])}
        return template, masked(template, values)

    def check_drift(self, existing: dict, *, plan: bool, overwrite: bool) -> None:
        """Records changed by hand (and CloudFormation's own drift verdict where it answers): refuse unless told."""
        from tools.lib.aws_errors import aws_call
        from tools.lib.aws_session import BOTO_CONFIG

        template, values = self._deployed
        zone_id = stack_outputs(existing).get(O_ZONE_ID)
        if not zone_id:
            self.plan.drift_note = "The deployed stack has no zone output: records not compared."
            return
        route53 = self.session.client("route53", config=BOTO_CONFIG)
        with aws_call("route53 list-resource-record-sets", self.target.stack):
            pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
            live = [record for page in pages for record in page["ResourceRecordSets"]]
        self.plan.drift = record_drift(live_resources(template, values), live)
        # CloudFormation's detection takes seconds to minutes on AWS: it runs while the deploy goes on,
        # and its verdict is read before anything executes (finish_cloudformation_drift).
        self._detection = self._start_cloudformation_drift()
        self._refuse_drift(self.plan.drift, plan=plan, overwrite=overwrite)

    def _refuse_drift(self, drift: list, *, plan: bool, overwrite: bool) -> None:
        if not drift:
            return
        rows = [("RESOURCE", "PROPERTY", "EXPECTED", "ACTUAL")] + [
            (d.resource, d.property, d.expected, d.actual) for d in drift
        ]
        self._print_rows(f"{self.target.stack}: drift: live values differ from the deployed template", rows)
        if plan or overwrite:
            return
        raise Refused(
            f"refusing to deploy {self.target.stack}: {len(drift)} value(s) were changed outside "
            "CloudFormation (table above); bring them back into the template, or rerun with --overwrite-drift "
            "to put them back as the deployed template says"
        )

    def _start_cloudformation_drift(self) -> str | None:
        """Ask CloudFormation to detect drift; the detection ID, or None where the service does not answer."""
        from botocore.exceptions import ClientError

        from tools.lib.aws_errors import AWS_FAILURES

        try:
            return self.cfn.detect_stack_drift(StackName=self.target.stack)["StackDriftDetectionId"]
        except AWS_FAILURES as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
            self.plan.drift_note = (
                f"CloudFormation drift detection did not answer ({code}); the records were compared directly."
            )
            LOG.info("%s: %s", self.target.stack, self.plan.drift_note)
            return None

    def finish_cloudformation_drift(self, *, plan: bool, overwrite: bool) -> None:
        """CloudFormation's verdict on the non-record resources (records were compared directly)."""
        from tools.lib.aws_errors import AWS_FAILURES
        from tools.lib.plan import Drift

        detection, self._detection = self._detection, None
        if detection is None:
            return
        try:
            deadline = time.monotonic() + 120
            while True:
                status = self.cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
                if status["DetectionStatus"] != "DETECTION_IN_PROGRESS" or time.monotonic() > deadline:
                    break
                self.deployer._sleep(self.deployer.poll_seconds)
            drifts = self.cfn.describe_stack_resource_drifts(
                StackName=self.target.stack, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"]
            )["StackResourceDrifts"]
        except AWS_FAILURES as exc:
            self.plan.drift_note = f"CloudFormation drift detection failed ({type(exc).__name__}); records compared."
            return
        rows = []
        for drift in drifts:
            if drift.get("ResourceType") == "AWS::Route53::RecordSet":
                continue  # compared directly
            for difference in drift.get("PropertyDifferences") or [{"PropertyPath": "(resource)"}]:
                rows.append(
                    Drift(
                        drift["LogicalResourceId"],
                        difference.get("PropertyPath", ""),
                        redact(str(difference.get("ExpectedValue", ""))),
                        redact(str(difference.get("ActualValue", drift.get("StackResourceDriftStatus", "")))),
                    )
                )
        self.plan.drift += rows
        self._refuse_drift(rows, plan=plan, overwrite=overwrite)

    def repair_drift(self, existing: dict) -> None:
        """--overwrite-drift: put drifted records back as the deployed template says, before executing."""
        from tools.lib.aws_errors import aws_call
        from tools.lib.aws_session import BOTO_CONFIG

        template, values = self._deployed
        expected = live_resources(template, values)
        zone_id = stack_outputs(existing)[O_ZONE_ID]
        changes = []
        for logical_id in sorted({d.resource for d in self.plan.drift}):
            resource = expected.get(logical_id) or {}
            if resource.get("Type") != "AWS::Route53::RecordSet":
                continue
            props = resource["Properties"]
            records = props.get("ResourceRecords") or []
            record_set = {
                "Name": str(props["Name"]).rstrip(".") + ".",
                "Type": props["Type"],
                "TTL": int(props["TTL"]),
                "ResourceRecords": [{"Value": str(v)} for v in (records if isinstance(records, list) else [records])],
            }
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record_set})
        if not changes:
            return
        with aws_call("route53 change-resource-record-sets (overwrite drift)", self.target.stack):
            self.session.client("route53", config=BOTO_CONFIG).change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={"Comment": "deploy.py --overwrite-drift", "Changes": changes},
            )
        self._print(f"{self.target.stack}: put {len(changes)} drifted record(s) back as the deployed template says")

    def token_changed(self, existing: dict | None, token: Secret) -> bool | None:
        """Whether the NoEcho token differs from the deployed secret's (compared here, never shown)."""
        from tools.lib.aws_errors import AWS_FAILURES
        from tools.lib.aws_session import BOTO_CONFIG

        arn = stack_outputs(existing).get(O_TOKEN_SECRET)
        if not arn:
            return None if existing else True
        try:
            client = self.session.client("secretsmanager", region_name=self.target.region, config=BOTO_CONFIG)
            deployed = client.get_secret_value(SecretId=arn).get("SecretString") or ""
        except AWS_FAILURES as exc:
            LOG.info("%s: cannot read the deployed token secret (%s): token change unknown", self.target.stack, exc)
            return None
        if len(deployed) >= 4:
            register_secret(deployed)  # a replaced token is as secret as the new one
        return not hmac.compare_digest(deployed.encode(), token.reveal().encode())

    def describe_changes(self, changes) -> None:
        """Parameters old → new, every changed property, and IAM widening; printed and kept for the summary."""
        body, parameters, token, existing = self._new
        new_template = parse_template(body, f"templates/{template_path(self.target.config).name}")
        new_values = masked(new_template, parameters)
        old_template, old_values = self._deployed
        no_echo = {k for k, v in (new_template.get("Parameters") or {}).items() if v.get("NoEcho") in (True, "true")}
        self.plan.changes = [
            {
                "action": c.action,
                "logical_id": c.logical_id,
                "resource_type": c.resource_type,
                "replacement": c.replacement,
            }
            for c in changes
        ]
        self.plan.parameters = parameter_changes(
            old_values, new_values, no_echo, {P_TOKEN: self.token_changed(existing, token)}
        )
        old_resources, new_resources = (
            live_resources(old_template, old_values),
            live_resources(new_template, new_values),
        )
        self.plan.properties = property_changes(old_resources, new_resources, [c.logical_id for c in changes])
        self.plan.iam = iam_widening(old_resources, new_resources)
        changed = [p for p in self.plan.parameters if p.changed or p.name in no_echo]
        if changed:
            rows = [("PARAMETER", "DEPLOYED", "NEW")] + [(p.name, p.old, p.new) for p in changed]
            self._print_rows(f"{self.target.stack}: parameters", rows)
        if self.plan.properties:
            rows = [("RESOURCE", "PROPERTY", "DEPLOYED", "NEW")] + [
                (p.logical_id, p.path, p.old, p.new) for p in self.plan.properties
            ]
            self._print_rows(f"{self.target.stack}: property changes", rows)
        if self.plan.iam:
            rows = [("ROLE", "DOCUMENT", "STATEMENT", "WIDENING")] + [
                (i.role, i.document, i.sid, i.widening) for i in self.plan.iam
            ]
            title = "IAM grants of the new stack" if not old_template else "IAM changes that WIDEN permissions"
            self._print_rows(f"{self.target.stack}: {title}", rows)

    def gate_iam(self, *, is_tty: bool, allow: bool) -> None:
        """Widening IAM needs its own yes: --allow-iam-changes, or y to that table on a terminal."""
        if not self.plan.iam or allow:
            return
        if not is_tty:
            raise Refused(
                f"refusing to execute on {self.target.stack}: the change set widens IAM permissions "
                f"({len(self.plan.iam)} grant(s), table above); review them, then rerun with --allow-iam-changes --yes"
            )
        if not ask_yes(f"Accept these {len(self.plan.iam)} IAM widening(s) on {self.target.stack}?"):
            raise Refused(f"{self.target.stack}: IAM widening not accepted; nothing executed")

    def _print_rows(self, title: str, rows: list[tuple[str, ...]]) -> None:
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
        self._print(title)
        for row in rows:
            cells = [f"{str(c):<{w}}" for c, w in zip(row, widths, strict=False)] + [str(row[-1])]
            self._print("  " + "  ".join(cells))

    def check_committed(self, *, plan: bool) -> None:
        """Refuse to deploy inputs that differ from what git has committed (a plan only says so)."""
        from tools.lib.git_guard import NotAWorkTree, uncommitted

        config = self.target.config
        try:
            dirty = uncommitted(render_inputs(config), template_path(config).parent)
        except NotAWorkTree as exc:
            LOG.warning(
                "%s: not a git work tree (%s): cannot check that the inputs are committed", self.target.stack, exc
            )
            return
        if not dirty:
            return
        if plan:
            self._print(
                f"{self.target.stack}: plan of uncommitted work (not deployable until committed): {', '.join(dirty)}"
            )
            return
        raise Refused(
            f"refusing to deploy {self.target.stack}: not committed as reviewed: {', '.join(dirty)}; "
            "commit them (through review) or stash them, then rerun"
        )

    def check_change_set_account(self, change_set: str) -> None:
        """The change set must live in the configured account (a split STS endpoint could fool the guard)."""
        parts = change_set.split(":")
        account = parts[4] if len(parts) > 5 else "?"
        if account != self.target.account:
            raise Refused(
                f"refusing to execute on {self.target.stack}: the change set {change_set} is in account "
                f"{account}, but the instance config names {self.target.account}; nothing executed"
            )

    def _discard_safely(self, change_set: str, kind: str) -> str:
        """Delete an unexecuted change set (and a CREATE's empty stack); say what happened or what is left."""
        region = self.target.region
        try:
            self._discard(change_set, kind)
        except (ArdaMailError, KeyboardInterrupt):
            left = f"aws cloudformation delete-change-set --change-set-name {change_set} --region {region}" + (
                f" and aws cloudformation delete-stack --stack-name {self.target.stack} --region {region} "
                "(only while it is REVIEW_IN_PROGRESS)"
                if kind == "CREATE"
                else ""
            )
            return f"nothing executed, but the change set could not be deleted: remove it with: {left}"
        return "the change set was deleted, nothing executed"

    def _discard(self, change_set: str, kind: str) -> None:
        """Delete a change set we will not execute, and the empty stack a CREATE made."""
        self.deployer.delete_change_set(change_set)
        if kind == "CREATE":
            self.deployer.delete_review_stack()

    def execute(self, change_set: str) -> int:
        """Steps 10-11: execute, follow, protect, report."""
        from tools.lib.deployer import FollowTimeout

        stack = self.target.stack
        since = self.deployer.execute_change_set(change_set)
        LOG.info("%s: executing change set; following stack events (Ctrl-C stops following, not the update)", stack)
        try:
            final = self.deployer.follow_stack(since)
        except KeyboardInterrupt:
            sys.stderr.write(
                f"\n{stack}: stopped following; CloudFormation carries on. Watch it with: "
                f"aws cloudformation describe-stack-events --stack-name {self.deployer.stack_id or stack} "
                f"--region {self.target.region}\n"
            )
            return EXIT_INTERRUPTED
        except FollowTimeout as exc:
            self._print(str(exc))
            return EXIT_FAILED
        if final in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            self._print(f"{stack}: {final}")
            settled = self.deployer.describe_stack() or {}
            self.protect(settled)
            for name, value in self.deployer.exports(settled):
                self._print(f"  {name} = {value}")
            return EXIT_OK
        return self._report_failure(final, since)

    def _report_failure(self, final: str, since: str | None) -> int:
        """The stack's final state and each resource that failed, with CloudFormation's reason."""
        self._print(f"{self.target.stack}: {final}; failed resources:")
        for event in self.deployer.failed_events(since):
            self._print(f"  {event.logical_id} ({event.resource_type}) {event.status}: {event.reason}")
        return EXIT_FAILED

    def protect(self, stack: dict) -> None:
        """Termination protection on, and the stack policy that keeps the zone and webhook secret in place."""
        from templates.partition_email import stack_policy
        from tools.lib.aws_errors import aws_call

        name = stack.get("StackId") or self.target.stack
        if not stack.get("EnableTerminationProtection"):
            with aws_call("cloudformation update-termination-protection", self.target.stack):
                self.cfn.update_termination_protection(EnableTerminationProtection=True, StackName=name)
            self._print(f"{self.target.stack}: termination protection turned on")
        wanted = stack_policy()
        with aws_call("cloudformation get-stack-policy", self.target.stack):
            current = self.cfn.get_stack_policy(StackName=name).get("StackPolicyBody")
        if not current or json.loads(current) != wanted:
            with aws_call("cloudformation set-stack-policy", self.target.stack):
                self.cfn.set_stack_policy(StackName=name, StackPolicyBody=json.dumps(wanted))
            self._print(
                f"{self.target.stack}: stack policy set (no update may replace or delete the zone or webhook secret)"
            )

    def clean_stale_change_sets(self) -> None:
        """Change sets earlier runs left unexecuted: deleted (or listed with --keep-change-set)."""
        stale = self.deployer.stale_change_sets()
        for summary in stale:
            if self.keep_change_sets:
                self._print(
                    f"{self.target.stack}: kept unexecuted change set {summary['ChangeSetName']} (--keep-change-set)"
                )
                continue
            self.deployer.delete_change_set(summary["ChangeSetId"])
            self._print(
                f"{self.target.stack}: deleted unexecuted change set {summary['ChangeSetName']} of an earlier run"
            )

    def destroy(self, *, assume_yes: bool, is_tty: bool, purge_retained: bool) -> int:
        """Take the partition down: guarded, confirmed, followed, with the retained resources accounted for."""
        from tools.lib.aws_errors import aws_call

        stack = self.target.stack
        self.check_account()
        existing = self.deployer.describe_stack()
        if existing is None:
            self._print(f"{stack}: no such stack in account {self.target.account}; nothing to take down")
            return EXIT_OK
        status = existing["StackStatus"]
        if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise Refused(f"{stack}: the stack is busy ({status}); wait for it to settle, then rerun --destroy")
        template, _ = self.deployed_state(existing)
        outputs = stack_outputs(existing)
        retained = {
            name
            for name, resource in (template.get("Resources") or {}).items()
            if resource.get("DeletionPolicy") == "Retain"
        }
        with aws_call("cloudformation describe-stack-resources", stack):
            resources = self.cfn.describe_stack_resources(StackName=existing["StackId"])["StackResources"]
        named = sorted(
            (r for r in resources if r.get("LogicalResourceId")),
            key=lambda r: (r["LogicalResourceId"] in retained, r["LogicalResourceId"]),
        )
        rows = [("FATE", "LOGICAL ID", "TYPE", "PHYSICAL ID")] + [
            (
                "RETAIN" if r["LogicalResourceId"] in retained else "DELETE",
                r["LogicalResourceId"],
                r.get("ResourceType", ""),
                r.get("PhysicalResourceId", ""),
            )
            for r in named
        ]
        self._print_rows(f"{stack}: taking the partition down in account {self.target.account}", rows)
        zone_id, webhook = outputs.get(O_ZONE_ID), outputs.get("WebhookSecretArn")
        if purge_retained:
            self._print(f"{stack}: --purge-retained: the zone {zone_id} and the webhook secret will go too")
        self.confirm_destroy(assume_yes=assume_yes, is_tty=is_tty)
        if existing.get("EnableTerminationProtection"):
            with aws_call("cloudformation update-termination-protection", stack):
                self.cfn.update_termination_protection(EnableTerminationProtection=False, StackName=existing["StackId"])
            self._print(f"{stack}: termination protection turned off")
        since = self.deployer._newest_event_id()
        with aws_call("cloudformation delete-stack", stack):
            self.cfn.delete_stack(StackName=existing["StackId"])
        final = self.deployer.follow_stack(since)
        if final != "DELETE_COMPLETE":
            return self._report_failure(final, since)
        self._print(
            f"{stack}: DELETE_COMPLETE; the NS delegation left {self.target.config.infrastructure.parent_zone_name}"
        )
        if purge_retained:
            self.purge(zone_id, webhook)
        else:
            region = self.target.region
            self._print(f"{stack}: retained, with the commands that remove them when they are no longer needed:")
            if zone_id:
                self._print(f"  hosted zone {zone_id} ({self.target.config.mail_domain}): delete its records, then")
                self._print(f"    aws route53 delete-hosted-zone --id {zone_id}")
            if webhook:
                self._print(f"  webhook secret {webhook}:")
                self._print(
                    f"    aws secretsmanager delete-secret --secret-id {webhook} --recovery-window-in-days 7 "
                    f"--region {region}"
                )
            self._print(
                f"  or rerun: python deploy.py {self.target.config.infrastructure.name} "
                f"{self.target.config.partition.value} --destroy --purge-retained (nothing left to delete but these)"
            )
        return EXIT_OK

    def confirm_destroy(self, *, assume_yes: bool, is_tty: bool) -> None:
        """On a terminal the operator types the stack's name; without one, --yes."""
        stack = self.target.stack
        if is_tty:
            if ask(f"Type the stack name ({stack}) to delete it from account {self.target.account}:") != stack:
                raise NotExecuted(f"{stack}: the name did not match; nothing was deleted")
            return
        if not assume_yes:
            raise NotExecuted(f"{stack}: not deleting without a terminal or --yes; nothing was deleted")

    def purge(self, zone_id: str | None, webhook: str | None) -> None:
        """--purge-retained: empty and delete the zone, schedule the webhook secret's deletion."""
        from tools.lib.aws_errors import aws_call
        from tools.lib.aws_session import BOTO_CONFIG

        stack = self.target.stack
        if zone_id:
            route53 = self.session.client("route53", config=BOTO_CONFIG)
            with aws_call("route53 list-resource-record-sets", stack):
                pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
                records = [r for page in pages for r in page["ResourceRecordSets"]]
            apex = self.target.config.mail_domain
            doomed = [r for r in records if not (r["Name"].lower().rstrip(".") == apex and r["Type"] in ("NS", "SOA"))]
            with aws_call("route53 delete the zone's records and the zone", stack):
                for start in range(0, len(doomed), 100):
                    route53.change_resource_record_sets(
                        HostedZoneId=zone_id,
                        ChangeBatch={
                            "Changes": [
                                {"Action": "DELETE", "ResourceRecordSet": r} for r in doomed[start : start + 100]
                            ]
                        },
                    )
                route53.delete_hosted_zone(Id=zone_id)
            self._print(f"{stack}: deleted the hosted zone {zone_id} ({len(doomed)} record(s) first)")
        if webhook:
            client = self.session.client("secretsmanager", region_name=self.target.region, config=BOTO_CONFIG)
            with aws_call("secretsmanager delete-secret", stack):
                client.delete_secret(SecretId=webhook, RecoveryWindowInDays=7)
            self._print(f"{stack}: scheduled the webhook secret's deletion in 7 days ({webhook})")

    def preflight(self) -> int:
        """The operator's pre-flight: token, AWS identity, Postmark. A table of results."""
        rows = []
        token = None
        try:
            identity = self.check_account()
            rows.append(("AWS identity", "PASS", f"account {identity['Account']} ({identity.get('Arn')})"))
        except ArdaMailError as exc:
            rows.append(("AWS identity", "FAIL", str(exc)))
        try:
            token = self.resolve_token()
            rows.append(("1Password token", "PASS", f"{self.target.config.postmark_token_ref} resolved, non-empty"))
        except ArdaMailError as exc:
            rows.append(("1Password token", "FAIL", str(exc)))
        if token is None:
            rows.append(("Postmark token", "SKIP", "no token to try"))
        else:
            try:
                page = PostmarkClient(token).list_domains(count=1)
                rows.append(
                    ("Postmark token", "PASS", f"GET /domains accepted ({page.get('TotalCount', 0)} domain(s))")
                )
            except ArdaMailError as exc:
                rows.append(("Postmark token", "FAIL", str(exc)))
        width = max(len(r[0]) for r in rows)
        self._print(f"{self.target.stack}: pre-flight")
        for check, result, detail in rows:
            self._print(f"  {check:<{width}}  {result:<4}  {detail}")
        return EXIT_OK if all(r[1] == "PASS" for r in rows) else EXIT_FAILED


def parse_template(body, what: str) -> dict:
    """A CloudFormation template (YAML with short-form tags, or JSON) as plain dicts and lists."""
    if isinstance(body, dict):
        return body
    import yaml

    from tools.lib.plan import load_template

    try:
        return load_template(body)
    except (ValueError, yaml.YAMLError) as exc:
        problem = " ".join(str(exc).split())[:200]
        raise ArdaMailError(f"{what} could not be read as a CloudFormation template: {problem}") from None


def masked(template: dict, values: dict[str, str]) -> dict[str, str]:
    """Parameter values with every NoEcho one replaced by ``****``: nothing downstream can show them."""
    no_echo = {k for k, v in (template.get("Parameters") or {}).items() if v.get("NoEcho") in (True, "true")}
    return {k: MASK if k in no_echo else v for k, v in values.items()}


def write_summary(plan: Plan, path: Path | None) -> None:
    """The plan as Markdown: to --summary-file, and appended to the GitHub Actions step summary."""
    text = redact(markdown(plan))
    if path is not None:
        path.write_text(text, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if on_github_actions() and step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(text)


def dry_run(target: Target, out) -> int:
    """Print the target and every step as it would run; no AWS, no op, no Postmark."""
    config = target.config
    path = template_path(config)
    steps = [
        target.describe(),
        f"1. sts get-caller-identity (must be account {target.account})",
        f"   git: templates/{path.name} and every file it is rendered from committed (--plan only warns)",
        f"   describe_stacks {target.stack}: a state that can take a change set",
        f"2. op read {config.postmark_token_ref}",
        "3. ::add-mask:: *** (GitHub Actions only)",
        f"4. check templates/{path.name} equals what the code renders",
        f"5. cfn-lint templates/{path.name} --regions {target.region}",
        f"6. Postmark register {config.mail_domain} (Return-Path {return_path_domain(config.mail_domain)}) "
        f"at {_postmark_url()}",
        f"7. create_change_set {target.stack} (CREATE or UPDATE) TemplateBody=templates/{path.name} "
        f"{P_TOKEN}=**** DkimSlot<1-{len(DKIM_SLOT_NUMBERS)}>Selector/Value=<Postmark's keys, each in the slot "
        "it holds in the deployed stack> Capabilities=CAPABILITY_IAM",
        "8. wait for the change set (poll every second; no changes = done)",
        "9. show the change set",
        "10. execute after confirmation (--yes skips the question) if the change set is in the configured account;"
        " otherwise, or on Ctrl-C, delete it",
        "11. follow the stack events; print the exports",
    ]
    out.write("\n".join(steps) + "\n")
    return EXIT_OK


def _postmark_url() -> str:
    from tools.lib.postmark_client import resolve_base_url

    return resolve_base_url()


def main(argv: list[str] | None = None) -> int:
    """Entry point: one error line and an exit code; --debug adds the traceback."""
    args = parse_args(argv)
    setup_logging(args.debug)
    started = time.monotonic()
    config = lint_job = None
    try:
        config = load_registry().lookup(args.infrastructure, args.partition)
        region = config.infrastructure.region
        if args.region and args.region != region:
            raise UsageError(
                f"--region must be the instance config's region {region!r} for {config.stack_name}, "
                f"got: {args.region!r}"
            )
        target = Target(config, region)
        if args.dry_run:
            return dry_run(target, sys.stdout)
        if not (args.preflight or args.destroy):
            lint_job = start_lint(target)
        LOG.info("%s", target.describe())
        from tools.lib.aws_session import open_session

        session = open_session(args.profile, region, config.stack_name)
        run = PartitionDeploy(
            target,
            session,
            out=sys.stderr if args.json else None,
            timeout_seconds=args.timeout * 60,
            keep_change_sets=args.keep_change_set,
            lint_job=lint_job,
        )
        try:
            if args.preflight:
                return run.preflight()
            if args.destroy:
                return run.destroy(assume_yes=args.yes, is_tty=sys.stdin.isatty(), purge_retained=args.purge_retained)
            return run.deploy(
                plan=args.plan,
                assume_yes=args.yes,
                is_tty=sys.stdin.isatty(),
                delete_failed_stack=args.delete_failed_stack,
                allow_iam_changes=args.allow_iam_changes,
                overwrite_drift=args.overwrite_drift,
            )
        finally:
            if not (args.preflight or args.destroy) and (args.summary_file or args.json or on_github_actions()):
                write_summary(run.plan, args.summary_file)
                if args.json:
                    print(redact(json.dumps(run.plan.to_dict(), indent=2)))
            LOG.info(
                "%s: finished in %.1fs, %d AWS call(s)", config.stack_name, time.monotonic() - started, run.aws_calls
            )
    except ArdaMailError as exc:
        return report_error("deploy", exc, config.stack_name if config else None)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: one redacted line, never a traceback
        return report_unexpected("deploy", exc, config.stack_name if config else None)
    except KeyboardInterrupt:
        print(
            "\ndeploy: interrupted before a change set existed; nothing was executed in CloudFormation "
            "(a Postmark registration may have completed: rerunning is safe)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        if lint_job is not None:
            lint_job.cancel()


def start_lint(target: Target) -> LintJob | None:
    """cfn-lint of the committed bytes, begun before any network step so it runs on the other core.

    None when the file cannot be read: the committed-template step then says why.
    """
    try:
        body = template_path(target.config).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return LintJob(body, target.region)


if __name__ == "__main__":
    sys.exit(main())
