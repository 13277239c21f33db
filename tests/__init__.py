"""The test suite: ``unit/`` runs in this process without servers, ``e2e/`` in the local world on 127.0.0.1.

``conftest.py`` holds the shared fixtures and the two ways to run a command (its
main() in-process through the CLI frame, or the script as a subprocess).
"""
