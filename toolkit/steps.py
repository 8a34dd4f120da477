"""Resumable steps: a folder, a settings key and an atomic done marker.

One mechanism for every long computation that resumes (the demo's steps, the
quench's temperature steps, the generator's state points, the selection's
repeats): a :class:`Step` is finished when its marker (``done.json``) exists,
records the same *key* (:func:`settings_key` of everything the step's result
depends on: its settings and the keys of the steps before it) and names
outputs that all exist. The marker is written atomically, after the outputs,
so an interrupted step is never taken for a finished one. A step whose key
changed is redone from an empty folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import InputFileError, ToolkitError
from .fileio import read_json, write_json


def settings_key(obj: Any) -> str:
    """A short hash of ``obj`` (JSON, sorted keys): equal settings give equal keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Step:
    """One resumable step in ``folder``; ``key_source``: what its result depends on (hashed).

    ``base``: the folder the recorded output paths are relative to (default: ``folder``).
    """

    def __init__(self, folder: str | os.PathLike, key_source: Any, base: str | os.PathLike | None = None,
                 marker: str = "done.json"):
        self.dir = Path(folder)
        self.base = Path(base) if base is not None else self.dir
        self.key = settings_key(key_source)
        self.marker = self.dir / marker
        self.started_file = self.dir / "settings.json"

    def record(self) -> dict | None:
        """The marker if the step finished with this key and its outputs exist, else None."""
        try:
            rec = read_json(self.marker)
        except (OSError, ValueError):
            return None
        if not isinstance(rec, dict) or rec.get("key") != self.key:
            return None
        if not all((self.base / p).exists() for p in rec.get("outputs", [])):
            return None
        return rec

    def started_key(self) -> str | None:
        """The key of an unfinished attempt in the folder (None: none, or unreadable)."""
        try:
            return read_json(self.started_file).get("key")
        except (OSError, ValueError, AttributeError):
            return None

    def start(self, settings: Any = None, clean: bool = True) -> str:
        """Prepare the folder; returns ``"new"``, ``"resume"`` (an interrupted attempt with this key)
        or ``"changed"`` (other settings: the folder was emptied when ``clean``)."""
        state = "new"
        if self.dir.exists():
            if self.started_key() == self.key:
                state = "resume"
            elif any(self.dir.iterdir()):
                state = "changed"
                if clean:
                    shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.started_file, {"key": self.key, "settings": settings})
        return state

    def finish(self, outputs: Sequence[str | os.PathLike] = (), **info) -> dict:
        """Write the marker (atomically) once ``outputs`` all exist; returns the record."""
        missing = [str(p) for p in outputs if not Path(p).exists()]
        if missing:
            raise ToolkitError(f"step {self.dir}: outputs missing after the step: {', '.join(missing)}")
        rec = {"key": self.key, **info, "outputs": [os.path.relpath(p, self.base) for p in outputs],
               "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.marker, rec)
        return rec


def changed_keys(old: dict, new: dict) -> list[str]:
    """The keys whose values differ between two settings mappings (sorted)."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def check_resume(record_file: str | os.PathLike, settings: dict, what: str, legacy=None) -> None:
    """Refuse to resume into a folder whose ``record_file`` holds other ``settings``.

    ``record_file`` is a JSON file with a ``settings`` mapping (written by the
    caller once the check passed); a missing file is a new run. The error names
    every key that differs; ``what`` names the folder's content in it. ``legacy(record)``:
    the settings of a record written before it had a ``settings`` mapping.
    """
    record_file = Path(record_file)
    if not record_file.exists():
        return
    try:
        rec = read_json(record_file)   # a damaged file: InputFileError naming file and line
        old = rec.get("settings")
        if old is None and legacy is not None:
            old = legacy(rec)
    except InputFileError:
        raise
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        old = None
    if not isinstance(old, dict):
        raise ToolkitError(f"{record_file}: unreadable resume record; remove it (or the folder) to start over")
    changed = changed_keys(old, settings)
    if changed:
        diff = "; ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in changed[:6])
        raise ToolkitError(f"{record_file.parent} holds {what} made with other settings ({diff}"
                           f"{'; ...' if len(changed) > 6 else ''}); use a new output folder, or the same "
                           "settings to resume")
