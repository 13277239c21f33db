"""Route 53's rules as patches 7, 13 and 17 apply them, without moto: record sets and change batches as dicts."""

from __future__ import annotations

import pytest

from tools.rehearsal.moto_compat.route53 import (
    MAX_BATCH_CHARACTERS,
    MAX_BATCH_RECORDS,
    batch_refusal,
    batch_size,
    create_refusal,
    delete_refusal,
    fully_qualified,
    same_name,
    soa_value,
    values,
    zone_tags,
    zone_tags_refusal,
)


def change(action: str, *texts: str, name: str = "a.example.test.", ttl: int = 300) -> dict:
    records = [{"Value": text} for text in texts]
    return {
        "Action": action,
        "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": ttl, "ResourceRecords": records},
    }


def test_names_compare_without_case_or_the_trailing_dot_and_are_kept_fully_qualified():
    assert same_name("A.Example.Test.", "a.example.test")
    assert not same_name("a.example.test", "b.example.test")
    assert fully_qualified("a.example.test") == fully_qualified("a.example.test.") == "a.example.test."


def test_values_read_the_apis_dicts_and_plain_text():
    assert values({"ResourceRecords": [{"Value": '"a"'}, '"b"']}) == ['"a"', '"b"']
    assert values({"ResourceRecords": None}) == []


def test_a_batch_counts_records_and_characters_an_upsert_twice():
    assert batch_size([change("CREATE", "ab", "c"), change("UPSERT", "defg"), change("DELETE", "h")]) == (5, 12)


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ([change("CREATE", *["x"] * MAX_BATCH_RECORDS)], None),
        ([change("CREATE", *["x"] * (MAX_BATCH_RECORDS + 1))], f"Number of records limit of {MAX_BATCH_RECORDS}"),
        ([change("UPSERT", *["x"] * (MAX_BATCH_RECORDS // 2 + 1))], "Number of records limit"),
        ([change("CREATE", "x" * 255)] * (MAX_BATCH_CHARACTERS // 255), None),
        ([change("UPSERT", "x" * 255)] * (MAX_BATCH_CHARACTERS // 255), "Number of characters in Value elements"),
    ],
)
def test_a_batch_over_route53s_limits_is_refused(changes, refusal):
    found = batch_refusal(changes)
    assert found == refusal if refusal is None else found.startswith(refusal)


def test_a_delete_names_the_record_set_exactly():
    wanted = change("DELETE", '"b"', '"a"', name="A.example.test")["ResourceRecordSet"]
    current = {"TTL": "300", "ResourceRecords": ['"a"', {"Value": '"b"'}]}
    assert delete_refusal(wanted, current) is None, "values in any order, the TTL as text or number"
    label = "[name='a.example.test.', type='TXT']"
    assert delete_refusal(wanted, None) == f"Tried to delete resource record set {label} but it was not found"
    mismatch = f"Tried to delete resource record set {label} but the values provided do not match the current values"
    assert delete_refusal(wanted, {**current, "TTL": 60}) == mismatch
    assert delete_refusal(wanted, {**current, "ResourceRecords": ['"a"']}) == mismatch


def test_a_create_of_an_existing_record_set_is_refused_unless_its_set_identifier_differs():
    existing = [{"Name": "k.example.test.", "Type": "TXT", "SetIdentifier": None}]
    wanted = {"Name": "K.example.test", "Type": "TXT"}
    assert create_refusal(existing, wanted) == (
        "[Tried to create resource record set [name='K.example.test.', type='TXT'] but it already exists]"
    )
    assert create_refusal(existing, {**wanted, "Type": "CNAME"}) is None
    assert create_refusal(existing, {**wanted, "SetIdentifier": "blue"}) is None


def test_the_soa_is_route53s():
    assert (
        soa_value("ns-1.awsdns-01.org") == "ns-1.awsdns-01.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
    )


def test_a_zone_takes_the_stacks_tags_then_its_own_at_most_ten():
    tags = zone_tags([{"Key": "owner", "Value": "zone"}], {"owner": "stack", "cost": "1", "aws:cloudformation:x": "y"})
    assert tags == {"owner": "zone", "cost": "1"}, "aws: system tags do not count; the zone's own win"
    assert zone_tags(None, None) == {}
    ten = {f"t{i}": "x" for i in range(10)}
    assert zone_tags_refusal(ten) is None
    refusal = zone_tags_refusal({**ten, "one": "more"})
    assert refusal.startswith("InvalidInput: a hosted zone takes at most 10 tags, got 11: t0, t1")
