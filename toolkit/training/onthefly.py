"""On-the-fly SF derivatives: computed inside the training step from positions, nothing stored.

:class:`OnTheFlyDerivatives` has the interface of the stored
:class:`~toolkit.training.data.DerivativeStore`: for every batch it builds the
neighbour lists of the batch's structures and computes the derivatives that
the force atoms need (:meth:`SymmetryFunctionSet.compute` with
``derivatives="compact"``), on the device of the training (CPU or GPU: the
computation is plain PyTorch). No derivative file is written, so the memory
and disk of force training do not grow with the data set; the price is the
derivative computation in every step. The numbers equal the stored mode's (in
float64 to rounding; in float32 more exactly than the float32 store).

Use it with :meth:`FeatureData.derivatives_on_the_fly` or the config key
``training.derivatives: on_the_fly`` (with ``data.structures``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import ToolkitError
from ..features import sample_force_atoms
from .data import DerivativeStore, PairDerivatives


class OnTheFlyDerivatives(DerivativeStore):
    """Derivatives of ``structures`` (all of the data set, in file order) computed per batch.

    ``sfset``: the :class:`~toolkit.symfuncs.SymmetryFunctionSet` whose sorted
    columns are the data's stored columns; ``atom_offset`` (S,): first global
    atom of each structure; ``force_atoms``: as in the feature file (None: all).
    """

    def __init__(self, structures: Sequence, sfset, dtype, atom_offset: np.ndarray, device=None,
                 force_atoms=None, force_seed: int = 0):
        self.structures = list(structures)
        self.sfset = sfset
        self.elements = list(sfset.elements)
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.atom_offset = np.asarray(atom_offset, dtype=np.int64)
        local = sample_force_atoms([len(s) for s in self.structures], force_atoms, force_seed)
        self.force_atoms = np.concatenate([o + l for o, l in zip(self.atom_offset, local)]).astype(np.int64)
        self.force_offset = np.concatenate([[0], np.cumsum([len(l) for l in local])]).astype(np.int64)
        sfs = sfset.by_element
        self.radial_columns = {e: np.array([c for c, sf in enumerate(sfs[e]) if sf.is_radial], dtype=np.int64)
                               for e in self.elements}
        self.angular_columns = {e: np.array([c for c, sf in enumerate(sfs[e]) if not sf.is_radial], dtype=np.int64)
                                for e in self.elements}
        self.n_stored = {e: len(sfs[e]) for e in self.elements}
        self.in_memory = False
        self.size_bytes = 0.0
        self.columns = None
        self.zero_columns = {e: 0 for e in self.elements}
        self._pairs_per_structure = None
        self._row_of_atom: dict[str, np.ndarray] = {}
        self._last = None

    def pairs_per_structure(self) -> float:
        """Pairs the force atoms of one structure need (measured on the first structure)."""
        if self._pairs_per_structure is None:
            if not self.structures:
                return 0.0
            _, counts = self._compute(np.array([0]), None)
            self._pairs_per_structure = float(sum(c["pairs"] for c in counts.values()))
        return self._pairs_per_structure

    def bytes_per_pair(self) -> float:
        item = torch.finfo(self.dtype).bits / 8
        f = max((len(self.radial_columns[e]) + 3 * len(self.angular_columns[e]) for e in self.elements), default=1)
        return item * (f + 3) + 24

    def _compute(self, structures: np.ndarray, atoms: np.ndarray | None):
        batch = [self.structures[int(s)] for s in structures]
        start = np.concatenate([[0], np.cumsum([len(s) for s in batch])[:-1]]).astype(np.int64)
        to_global = np.concatenate([self.atom_offset[s] + np.arange(len(b)) for s, b in zip(structures, batch)])
        wanted = np.concatenate(self.force_atoms_of(structures)) if atoms is None else np.asarray(atoms)
        mask = torch.as_tensor(np.isin(to_global, wanted), device=self.device)
        # always float64: a float32 step then sees derivatives rounded once, not accumulated in float32
        feats = self.sfset.compute(batch, derivatives="compact", dtype=torch.float64, device=self.device,
                                   force_mask=mask)
        out, counts = {}, {}
        for e, f in feats.per_element.items():
            c = f.compact
            rows_b = f.pair_row[c.pairs]
            s_of_pair = feats.structure_index[f.atoms[rows_b]].cpu().numpy()
            self_b = f.atoms[c.self_rows]
            out[e] = (f, c, to_global[f.atoms[rows_b].cpu().numpy()], to_global[f.pair_neighbor[c.pairs].cpu().numpy()],
                      to_global[self_b.cpu().numpy()])
            counts[e] = {"pairs": len(c.pairs), "per_structure": np.bincount(s_of_pair, minlength=len(batch)),
                         "self": np.bincount(feats.structure_index[self_b].cpu().numpy(), minlength=len(batch))}
        return out, counts

    def read(self, e: str, structures: np.ndarray, row_atom: np.ndarray, atoms: np.ndarray | None = None):
        """As :meth:`DerivativeStore.read` (global rows and atoms), computed now."""
        structures = np.asarray(structures, dtype=np.int64)
        key = (structures.tobytes(), None if atoms is None else np.asarray(atoms).tobytes())
        if self._last is None or self._last[0] != key:      # one computation per batch for all elements
            self._last = (key, self._compute(structures, atoms))
        out, counts = self._last[1]
        if e not in out:
            raise ToolkitError(f"no atoms of {e} in the batch")
        f, c, centre_g, nb_g, self_g = out[e]
        if e not in self._row_of_atom:
            row_of_atom = np.full(int(self.atom_offset[-1] + len(self.structures[-1])), -1, dtype=np.int64)
            row_of_atom[row_atom] = np.arange(len(row_atom))
            self._row_of_atom[e] = row_of_atom
        roa = self._row_of_atom[e]
        pd = self._pack(e, roa[centre_g], row_atom, nb_g, f.pair_vec[c.pairs], c.radial, c.angular_pair, c.angular,
                        roa[self_g], c.self_block)
        return pd, counts[e]["per_structure"], counts[e]["self"]
