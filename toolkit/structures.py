"""Atomic structures and the n2p2 ``input.data`` format.

A :class:`Structure` holds what one ``begin`` ... ``end`` block of n2p2's
``input.data`` holds: lattice (three vectors, or none for a non-periodic
structure), atoms with position, element, charge, the "unused" column and
force, the total energy, the total charge and comments. Units are those of the
file (n2p2 does not convert on reading).

Readers:

* :func:`read_n2p2` / :func:`write_n2p2`: the n2p2 format, complete and
  lossless (numbers are written with 17 significant digits).
* :func:`read_structures`: any file; n2p2 files are recognised by name or
  content, everything else goes through :func:`ase.io.read` (extxyz, VASP
  OUTCAR/vasprun.xml, LAMMPS dumps, ...).

Malformed input raises :class:`~toolkit.errors.InputFileError` naming the file
and line.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import InputFileError, StructureError
from .fileio import atomic_write, check_input_file, text_lines

try:  # ASE's table is the reference for element symbols.
    from ase.data import atomic_numbers as _ATOMIC_NUMBERS
except ImportError:  # pragma: no cover - ase is a hard dependency
    _ATOMIC_NUMBERS = {}


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (``'Al'`` -> 13); raises ``KeyError`` if unknown."""
    z = _ATOMIC_NUMBERS.get(symbol)
    if z is None or z == 0:
        raise KeyError(symbol)
    return z


def sort_elements(symbols: Iterable[str]) -> list[str]:
    """Unique element symbols sorted by atomic number, as n2p2 orders elements."""
    return sorted(set(symbols), key=atomic_number)


@dataclass
class Structure:
    """One configuration, in the units of its source.

    Attributes
    ----------
    positions : (N, 3) float array, length units (Angstrom for DFT/EAM data, sigma for LJ).
    elements : list of N element symbols.
    cell : (3, 3) float array whose *rows* are the lattice vectors, or ``None``
        (non-periodic, no ``lattice`` lines).
    energy : total potential energy (energy units) or ``None`` if unknown.
    forces : (N, 3) float array (energy / length) or ``None`` if unknown.
    charges : (N,) atomic charges (n2p2 column 6).
    unused : (N,) n2p2's seventh atom column, kept for lossless round trips.
    total_charge : the ``charge`` line, or ``None``.
    comments : the ``comment`` lines, in order.
    """

    positions: np.ndarray
    elements: list[str]
    cell: np.ndarray | None = None
    energy: float | None = None
    forces: np.ndarray | None = None
    charges: np.ndarray | None = None
    unused: np.ndarray | None = None
    total_charge: float | None = None
    comments: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=float).reshape(-1, 3)
        self.elements = list(self.elements)
        n = len(self.positions)
        if len(self.elements) != n:
            raise StructureError(f"{len(self.elements)} element symbols for {n} positions")
        if self.cell is not None:
            self.cell = np.asarray(self.cell, dtype=float).reshape(3, 3)
        if self.forces is not None:
            self.forces = np.asarray(self.forces, dtype=float).reshape(n, 3)
        self.charges = np.zeros(n) if self.charges is None else np.asarray(self.charges, float).reshape(n)
        self.unused = np.zeros(n) if self.unused is None else np.asarray(self.unused, float).reshape(n)

    # -- basic properties -------------------------------------------------
    def __len__(self) -> int:
        return len(self.positions)

    @property
    def n_atoms(self) -> int:
        return len(self.positions)

    @property
    def periodic(self) -> bool:
        return self.cell is not None

    @property
    def comment(self) -> str:
        """All comment lines joined by newlines ('' if none)."""
        return "\n".join(self.comments)

    @property
    def volume(self) -> float | None:
        return None if self.cell is None else float(abs(np.linalg.det(self.cell)))

    def copy(self) -> "Structure":
        return Structure(
            positions=self.positions.copy(),
            elements=list(self.elements),
            cell=None if self.cell is None else self.cell.copy(),
            energy=self.energy,
            forces=None if self.forces is None else self.forces.copy(),
            charges=self.charges.copy(),
            unused=self.unused.copy(),
            total_charge=self.total_charge,
            comments=list(self.comments),
        )

    def validate(self, where: str = "structure") -> None:
        """Raise :class:`StructureError` for NaN/inf values, unknown elements or a singular cell."""
        for name in ("positions", "forces", "cell"):
            arr = getattr(self, name)
            if arr is not None and not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(np.atleast_2d(arr)))[0]
                raise StructureError(f"{where}: non-finite value in {name} at index {tuple(int(i) for i in bad)}")
        if self.energy is not None and not math.isfinite(self.energy):
            raise StructureError(f"{where}: energy is {self.energy}")
        for i, e in enumerate(self.elements):
            try:
                atomic_number(e)
            except KeyError:
                raise StructureError(f"{where}: atom {i} has unknown element {e!r}") from None
        if self.cell is not None and abs(np.linalg.det(self.cell)) < 1e-12:
            raise StructureError(f"{where}: lattice vectors are linearly dependent (zero volume)")

    # -- ASE --------------------------------------------------------------
    def to_ase(self):
        """An :class:`ase.Atoms` with a single-point calculator holding energy and forces."""
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        atoms = Atoms(
            symbols=self.elements,
            positions=self.positions,
            cell=self.cell if self.cell is not None else np.zeros((3, 3)),
            pbc=self.cell is not None,
        )
        if self.energy is not None or self.forces is not None:
            atoms.calc = SinglePointCalculator(atoms, energy=self.energy, forces=self.forces)
        if self.comments:
            atoms.info["comment"] = self.comment
        return atoms

    @classmethod
    def from_ase(cls, atoms, where: str = "structure") -> "Structure":
        """Build from :class:`ase.Atoms`; energy and forces come from its calculator if it has them."""
        pbc = np.asarray(atoms.get_pbc(), dtype=bool)
        if pbc.any() and not pbc.all():
            raise StructureError(
                f"{where}: periodic in some directions only (pbc={pbc.tolist()}); "
                "n2p2 structures are periodic in all three directions or in none"
            )
        energy = forces = None
        if atoms.calc is not None:
            try:
                energy = float(atoms.get_potential_energy())
            except Exception:  # calculator without energy
                energy = None
            try:
                forces = np.array(atoms.get_forces(), dtype=float)
            except Exception:
                forces = None
        comment = atoms.info.get("comment")
        return cls(
            positions=np.array(atoms.get_positions(), dtype=float),
            elements=list(atoms.get_chemical_symbols()),
            cell=np.array(atoms.get_cell(), dtype=float) if pbc.all() else None,
            energy=energy,
            forces=forces,
            charges=np.array(atoms.get_initial_charges(), dtype=float),
            comments=[str(comment)] if comment else [],
        )


# ---------------------------------------------------------------------------
# n2p2 input.data
# ---------------------------------------------------------------------------

_KEYWORDS = ("begin", "comment", "lattice", "atom", "energy", "charge", "end")


def _float(token: str, path, lineno: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise InputFileError(path, lineno, f"cannot read {what} from {token!r}") from None
    if not math.isfinite(value):
        raise InputFileError(path, lineno, f"{what} is {token!r} (not a finite number)")
    return value


def _split_keyword(line: str) -> tuple[str, str, str]:
    """``keyword, ' ', rest`` of a line; any whitespace (spaces, tabs) separates, as in n2p2."""
    parts = line.split(None, 1)
    return parts[0].lower(), " ", (parts[1] if len(parts) > 1 else "")


def iter_n2p2(path: str | os.PathLike) -> Iterator[Structure]:
    """Yield the structures of an n2p2 ``input.data`` file one by one (constant memory).

    Lines are UTF-8 text (a leading byte-order mark is ignored) with fields
    separated by any whitespace; CRLF line ends are fine.
    """
    path = check_input_file(path, "data file")
    block: dict | None = None
    begin_line = 0
    for lineno, line in text_lines(path):
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = _split_keyword(line)
        if keyword == "begin":
            if block is not None:
                raise InputFileError(path, lineno, f"'begin' inside the structure that began on line {begin_line} (missing 'end')")
            block = {"pos": [], "el": [], "q": [], "u": [], "f": [], "lattice": [], "energy": None,
                     "charge": None, "comments": []}
            begin_line = lineno
            continue
        if block is None:
            if keyword in _KEYWORDS:
                raise InputFileError(path, lineno, f"'{keyword}' outside a begin/end block")
            raise InputFileError(path, lineno, f"unknown keyword {keyword!r} (expected 'begin')")
        if keyword == "atom":
            tok = rest.split()
            if len(tok) != 9:
                raise InputFileError(path, lineno, f"'atom' line needs 9 fields (x y z element charge unused fx fy fz), found {len(tok)}")
            element = tok[3]
            if element not in _ATOMIC_NUMBERS or _ATOMIC_NUMBERS[element] == 0:
                raise InputFileError(path, lineno, f"unknown element {element!r}")
            try:  # the fast path; a bad field is named by _float below
                nums = [float(t) for t in (tok[0], tok[1], tok[2], tok[4], tok[5], tok[6], tok[7], tok[8])]
            except ValueError:
                nums = None
            if nums is None or not all(map(math.isfinite, nums)):
                nums = [_float(t, path, lineno, name) for t, name in zip(
                    tok[:3] + tok[4:], ("x", "y", "z", "charge", "unused", "fx", "fy", "fz"))]
            block["pos"].append(nums[0:3])
            block["el"].append(element)
            block["q"].append(nums[3])
            block["u"].append(nums[4])
            block["f"].append(nums[5:8])
        elif keyword == "lattice":
            tok = rest.split()
            if len(tok) != 3:
                raise InputFileError(path, lineno, f"'lattice' line needs 3 numbers, found {len(tok)}")
            if len(block["lattice"]) == 3:
                raise InputFileError(path, lineno, "more than 3 'lattice' lines in one structure")
            block["lattice"].append([_float(t, path, lineno, "lattice component") for t in tok])
        elif keyword == "energy":
            tok = rest.split()
            if len(tok) != 1:
                raise InputFileError(path, lineno, "'energy' line needs exactly one number")
            block["energy"] = _float(tok[0], path, lineno, "energy")
        elif keyword == "charge":
            tok = rest.split()
            if len(tok) != 1:
                raise InputFileError(path, lineno, "'charge' line needs exactly one number")
            block["charge"] = _float(tok[0], path, lineno, "charge")
        elif keyword == "comment":
            block["comments"].append(rest.strip())
        elif keyword == "end":
            if not block["pos"]:
                raise InputFileError(path, lineno, f"structure beginning on line {begin_line} has no atoms")
            if len(block["lattice"]) not in (0, 3):
                raise InputFileError(path, lineno, f"structure beginning on line {begin_line} has {len(block['lattice'])} 'lattice' lines (need 3 or none)")
            cell = np.array(block["lattice"]) if block["lattice"] else None
            if cell is not None and abs(np.linalg.det(cell)) < 1e-12:
                raise InputFileError(path, begin_line, "lattice vectors are linearly dependent (zero volume)")
            yield Structure(
                positions=np.array(block["pos"]),
                elements=block["el"],
                cell=cell,
                energy=block["energy"],
                forces=np.array(block["f"]),
                charges=np.array(block["q"]),
                unused=np.array(block["u"]),
                total_charge=block["charge"],
                comments=block["comments"],
            )
            block = None
        else:
            raise InputFileError(path, lineno, f"unknown keyword {keyword!r}")
    if block is not None:
        raise InputFileError(path, begin_line, "structure has no 'end' (file ends inside it)")


def read_n2p2(path: str | os.PathLike) -> list[Structure]:
    """All structures of an n2p2 ``input.data`` file."""
    structures = list(iter_n2p2(path))
    if not structures:
        raise InputFileError(path, None, "no structures found (no 'begin' ... 'end' block)")
    return structures


def _fmt(x: float) -> str:
    # 17 significant digits: every double survives the round trip exactly.
    return f"{x: .16E}"


def format_n2p2(structure: Structure) -> str:
    """One structure as n2p2 ``input.data`` text (``begin`` ... ``end``)."""
    out = ["begin"]
    for c in structure.comments:
        out.append(f"comment {c}")
    if structure.cell is not None:
        for v in structure.cell:
            out.append("lattice " + " ".join(_fmt(x) for x in v))
    forces = structure.forces if structure.forces is not None else np.zeros_like(structure.positions)
    for r, e, q, u, f in zip(structure.positions, structure.elements, structure.charges, structure.unused, forces):
        out.append(f"atom {_fmt(r[0])} {_fmt(r[1])} {_fmt(r[2])} {e:<2s} {_fmt(q)} {_fmt(u)} {_fmt(f[0])} {_fmt(f[1])} {_fmt(f[2])}")
    out.append(f"energy {_fmt(structure.energy if structure.energy is not None else 0.0)}")
    out.append(f"charge {_fmt(structure.total_charge if structure.total_charge is not None else 0.0)}")
    out.append("end")
    return "\n".join(out) + "\n"


def write_n2p2(path: str | os.PathLike, structures: Iterable[Structure]) -> Path:
    """Write structures to an n2p2 ``input.data`` file atomically; returns the path.

    A NaN/inf number raises :class:`StructureError` (nothing is written).
    """
    with atomic_write(path) as fh:
        for k, s in enumerate(structures):
            if not all(x is None or np.all(np.isfinite(x)) for x in (s.positions, s.cell, s.forces, s.energy)):
                raise StructureError(f"{path}: structure {k} has a non-finite position, cell, force or energy; "
                                     "nothing was written")
            fh.write(format_n2p2(s))
    return Path(path)


# ---------------------------------------------------------------------------
# any format
# ---------------------------------------------------------------------------

def is_n2p2_file(path: str | os.PathLike) -> bool:
    """True if the file is n2p2 ``input.data``: by name, or its first keyword is an n2p2 one (``begin``, ...).

    The content test ignores a byte-order mark, blank and ``#`` lines and any
    whitespace, so n2p2 files with other names are never handed to ASE (and a
    broken one gets n2p2's error messages, naming the line).
    """
    path = Path(path)
    if path.name == "input.data" or path.suffix == ".data" and path.name.startswith("input"):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    for line in head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            return s.split()[0].lower() in _KEYWORDS
    return False


def read_structures(path: str | os.PathLike, format: str | None = None, index=":") -> list[Structure]:
    """Read every structure of a file: n2p2 ``input.data`` natively, anything else with ASE.

    Parameters
    ----------
    path : the file.
    format : an :func:`ase.io.read` format name, or ``"n2p2"``; guessed if ``None``.
    index : ASE index string for multi-frame files (default: all frames).
    """
    path = check_input_file(path, "data file")
    if path.stat().st_size == 0:
        raise InputFileError(path, None, "the file is empty (no structures)")
    if format == "n2p2" or (format is None and is_n2p2_file(path)):
        return read_n2p2(path)
    import ase.io

    try:
        frames = ase.io.read(str(path), index=index, format=format)
    except UnicodeDecodeError as exc:
        raise InputFileError(path, None, f"not a text file ASE can read (byte 0x{exc.object[exc.start]:02x} "
                                         f"at position {exc.start} is not {exc.encoding})") from None
    except Exception as exc:  # ASE raises many kinds; name the file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(path, None, f"neither n2p2 input.data (no 'begin' line) nor a format ASE reads "
                                         f"({text})") from None
    if not isinstance(frames, list):
        frames = [frames]
    structures = []
    for i, atoms in enumerate(frames):
        if len(atoms) == 0:
            raise InputFileError(path, None, f"frame {i} has no atoms (read by ASE as "
                                             f"{format or 'a guessed format'}; is it really a structure file?)")
        s = Structure.from_ase(atoms, where=f"{path}, frame {i}")
        s.validate(where=f"{path}, frame {i}")
        structures.append(s)
    if not structures:
        raise InputFileError(path, None, "no structures found: neither n2p2 input.data (no 'begin' line) nor "
                                         "a structure file ASE recognises")
    return structures


#: Default of the minimum-distance check (length units of the data: Angstrom, Bohr or sigma).
#: Shorter than any chemical bond (H2: 0.74 A = 1.4 Bohr) and any LJ contact (~0.85 sigma).
DEFAULT_MIN_DISTANCE = 0.5


def check_min_distance(structures: Sequence[Structure], min_distance: float | None = DEFAULT_MIN_DISTANCE,
                       source: str | os.PathLike = "data") -> None:
    """Raise :class:`StructureError` naming the first structure (from 0) and atom pair closer than ``min_distance``.

    ``None`` or 0 switches the check off. Periodic images count (an atom close to
    its own image in a tiny cell is reported as the pair i, i).
    """
    if not min_distance:
        return
    from .symfuncs.neighbors import build_pairs
    from .symfuncs.threads import one_thread

    for k, s in enumerate(structures):
        close = _closest_pair_kdtree(s, float(min_distance))
        if close is False:  # a cell the tree does not handle (triclinic, or thinner than 2 x min_distance)
            with one_thread():  # many small tensor operations: threads only add overhead
                pairs = build_pairs(s.positions, s.cell, float(min_distance))
            close = None
            if len(pairs):
                p = int(pairs.dist.argmin())
                close = int(pairs.center[p]), int(pairs.neighbor[p]), float(pairs.dist[p])
        if close is not None:
            i, j, d = close
            raise StructureError(
                f"{source}: structure {k}: atoms {i} ({s.elements[i]}) and {j} ({s.elements[j]}) are {d:.4g} apart, "
                f"closer than the minimum distance {min_distance:g} (overlapping atoms? a unit mix-up?); "
                "check the data, or lower the limit (--min-distance, 0 switches the check off)")


def _closest_pair_kdtree(s: Structure, limit: float):
    """(i, j, distance) of the closest pair below ``limit``, None if there is none; False: use the pair list.

    A k-d tree (scipy) answers in microseconds for isolated structures and for
    orthorhombic periodic cells whose sides are all >= 2 ``limit`` (one image per
    pair); :func:`check_min_distance` runs before any computing, on every structure.
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(s.positions, dtype=float)
    if len(pos) < 2:
        return None if s.cell is None else False
    if s.cell is None:
        tree, box = cKDTree(pos), None
    else:
        cell = np.asarray(s.cell, dtype=float)
        box = np.diag(cell).copy()
        if np.any(cell - np.diag(box)) or np.any(box < 2.0 * limit):
            return False
        pos = np.mod(pos, box)
        pos[pos >= box] = 0.0  # np.mod can round up to the box length
        tree = cKDTree(pos, boxsize=box)
    pairs = tree.query_pairs(limit, output_type="ndarray")
    if not len(pairs):
        return None
    d = pos[pairs[:, 1]] - pos[pairs[:, 0]]
    if box is not None:
        d -= np.round(d / box) * box
    dist = np.sqrt(np.einsum("ij,ij->i", d, d))
    p = int(np.argmin(dist))
    return int(pairs[p, 0]), int(pairs[p, 1]), float(dist[p])


def check_elements(structures: Sequence[Structure], elements: Sequence[str], source: str | os.PathLike = "data",
                   potential: str | os.PathLike = "the potential") -> None:
    """Raise :class:`StructureError` if a structure has an element the potential lacks (before any computing)."""
    known = set(elements)
    for k, s in enumerate(structures):
        missing = sorted(set(s.elements) - known, key=lambda e: _ATOMIC_NUMBERS.get(e, 0))
        if missing:
            atom = s.elements.index(missing[0])
            raise StructureError(
                f"{source}: structure {k} (atom {atom}) has element {missing[0]}, which {potential} does not "
                f"describe (its elements: {' '.join(elements)})")


def element_counts(structures: Sequence[Structure]) -> dict[str, int]:
    """Number of atoms of each element over all structures, in n2p2 element order."""
    counts: dict[str, int] = {}
    for s in structures:
        for e in s.elements:
            counts[e] = counts.get(e, 0) + 1
    return {e: counts[e] for e in sort_elements(counts)}
