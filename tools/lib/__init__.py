"""The tools layer: everything the commands do, in modules a command calls (never the other way round).

- ``frame``: one frame for every CLI (arguments, errors, signals, ``--json``), with
  ``exits`` (the exit-code table), ``errors`` (this layer's exception base),
  ``output`` (the redacting sink, the table printer, the file writer), ``journal``
  (every change a run makes, and how to undo it) and ``logger`` (secrets, redaction);
- ``deploy/``: deploy.py's pipeline of named steps; ``verify``, ``rollout/`` (gates, evidence, cascade),
  ``registration``: the other commands' logic; ``plan/``: what a deploy will change;
- clients and guards: ``postmark_client``, ``op_resolver``, ``aws_session``,
  ``aws_errors``, ``git_guard``, ``cfn_lint`` (with ``lint_cache``), ``children``;
- ``targets``: the one ``target`` object of every ``--json`` document.
"""
