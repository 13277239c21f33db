"""Troposphere stack classes and their rendered, committed CloudFormation YAML.

troposphere imports cfn_flip (and with it PyYAML, about 27 ms) at import time, only
for ``Template.to_yaml``. The committed YAML is written by our own emitter
(``yaml_emitter``), so until something really uses cfn_flip, ``sys.modules`` holds
a stand-in whose first attribute access imports the real module and hands the
attribute over. Rendering a template therefore loads neither cfn_flip nor PyYAML.
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
