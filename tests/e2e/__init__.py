"""End-to-end tests in the local world: the session's moto server, the Postmark stand-in, DNS, the stand-in op.

Commands run in-process (their main(), through the CLI frame, on a fake clock) unless
a subprocess is the point: real argv and exit codes, signals, stdout bytes, a
checkout whose code differs from this one (tests/e2e/test_cli_contract.py and a few others).
"""
