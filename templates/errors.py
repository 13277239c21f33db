"""The errors of the templates layer: one base, caught once by every command's frame.

This layer imports only ``instances`` and itself (plus troposphere and awacs), so it
defines its own errors; the CLI frame maps the base to exit code 2 (the inputs
cannot make a valid template).
"""


class TemplateError(ValueError):
    """The inputs cannot make a valid template; the message is one plain sentence."""


class PropsError(TemplateError):
    """Stack props handed to a template class break one of its rules."""


class DkimValueError(TemplateError):
    """A DKIM key or the slots it must fit cannot be published as the template needs."""
