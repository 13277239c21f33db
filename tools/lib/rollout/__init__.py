"""The rollout behind ``tools/rollout.py``, in three parts.

- ``gates``: the operator gates a partition requires, counted from git (``HEAD``'s
  ``docs/rollout-gates.json``), and ``--record-gate``;
- ``evidence``: what one partition's rollout did (``Record``), its JSON document
  (``docs/evidence.schema.json``) and its Markdown reports, written through the
  redacting writer;
- ``cascade``: the walk dev → stage → demo → prod (``Rollout``), its options and the
  one resume command (``Settings``), and the ``Runner`` it does everything outside
  itself through: the operator's commands as child processes (``tools.lib.children``),
  the account guard and the stack's exports.
"""
