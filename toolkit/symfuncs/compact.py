"""Derivatives in the stored layout of :mod:`toolkit.features`, for the pairs that force atoms need.

Filled by :meth:`SymmetryFunctionSet.compute` with ``derivatives="compact"``:
the radial part (:meth:`SymmetryFunctionSet._radial`) writes one scalar per
(pair, function), the angular part (:func:`toolkit.symfuncs.angular.angular_derivatives`)
only the triplets that touch a needed pair; :meth:`CompactDerivatives.finalize`
then sums the force atoms' own pairs into one block each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .neighbors import PairList, pad_slots


@dataclass
class CompactDerivatives:
    """Pair derivatives in the stored layout (see :mod:`toolkit.features`) that force atoms' forces need.

    Computed for the pairs whose centre or neighbour is a force atom; after
    :meth:`finalize` it holds

    * ``pairs``: positions (in the element's pair list) of the pairs whose
      *neighbour* k is a force atom (they give dG_i/dr_k, i != k); ``radial``
      (P', F_r): s with dG_i/d(d_p) = s * d_p for the radial columns
      ``radial_columns``; ``angular_pair`` (P_a,): positions in ``pairs`` of those
      inside the angular cutoff, ``angular`` (P_a, F_a, 3) their derivatives;
    * ``self_rows`` (M,): element rows of the force atoms, ``self_block`` (M, F, 3):
      S_k = sum over the pairs p of centre k of dG_k/d(d_p) = -dG_k/dr_k (all
      columns), so a force atom's own functions cost one block, not its pairs.
    """

    pairs: torch.Tensor
    radial_columns: torch.Tensor
    radial: torch.Tensor
    angular_columns: torch.Tensor
    angular_pair: torch.Tensor
    angular: torch.Tensor
    # working maps over the element's pair list / columns (-1: not stored)
    need: torch.Tensor | None = None
    slot: torch.Tensor | None = None
    angular_slot: torch.Tensor | None = None
    column_pos: torch.Tensor | None = None
    self_rows: torch.Tensor | None = None
    self_block: torch.Tensor | None = None

    def finalize(self, pe: "PairList", rows: torch.Tensor, force_mask: torch.Tensor | None, atoms: torch.Tensor,
                 n_f: int) -> None:
        """Sum the force atoms' own pairs into ``self_block``; keep the pairs whose neighbour is a force atom."""
        dev, dt = self.radial.device, self.radial.dtype
        centre_in = (torch.ones(len(pe), dtype=torch.bool, device=dev) if force_mask is None
                     else force_mask[pe.center])
        nb_in = (torch.ones(len(pe), dtype=torch.bool, device=dev) if force_mask is None
                 else force_mask[pe.neighbor])
        n_rows = len(atoms)
        self_rows = (torch.arange(n_rows, device=dev) if force_mask is None
                     else force_mask[atoms].nonzero().squeeze(1))          # every force atom of the element
        row_slot = torch.full((n_rows,), -1, dtype=torch.long, device=dev)
        row_slot[self_rows] = torch.arange(len(self_rows), device=dev)
        block = torch.zeros((len(self_rows), n_f, 3), dtype=dt, device=dev)
        c_pairs = centre_in[self.pairs].nonzero().squeeze(1)          # positions in self.pairs
        slot_c = row_slot[rows[self.pairs[c_pairs]]]
        vec = pe.vec[self.pairs[c_pairs]]
        rcols = self.radial_columns.to(dev)
        if len(rcols) and len(c_pairs):
            # radial: sum_p s_p d_p per centre, as one batched product over the centre's pairs (sorted by
            # centre, laid out densely: (M, slots, F_r)^T (M, slots, 3))
            slot_in, _, m = pad_slots(slot_c, len(self_rows))
            s_pad = torch.zeros((len(self_rows), m, len(rcols)), dtype=dt, device=dev)
            s_pad[slot_c, slot_in] = self.radial[c_pairs]
            v_pad = torch.zeros((len(self_rows), m, 3), dtype=dt, device=dev)
            v_pad[slot_c, slot_in] = vec
            block[:, rcols] = torch.bmm(s_pad.transpose(1, 2), v_pad)
        if self.angular.numel():
            a_pos = self.pairs[self.angular_pair]
            a_c = centre_in[a_pos].nonzero().squeeze(1)
            part = torch.zeros((len(self_rows), self.angular.shape[1], 3), dtype=dt, device=dev)
            part.index_add_(0, row_slot[rows[a_pos[a_c]]], self.angular[a_c])
            block[:, self.angular_columns.to(dev)] = part
        keep = nb_in[self.pairs]
        new_pos = torch.cumsum(keep.long(), 0) - 1
        a_keep = keep[self.angular_pair]
        self.angular_pair = new_pos[self.angular_pair[a_keep]]
        self.angular = self.angular[a_keep]
        self.pairs, self.radial = self.pairs[keep], self.radial[keep]
        self.self_rows, self.self_block = self_rows, block

    @classmethod
    def allocate(cls, sfs, pe: "PairList", need: torch.Tensor, dtype, device,
                 filled: bool = False) -> "CompactDerivatives":
        """Storage for the needed pairs; ``filled``: the radial groups will write every (pair, column)."""
        radial = [c for c, sf in enumerate(sfs) if sf.is_radial]
        angular = [c for c, sf in enumerate(sfs) if not sf.is_radial]
        pairs = need.nonzero().squeeze(1)
        slot = torch.full((len(pe),), -1, dtype=torch.long, device=device)
        slot[pairs] = torch.arange(len(pairs), device=device)
        rc_ang = max((sf.rc for sf in sfs if not sf.is_radial), default=0.0)
        a_local = (pe.dist[pairs] < rc_ang).nonzero().squeeze(1)
        a_slot = torch.full((len(pe),), -1, dtype=torch.long, device=device)
        a_slot[pairs[a_local]] = torch.arange(len(a_local), device=device)
        pos = torch.full((len(sfs),), -1, dtype=torch.long, device=device)
        pos[radial] = torch.arange(len(radial), device=device)
        pos[angular] = torch.arange(len(angular), device=device)
        return cls(pairs=pairs, radial_columns=torch.tensor(radial, dtype=torch.long),
                   radial=(torch.empty if filled else torch.zeros)((len(pairs), len(radial)), dtype=dtype,
                                                                    device=device),
                   angular_columns=torch.tensor(angular, dtype=torch.long), angular_pair=a_local,
                   angular=torch.zeros((len(a_local), len(angular), 3), dtype=dtype, device=device),
                   need=need, slot=slot, angular_slot=a_slot, column_pos=pos)
