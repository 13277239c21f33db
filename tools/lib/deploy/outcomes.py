"""How a deploy step ends when CloudFormation's answer is not the one it went on with: each an exit code.

``tools.lib.aws.cloudformation.Stack`` answers states (a change set FAILED, a stack
ROLLBACK_COMPLETE, a follow that reached its deadline); the step that asked turns
them into one of these, with the sentence that says what to do.
"""

from __future__ import annotations

from tools.lib.errors import ArdaMailError, Refused


class StackStateError(Refused):
    """The stack is in a state a deploy must not touch without the operator."""


class DeployFailed(ArdaMailError):
    """The change set or its execution failed; CloudFormation rolled back."""


class FollowTimeout(ArdaMailError):
    """The stack did not settle before the deadline; CloudFormation carries on."""

    def __init__(self, message: str, elapsed: float = 0.0) -> None:
        super().__init__(message)
        self.elapsed = elapsed
