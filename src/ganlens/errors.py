"""User-facing errors.

Every mistake a user can make (wrong file, shape, range, layer index, model name...) is raised
as a :class:`GanlensError` whose message is one line naming the bad value and what is allowed.
The CLI prints that line and exits non-zero, never a traceback.
"""

from __future__ import annotations


class GanlensError(Exception):
    """An error caused by user input; its message is shown to the user as one line."""

    exit_code: int = 2


class CheckpointError(GanlensError):
    """A checkpoint file is missing, corrupt, unsafe or of an unsupported format."""


class UnsafePickleError(CheckpointError):
    """A pickle asked for a global outside the allow-list; nothing was executed."""


class UnknownModelError(GanlensError):
    """A model name that is neither in the zoo nor a path."""


class MissingPackageError(GanlensError):
    """A model's weights live in a package that is not installed."""


def one_line(msg: str) -> str:
    """Collapse whitespace so a message always prints as a single line."""
    return " ".join(str(msg).split())


class GanlensWarning(UserWarning):
    """Something the user should know that does not stop the job; the CLI prints it as one line."""
