"""The one exception base of the project; CLIs catch it once at the top."""


class ArdaMailError(Exception):
    """An error the operator can act on; its message is one plain sentence."""

    exit_code = 1


class UsageError(ArdaMailError):
    """The command line names something that does not exist."""

    exit_code = 2


class ConfigError(ArdaMailError):
    """An instance file under instances/ is malformed or inconsistent."""

    exit_code = 2


class PropsError(ArdaMailError):
    """Stack props handed to a template class break one of its rules."""

    exit_code = 2
