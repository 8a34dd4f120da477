"""Training data in memory: symmetry functions of every atom, grouped by structure, ready to batch.

A :class:`FeatureData` holds, per element, one contiguous *feature-major*
``(F, n_rows)`` tensor of symmetry-function values whose columns (atoms) are
sorted by structure (the order of the HDF5 feature store,
:mod:`toolkit.features`), plus per-structure energies and atom counts.
Feature-major storage makes the first layer one wide ``W @ X`` (n_hidden x F
times F x n_atoms), about twice as fast on a CPU as the skinny ``X @ W.T``.
Batches are gathered with one ``index_select``:

* *uniform* data (every structure has the same number of atoms of each
  element, e.g. 256-atom LJ boxes) are viewed as ``(F, S, n_e)`` and a batch
  is ``X[:, idx]`` reshaped to ``(F, B n_e)``; energies are a sum over atoms
  of a ``(B, n_e)`` view;
* otherwise the atoms of the batch's structures are gathered into ``(F, n)``
  with a structure-index vector, and energies are a segment sum
  (``index_add``).

Memory: ``S x atoms x F`` numbers in the chosen dtype (25,000 x 256 x 329 in
float32 is 8.4 GB); values are read from HDF5 in chunks and scaled in place
(:meth:`FeatureData.apply_scaling`), so no second copy is made. SF derivatives
for force training (``(P, F, 3)`` per pair) stay on disk unless they fit in
``derivative_memory`` bytes; they are read per batch (:class:`DerivativeStore`).

Scaling follows n2p2 (``SymFnc::scale``) with statistics min, max, mean, sigma
of the raw functions on the *training* structures: an affine map ``a G + b``
per column (:func:`toolkit.symfuncs.scaling.scaling_affine`, the formulas are
listed there); ``a`` is also the chain-rule factor of forces. ``sigma`` is the
population standard deviation, as in n2p2's ``scaling.data``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import ToolkitError
from ..symfuncs.scaling import scaling_affine


# ---------------------------------------------------------------------------
# scaling
# ---------------------------------------------------------------------------

def scaling_stats(values: np.ndarray | torch.Tensor) -> np.ndarray:
    """(F, 4) min, max, mean, sigma (population) of the rows of ``values`` (n, F), in float64."""
    v = torch.as_tensor(values).to(torch.float64)
    if v.shape[0] == 0:
        raise ToolkitError("no rows to compute scaling statistics from")
    return torch.stack([v.min(0).values, v.max(0).values, v.mean(0), v.std(0, correction=0)], 1).numpy()


class _StatsAccumulator:
    """Streaming min/max/mean/sigma (Chan's parallel variance), float64."""

    def __init__(self, n_features: int):
        self.n = 0
        self.min = np.full(n_features, np.inf)
        self.max = np.full(n_features, -np.inf)
        self.mean = np.zeros(n_features)
        self.m2 = np.zeros(n_features)

    def add(self, block: torch.Tensor) -> None:
        if block.shape[0] == 0:
            return
        b = block.to(torch.float64)
        nb = b.shape[0]
        mb = b.mean(0).numpy()
        m2b = ((b - torch.as_tensor(mb)) ** 2).sum(0).numpy()
        self.min = np.minimum(self.min, b.min(0).values.numpy())
        self.max = np.maximum(self.max, b.max(0).values.numpy())
        delta = mb - self.mean
        tot = self.n + nb
        self.mean = self.mean + delta * nb / tot
        self.m2 = self.m2 + m2b + delta**2 * self.n * nb / tot
        self.n = tot

    def result(self) -> np.ndarray:
        if self.n == 0:
            raise ToolkitError("no rows to compute scaling statistics from")
        return np.stack([self.min, self.max, self.mean, np.sqrt(self.m2 / self.n)], 1)


# ---------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------

@dataclass
class Batch:
    """Scaled inputs of a batch of structures.

    ``x[e]``: (F, n) scaled inputs, feature-major; ``seg[e]``: None for uniform
    data (atoms ordered structure by structure, ``n_e[e]`` per structure), else
    the batch-local structure of each atom. ``target``: internal energy per
    structure (see :meth:`FeatureData.internal_targets`), ``n_atoms`` (B,).
    With forces: ``forces`` (N_b, 3) internal reference forces and per element
    ``pair_row``/``pair_centre``/``pair_neighbor`` (batch-local) and ``dG``.
    """

    x: dict[str, torch.Tensor]
    seg: dict[str, torch.Tensor | None]
    target: torch.Tensor
    n_atoms: torch.Tensor
    n_structures: int
    n_e: dict[str, int] = field(default_factory=dict)
    forces: torch.Tensor | None = None
    pairs: dict[str, tuple] = field(default_factory=dict)


class DerivativeStore:
    """Pair derivatives of the feature file (``/derivatives/<El>/...``), in memory or read per batch."""

    def __init__(self, path: Path, elements: Sequence[str], dtype, max_memory: float = 4e9):
        import h5py

        self.path = Path(path)
        self.h5 = h5py.File(self.path, "r")
        self.elements = list(elements)
        self.dtype = dtype
        self.offset = {e: self.h5[f"derivatives/{e}/pair_offset"][()] for e in elements}
        self.pair_row = {e: self.h5[f"derivatives/{e}/pair_row"][()] for e in elements}
        self.pair_atom = {e: self.h5[f"derivatives/{e}/pair_atom"][()] for e in elements}
        size = sum(np.prod(self.h5[f"derivatives/{e}/dG"].shape) for e in elements) * torch.finfo(dtype).bits / 8
        self.in_memory = size <= max_memory
        if self.in_memory:
            self.dG = {e: torch.as_tensor(self.h5[f"derivatives/{e}/dG"][()]).to(dtype) for e in elements}
        else:
            self.dG = {e: self.h5[f"derivatives/{e}/dG"] for e in elements}
        self.columns: dict[str, torch.Tensor] | None = None  # None: every stored function
        self.zero_columns: dict[str, int] = {e: 0 for e in elements}  # appended columns of zeros (fakes)

    def with_zero_columns(self, n: dict[str, int]) -> "DerivativeStore":
        """A view with ``n[e]`` columns of zeros appended: functions that do not depend on positions (fakes)."""
        if self.columns is not None:
            raise ToolkitError("append zero derivative columns before taking a column subset")
        new = object.__new__(DerivativeStore)
        new.__dict__.update(self.__dict__)
        new.zero_columns = {e: self.zero_columns[e] + int(n.get(e, 0)) for e in self.elements}
        return new

    def subset(self, keep: dict[str, Sequence[int]]) -> "DerivativeStore":
        """A view that returns only the function columns ``keep[e]`` (sorted, as :meth:`FeatureData.subset_columns`)."""
        new = object.__new__(DerivativeStore)
        new.__dict__.update(self.__dict__)
        new.columns = {e: (self.columns[e][list(keep[e])] if self.columns is not None
                           else torch.as_tensor(list(keep[e]), dtype=torch.long)) for e in self.elements}
        return new

    def read(self, e: str, structures: np.ndarray):
        """(global pair rows, global neighbour atoms, dG) of the pairs of ``structures`` (in that order)."""
        off = self.offset[e]
        starts, stops = off[structures], off[structures + 1]
        idx = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) if len(structures) else np.zeros(0, int)
        counts = stops - starts
        if self.in_memory:
            dG = self.dG[e].index_select(0, torch.as_tensor(idx))
        else:
            ds = self.dG[e]
            dG = torch.cat([torch.as_tensor(ds[a:b]) for a, b in zip(starts, stops)]).to(self.dtype)
        if self.zero_columns[e]:
            dG = torch.cat([dG, dG.new_zeros((dG.shape[0], self.zero_columns[e]) + tuple(dG.shape[2:]))], 1)
        if self.columns is not None:
            dG = dG.index_select(1, self.columns[e])
        return self.pair_row[e][idx], self.pair_atom[e][idx], dG, counts


class FeatureData:
    """Symmetry functions, energies and (optionally) forces of a data set, in memory.

    Build with :meth:`from_file` (HDF5 store) or :meth:`from_arrays`.
    ``names[e]``: labels of the columns (:meth:`SymFunc.label`, or ``fake_NN``); ``symfuncs[e]``: the :class:`~toolkit.symfuncs.SymFunc` of
    each column (``None`` for fake columns).
    """

    def __init__(self, elements, values, row_offset, energy, n_atoms, counts, names, symfuncs=None,
                 atom_offset=None, row_atom=None, forces=None, derivatives: DerivativeStore | None = None):
        self.elements: list[str] = list(elements)
        self.values: dict[str, torch.Tensor] = values
        self.row_offset: dict[str, np.ndarray] = {e: np.asarray(v, dtype=np.int64) for e, v in row_offset.items()}
        self.energy = np.asarray(energy, dtype=float)
        self.n_atoms = np.asarray(n_atoms, dtype=np.int64)
        self.counts: dict[str, np.ndarray] = {e: np.asarray(v, dtype=np.int64) for e, v in counts.items()}
        self.names: dict[str, list[str]] = {e: list(v) for e, v in names.items()}
        self.symfuncs = symfuncs
        self.atom_offset = (np.concatenate([[0], np.cumsum(self.n_atoms)[:-1]]).astype(np.int64)
                            if atom_offset is None else np.asarray(atom_offset, dtype=np.int64))
        self.row_atom = row_atom          # {e: (n_e,) global atom index of each row}, needed for forces
        self.forces = forces              # (N, 3) reference forces, physical units, or None
        self.derivatives = derivatives
        self.scale_a: dict[str, np.ndarray] | None = None
        self.scale_b: dict[str, np.ndarray] | None = None
        self.uniform = all(len(set(self.counts[e].tolist())) <= 1 for e in self.elements)
        self._targets = None

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike, dtype=torch.float32, derivatives: bool = False,
                  derivative_memory: float = 4e9, chunk_rows: int = 1 << 20) -> "FeatureData":
        """Load a feature file written by :func:`toolkit.features.write_feature_file`."""
        from ..features import FeatureFile

        path = Path(path)
        if not path.is_file():
            raise ToolkitError(f"{path}: feature file not found")
        ff = FeatureFile(path)
        try:
            S = ff.n_structures
            n_atoms = ff.n_atoms()
            energy = ff.energies()
            values, row_offset, counts, names, sfs, row_atom = {}, {}, {}, {}, {}, {}
            for e in ff.elements:
                ds = ff.values(e)
                n, F = ds.shape
                out = torch.empty((F, n), dtype=dtype)
                for a in range(0, n, chunk_rows):
                    out[:, a:a + chunk_rows] = torch.as_tensor(ds[a:a + chunk_rows]).to(dtype).T
                values[e] = out
                struct = ff.h5[f"features/{e}/structure"][()]
                if len(struct) > 1 and np.any(np.diff(struct) < 0):
                    raise ToolkitError(f"{path}: rows of {e} are not sorted by structure")
                counts[e] = np.bincount(struct, minlength=S)
                row_offset[e] = np.concatenate([[0], np.cumsum(counts[e])])
                sfs[e] = ff.symfuncs(e)
                names[e] = [sf.label() for sf in sfs[e]]
                row_atom[e] = ff.h5[f"features/{e}/atom"][()]
            forces = ff.h5["atoms/forces"][()] if derivatives else None
            atom_offset = ff.h5["structures/atom_offset"][()]
        finally:
            ff.close()
        bad = np.flatnonzero(~np.isfinite(energy))
        if len(bad):
            raise ToolkitError(f"{path}: structure {int(bad[0])} has no reference energy")
        deriv = None
        if derivatives:
            ff2 = FeatureFile(path)
            has = ff2.has_derivatives
            ff2.close()
            if not has:
                raise ToolkitError(f"{path}: force training needs SF derivatives: write the feature file with "
                                   f"derivatives=True")
            if not np.all(np.isfinite(forces)):
                raise ToolkitError(f"{path}: force training needs reference forces for every atom")
            deriv = DerivativeStore(path, list(values), dtype, derivative_memory)
        return cls(list(values), values, row_offset, energy, n_atoms, counts, names, sfs,
                   atom_offset=atom_offset, row_atom=row_atom, forces=forces, derivatives=deriv)

    @classmethod
    def from_arrays(cls, values: dict[str, np.ndarray], structure: dict[str, np.ndarray], energy, n_atoms,
                    names: dict[str, list[str]] | None = None, dtype=torch.float32) -> "FeatureData":
        """From per-element (n_e, F) values (atom-major, as stored) and the sorted structure index of each row."""
        S = len(energy)
        elements = list(values)
        counts = {e: np.bincount(np.asarray(structure[e]), minlength=S) for e in elements}
        for e in elements:
            if np.any(np.diff(structure[e]) < 0):
                raise ToolkitError(f"rows of {e} must be sorted by structure")
        row_offset = {e: np.concatenate([[0], np.cumsum(counts[e])]) for e in elements}
        names = names or {e: [f"G{i + 1}" for i in range(np.shape(values[e])[1])] for e in elements}
        vals = {e: torch.as_tensor(np.asarray(values[e])).to(dtype).T.contiguous() for e in elements}
        return cls(elements, vals, row_offset, energy, n_atoms, counts, names)

    # -- description -------------------------------------------------------------
    @property
    def n_structures(self) -> int:
        return len(self.energy)

    @property
    def n_features(self) -> dict[str, int]:
        return {e: self.values[e].shape[0] for e in self.elements}

    @property
    def dtype(self):
        return next(iter(self.values.values())).dtype

    @property
    def has_forces(self) -> bool:
        return self.derivatives is not None and self.forces is not None

    def rows_of(self, e: str, structures: np.ndarray) -> np.ndarray:
        off = self.row_offset[e]
        structures = np.asarray(structures, dtype=np.int64)
        starts, counts = off[structures], off[structures + 1] - off[structures]
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        base = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        return base + np.arange(total)

    # -- scaling and normalisation -------------------------------------------------------
    def raw_stats(self, structures: np.ndarray, chunk: int = 2048) -> dict[str, np.ndarray]:
        """n2p2 scaling statistics (F, 4) per element over the rows of ``structures`` (e.g. the training split)."""
        if self.scale_a is not None:
            raise ToolkitError("statistics of raw values requested after the data were scaled")
        structures = np.sort(np.asarray(structures, dtype=np.int64))
        out = {}
        for e in self.elements:
            acc = _StatsAccumulator(self.values[e].shape[0])
            for a in range(0, len(structures), chunk):
                rows = self.rows_of(e, structures[a:a + chunk])
                acc.add(self.values[e].index_select(1, torch.as_tensor(rows)).T)
            out[e] = acc.result()
        return out

    def apply_scaling(self, stats: dict[str, np.ndarray], mode: str, smin: float, smax: float,
                      chunk_rows: int = 1 << 20) -> None:
        """Scale the values in place (n2p2's formulas); remembers the per-column factors for forces."""
        if self.scale_a is not None:
            raise ToolkitError("the data are already scaled")
        a_all, b_all = {}, {}
        for e in self.elements:
            a, b = scaling_affine(stats[e], mode, smin, smax, names=self.names[e])
            v = self.values[e]
            for f in range(v.shape[0]):
                v[f].mul_(float(a[f])).add_(float(b[f]))
            a_all[e], b_all[e] = a, b
        self.scale_a, self.scale_b = a_all, b_all

    def energy_normalisation(self, structures: np.ndarray, atom_energy: dict[str, float] | None = None):
        """(mean_energy, conv_energy): mean and 1/std of the per-atom energy (offsets removed) on ``structures``."""
        e_atom = self._per_atom_energy(atom_energy)[np.asarray(structures)]
        std = float(np.std(e_atom))
        return float(np.mean(e_atom)), (1.0 / std if std > 0 else 1.0)

    def _per_atom_energy(self, atom_energy=None) -> np.ndarray:
        off = np.zeros(self.n_structures)
        for e, v in (atom_energy or {}).items():
            if e in self.counts:
                off += v * self.counts[e]
        return (self.energy - off) / self.n_atoms

    def set_normalisation(self, mean_energy: float, conv_energy: float, atom_energy: dict[str, float] | None = None):
        """Internal targets conv * (E - N mean - offsets), as n2p2 converts energies."""
        off = np.zeros(self.n_structures)
        for e, v in (atom_energy or {}).items():
            if e in self.counts:
                off += v * self.counts[e]
        t = conv_energy * (self.energy - self.n_atoms * mean_energy - off)
        self._targets = torch.as_tensor(t, dtype=self.dtype)
        self._conv = conv_energy
        self._natoms_t = torch.as_tensor(self.n_atoms, dtype=self.dtype)
        if self.has_forces:
            self._forces_int = torch.as_tensor(self.forces * conv_energy, dtype=self.dtype)

    # -- editing -------------------------------------------------------------------
    def subset_columns(self, keep: dict[str, Sequence[int]]) -> "FeatureData":
        """A copy with only the columns ``keep[e]`` (values, names, scaling factors)."""
        new = object.__new__(FeatureData)
        new.__dict__.update(self.__dict__)
        idx = {e: sorted(int(i) for i in keep[e]) for e in self.elements}
        new.values = {e: self.values[e][idx[e]].contiguous() for e in self.elements}
        new.names = {e: [self.names[e][i] for i in idx[e]] for e in self.elements}
        new.symfuncs = None if self.symfuncs is None else {
            e: [self.symfuncs[e][i] if self.symfuncs[e] is not None and i < len(self.symfuncs[e]) else None
                for i in idx[e]] for e in self.elements}
        if self.scale_a is not None:
            new.scale_a = {e: self.scale_a[e][idx[e]] for e in self.elements}
            new.scale_b = {e: self.scale_b[e][idx[e]] for e in self.elements}
        if self.derivatives is not None:
            new.derivatives = self.derivatives.subset(idx)
        return new

    def add_columns(self, extra: dict[str, torch.Tensor], names: dict[str, list[str]]) -> "FeatureData":
        """A copy with extra (already scaled if the data are) columns appended, e.g. fake features."""
        new = object.__new__(FeatureData)
        new.__dict__.update(self.__dict__)
        new.values = {e: torch.cat([self.values[e], extra[e].to(self.dtype).T], 0) if e in extra else self.values[e]
                      for e in self.elements}
        new.names = {e: self.names[e] + list(names.get(e, [])) for e in self.elements}
        if self.symfuncs is not None:
            new.symfuncs = {e: list(self.symfuncs[e]) + [None] * len(names.get(e, [])) for e in self.elements}
        if self.scale_a is not None:
            new.scale_a = {e: np.concatenate([self.scale_a[e], np.ones(len(names.get(e, [])))]) for e in self.elements}
            new.scale_b = {e: np.concatenate([self.scale_b[e], np.zeros(len(names.get(e, [])))]) for e in self.elements}
        if self.derivatives is not None:
            # the added columns do not depend on positions: zero derivatives
            new.derivatives = self.derivatives.with_zero_columns({e: len(names.get(e, [])) for e in self.elements})
        return new

    def to(self, device) -> "FeatureData":
        """Move the value tensors (and targets) to ``device`` (a GPU holds the whole data set if it fits)."""
        self.values = {e: v.to(device) for e, v in self.values.items()}
        if self._targets is not None:
            self._targets = self._targets.to(device)
            self._natoms_t = self._natoms_t.to(device)
        return self

    # -- batching ------------------------------------------------------------------
    def batch(self, structures: torch.Tensor | np.ndarray, forces: bool = False) -> Batch:
        """The scaled inputs and internal targets of ``structures`` (index tensor)."""
        if self._targets is None:
            raise ToolkitError("call set_normalisation() before batching")
        dev = next(iter(self.values.values())).device
        idx = torch.as_tensor(structures, dtype=torch.long, device=dev)
        x, seg, n_e = {}, {}, {}
        for e in self.elements:
            v = self.values[e]
            F = v.shape[0]
            if self.uniform:
                n = int(self.counts[e][0]) if len(self.counts[e]) else 0
                if n == 0:
                    continue
                x[e] = v.view(F, -1, n).index_select(1, idx).view(F, -1)
                seg[e], n_e[e] = None, n
            else:
                idx_np = idx.cpu().numpy()
                rows = torch.as_tensor(self.rows_of(e, idx_np), device=dev)
                if len(rows) == 0:
                    continue
                x[e] = v.index_select(1, rows)
                seg[e] = torch.repeat_interleave(torch.arange(len(idx_np), device=dev),
                                                 torch.as_tensor(self.counts[e][idx_np], device=dev))
        b = Batch(x=x, seg=seg, target=self._targets.index_select(0, idx), n_atoms=self._natoms_t.index_select(0, idx),
                  n_structures=len(idx), n_e=n_e)
        if forces:
            self._add_forces(b, idx.cpu().numpy())
        return b

    def _add_forces(self, b: Batch, idx: np.ndarray) -> None:
        if not self.has_forces:
            raise ToolkitError("force training needs a feature file with derivatives and reference forces")
        dev = next(iter(self.values.values())).device
        # batch-local atom numbering: structures of the batch in order, atoms in file order
        n_at = self.n_atoms[idx]
        local_start = np.concatenate([[0], np.cumsum(n_at)[:-1]])
        atom_rows = np.concatenate([np.arange(self.atom_offset[s], self.atom_offset[s] + n) for s, n in zip(idx, n_at)])
        b.forces = self._forces_int.index_select(0, torch.as_tensor(atom_rows)).to(dev)
        for e in self.elements:
            g_row, g_nb, dG, pcounts = self.derivatives.read(e, idx)
            pos = np.repeat(np.arange(len(idx)), pcounts)          # batch position of each pair's structure
            # rows of e in the batch are the structures' row ranges in order
            rcounts = self.counts[e][idx]
            row_start_local = np.concatenate([[0], np.cumsum(rcounts)[:-1]])
            local_row = g_row - self.row_offset[e][idx][pos] + row_start_local[pos]
            centre_global = self.row_atom[e][g_row]
            shift = local_start[pos] - self.atom_offset[idx][pos]
            b.pairs[e] = (torch.as_tensor(local_row, device=dev), torch.as_tensor(centre_global + shift, device=dev),
                          torch.as_tensor(g_nb + shift, device=dev), dG.to(dev),
                          torch.as_tensor(self.scale_a[e] if self.scale_a is not None else
                                          np.ones(self.values[e].shape[0]), dtype=self.dtype, device=dev))


def split_indices(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random train/validation/test split by structure (sorted index arrays)."""
    f = np.asarray(fractions, dtype=float)
    if len(f) != 3 or np.any(f < 0) or f.sum() <= 0:
        raise ToolkitError(f"split fractions must be three non-negative numbers, got {fractions}")
    f = f / f.sum()
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(f[0] * n))
    n_val = int(round(f[1] * n))
    if n_train == 0 or (f[1] > 0 and n_val == 0):
        raise ToolkitError(f"{n} structures are too few for the split {tuple(fractions)}")
    return np.sort(perm[:n_train]), np.sort(perm[n_train:n_train + n_val]), np.sort(perm[n_train + n_val:])
