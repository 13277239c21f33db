"""The benchmarks: generate.py beside ``cdk synth`` (``generate``), deploy.py beside aws-cli (``deploy``).

``cdk_anchor/`` is the same stack written with AWS CDK, only the generate benchmark's
anchor: never deployed. Benchmarks are run on demand (docs/benchmarks.md), never
inside the default test run.
"""
