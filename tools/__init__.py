"""The operator's commands (``register_partition_mail_signature.py``, ``rotate_dkim.py``,
``verify_partition_mail.py``, ``rollout.py``, ``rehearse.py``), their library
(``lib/``), the rehearsal world (``rehearsal/``) and the benchmarks (``bench/``)."""
