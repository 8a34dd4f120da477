"""Exceptions with messages that name the file, line or item at fault.

The command line (:mod:`toolkit.cli`) prints every :class:`ToolkitError` as one
``error: <message>`` line and exits with status 1; so do foreseeable operating-
system errors (missing file, permission, disk full), named by their file.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """Base class: every error the toolkit raises on purpose."""


class InputFileError(ToolkitError, ValueError):
    """A malformed input file; the message names the file and the line."""

    def __init__(self, path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.line, self.reason))


class OutputPathError(ToolkitError):
    """An output path that cannot or must not be written (existing result, folder in the way, read-only)."""

    def __init__(self, path, message: str):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class StructureError(ToolkitError, ValueError):
    """A physically impossible or unusable structure (NaN, overlapping atoms, unknown element)."""


class LammpsError(ToolkitError, RuntimeError):
    """LAMMPS is missing, failed, or its run went unphysical; the message names the run and log line."""


class InputWarning(UserWarning):
    """Input the toolkit ignores or doubts but can work with (unknown ``input.nn`` keyword, extrapolation)."""
