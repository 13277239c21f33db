"""Patch 22: ``DescribeRegions`` lists the regions enabled for the account, in the caller's partition.

moto answers ``DescribeRegions`` with every region it knows (38 in moto 5.2.5): the
opt-in regions its own answer marks ``not-opted-in``, and the regions of the
``aws-us-gov`` and ``aws-cn`` partitions too. EC2's API reference for DescribeRegions:
"Describes the Regions that are enabled for your account, or all Regions", with
``AllRegions``: "Indicates whether to display all Regions, including Regions that are
disabled for your account"; and an endpoint of one partition answers for that
partition's regions only. The patch keeps, of moto's answer, the regions of the
partition the request was sent to, and without ``AllRegions`` only those whose
opt-in status is ``opt-in-not-required`` or ``opted-in``.

What depends on it: the purge and the adoption look for the partition's stack in every
enabled region (``tools/lib/deploy/retained.py``), one region at a time, as they do on AWS.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions
from moto.utilities.utils import get_partition

from tools.rehearsal.moto_compat.patching import wrap

ENABLED = ("opt-in-not-required", "opted-in")


def listed(regions: list, partition: str, every: bool) -> list:
    """The regions ``DescribeRegions`` shows: the partition's, and only the enabled ones unless ``every``."""
    return [r for r in regions if get_partition(r.name) == partition and (every or r.opt_in_status in ENABLED)]


def describe_regions(original, self) -> ActionResult:
    answer = original(self)
    every = bool(self._get_bool_param("AllRegions", False))
    return ActionResult({"Regions": listed(answer.result["Regions"], get_partition(self.region), every)})


def install() -> None:
    wrap(AvailabilityZonesAndRegions, "describe_regions", describe_regions)
