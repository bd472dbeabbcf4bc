"""Errors a user can cause and fix. The CLI prints each as one line and exits with status 2."""

from __future__ import annotations


class EmodrawError(Exception):
    """Base class: a problem with the user's input, files or options (never a bug of ours)."""

    exit_code = 2


class DataError(EmodrawError):
    """A data file is malformed; the message names the file and the line."""

    def __init__(self, path, line: int | None, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class ConfigError(EmodrawError):
    """An option or config file value is invalid or unknown."""


class BackboneError(EmodrawError):
    """The requested model cannot be found or loaded."""


class CheckpointError(EmodrawError):
    """A checkpoint is missing, incomplete, altered or unsafe to load."""
