"""Test-only patches for known CloudFormation gaps of moto (pinned: moto[server]==5.2.5).

The end-to-end deploy test runs ``python deploy.py`` as a subprocess against a moto
server that lives in the pytest process, so patching moto's classes here changes
what that server does. The product code is never bent to suit moto; each patch
makes moto behave the way CloudFormation does, for one documented gap. One module
per patch; its docstring says the gap, what AWS does (with the source) and what the
patch does; ``tests/e2e/test_moto_compat.py`` proves each against the server, and
that bare moto still has the gap:

 1. ``p01_zone_name_servers``: ``GetAtt <zone>.NameServers`` of a template's hosted zone.
 2. ``p02_custom_resources``: ``Custom::`` resources run the delegation handler in-process (Create, Update, Delete).
 3. ``p03_secrets``: ``AWS::SecretsManager::Secret`` from a template creates (and deletes) the secret.
 4. ``p04_outputs_after_change_set``: an executed change set computes the outputs and registers the exports; a
   stack being deleted shows the outputs it had (moto made deleted resources again to compute them).
 5. ``p05_record_set_update_by_type``: updating a record set deletes its own name and type only.
 6. ``p06_empty_change_set``: a change set without changes is FAILED, not refused.
 7. ``p07_record_set_create_refuses_existing``: a template's record set is fully qualified; CREATE refuses a duplicate.
 8. ``p08_change_sets``: change sets honour Conditions, create before they clean up, and roll back.
 9. ``p09_stack_protections``: termination protection; ``ListChangeSets`` of the named stack only.
10. ``p10_slow_execution``: (tests) an executed change set stays ``*_IN_PROGRESS`` a while.
11. ``p11_holds``: (tests) one request held, before or after the server acts on it.
12. ``p12_one_stack_per_name``: a second CREATE change set joins the stack under review.
13. ``p13_hosted_zone_tags``: a template's zone: fully qualified, tagged (at most 10), deleted with its stack.
14. ``p14_iam``: IAM on every request and every resource CloudFormation handles; ``SimulatePrincipalPolicy``.
15. ``p15_imports``: ``ListImports``; a stack whose exports are imported is not deleted.
16. ``p16_retries_and_retention``: request tokens, one execution per change set, ``RetainExceptOnCreate``;
    (tests) a lost answer.
17. ``p17_route53_change_batches``: change batch limits, exact DELETEs, Route 53's SOA value.
18. ``p18_drift_detection``: drift detection from the world's own resources; a role update applies its policies.
19. ``p19_missing_change_sets``: a change set that does not exist is ``ChangeSetNotFound`` (not an HTML 500).
20. ``p20_resource_imports``: ``IMPORT`` change sets adopt existing resources (``ResourcesToImport``), or are
    refused, fail, or roll back as CloudFormation's do.
21. ``p21_latency``: (tests, rehearsals, benchmarks) each client's request waits ``latency_seconds`` (a round
    trip to AWS); every request answered is logged.
22. ``p22_enabled_regions``: ``DescribeRegions`` lists the account's enabled regions of the caller's partition.

The modules without a number patch nothing and import no moto:

- ``controls``: ``CONTROLS``, the switches tests turn (patches 10, 11, 16, 18 and 20), reset by ``reset()``.
- ``patching``: ``wrap``, how a patch puts a plain function around moto's.
- The patches' logic as plain functions over plain data, tested without moto or a server
  (``tests/unit/test_moto_compat_*.py``): ``change_sets`` (patch 8: the plan of an update,
  its order, its rollback), ``drift`` (patch 18), ``route53`` (patches 7, 13, 17: Route 53's
  rules and limits), ``stacks`` (patches 12, 15, 16: stack and change set rules),
  ``resource_imports`` (patch 20: an import's refusals, lookups and events),
  ``protocol`` (the wire: a request's action, query lists, patch 14's IAM answers).

The order. ``apply()`` installs the patches in ``ORDER``: patch 14 first, then the
others by number. Where several patches change the same moto function, each wraps
what the ones before it left, so the later one runs outside the earlier one. Three
places depend on it:

- Patch 14 (IAM) first: it replaces two moto functions outright (the request
  authoriser and ``ResourceMap.delete``), and a patch that replaces a function must
  come before any that wraps it, or it throws the wrapper away. Its wrappers (the
  functions that create, update and delete one template resource, and
  ``delete_stack``) then sit innermost, next to moto. The later patches reach them
  through moto's module and class attributes at call time (patch 8 no longer binds
  ``parse_and_update_resource`` when installed, which is why 14 had to come first
  before), so everything they do to a resource acts with the caller's permissions.
- Patch 10 (slow execution) after patches 4 and 8 on ``execute_change_set``: 4
  publishes the outputs of a stack that reached ``*_COMPLETE`` and 8 files the
  execution's resource events or its rollback; 10 then hides that final status and
  those events for a while. Inside them, 4 would see a stack still in progress and
  publish nothing, and 8 would show the resource events at once.
- Patch 20 (resource imports) after patches 4, 8 and 10 on ``execute_change_set``, and
  after 6 and 16 on the ``CreateChangeSet`` response: it executes an ``IMPORT`` change
  set itself (8 would create the resources anew), and it checks an import before 16
  answers a retried request as before or refuses a name in use.

The other shared functions (``delete_stack``: 14, 9, 15; the change set requests: 6
and 16; the server's WSGI entry: 11, then 16's lost answer outside it, then 21's
round trip outside both) work in either order. ``tests/unit/test_moto_compat_order.py`` keeps the three rules.

Deliberately not patched: moto returns NoEcho parameter values in clear text from
``DescribeStacks``. Leaving that in makes the token-leak assertions stricter: if
deploy.py ever printed stack parameters, the token would show up and fail them.
"""

from __future__ import annotations

import functools
import importlib

from tools.rehearsal.moto_compat.controls import CONTROLS, Controls, Hold

__all__ = ("CONTROLS", "ORDER", "Controls", "Hold", "apply")

ORDER = (
    "p14_iam",  # first: see "The order" above
    "p01_zone_name_servers",
    "p02_custom_resources",
    "p03_secrets",
    "p04_outputs_after_change_set",
    "p05_record_set_update_by_type",
    "p06_empty_change_set",
    "p07_record_set_create_refuses_existing",
    "p08_change_sets",
    "p09_stack_protections",
    "p10_slow_execution",  # after 4 and 8
    "p11_holds",
    "p12_one_stack_per_name",
    "p13_hosted_zone_tags",
    "p15_imports",
    "p16_retries_and_retention",
    "p17_route53_change_batches",
    "p18_drift_detection",
    "p19_missing_change_sets",
    "p20_resource_imports",  # after 4, 8, 10 and 16
    "p21_latency",
    "p22_enabled_regions",
)


@functools.cache
def apply() -> None:
    """Install every patch, in ``ORDER``, once (a second call does nothing).

    The patch modules import moto; they are imported here, so importing this package
    (for ``CONTROLS``) costs nothing.
    """
    for name in ORDER:
        importlib.import_module(f"{__name__}.{name}").install()
