"""The AWS layer: the one way the tools call AWS.

- ``session``: the boto3 session (a bad profile is one sentence; credentials are redacted; an
  HTML page is never parsed as an answer) and the shared client settings.
- ``clients``: ``Aws``, one run's clients; ``call``, ``pages``, ``items``, ``check_account``.
- ``errors``: the one translation of botocore's failures into ``AwsError`` (``aws_call``).
- ``pages``: the one bounded pager, reading how each operation pages from AWS's API models.
- ``account``: the account guard (one endpoint set, the configured account).
- ``cloudformation``: ``Stack``, CloudFormation's calls on one stack, answering states and
  facts; what an operator should do about them is the calling step's to say.

Nothing outside this package makes a client (``tests/unit/test_architecture.py``).
"""
