"""The tools layer: everything the commands do, in modules a command calls (never the other way round).

- ``frame``: one frame for every CLI (arguments, errors, signals, ``--json``), with
  ``exits`` (the exit-code table), ``errors`` (this layer's exception base),
  ``output`` (the redacting sink, the table printer, the file writer), ``journal``
  (every change a run makes, and how to undo it) and ``logger`` (secrets, redaction);
- ``deploy/``: deploy.py's pipeline of named steps; ``verify``, ``rollout/`` (gates, evidence, cascade),
  ``registration``: the other commands' logic; ``plan/``: what a deploy will change;
- ``aws/``: the one way to AWS (session, clients, error translation, the bounded pager, the
  account guard, CloudFormation's calls on one stack); ``poll``: the one way to wait;
- clients and guards: ``postmark_client``, ``op_resolver``, ``git_guard``, ``cfn_lint``
  (with ``lint_cache``), ``children``;
- ``targets``: the one ``target`` object of every ``--json`` document.
"""
