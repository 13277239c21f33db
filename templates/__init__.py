"""Troposphere stack classes and their rendered, committed CloudFormation YAML.

``partition_email`` holds the stack class (props in, template out), ``render`` the
explicit registry that turns an instance config into the committed YAML text (our
own emitter, ``yaml_emitter``), and ``errors`` this layer's one exception base.
This layer imports only ``instances`` and itself (``tests/unit/test_architecture.py``).

The one speed cut the project keeps (issue 18): troposphere imports cfn_flip (and
with it PyYAML) when it is imported, only for ``Template.to_yaml``, which this
project never calls. Until something uses cfn_flip, ``sys.modules`` holds a stand-in
whose first attribute access imports the real module. Measured with
``tools/bench/generate.py`` and callgrind on ``python generate.py``: 104 M of 539 M
instructions and 1.7 MB of 22 MB peak memory; without it the memory target (under
0.10 of ``cdk synth``'s) fails, and it is the largest single cut of the time. The
other removed cuts (``os._exit``: 39 M; NamedTuples instead of dataclasses: 41 M)
stay removed. ``tests/unit/test_yaml_emitter.py`` proves cfn_flip still works when
something asks for it.
"""

import importlib
import sys
import types


class _DeferredModule(types.ModuleType):
    """A module imported on first use (``__spec__`` stays None, so ``import`` returns it as is)."""

    def __getattr__(self, attribute):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, attribute)


if "cfn_flip" not in sys.modules:
    sys.modules["cfn_flip"] = _DeferredModule("cfn_flip")
