"""The errors of the instances layer: one base, caught once by every command's frame.

This layer imports only the standard library, so it defines its own errors; the
CLI frame (``tools.lib.frame``) maps the base to exit code 2 (bad configuration or
a target that does not exist).
"""


class InstanceError(Exception):
    """An instance file or a requested target is wrong; the message is one plain sentence."""


class ConfigError(InstanceError):
    """An instance file under instances/ is malformed or inconsistent."""


class UnknownTarget(InstanceError):
    """The command names an infrastructure or partition that is not configured or not active."""
