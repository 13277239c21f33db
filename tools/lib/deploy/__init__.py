"""The deploy of one partition's stack, as a pipeline of named steps (``deploy.py`` calls one mode).

- ``steps``: the numbered steps, used by the code, ``--dry-run`` and docs/deploy.md;
- ``context``: what every step is handed (target, clients, output, journal, clock);
- ``guards`` (2-4, 7), ``state`` and ``drift`` (5), ``postmark`` (6, 8),
  ``parameters`` and ``changeset`` (9), ``review`` (10-11), ``execute`` and
  ``protections`` (11): one file per step or two;
- ``modes``: ``deploy`` and ``plan``, each a short script of those steps;
  ``destroy``, ``preflight`` and ``dry_run`` are the other modes;
- ``cloudformation``: the change-set calls on one stack (after aws-cli's deployer).
"""
