"""Postmark's whole DKIM lifecycle, deployed state after state, as an operator runs it.

Each step changes the world the way the real services do (Postmark verifies a key
it finds in DNS, a rotation adds a key, Postmark declares a revoked key safe),
then runs the real commands (their main(), in this process, through the CLI frame):
``deploy.py --yes``, ``tools/rotate_dkim.py`` and ``tools/verify_partition_mail.py``
against a DNS server that serves the emulator's Route 53 zone. After every deploy the zone must
hold exactly the keys Postmark needs, and no record name may ever have changed
CloudFormation resource (the emulator refuses that the way CloudFormation does,
see tools/rehearsal/moto_compat/, patches 7 and 8).
"""

from __future__ import annotations

import json

import pytest

from templates.dkim import join_txt_strings
from tests.conftest import STACK, Completed, assert_token_nowhere
from tools import rotate_dkim, verify_partition_mail
from tools.rehearsal.aws import client, serve_route53_zone
from tools.rehearsal.postmark import dns_lookup

pytestmark = pytest.mark.moto

DOMAIN = "dev.ardamails.com"


class Lifecycle:
    """The operator's commands and the world's state, for one partition."""

    def __init__(self, world, postmark, dns_zone) -> None:
        self.world = world
        self.cfn = client("cloudformation", world["admin"])
        self.route53 = client("route53", world["admin"])
        self.postmark = postmark
        self.dns_zone = dns_zone
        self.owners: dict[str, str] = {}  # record name -> the logical ID that has ever held it
        self.outputs: list[str] = []

    @property
    def domain(self) -> dict:
        return self.postmark.only_domain()

    def key(self, field: str) -> tuple[str, str]:
        """(host, value) of Postmark's DKIM<field>Host / DKIM<field>TextValue."""
        return self.domain[f"DKIM{field}Host"].lower(), self.domain[f"DKIM{field}TextValue"]

    def _run(self, main, *args: str) -> Completed:
        result = self.world.run(main, "Alpha002", "dev", *args)
        self.outputs += [result.stdout, result.stderr]
        return result

    def deploy(self) -> Completed:
        result = self.world.deploy("--yes")
        self.outputs += [result.stdout, result.stderr]
        assert result.returncode == 0, result.stdout + result.stderr
        self._serve_and_check_owners()
        return result

    def rotate(self, *args: str) -> Completed:
        return self._run(rotate_dkim.main, *args)

    def verify(self) -> Completed:
        return self._run(verify_partition_mail.main, "--resolver", f"127.0.0.1:{self.dns_zone.port}")

    def zone_id(self) -> str:
        stack = self.cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "MailHostedZoneId")

    def dkim_in_zone(self) -> dict[str, str]:
        """Every DKIM record the zone holds: name -> joined TXT value (one value each)."""
        found: dict[str, str] = {}
        for record in self.route53.list_resource_record_sets(HostedZoneId=self.zone_id())["ResourceRecordSets"]:
            name = record["Name"].lower().rstrip(".")
            if "._domainkey." in name:
                assert name not in found, f"two record sets named {name}"
                (value,) = [join_txt_strings(r["Value"]) for r in record["ResourceRecords"]]
                found[name] = value
        return found

    def _serve_and_check_owners(self) -> None:
        serve_route53_zone(self.dns_zone, self.route53, self.zone_id())
        resources = self.cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        for resource in resources:
            name = resource.get("PhysicalResourceId", "").lower().rstrip(".")
            if "._domainkey." in name:
                owner = self.owners.setdefault(name, resource["LogicalResourceId"])
                assert owner == resource["LogicalResourceId"], f"{name} moved from {owner} to a new resource"

    def assert_zone_holds(self, *keys: tuple[str, str]) -> None:
        assert self.dkim_in_zone() == dict(keys)


@pytest.fixture
def life(world, postmark, dns_zone):
    # Postmark looks keys up in DNS: the DNS stand-in serving the emulator's zone.
    postmark.lookup = dns_lookup("127.0.0.1", dns_zone.port)
    dns_zone.set(f"{DOMAIN}._report._dmarc.arda.cards", "TXT", ["v=DMARC1"])
    return Lifecycle(world, postmark, dns_zone)


def failing_rows(result) -> list[str]:
    return [line.split()[0] for line in result.stdout.splitlines() if line.startswith("V-") and "  FAIL  " in line]


@pytest.mark.slow
@pytest.mark.vcheck("V-PART-006", "V-PART-007", "V-PART-021", "V-PART-022")
def test_every_lifecycle_state_deploys_and_publishes_exactly_what_postmark_needs(life, tmp_path):
    # 1. A new domain: Postmark's first key is pending, nothing is active yet.
    life.deploy()
    k1 = life.key("Pending")
    assert life.domain["DKIMHost"] == "" and life.domain["DKIMUpdateStatus"] == "Pending"
    life.assert_zone_holds(k1)

    # 2. Verification: Postmark finds key 1 in DNS and moves it to the active fields (same host).
    verified = life.verify()
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert life.key("") == k1 and life.key("Pending") == ("", "")
    again = life.deploy()
    assert f"{STACK}: no changes" in again.stdout  # the key kept its slot: nothing moves
    life.assert_zone_holds(k1)

    # 3. A rotation: key 2 is pending under a new selector, key 1 still signs.
    rotated = life.rotate()
    assert rotated.returncode == 0, rotated.stderr
    k2 = life.key("Pending")
    assert k2[0] != k1[0] and f"pending key: {k2[0]} TXT {k2[1]}" in rotated.stdout
    life.deploy()
    life.assert_zone_holds(k1, k2)

    # 4. Key 2 verified: it is active, key 1 revoked but not yet safe to remove.
    assert life.verify().returncode == 0
    assert life.key("") == k2 and life.key("Revoked") == k1
    assert life.domain["SafeToRemoveRevokedKeyFromDNS"] is False
    assert f"{STACK}: no changes" in life.deploy().stdout
    life.assert_zone_holds(k1, k2)

    # 5. Later, Postmark says the revoked key may go: verify says so, the next deploy removes it.
    life.postmark.make_revoked_key_safe(life.domain["ID"])
    before = life.verify()
    assert failing_rows(before) == ["V-PART-022"], before.stdout
    assert "safe to remove: run python deploy.py Alpha002 dev" in before.stdout
    life.deploy()
    life.assert_zone_holds(k2)
    assert life.verify().returncode == 0

    # 6. A second rotation, verified.
    assert life.rotate().returncode == 0
    k3 = life.key("Pending")
    life.deploy()
    life.assert_zone_holds(k2, k3)
    assert life.verify().returncode == 0
    assert life.key("") == k3 and life.key("Revoked") == k2
    life.deploy()
    life.assert_zone_holds(k2, k3)

    # 7. A third rotation before key 2 is safe: active, pending and revoked, all three slots.
    assert life.rotate().returncode == 0
    k4 = life.key("Pending")
    life.deploy()
    life.assert_zone_holds(k2, k3, k4)
    assert life.verify().returncode == 0
    # Key 3 is now the revoked one; Postmark no longer asks for key 2, so it leaves DNS.
    assert life.key("") == k4 and life.key("Revoked") == k3
    life.deploy()
    life.assert_zone_holds(k3, k4)
    life.postmark.make_revoked_key_safe(life.domain["ID"])
    life.deploy()
    life.assert_zone_holds(k4)
    assert life.verify().returncode == 0

    assert len(life.owners) == 4, life.owners
    assert_token_nowhere(*life.outputs, folders=[tmp_path])


def test_rotate_dkim_while_one_is_pending_is_a_clear_no_op(life, tmp_path):
    life.deploy()
    assert life.verify().returncode == 0
    first = life.rotate("--json")
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    assert document["started"] is True and document["pending_key"]["state"] == "pending"
    assert document["next"] == [
        "python deploy.py Alpha002 dev",
        "python tools/verify_partition_mail.py Alpha002 dev --wait 960",
    ]
    pending = life.key("Pending")
    second = life.rotate()
    assert second.returncode == 0, second.stderr
    assert "already pending (Postmark ErrorCode 505); nothing changed" in second.stdout
    assert life.key("Pending") == pending
    assert len(life.postmark.calls("POST", r"/domains/\d+/rotatedkim")) == 2
    assert_token_nowhere(*life.outputs, folders=[tmp_path])


def test_a_dotted_selector_goes_through_register_deploy_verify_and_a_rotation(life, tmp_path):
    """Postmark issued selectors with a dot to older domains (RFC 6376: a selector is one or more labels)."""
    from tools import register_partition_mail_signature

    life.postmark.dotted_selectors = True
    registered = life._run(register_partition_mail_signature.main)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    pending = life.key("Pending")
    assert "._domainkey." in pending[0] and pending[0].split("._domainkey.")[0].count(".") == 1
    assert pending[0] in registered.stdout
    life.deploy()
    life.assert_zone_holds(pending)
    verified = life.verify()
    assert failing_rows(verified) == [], verified.stdout
    # One run after the create reports the final role: Postmark verified the key, so it is active.
    ids = [line.split()[0] for line in verified.stdout.splitlines() if line.startswith("V-")]
    assert "V-PART-006" in ids and "V-PART-007" not in ids, verified.stdout
    assert life.verify().returncode == 0
    assert life.rotate().returncode == 0  # a new (dotted) pending key beside the active one
    life.deploy()
    life.assert_zone_holds(life.key(""), life.key("Pending"))
    assert_token_nowhere(*life.outputs, folders=[tmp_path])
