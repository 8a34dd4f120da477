"""Exceptions with messages that name the file, line or item at fault."""

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


class StructureError(ToolkitError, ValueError):
    """A physically impossible or unusable structure (NaN, overlapping atoms, unknown element)."""


class LammpsError(ToolkitError, RuntimeError):
    """LAMMPS is missing, failed, or its run went unphysical; the message names the run and log line."""
