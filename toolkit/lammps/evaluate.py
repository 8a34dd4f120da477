"""Energies and forces of given structures from LAMMPS (``rerun``): an independent check.

Used to verify generated reference data (the same potential evaluated again
from the positions stored in ``input.data``) and to evaluate an exported HDNNP
inside LAMMPS. Units are the system's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import LammpsError
from ..structures import Structure
from .dump import iter_dump, write_data_file, write_dump
from .generate import _read_energies
from .potentials import PotentialSpec, resolve_potential
from .runner import run_lammps, write_input, write_snippet
from .systems import System, get_system


def evaluate(structures: Sequence[Structure], system: str | System, potential: str | os.PathLike | PotentialSpec = "reference",
             lmp: str | Sequence[str] | None = None, work_dir: str | os.PathLike | None = None) -> list[Structure]:
    """Copies of ``structures`` with energy (total) and forces computed by LAMMPS.

    Structures are grouped by atom count and element sequence; each group is
    one LAMMPS ``rerun``. Cells must be in LAMMPS form (a along x, b in the xy
    plane), as the generator writes them.
    """
    system = get_system(system) if isinstance(system, str) else system
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="hdnnp-rerun-")
        work_dir = tmp.name
    work_dir = Path(work_dir)
    try:
        if isinstance(potential, PotentialSpec):
            spec = potential
        else:
            spec, _ = resolve_potential(potential, system, work_dir=work_dir, lmp=lmp)
        elements = list(system.elements)
        for s in structures:
            for e in s.elements:
                if e not in elements:
                    raise LammpsError(f"structure has element {e!r}, system {system.name} only {', '.join(elements)}")
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(structures):
            groups.setdefault((len(s), tuple(s.elements)), []).append(i)
        out: list[Structure | None] = [None] * len(structures)
        for g, idx in enumerate(groups.values()):
            d = work_dir / f"rerun_{g:03d}"
            d.mkdir(parents=True, exist_ok=True)
            group = [structures[i] for i in idx]
            write_data_file(d / "first.data", group[0], elements, list(system.masses))
            write_dump(d / "structures.lammpstrj", group, {e: k + 1 for k, e in enumerate(elements)})
            write_snippet(d / "pair.in", spec.pair_lines, comment=spec.label)
            write_input("rerun.in", d, {"units": system.units})
            run_lammps("in.lammps", d, lmp=lmp, name=f"rerun of {len(group)} structures")
            energies = _read_energies(d / "energy.dat")
            frames = {f.step: f for f in iter_dump(d / "forces.lammpstrj")}
            for step, i in enumerate(idx):
                if step not in frames or step not in energies:
                    raise LammpsError(f"LAMMPS rerun in {d}: no output for frame {step}")
                f = frames[step]
                s = structures[i].copy()
                s.energy = energies[step]
                s.forces = np.column_stack([f.column("fx"), f.column("fy"), f.column("fz")])
                out[i] = s
        return out  # type: ignore[return-value]
    finally:
        if tmp is not None:
            tmp.cleanup()
