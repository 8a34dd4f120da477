"""Shared fixtures: the n2p2 reference data in ../shared (read-only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "reference" / "n2p2"

# Symmetry functions are many small tensor operations: one thread avoids OpenMP
# barrier waits when LAMMPS subprocesses or other jobs share the two cores.
torch.set_num_threads(1)


def read_comp(path: Path) -> np.ndarray:
    """Rows of an n2p2 energy.comp / forces.comp file as floats."""
    rows = [l.split() for l in open(path) if l.strip() and not l.lstrip().startswith("#")]
    return np.array([[float(x) for x in r] for r in rows])


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/reference/n2p2 is not available")
    return SHARED
