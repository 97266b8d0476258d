"""The one error of the sandbox."""


class SandboxError(RuntimeError):
    """The sandbox cannot be set up safely; the message says what to change."""
