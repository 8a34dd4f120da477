"""LAMMPS text dumps (``dump custom``) to and from :class:`~toolkit.structures.Structure`.

Positions are wrapped into the cell (fractional coordinates in [0, 1)) with
the box origin moved to zero, so a structure's positions and lattice are
consistent however LAMMPS stored them. Element names come from a type map
(``{1: "Al"}``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from ..errors import InputFileError
from ..fileio import atomic_write
from ..structures import Structure


@dataclass
class DumpFrame:
    """One frame: timestep, cell rows (LAMMPS a, b, c), box origin and the per-atom columns."""

    step: int
    cell: np.ndarray
    origin: np.ndarray
    columns: list[str]
    data: np.ndarray  # (N, len(columns)), sorted by id if an id column exists

    def column(self, name: str) -> np.ndarray:
        return self.data[:, self.columns.index(name)]

    def has(self, *names: str) -> bool:
        return all(n in self.columns for n in names)

    def wrapped_positions(self) -> np.ndarray:
        """Positions relative to the box origin, wrapped into the cell."""
        pos = np.column_stack([self.column(c) for c in ("x", "y", "z")]) - self.origin
        frac = pos @ np.linalg.inv(self.cell)
        frac -= np.floor(frac)
        frac[frac >= 1.0] = 0.0  # -1e-17 wraps to 1.0 in floating point
        return frac @ self.cell

    def to_structure(self, type_map: Mapping[int, str], energy: float | None = None,
                     comments: Sequence[str] = ()) -> Structure:
        types = self.column("type").astype(int)
        try:
            elements = [type_map[t] for t in types]
        except KeyError as exc:
            raise InputFileError("dump", None, f"atom type {exc.args[0]} has no element in the type map {dict(type_map)}") from None
        forces = np.column_stack([self.column(c) for c in ("fx", "fy", "fz")]) if self.has("fx", "fy", "fz") else None
        return Structure(positions=self.wrapped_positions(), elements=elements, cell=self.cell.copy(),
                         energy=energy, forces=forces, comments=list(comments))


def _cell_from_bounds(bounds: list[list[float]], triclinic: bool) -> tuple[np.ndarray, np.ndarray]:
    if triclinic:
        (xlob, xhib, xy), (ylob, yhib, xz), (zlob, zhib, yz) = bounds
        xlo = xlob - min(0.0, xy, xz, xy + xz)
        xhi = xhib - max(0.0, xy, xz, xy + xz)
        ylo = ylob - min(0.0, yz)
        yhi = yhib - max(0.0, yz)
        zlo, zhi = zlob, zhib
    else:
        (xlo, xhi), (ylo, yhi), (zlo, zhi) = [b[:2] for b in bounds]
        xy = xz = yz = 0.0
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return cell, np.array([xlo, ylo, zlo])


def iter_dump(path: str | os.PathLike) -> Iterator[DumpFrame]:
    """Frames of a LAMMPS ``dump custom`` text file, atoms sorted by id."""
    path = Path(path)
    with open(path) as fh:
        lineno = 0

        def nextline() -> str:
            nonlocal lineno
            line = fh.readline()
            lineno += 1
            if not line:
                raise InputFileError(path, lineno, "file ends inside a frame")
            return line

        while True:
            line = fh.readline()
            lineno += 1
            if not line:
                return
            if not line.strip():
                continue
            if not line.startswith("ITEM: TIMESTEP"):
                raise InputFileError(path, lineno, f"expected 'ITEM: TIMESTEP', found {line.strip()!r}")
            step = int(nextline().split()[0])
            if not nextline().startswith("ITEM: NUMBER OF ATOMS"):
                raise InputFileError(path, lineno, "expected 'ITEM: NUMBER OF ATOMS'")
            n = int(nextline())
            head = nextline()
            if not head.startswith("ITEM: BOX BOUNDS"):
                raise InputFileError(path, lineno, "expected 'ITEM: BOX BOUNDS'")
            triclinic = "xy" in head.split()
            bounds = [[float(t) for t in nextline().split()] for _ in range(3)]
            cell, origin = _cell_from_bounds(bounds, triclinic)
            head = nextline()
            if not head.startswith("ITEM: ATOMS"):
                raise InputFileError(path, lineno, "expected 'ITEM: ATOMS'")
            columns = head.split()[2:]
            numeric = [c for c in columns if c != "element"]
            keep = [i for i, c in enumerate(columns) if c != "element"]
            rows = [nextline().split() for _ in range(n)]
            try:
                data = np.array([[float(r[i]) for i in keep] for r in rows], dtype=float).reshape(n, len(keep))
            except (ValueError, IndexError) as exc:
                raise InputFileError(path, lineno, f"bad atom line in frame at step {step}: {exc}") from None
            if "id" in numeric:
                data = data[np.argsort(data[:, numeric.index("id")], kind="stable")]
            yield DumpFrame(step=step, cell=cell, origin=origin, columns=numeric, data=data)


def read_dump(path: str | os.PathLike) -> list[DumpFrame]:
    return list(iter_dump(path))


def lammps_cell(cell: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """``(lx, ly, lz, xy, xz, yz)`` of a cell whose rows are already in LAMMPS's lower-triangular form."""
    c = np.asarray(cell, float)
    if abs(c[0, 1]) > 1e-10 * abs(c[0, 0]) or abs(c[0, 2]) > 1e-10 * abs(c[0, 0]) or abs(c[1, 2]) > 1e-10 * abs(c[1, 1]):
        raise ValueError("cell is not in LAMMPS form (a along x, b in the xy plane); rotate the structure first")
    return tuple(float(x) for x in (c[0, 0], c[1, 1], c[2, 2], c[1, 0], c[2, 0], c[2, 1]))


def format_frame(structure: Structure, step: int, type_of: Mapping[str, int]) -> str:
    """One structure as a ``dump custom`` frame (``id type x y z``) for ``rerun``."""
    lx, ly, lz, xy, xz, yz = lammps_cell(structure.cell)
    lines = ["ITEM: TIMESTEP", str(step), "ITEM: NUMBER OF ATOMS", str(len(structure))]
    if xy == xz == yz == 0.0:
        lines += ["ITEM: BOX BOUNDS pp pp pp", f"0 {lx!r}", f"0 {ly!r}", f"0 {lz!r}"]
    else:
        xlo_b, xhi_b = min(0.0, xy, xz, xy + xz), lx + max(0.0, xy, xz, xy + xz)
        lines += ["ITEM: BOX BOUNDS xy xz yz pp pp pp", f"{xlo_b!r} {xhi_b!r} {xy!r}",
                  f"{min(0.0, yz)!r} {ly + max(0.0, yz)!r} {xz!r}", f"0 {lz!r} {yz!r}"]
    lines.append("ITEM: ATOMS id type x y z")
    for i, (e, r) in enumerate(zip(structure.elements, structure.positions), start=1):
        lines.append(f"{i} {type_of[e]} {float(r[0])!r} {float(r[1])!r} {float(r[2])!r}")
    return "\n".join(lines) + "\n"


def write_dump(path: str | os.PathLike, structures: Sequence[Structure], type_of: Mapping[str, int]) -> Path:
    """Write structures as a multi-frame dump (steps 0, 1, 2, ...) atomically."""
    with atomic_write(path) as fh:
        for i, s in enumerate(structures):
            fh.write(format_frame(s, i, type_of))
    return Path(path)


def write_data_file(path: str | os.PathLike, structure: Structure, elements: Sequence[str],
                    masses: Sequence[float]) -> Path:
    """A LAMMPS data file (``atom_style atomic``) of one structure; types follow ``elements``."""
    lx, ly, lz, xy, xz, yz = lammps_cell(structure.cell)
    type_of = {e: i + 1 for i, e in enumerate(elements)}
    lines = ["LAMMPS data file written by hdnnp-toolkit", "", f"{len(structure)} atoms", f"{len(elements)} atom types",
             f"0 {lx!r} xlo xhi", f"0 {ly!r} ylo yhi", f"0 {lz!r} zlo zhi"]
    if xy or xz or yz:
        lines.append(f"{xy!r} {xz!r} {yz!r} xy xz yz")
    lines += ["", "Masses", ""] + [f"{i + 1} {float(m)!r}  # {e}" for i, (e, m) in enumerate(zip(elements, masses))]
    lines += ["", "Atoms  # atomic", ""]
    for i, (e, r) in enumerate(zip(structure.elements, structure.positions), start=1):
        lines.append(f"{i} {type_of[e]} {float(r[0])!r} {float(r[1])!r} {float(r[2])!r}")
    with atomic_write(path) as fh:
        fh.write("\n".join(lines) + "\n")
    return Path(path)
