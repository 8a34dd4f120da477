"""Shared fixtures: the n2p2 reference data in ../shared (read-only); small LJ boxes with forces."""

from __future__ import annotations

import shutil
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


def lj_boxes(n: int, seed: int = 0, max_rattle: float = 0.05, forces: bool = True) -> list:
    """``n`` rattled fcc boxes of 16 LJ atoms (rho 0.9-1.1 x 4/a^3), energies (and forces) from ASE's smooth LJ, rc 2."""
    from ase.build import bulk
    from ase.calculators.lj import LennardJones

    from toolkit.structures import Structure

    rng = np.random.default_rng(seed)
    structs = []
    for k in range(n):
        a = bulk("Ar", "fcc", a=(4 / rng.uniform(0.9, 1.1)) ** (1 / 3), cubic=True).repeat((2, 2, 1))
        a.rattle(stdev=rng.uniform(0.02, max_rattle), seed=k)
        a.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.0, smooth=True)
        structs.append(Structure(positions=a.positions.copy(), elements=a.get_chemical_symbols(),
                                 cell=np.array(a.cell), energy=a.get_potential_energy(),
                                 forces=a.get_forces() if forces else None))
    return structs


@pytest.fixture(scope="session")
def lj_features(tmp_path_factory):
    """12 small LJ boxes (16 atoms, ASE energies and forces) with a cheap 6-function candidate set."""
    from toolkit.features import write_feature_file
    from toolkit.symfuncs import SymmetryFunctionSet, standard_candidates

    structs = lj_boxes(12, seed=0, max_rattle=0.05)
    sfs = standard_candidates("Ar", rc=2.0, rc_angular=1.4, n_centered=2, n_shifted=2, zetas=(1,))
    path = tmp_path_factory.mktemp("lj") / "f.h5"
    write_feature_file(path, structs, SymmetryFunctionSet(sfs, ["Ar"]), derivatives=True, show_progress=False,
                       workers=1)
    return path, structs


def negated_output_copy(src: Path, dst: Path) -> Path:
    """A deliberately bad potential: AL_NN with its output layer negated (repulsion becomes attraction)."""
    shutil.copytree(src, dst)
    w = dst / "weights.013.data"
    lines = []
    for line in w.read_text().splitlines():
        tok = line.split()
        if tok and not line.startswith("#") and ((tok[1] == "a" and tok[5] == "3") or (tok[1] == "b" and tok[3] == "3")):
            line = f"{-float(tok[0]): .16E} " + " ".join(tok[1:])
        lines.append(line)
    w.write_text("\n".join(lines) + "\n")
    return dst
