"""Training data: symmetry functions of every atom, grouped by structure, ready to batch.

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
(:meth:`FeatureData.apply_scaling`), so no second copy is made. Values that do
not fit in ``value_memory`` bytes stay in the file (:class:`DiskValues`): each
batch reads its structures' rows, scaled on the way with the same arithmetic,
so the numbers are the same bit for bit (:func:`held_memory` splits a budget
between values and derivatives). Appended fake
columns live in a separate block (:attr:`FeatureData.extra`), so adding them
copies nothing. SF derivatives for force training (the compact layout of
:mod:`toolkit.features`: radial scalars, angular vectors, only the pairs the
force atoms need) stay on disk unless they fit in ``derivative_memory`` bytes;
they are then read per batch (:class:`DerivativeStore`), or computed in the
step (:mod:`toolkit.training.onthefly`). Batch sizes of evaluation come from a
memory budget (:mod:`toolkit.training.memory`).

Scaling follows n2p2 (``SymFnc::scale``) with statistics min, max, mean, sigma
of the raw functions on the *training* structures: an affine map ``a G + b``
per column (:func:`toolkit.symfuncs.scaling.scaling_affine`, the formulas are
listed there); ``a`` is also the chain-rule factor of forces. ``sigma`` is the
population standard deviation, as in n2p2's ``scaling.data``.
"""

from __future__ import annotations

import math
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
    With forces: ``forces`` (M, 3) internal reference forces of the batch's
    force atoms ``force_atoms`` (batch-local numbers) and per element the
    :class:`PairDerivatives` those forces need.
    """

    x: dict[str, torch.Tensor]
    seg: dict[str, torch.Tensor | None]
    target: torch.Tensor
    n_atoms: torch.Tensor
    n_structures: int
    n_e: dict[str, int] = field(default_factory=dict)
    forces: torch.Tensor | None = None
    pairs: dict[str, "PairDerivatives"] = field(default_factory=dict)
    force_atoms: torch.Tensor | None = None     # batch-local atoms whose forces are compared
    n_batch_atoms: int = 0
    weight: torch.Tensor | None = None          # (B,) loss weight per structure (None: 1 each)
    force_weight: torch.Tensor | None = None    # (M,) each force atom's structure's weight


@dataclass
class PairDerivatives:
    """SF derivatives of one element in a batch that its force atoms need (layout of :mod:`toolkit.features`).

    Pairs p (neighbour a force atom): dG_row/d(d_p) = ``radial[p] * vec[p]`` on
    the columns ``radial_pos`` of ``x[e]``, plus ``angular[q]`` on the columns
    ``angular_pos`` for the pair ``angular_pair[q]``. Force atoms m of the
    element: ``self_block[m]`` on the columns ``self_pos`` is S = -dG/dr of the
    atom's own functions. Every other column (fakes) has zero derivatives.
    ``row``, ``self_row``: batch-local rows in ``x[e]``; ``centre``, ``neighbor``,
    ``self_atom``: batch-local atom numbers; ``scale``: (F,) the scaling factors a.
    """

    row: torch.Tensor
    centre: torch.Tensor
    neighbor: torch.Tensor
    vec: torch.Tensor
    radial: torch.Tensor
    radial_pos: torch.Tensor
    angular_pair: torch.Tensor
    angular: torch.Tensor
    angular_pos: torch.Tensor
    self_row: torch.Tensor
    self_atom: torch.Tensor
    self_block: torch.Tensor
    self_pos: torch.Tensor
    scale: torch.Tensor | None = None

    def forces(self, dE_dG: torch.Tensor, n_atoms: int) -> torch.Tensor:
        """Forces (n_atoms, 3) of this element's functions on the force atoms (other rows: partial, unused).

        F_k = -sum_{p: neighbour k} dE/dd_p + dE/dG_k . S_k; differentiable in dE_dG.
        """
        g = self.contract(dE_dG)
        own = torch.einsum("mf,mfk->mk", dE_dG.index_select(1, self.self_pos).index_select(0, self.self_row),
                           self.self_block)
        f = torch.zeros((n_atoms, 3), dtype=g.dtype, device=g.device)
        return f.index_add(0, self.neighbor, -g).index_add(0, self.self_atom, own)

    def contract(self, dE_dG: torch.Tensor) -> torch.Tensor:
        """dE/d(d_p) (P, 3) from dE/dG (n_rows, F) of the batch's rows; differentiable in dE_dG."""
        # columns first (n rows), then rows (P pairs): one (P, F_r) gather, not (P, F) and (P, F_r)
        wr = dE_dG.index_select(1, self.radial_pos).index_select(0, self.row)
        g = (wr * self.radial).sum(1, keepdim=True) * self.vec
        if self.angular_pair.numel():
            wa = dE_dG.index_select(1, self.angular_pos).index_select(0, self.row.index_select(0, self.angular_pair))
            g = g.index_add(0, self.angular_pair, torch.einsum("pf,pfk->pk", wa, self.angular))
        return g

    def dense(self, n_columns: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The full (P, n_columns, 3) dG_row/d(d_p) and (M, n_columns, 3) self blocks (tests and checks; large)."""
        out = self.vec.new_zeros((len(self.row), n_columns, 3))
        out[:, self.radial_pos] = self.radial[:, :, None] * self.vec[:, None, :]
        if self.angular_pair.numel():
            out[self.angular_pair[:, None], self.angular_pos[None, :]] += self.angular
        own = self.vec.new_zeros((len(self.self_row), n_columns, 3))
        own[:, self.self_pos] = self.self_block
        return out, own


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(a, b)`` over the pairs of bounds."""
    counts = stops - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(total)


class DerivativeStore:
    """Pair derivatives of the feature file (``/derivatives/...``), in memory if they fit, else read per batch.

    ``max_memory`` (bytes): the derivative arrays are loaded when they fit,
    otherwise only the per-structure offsets are kept and every batch reads its
    structures' slices from the file (memory bounded by the batch, not the data).
    """

    _ARRAYS = ("pair_row", "pair_atom", "pair_vec", "dG_radial", "angular_pair", "dG_angular", "self_row",
               "self_dG")

    def __init__(self, path: Path, elements: Sequence[str], dtype, max_memory: float = 4e9):
        import h5py

        self.path = Path(path)
        # no HDF5 chunk cache: every batch reads contiguous slices once, and the default
        # cache (1 MiB per dataset plus HDF5's free lists) grew RSS by ~55 MB for nothing
        self.h5 = h5py.File(self.path, "r", rdcc_nbytes=0)
        self.elements = list(elements)
        self.dtype = dtype
        d = self.h5["derivatives"]
        self.force_atoms = d["force_atoms"][()]
        self.force_offset = d["force_offset"][()]
        self.offset = {e: d[f"{e}/pair_offset"][()] for e in elements}
        self.angular_offset = {e: d[f"{e}/angular_offset"][()] for e in elements}
        self.self_offset = {e: d[f"{e}/self_offset"][()] for e in elements}
        self.radial_columns = {e: d[f"{e}/radial_columns"][()] for e in elements}
        self.angular_columns = {e: d[f"{e}/angular_columns"][()] for e in elements}
        self.n_stored = {e: len(self.radial_columns[e]) + len(self.angular_columns[e]) for e in elements}
        self.size_bytes = float(sum(d[f"{e}/{k}"].size * d[f"{e}/{k}"].dtype.itemsize
                                    for e in elements for k in self._ARRAYS))
        self.in_memory = self.size_bytes <= max_memory
        src = {e: {k: d[f"{e}/{k}"] for k in self._ARRAYS} for e in elements}
        self.arrays = {e: {k: v[()] for k, v in src[e].items()} for e in elements} if self.in_memory else src
        self.columns: dict[str, np.ndarray] | None = None  # None: every stored function (then the zero columns)
        self.zero_columns: dict[str, int] = {e: 0 for e in elements}  # appended columns of zeros (fakes)

    def pairs_per_structure(self) -> float:
        """Mean stored pairs (all elements) per structure: the size of a batch's derivatives."""
        S = max(len(self.force_offset) - 1, 1)
        return sum(float(self.offset[e][-1]) for e in self.elements) / S

    def bytes_per_pair(self) -> float:
        """Bytes of one pair in memory (radial scalars, indices, the angular share), in the training dtype."""
        item = torch.finfo(self.dtype).bits / 8
        out = 0.0
        for e in self.elements:
            frac = float(self.angular_offset[e][-1]) / max(float(self.offset[e][-1]), 1.0)
            out = max(out, item * (len(self.radial_columns[e]) + 3 + 3 * frac * len(self.angular_columns[e])) + 24)
        return out

    def with_zero_columns(self, n: dict[str, int]) -> "DerivativeStore":
        """A view with ``n[e]`` columns of zeros appended: functions that do not depend on positions (fakes)."""
        if self.columns is not None:
            raise ToolkitError("append zero derivative columns before taking a column subset")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.zero_columns = {e: self.zero_columns[e] + int(n.get(e, 0)) for e in self.elements}
        return new

    def subset(self, keep: dict[str, Sequence[int]]) -> "DerivativeStore":
        """A view that returns only the function columns ``keep[e]`` (sorted, as :meth:`FeatureData.subset_columns`)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.columns = {e: (self.columns[e][list(keep[e])] if self.columns is not None
                           else np.asarray(list(keep[e]), dtype=np.int64)) for e in self.elements}
        return new

    def _column_maps(self, e: str):
        """(take, output position) pairs of the radial, angular and self-block columns."""
        cols = (np.arange(self.n_stored[e] + self.zero_columns[e]) if self.columns is None else self.columns[e])
        where = {int(c): k for k, c in enumerate(cols)}
        as_long = lambda v: torch.as_tensor(np.asarray(v, dtype=np.int64))
        out = []
        for stored in (self.radial_columns[e], self.angular_columns[e], np.arange(self.n_stored[e])):
            pairs = [(k, where[int(c)]) for k, c in enumerate(stored) if int(c) in where]
            out += [as_long([p[0] for p in pairs]), as_long([p[1] for p in pairs])]
        return tuple(out)

    def force_atoms_of(self, structures: np.ndarray) -> list[np.ndarray]:
        """The stored force atoms (global indices) of each of ``structures``."""
        fo = self.force_offset
        return [self.force_atoms[fo[s]:fo[s + 1]] for s in structures]

    def _take(self, e: str, key: str, idx: np.ndarray, starts, stops) -> np.ndarray:
        arr = self.arrays[e][key]
        if self.in_memory:
            return arr[idx]
        parts = [arr[a:b] for a, b in zip(starts, stops)]
        return np.concatenate(parts) if parts else arr[0:0]

    def read(self, e: str, structures: np.ndarray, row_atom: np.ndarray, atoms: np.ndarray | None = None):
        """Pair derivatives of ``structures`` (in that order) as a :class:`PairDerivatives` with *global*
        rows and atoms, and the number of pairs per structure.

        ``row_atom``: global atom of each value row of ``e``; ``atoms``: global
        force atoms to keep (only the pairs whose neighbour is one of them and
        their self blocks; None: everything stored). Returns the
        :class:`PairDerivatives`, the pairs and the self blocks per structure.
        """
        structures = np.asarray(structures, dtype=np.int64)
        off, aoff = self.offset[e], self.angular_offset[e]
        starts, stops = off[structures], off[structures + 1]
        idx = _ranges(starts, stops)
        a_starts, a_stops = aoff[structures], aoff[structures + 1]
        a_idx = _ranges(a_starts, a_stops)
        row = self._take(e, "pair_row", idx, starts, stops)
        nb = self._take(e, "pair_atom", idx, starts, stops)
        vec = self._take(e, "pair_vec", idx, starts, stops)
        rad = self._take(e, "dG_radial", idx, starts, stops)
        a_pair = self._take(e, "angular_pair", a_idx, a_starts, a_stops)
        ang = self._take(e, "dG_angular", a_idx, a_starts, a_stops)
        # angular pairs are global pair numbers: make them positions in this read
        pos_of = np.full(len(idx), -1, dtype=np.int64)
        counts = stops - starts
        a_struct = np.repeat(np.arange(len(structures)), a_stops - a_starts)
        read_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        a_local = (a_pair - starts[a_struct] + read_start[a_struct]).astype(np.int64)
        s_starts, s_stops = self.self_offset[e][structures], self.self_offset[e][structures + 1]
        s_idx = _ranges(s_starts, s_stops)
        s_row = self._take(e, "self_row", s_idx, s_starts, s_stops)
        s_blk = self._take(e, "self_dG", s_idx, s_starts, s_stops)
        s_counts = s_stops - s_starts
        if atoms is not None:
            s_keep = np.isin(row_atom[s_row], atoms)
            s_row, s_blk = s_row[s_keep], s_blk[s_keep]
            s_counts = np.bincount(np.repeat(np.arange(len(structures)), s_stops - s_starts)[s_keep],
                                   minlength=len(structures))
            keep = np.isin(nb, atoms)
            pos_of[keep] = np.arange(int(keep.sum()))
            a_keep = keep[a_local]
            a_local, ang = pos_of[a_local[a_keep]], ang[a_keep]
            row, nb, vec, rad = row[keep], nb[keep], vec[keep], rad[keep]
            counts = np.bincount(np.repeat(np.arange(len(structures)), stops - starts)[keep],
                                 minlength=len(structures))
        return self._pack(e, row, row_atom, nb, vec, rad, a_local, ang, s_row, s_blk), counts, s_counts

    def _pack(self, e, row, row_atom, nb, vec, rad, a_local, ang, s_row, s_blk) -> "PairDerivatives":
        """A :class:`PairDerivatives` with global rows and atoms, on the view's columns."""
        rt, rp, at, ap, st, sp = self._column_maps(e)
        dt = self.dtype
        rad, ang, s_blk = (torch.as_tensor(x).to(dt) for x in (rad, ang, s_blk))
        if len(rt) < rad.shape[1]:         # a column subset: only the kept functions
            rad = rad.index_select(1, rt.to(rad.device))
        if len(at) < ang.shape[1]:
            ang = ang.index_select(1, at.to(ang.device))
        if len(st) < s_blk.shape[1]:
            s_blk = s_blk.index_select(1, st.to(s_blk.device))
        as_t = lambda x: torch.as_tensor(x, dtype=torch.long)
        return PairDerivatives(row=as_t(row), centre=as_t(row_atom[row]), neighbor=as_t(nb),
                               vec=torch.as_tensor(vec).to(dt), radial=rad, radial_pos=rp,
                               angular_pair=as_t(a_local), angular=ang, angular_pos=ap,
                               self_row=as_t(s_row), self_atom=as_t(row_atom[s_row]), self_block=s_blk, self_pos=sp)


class DiskValues:
    """The (F, n_rows) value matrix of one element left in the feature file: rows read when a batch needs them.

    Stands in for the in-memory tensor of :attr:`FeatureData.values` where the data
    use it (``shape``, ``dtype``, ``device``, ``index_select(1, rows)``, ``to``): every
    read converts the stored rows to the training dtype, takes the column subset and
    applies the scaling ``a G + b`` exactly as the in-memory path does (the same
    numbers, bit for bit), and returns them feature-major on ``device``.
    """

    def __init__(self, path: Path, element: str, dtype):
        import h5py

        self.path, self.element, self.dtype = Path(path), element, dtype
        # no chunk cache: batches read contiguous row runs once (see DerivativeStore)
        self.h5 = h5py.File(self.path, "r", rdcc_nbytes=0)
        self.ds = self.h5[f"features/{element}/values"]
        self.device = torch.device("cpu")
        self.cols: np.ndarray | None = None               # column subset of the stored functions
        self.a: np.ndarray | None = None                  # scaling of every stored column (float64)
        self.b: np.ndarray | None = None

    @property
    def shape(self) -> torch.Size:
        n, F = self.ds.shape
        return torch.Size((F if self.cols is None else len(self.cols), n))

    def _view(self, **changes) -> "DiskValues":
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def subset(self, cols: Sequence[int]) -> "DiskValues":
        """The columns ``cols`` (positions in this view's columns)."""
        cols = np.asarray(list(cols), dtype=np.int64)
        return self._view(cols=cols if self.cols is None else self.cols[cols])

    def scaled(self, a: np.ndarray, b: np.ndarray) -> "DiskValues":
        """This view with the scaling ``a G + b`` of its columns (``a``, ``b``: one per column of the view)."""
        F = self.ds.shape[1]
        full_a, full_b = np.ones(F), np.zeros(F)
        cols = np.arange(F) if self.cols is None else self.cols
        full_a[cols], full_b[cols] = a, b
        return self._view(a=full_a, b=full_b)

    def to(self, device) -> "DiskValues":
        return self._view(device=torch.device(device))

    def index_select(self, dim: int, rows) -> torch.Tensor:
        """(F, len(rows)) values of the value rows ``rows`` (any order; runs of consecutive rows read at once)."""
        if dim != 1:
            raise ValueError("values on disk are selected by rows (dim 1)")
        rows = np.asarray(rows.cpu() if isinstance(rows, torch.Tensor) else rows, dtype=np.int64)
        F = self.shape[0]
        if len(rows) == 0:
            return torch.empty((F, 0), dtype=self.dtype, device=self.device)
        cut = np.flatnonzero(np.diff(rows) != 1) + 1
        starts, stops = np.concatenate([[0], cut]), np.concatenate([cut, [len(rows)]])
        parts = [self.ds[rows[i]:rows[j - 1] + 1] for i, j in zip(starts, stops)]
        x = torch.from_numpy(np.concatenate(parts) if len(parts) > 1 else parts[0]).to(self.dtype)
        cols = None if self.cols is None else torch.as_tensor(self.cols)
        if cols is not None:
            x = x.index_select(1, cols)
        if self.a is not None:   # dtype arithmetic, as FeatureData.apply_scaling does in memory
            a, b = (torch.as_tensor(v if cols is None else v[self.cols]).to(self.dtype) for v in (self.a, self.b))
            x = x.mul_(a).add_(b)
        return x.T.contiguous().to(self.device)


def _value_bytes(ff, dtype) -> float:
    item = torch.empty(0, dtype=dtype).element_size()
    return float(sum(int(np.prod(ff.values(e).shape)) for e in ff.elements) * item)


def value_bytes(path: str | os.PathLike, dtype) -> float:
    """Bytes of the value matrices of a feature file in memory in ``dtype`` (1.3 kB per atom for 329
    functions in float32)."""
    from ..features import FeatureFile

    if not Path(path).is_file():
        raise ToolkitError(f"{path}: feature file not found")
    with FeatureFile(path) as ff:
        return _value_bytes(ff, dtype)


def held_memory(path: str | os.PathLike, dtype, memory: float | None) -> tuple[float, float]:
    """(value_memory, derivative_memory) for :meth:`FeatureData.from_file` under the budget ``memory`` (bytes).

    What is held for the whole run (values first, then derivatives) takes at most
    half of the budget, the steps the other half; None: no budget (values always
    in memory, derivatives up to 4 GB, as before budgets existed).
    """
    if memory is None:
        return math.inf, 4e9
    half = 0.5 * float(memory)
    vb = value_bytes(path, dtype)
    return half, (half - vb if vb <= half else half)


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
        self.force_sampling: tuple = (None, False, 0)   # (force_atoms, resample, seed)
        self.structure_weight: np.ndarray | None = None  # loss weight per structure (set_structure_weights)
        # appended columns (fakes), feature-major (F_x, n_rows): kept apart so that adding
        # them never copies the (large) matrix of real values
        self.extra: dict[str, torch.Tensor] = {}

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike, dtype=torch.float32, derivatives: bool = False,
                  derivative_memory: float = 4e9, chunk_rows: int = 1 << 20,
                  value_memory: float = math.inf) -> "FeatureData":
        """Load a feature file written by :func:`toolkit.features.write_feature_file`.

        The value matrices are loaded if they fit in ``value_memory`` bytes, else they stay
        in the file and batches read their rows (:class:`DiskValues`); the derivatives
        likewise with ``derivative_memory`` (:class:`DerivativeStore`). See :func:`held_memory`.
        """
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
            on_disk = _value_bytes(ff, dtype) > value_memory
            for e in ff.elements:
                if on_disk:
                    values[e] = DiskValues(path, e, dtype)
                else:
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
            has, old = ff2.has_derivatives, ff2.old_derivative_layout
            ff2.close()
            if old:
                raise ToolkitError(f"{path}: derivatives in the old layout of an earlier version; recompute the "
                                   f"feature file (hdnnp symfuncs --derivatives)")
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
        return {e: self.values[e].shape[0] + (self.extra[e].shape[0] if e in self.extra else 0)
                for e in self.elements}

    @property
    def dtype(self):
        return next(iter(self.values.values())).dtype

    @property
    def has_forces(self) -> bool:
        return self.derivatives is not None and self.forces is not None

    def derivatives_on_the_fly(self, structures, forces: np.ndarray | None = None, device=None,
                               force_atoms=None, force_seed: int = 0) -> "FeatureData":
        """Force training without stored derivatives: they are computed in every step from ``structures``
        (the data set's structures in file order; :mod:`toolkit.training.onthefly`).

        ``forces`` (N, 3): reference forces (default: the structures'); ``force_atoms``:
        force atoms per structure as in :func:`toolkit.features.sample_force_atoms`.
        """
        from ..symfuncs import SymmetryFunctionSet
        from .onthefly import OnTheFlyDerivatives

        structures = list(structures)
        if len(structures) != self.n_structures or any(len(s) != n for s, n in zip(structures, self.n_atoms)):
            raise ToolkitError("on-the-fly derivatives need the structures the features were computed from")
        if self.symfuncs is None or any(sf is None for e in self.elements for sf in self.symfuncs[e]) or self.extra:
            raise ToolkitError("on-the-fly derivatives need the symmetry functions of every column (load the "
                               "data before adding fake columns)")
        sfset = SymmetryFunctionSet([sf for e in self.elements for sf in self.symfuncs[e]], self.elements)
        if any([sf.label() for sf in sfset.by_element[e]] != self.names[e] for e in self.elements):
            raise ToolkitError("the feature columns are not in the symmetry functions' sorted order")
        if forces is None:
            if any(s.forces is None for s in structures):
                raise ToolkitError("force training needs reference forces for every structure")
            forces = np.concatenate([np.asarray(s.forces, dtype=float) for s in structures])
        self.forces = np.asarray(forces, dtype=float)
        self.derivatives = OnTheFlyDerivatives(structures, sfset, self.dtype, self.atom_offset, device=device,
                                               force_atoms=force_atoms, force_seed=force_seed)
        if self._targets is not None:
            self._forces_int = torch.as_tensor(self.forces * self._conv, dtype=self.dtype)
        return self

    def columns(self, e: str, rows) -> torch.Tensor:
        """Every column (real, then appended) of the value rows ``rows``, feature-major (F, len(rows))."""
        rows = torch.as_tensor(rows, dtype=torch.long, device=self.values[e].device)
        x = self.values[e].index_select(1, rows)
        return torch.cat([x, self.extra[e].index_select(1, rows)], 0) if e in self.extra else x

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
    def raw_stats(self, structures: np.ndarray, chunk: int = 2048,
                  memory: float | None = None) -> dict[str, np.ndarray]:
        """n2p2 scaling statistics (F, 4) per element over the rows of ``structures`` (e.g. the training split),
        accumulated over chunks of ``chunk`` structures; ``memory`` (bytes): fewer, so that a chunk's
        float64 working copies fit in half of it."""
        if self.scale_a is not None or self.extra:
            raise ToolkitError("statistics of raw values requested after the data were scaled")
        structures = np.sort(np.asarray(structures, dtype=np.int64))
        out = {}
        for e in self.elements:
            acc = _StatsAccumulator(self.values[e].shape[0])
            if memory is not None:
                # the block read, its copies and the accumulator's float64 temporaries: measured ~70 bytes
                # per value in float32 (Al, 329 functions, values read from the file)
                rows_per = max(float(np.mean(self.counts[e])) if len(self.counts[e]) else 1.0, 1.0)
                row_bytes = self.values[e].shape[0] * (torch.empty(0, dtype=self.dtype).element_size() + 66)
                chunk = int(min(chunk, max(1, 0.5 * memory // (rows_per * row_bytes))))
            for a in range(0, len(structures), chunk):
                rows = self.rows_of(e, structures[a:a + chunk])
                acc.add(self.values[e].index_select(1, torch.as_tensor(rows)).T)
            out[e] = acc.result()
        return out

    def apply_scaling(self, stats: dict[str, np.ndarray], mode: str, smin: float, smax: float,
                      chunk_rows: int = 1 << 20) -> None:
        """Scale the values in place (n2p2's formulas); remembers the per-column factors for forces."""
        if self.scale_a is not None or self.extra:
            raise ToolkitError("the data are already scaled")
        a_all, b_all = {}, {}
        for e in self.elements:
            a, b = scaling_affine(stats[e], mode, smin, smax, names=self.names[e])
            v = self.values[e]
            if isinstance(v, DiskValues):
                self.values[e] = v.scaled(a, b)          # applied to every read
            else:
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
        n_real = {e: self.values[e].shape[0] for e in self.elements}
        real = {e: [i for i in idx[e] if i < n_real[e]] for e in self.elements}
        new.values = {e: self.values[e].subset(real[e]) if isinstance(self.values[e], DiskValues)
                      else self.values[e][real[e]].contiguous() for e in self.elements}
        new.extra = {e: self.extra[e][[i - n_real[e] for i in idx[e] if i >= n_real[e]]].contiguous()
                     for e in self.extra if any(i >= n_real[e] for i in idx[e])}
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
        new.extra = dict(self.extra)
        for e, x in extra.items():
            x = x.to(self.dtype).T.to(self.values[e].device)
            new.extra[e] = torch.cat([self.extra[e], x], 0) if e in self.extra else x.contiguous()
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
        self.extra = {e: v.to(device) for e, v in self.extra.items()}
        if self._targets is not None:
            self._targets = self._targets.to(device)
            self._natoms_t = self._natoms_t.to(device)
        return self

    # -- batching ------------------------------------------------------------------
    def batch(self, structures: torch.Tensor | np.ndarray, forces: bool = False, epoch: int | None = None) -> Batch:
        """The scaled inputs and internal targets of ``structures`` (index tensor).

        ``epoch``: with forces, the training draw of force atoms of that epoch
        (:meth:`set_force_sampling`); None: every stored force atom (evaluation).
        """
        if self._targets is None:
            raise ToolkitError("call set_normalisation() before batching")
        dev = next(iter(self.values.values())).device
        idx = torch.as_tensor(structures, dtype=torch.long, device=dev)
        x, seg, n_e = {}, {}, {}
        for e in self.elements:
            blocks = [self.values[e]] + ([self.extra[e]] if e in self.extra else [])
            if self.uniform:
                n = int(self.counts[e][0]) if len(self.counts[e]) else 0
                if n == 0:
                    continue
                if isinstance(self.values[e], DiskValues):   # the structures' rows, in batch order
                    x[e] = self.columns(e, self.rows_of(e, idx.cpu().numpy()))
                else:
                    parts = [v.view(v.shape[0], -1, n).index_select(1, idx).view(v.shape[0], -1) for v in blocks]
                    x[e] = parts[0] if len(parts) == 1 else torch.cat(parts, 0)
                seg[e], n_e[e] = None, n
            else:
                idx_np = idx.cpu().numpy()
                rows = torch.as_tensor(self.rows_of(e, idx_np), device=dev)
                if len(rows) == 0:
                    continue
                x[e] = self.columns(e, rows)
                seg[e] = torch.repeat_interleave(torch.arange(len(idx_np), device=dev),
                                                 torch.as_tensor(self.counts[e][idx_np], device=dev))
        b = Batch(x=x, seg=seg, target=self._targets.index_select(0, idx), n_atoms=self._natoms_t.index_select(0, idx),
                  n_structures=len(idx), n_e=n_e)
        if self.structure_weight is not None:
            b.weight = torch.as_tensor(self.structure_weight[idx.cpu().numpy()], dtype=self.dtype, device=dev)
        if forces:
            self._add_forces(b, idx.cpu().numpy(), epoch)
        return b

    def set_structure_weights(self, weights: np.ndarray | None) -> None:
        """Loss weight of each structure in training (energy and force terms; None: 1 each).

        Evaluation (RMSEs) is unweighted."""
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != (self.n_structures,) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
                raise ToolkitError(f"structure weights: {self.n_structures} finite weights >= 0 needed")
        self.structure_weight = weights

    def set_force_sampling(self, force_atoms: int | float | None = None, resample: bool = False,
                           seed: int = 0) -> None:
        """Train on the forces of ``force_atoms`` (number, or fraction < 1) of each structure's stored force atoms.

        ``resample``: a new seeded draw every epoch (else one fixed draw). Evaluation
        always uses every stored force atom.
        """
        from ..features import check_force_atoms

        try:
            check_force_atoms(force_atoms)
        except ValueError as exc:
            raise ToolkitError(f"training.{exc}") from None
        self.force_sampling = (force_atoms, bool(resample), int(seed))

    def _force_atoms(self, idx: np.ndarray, epoch: int | None) -> list[np.ndarray]:
        stored = self.derivatives.force_atoms_of(idx)
        k, resample, seed = self.force_sampling
        if epoch is None or k is None:
            return stored
        out = []
        for s, atoms in zip(idx, stored):
            n = int(math.ceil(k * len(atoms))) if isinstance(k, float) and k < 1.0 else int(k)
            if n >= len(atoms):
                out.append(atoms)
                continue
            key = [seed, int(s), epoch] if resample else [seed, int(s)]
            out.append(np.sort(np.random.default_rng(key).choice(atoms, size=n, replace=False)))
        return out

    def _add_forces(self, b: Batch, idx: np.ndarray, epoch: int | None = None) -> None:
        """Reference forces of the batch's force atoms and the pair derivatives their forces need.

        Batch-local atom numbering: the batch's structures in order, atoms in file order.
        ``b.force_atoms`` are the batch-local numbers of the force atoms (``epoch``: the
        training draw, see :meth:`set_force_sampling`; None: every stored force atom).
        """
        if not self.has_forces:
            raise ToolkitError("force training needs a feature file with derivatives and reference forces")
        dev = next(iter(self.values.values())).device
        n_at = self.n_atoms[idx]
        local_start = np.concatenate([[0], np.cumsum(n_at)[:-1]])
        fatoms = self._force_atoms(idx, epoch)
        f_global = np.concatenate(fatoms) if fatoms else np.zeros(0, np.int64)
        shift_of_struct = local_start - self.atom_offset[idx]
        f_local = f_global + np.repeat(shift_of_struct, [len(a) for a in fatoms])
        b.force_atoms = torch.as_tensor(f_local, device=dev)
        b.n_batch_atoms = int(n_at.sum())
        b.forces = self._forces_int.index_select(0, torch.as_tensor(f_global)).to(dev)
        if b.weight is not None:
            b.force_weight = torch.repeat_interleave(b.weight, torch.as_tensor([len(a) for a in fatoms], device=dev))
        sampled = f_global if epoch is not None and self.force_sampling[0] is not None else None
        for e in self.elements:
            pd, pcounts, scounts = self.derivatives.read(e, idx, self.row_atom[e], atoms=sampled)
            rcounts = self.counts[e][idx]
            row_start_local = np.concatenate([[0], np.cumsum(rcounts)[:-1]])
            for rk, ak, counts in (("row", "centre", pcounts), ("self_row", "self_atom", scounts)):
                pos = np.repeat(np.arange(len(idx)), counts)       # batch position of each entry's structure
                local_row = getattr(pd, rk).cpu().numpy() - self.row_offset[e][idx][pos] + row_start_local[pos]
                setattr(pd, rk, torch.as_tensor(local_row, device=dev))
                setattr(pd, ak, torch.as_tensor(getattr(pd, ak).cpu().numpy() + shift_of_struct[pos], device=dev))
            pos = np.repeat(np.arange(len(idx)), pcounts)
            pd.neighbor = torch.as_tensor(pd.neighbor.cpu().numpy() + shift_of_struct[pos], device=dev)
            for k in ("vec", "radial", "radial_pos", "angular_pair", "angular", "angular_pos", "self_block",
                      "self_pos"):
                setattr(pd, k, getattr(pd, k).to(dev))
            pd.scale = torch.as_tensor(self.scale_a[e] if self.scale_a is not None else
                                       np.ones(self.n_features[e]), dtype=self.dtype, device=dev)
            b.pairs[e] = pd


def split_indices(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0,
                  train_tail: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random train/validation/test split by structure (sorted index arrays).

    ``train_tail``: the last structures go to training only and the split divides the first
    ``n - train_tail`` exactly as it divides a data set of that size, so a refit on added data
    keeps the validation and test sets of the model it starts from."""
    f = np.asarray(fractions, dtype=float)
    if len(f) != 3 or np.any(f < 0) or f.sum() <= 0:
        raise ToolkitError(f"split fractions must be three non-negative numbers, got {fractions}")
    if not 0 <= train_tail < n:
        raise ToolkitError(f"training.train_tail: {train_tail} of {n} structures leaves none to split")
    f = f / f.sum()
    m = n - train_tail
    perm = np.random.default_rng(seed).permutation(m)
    n_train = int(round(f[0] * m))
    n_val = int(round(f[1] * m))
    if n_train == 0 or (f[1] > 0 and n_val == 0):
        raise ToolkitError(f"{m} structures are too few for the split {tuple(fractions)}")
    train = np.concatenate([perm[:n_train], np.arange(m, n)])
    return np.sort(train), np.sort(perm[n_train:n_train + n_val]), np.sort(perm[n_train + n_val:])
