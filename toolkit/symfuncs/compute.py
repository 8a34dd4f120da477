"""Symmetry-function values and their derivatives, exactly as n2p2 defines them.

One implementation, vectorised in PyTorch (CPU or GPU, float64 by default):
functions are grouped by what they share (central element, neighbour
element(s), cutoff), a group's cutoff terms are computed once per pair, its
exponentials once per distinct (eta, rs) and its angular powers once per
distinct (lambda, zeta).

Derivatives are analytic and stored per *pair*: for the pair p = (i, j, image)
with vector d_p = r_j + S - r_i,

    D[p, f, :] = dG_{i,f} / d d_p          (length^-1 times the SF unit)

so dG_i/dr_j = sum of D[p] over the pairs p of i whose neighbour is j, and
dG_i/dr_i = -sum_p D[p] (translation invariance). Forces and the virial follow
from dE/dG without ever forming the full Jacobian (see :func:`pair_forces`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

from ..errors import StructureError
from ..structures import Structure, atomic_number, sort_elements
from .cutoff import cutoff_fdf
from .definitions import SymFunc, group_by_element, max_cutoff
from .angular import AngularGroup, AngularParams, angular_derivatives, angular_pairs, angular_values
from .compact import CompactDerivatives
from .neighbors import PairList, build_pairs, pad_slots

# Pairs per block of the radial value sums: a few rows of them stay in a core's L2 cache.
_RADIAL_BLOCK = 32768
# (pair, function) terms per block of the radial derivatives: ~1 MB, so the block's temporaries stay in
# cache and are reused by the allocator (the whole (pairs, F) at once ran 1.5-2x slower).
_RADIAL_TERMS_BLOCK = 131072


@dataclass
class _RadialGroup:
    cols: torch.Tensor         # columns in the element's (sorted) SF list
    neighbor: str | None       # neighbour element (None: weighted type 12, all neighbours)
    rc: float
    cutoff_type: int
    alpha: float
    eta: torch.Tensor
    rs: torch.Tensor
    families: list = field(default_factory=list)   # see _radial_families


def _arithmetic_runs(values: list[float], min_len: int = 4) -> list[list[int]]:
    """Split sorted positions into runs of evenly spaced values (relative spacing error < 1e-9)."""
    runs, cur = [], [0]
    for k in range(1, len(values)):
        if len(cur) == 1:
            cur.append(k)
            continue
        d0 = values[cur[1]] - values[cur[0]]
        d = values[k] - values[cur[-1]]
        if d0 > 0 and abs(d - d0) <= 1e-9 * max(abs(d0), 1e-300):
            cur.append(k)
        else:
            if len(cur) >= min_len:
                runs.append(cur)
                cur = [k]
            else:
                runs.extend([[i] for i in cur[:-1]])
                cur = [cur[-1], k]
    if len(cur) >= min_len:
        runs.append(cur)
    else:
        runs.extend([[i] for i in cur])
    return runs


def _radial_families(eta: list[float], rs: list[float], rc: float):
    """Plan exp(-eta (r - rs)^2) for a group so that evenly spaced grids need one exp per pair.

    * ``("eta", idx, e0, d)``: same rs, eta = e0 + k d: exp(-e0 x^2) * exp(-d x^2)^k;
    * ``("rs", idx, eta, r0, d)``: same eta, rs = r0 + k d:
      exp(-eta u^2) * exp(2 eta d u)^k * exp(-eta d^2 k^2), u = r - r0 (only where
      exp(2 eta d u)^k cannot overflow);
    * ``("exp", idx)``: everything else, one exp each.
    Powers come from cumulative products: relative rounding ~ k * 1e-16.
    """
    fams, done = [], set()
    by_rs: dict[float, list[int]] = {}
    for i, r in enumerate(rs):
        by_rs.setdefault(r, []).append(i)
    for r, idx in by_rs.items():
        idx = sorted(idx, key=lambda i: eta[i])
        for run in _arithmetic_runs([eta[i] for i in idx]):
            if len(run) >= 4:
                members = [idx[k] for k in run]
                fams.append(("eta", members, eta[members[0]], eta[members[1]] - eta[members[0]], r))
                done.update(members)
    by_eta: dict[float, list[int]] = {}
    for i, e in enumerate(eta):
        if i not in done:
            by_eta.setdefault(e, []).append(i)
    for e, idx in by_eta.items():
        idx = sorted(idx, key=lambda i: rs[i])
        for run in _arithmetic_runs([rs[i] for i in idx]):
            members = [idx[k] for k in run]
            if len(run) >= 4:
                r0, d = rs[members[0]], rs[members[1]] - rs[members[0]]
                span = (len(run) - 1) * d
                if 2.0 * e * span * (rc + abs(r0)) < 600.0:
                    fams.append(("rs", members, e, r0, d))
                    done.update(members)
    rest = [i for i in range(len(eta)) if i not in done]
    if rest:
        fams.append(("exp", rest))
    return fams


def _radial_exp(r: torch.Tensor, g: "_RadialGroup", dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(-eta (r - rs)^2) for every pair and function of the group.

    Returns ``(ex, order)``: ex is (P, F_g) with its columns in family order, and
    ``order[k]`` is the group position of column k (so ``g.cols[order]`` are the
    element's SF columns).
    """
    parts, order = [], []
    for fam in g.families:
        kind, members = fam[0], fam[1]
        if kind == "eta":
            _, _, e0, d, r_s = fam
            x2 = (r - r_s) ** 2
            steps = torch.exp(-d * x2)[:, None].repeat(1, len(members))
            steps[:, 0] = torch.exp(-e0 * x2)
            parts.append(torch.cumprod(steps, dim=1))
        elif kind == "rs":
            _, _, e, r0, d = fam
            u = r - r0
            steps = torch.exp(2.0 * e * d * u)[:, None].repeat(1, len(members))
            steps[:, 0] = torch.exp(-e * u * u)
            k = torch.arange(len(members), dtype=dtype, device=device)
            parts.append(torch.cumprod(steps, dim=1) * torch.exp(-e * d * d * k * k)[None, :])
        else:
            idx = torch.tensor(members, device=device)
            eta = g.eta.to(device, dtype)[idx]
            rs = g.rs.to(device, dtype)[idx]
            x = r[:, None] - rs[None, :]
            parts.append(torch.exp(-eta[None, :] * x * x))
        order += list(members)
    ex = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    return ex, torch.tensor(order, device=device)


def _radial_rows(r: torch.Tensor, fc: torch.Tensor, g: "_RadialGroup", dtype, device):
    """Yield ``(k, row, scale)`` for every function of the group, k its position in family order.

    ``row * scale`` (scale None: 1) is fc(r) exp(-eta (r - rs)^2) on the pairs ``r``.
    Evenly spaced grids are built row by row from the previous one (one
    multiplication per row, the cutoff folded into the first), so only two rows
    are live: ``row`` is overwritten by the next yield, use it at once. Shared by
    the per-pair terms (:func:`_radial_terms_t`) and the per-centre sums of the
    values (:func:`_radial_sums`), which apply ``scale`` after summing.
    """
    k0 = 0
    bufs = None
    for fam in g.families:
        kind, members = fam[0], fam[1]
        n_f = len(members)
        if kind in ("eta", "rs"):
            if bufs is None:
                bufs = (torch.empty_like(r), torch.empty_like(r))
            cur, nxt = bufs
            if kind == "eta":
                _, _, e0, d, r_s = fam
                x2 = (r - r_s) ** 2
                q, first, scale = torch.exp(-d * x2), torch.exp(-e0 * x2), None
            else:
                _, _, e, r0, d = fam
                u = r - r0
                q, first = torch.exp(2.0 * e * d * u), torch.exp(-e * u * u)
                kk = torch.arange(n_f, dtype=dtype, device=device)
                scale = torch.exp(-e * d * d * kk * kk).tolist()
            torch.mul(first, fc, out=cur)
            for k in range(n_f):
                if k:
                    torch.mul(cur, q, out=nxt)
                    cur, nxt = nxt, cur
                yield k0 + k, cur, None if scale is None else scale[k]
        else:
            idx = torch.tensor(members, device=device)
            eta = g.eta.to(device, dtype)[idx]
            rs = g.rs.to(device, dtype)[idx]
            x = r[None, :] - rs[:, None]
            block = torch.exp(-eta[:, None] * x * x) * fc[None, :]
            for k in range(n_f):
                yield k0 + k, block[k], None
        k0 += n_f


def _runs(pos: torch.Tensor) -> list[tuple[int, int, int]]:
    """``(k0, c0, n)``: maximal runs of ``pos`` (destination columns) with pos[k0 + i] = c0 + i."""
    p = pos.tolist()
    out, k0 = [], 0
    for k in range(1, len(p) + 1):
        if k == len(p) or p[k] != p[k - 1] + 1:
            out.append((k0, p[k0], k - k0))
            k0 = k
    return out


def _store_columns(dest: torch.Tensor, rows: torch.Tensor, src: torch.Tensor, runs) -> None:
    """dest[rows[:, None], pos[None, :]] = src for the column runs of :func:`_runs`, as block copies
    (rows ascending; a contiguous range of rows is a slice: a family's columns are mostly consecutive,
    and an advanced-index write of every element cost ~6 passes over the block)."""
    r0, n_r = int(rows[0]), rows.numel()
    dense = int(rows[-1]) - r0 == n_r - 1
    for k0, c0, n in runs:
        if dense:
            dest[r0:r0 + n_r, c0:c0 + n] = src[:, k0:k0 + n]
        else:
            dest[:, c0:c0 + n].index_copy_(0, rows, src[:, k0:k0 + n])


def _family_order(g: "_RadialGroup", device) -> torch.Tensor:
    """Group positions of the functions in family order (so ``g.cols[order]`` are their SF columns)."""
    return torch.tensor([i for fam in g.families for i in fam[1]], device=device)


def _radial_terms_t(r: torch.Tensor, fc: torch.Tensor, g: "_RadialGroup", dtype, device):
    """fc(r) exp(-eta (r - rs)^2) with functions along the *first* axis: (F_g, P), plus the column order."""
    rows_out = torch.empty((len(g.cols), r.numel()), dtype=dtype, device=device)
    for k, row, scale in _radial_rows(r, fc, g, dtype, device):
        if scale is None:
            rows_out[k].copy_(row)
        else:
            torch.mul(row, scale, out=rows_out[k])
    return rows_out, _family_order(g, device)


def _radial_sums(r: torch.Tensor, fc: torch.Tensor, g: "_RadialGroup", dtype, device):
    """Per-centre sums over the slots of ``r``, ``fc`` (n, m): (F_g, n) in family order, plus the column order.

    Each row is summed right after it is made, so a block of pairs stays in
    cache (the full (F_g, n m) terms never exist).
    """
    n, m = r.shape
    out = torch.empty((len(g.cols), n), dtype=dtype, device=device)
    scales = torch.ones(len(g.cols), dtype=dtype, device=device)
    scaled = False
    for k, row, scale in _radial_rows(r.reshape(-1), fc.reshape(-1), g, dtype, device):
        torch.sum(row.view(n, m), 1, out=out[k])
        if scale is not None:
            scales[k], scaled = scale, True
    if scaled:
        out.mul_(scales[:, None])
    return out, _family_order(g, device)


def radial_terms(symfuncs: Sequence[SymFunc], r) -> np.ndarray:
    """Pair terms fc(r) exp(-eta (r - rs)^2) of radial functions on distances ``r`` (length units), (F, len(r)).

    The same code as :meth:`SymmetryFunctionSet.compute` (one row per function, in
    the order given; type 12's Z_j weight is not included; rows of angular functions are zero).
    """
    r_t = torch.as_tensor(np.asarray(r, dtype=float))
    out = np.zeros((len(symfuncs), len(r_t)))
    rgroups, _ = _plan(list(symfuncs))
    for g in rgroups:
        r_g = r_t.clamp(max=g.rc)  # as the padded layout of compute: r >= rc has f_c = 0 (and no overflow)
        fc, _ = cutoff_fdf(r_g, g.rc, g.cutoff_type, g.alpha)
        terms, order = _radial_terms_t(r_g, fc, g, torch.float64, r_t.device)
        out[g.cols[order].numpy()] = terms.numpy()
    return out


def _plan(sfs: list[SymFunc]) -> tuple[list[_RadialGroup], list["AngularGroup"]]:
    """Group one element's (sorted) functions by what they share: radial and angular groups."""
    radial: dict[tuple, list[int]] = {}
    angular: dict[tuple, list[int]] = {}
    for col, sf in enumerate(sfs):
        if sf.is_radial:
            key = (sf.neighbors[0] if sf.type == 2 else None, sf.rc, sf.cutoff_type, sf.cutoff_alpha)
            radial.setdefault(key, []).append(col)
        else:
            nb = sf.canonical_neighbors() if sf.type != 13 else None
            key = (sf.type, nb, sf.rc, sf.cutoff_type, sf.cutoff_alpha)
            angular.setdefault(key, []).append(col)
    f64 = torch.float64
    rgroups = []
    for (nb, rc, ct, alpha), cols in radial.items():
        etas, rss = [sfs[c].eta for c in cols], [sfs[c].rs for c in cols]
        rgroups.append(_RadialGroup(torch.tensor(cols), nb, rc, ct, alpha, torch.tensor(etas, dtype=f64),
                                    torch.tensor(rss, dtype=f64), _radial_families(etas, rss, rc)))
    agroups = []
    for (t, nb, rc, ct, alpha), cols in angular.items():
        er = sorted({(sfs[c].eta, sfs[c].rs) for c in cols})
        lz = sorted({(sfs[c].lambda_, sfs[c].zeta) for c in cols})
        agroups.append(AngularGroup(
            cols=torch.tensor(cols), sf_type=t, neighbors=nb, rc=rc, cutoff_type=ct, alpha=alpha,
            er_index=torch.tensor([er.index((sfs[c].eta, sfs[c].rs)) for c in cols]),
            eta_u=torch.tensor([x[0] for x in er], dtype=f64), rs_u=torch.tensor([x[1] for x in er], dtype=f64),
            lz_index=torch.tensor([lz.index((sfs[c].lambda_, sfs[c].zeta)) for c in cols]),
            lam_u=torch.tensor([x[0] for x in lz], dtype=f64), zeta_u=torch.tensor([x[1] for x in lz], dtype=f64),
            eta=torch.tensor([sfs[c].eta for c in cols], dtype=f64),
            rs=torch.tensor([sfs[c].rs for c in cols], dtype=f64),
            lam=torch.tensor([sfs[c].lambda_ for c in cols], dtype=f64),
            zeta=torch.tensor([sfs[c].zeta for c in cols], dtype=f64),
            pnorm=torch.tensor([2.0 ** (1.0 - sfs[c].zeta) for c in cols], dtype=f64),
        ))
    return rgroups, agroups


@dataclass
class ElementFeatures:
    """Symmetry functions of all atoms of one element in a batch.

    ``atoms``: global atom indices (n,); ``values``: (n, F) raw, unscaled values.
    With derivatives: ``pair_row`` (P,) row of the pair's centre in ``values``,
    ``pair_neighbor`` (P,) global index of the pair's neighbour atom,
    ``pair_vec`` (P, 3) = r_neighbor + S - r_centre, and ``dG`` (P, F, 3).
    """

    atoms: torch.Tensor
    values: torch.Tensor
    pair_row: torch.Tensor | None = None
    pair_neighbor: torch.Tensor | None = None
    pair_vec: torch.Tensor | None = None
    dG: torch.Tensor | None = None
    pair_dist: torch.Tensor | None = None
    pair_nb_elem: torch.Tensor | None = None
    compact: CompactDerivatives | None = None


@dataclass
class BatchFeatures:
    """Symmetry functions of a batch of structures, per element (n2p2-sorted columns)."""

    n_atoms: int
    structure_index: torch.Tensor       # (N,) structure of each atom
    atom_element: torch.Tensor          # (N,) element index of each atom
    n_structures: int
    per_element: dict[str, ElementFeatures] = field(default_factory=dict)


class SymmetryFunctionSet:
    """All symmetry functions of a potential, ready to compute.

    Parameters
    ----------
    symfuncs : the functions (any order; n2p2's sorted order is used internally
        and for the output columns, see :attr:`by_element`).
    elements : element symbols; default: every element the functions mention.
    """

    def __init__(self, symfuncs: Iterable[SymFunc], elements: Sequence[str] | None = None):
        symfuncs = list(symfuncs)
        names = set(elements or [])
        if not names:
            for sf in symfuncs:
                names.add(sf.element)
                names.update(sf.neighbors)
        self.elements: list[str] = sort_elements(names)
        self.by_element: dict[str, list[SymFunc]] = group_by_element(symfuncs, self.elements)
        self.cutoff: float = max_cutoff(symfuncs)
        self._element_index = {e: i for i, e in enumerate(self.elements)}
        self._plans = {e: _plan(sfs) for e, sfs in self.by_element.items()}

    def __reduce__(self):
        # Pickled as its definitions, rebuilt on arrival (well under a millisecond). Pickling the plans'
        # tensors would let torch's multiprocessing pickler move them into shared memory from the pool's
        # feeder thread (share_memory_ swaps the buffer and frees the old one) while this process computes
        # with them: an intermittent read of freed memory (an index of 23 in a 1-element table).
        return SymmetryFunctionSet, (self.symfuncs(), list(self.elements))

    # -- description --------------------------------------------------------
    @property
    def n_features(self) -> dict[str, int]:
        return {e: len(v) for e, v in self.by_element.items()}

    def symfuncs(self) -> list[SymFunc]:
        return [sf for e in self.elements for sf in self.by_element[e]]

    def element_cutoff(self, element: str) -> float:
        return max_cutoff(self.by_element[element])

    # -- computation --------------------------------------------------------
    def compute(self, structures: Structure | Sequence[Structure], derivatives: bool | str = False,
                dtype=torch.float64, device=None, min_distance: float | None = None,
                where: str = "structure", force_mask: torch.Tensor | None = None) -> BatchFeatures:
        """Symmetry functions (and, if asked, their pair derivatives) of a batch of structures.

        ``derivatives``: False, True (dense ``dG`` (P, F, 3) of every pair) or
        ``"compact"`` (:class:`~toolkit.symfuncs.compact.CompactDerivatives`: what the
        forces on the atoms of ``force_mask`` (bool per atom of the batch; None: all)
        need, radial derivatives as one scalar per pair and function, computing only
        the pairs and triplets those forces need).

        ``min_distance`` (length units): raise if two atoms are closer (see
        :func:`~toolkit.symfuncs.neighbors.build_pairs`). ``where`` names the
        batch in error messages.
        """
        if isinstance(structures, Structure):
            structures = [structures]
        device = torch.device(device) if device is not None else torch.device("cpu")
        parts, offsets, elem_idx, struct_idx = [], [], [], []
        offset = 0
        for s_i, s in enumerate(structures):
            try:
                el = [self._element_index[e] for e in s.elements]
            except KeyError as exc:
                raise StructureError(f"{where} {s_i}: element {exc.args[0]!r} has no symmetry functions "
                                 f"(potential elements: {', '.join(self.elements)})") from None
            parts.append(build_pairs(s.positions, s.cell, self.cutoff, dtype=dtype, device=device,
                                     min_distance=min_distance, where=f"{where} {s_i}"))
            offsets.append(offset)
            elem_idx.append(torch.tensor(el, dtype=torch.long))
            struct_idx.append(torch.full((len(s),), s_i, dtype=torch.long))
            offset += len(s)
        pairs = PairList.concatenate(parts, offsets)
        atom_element = torch.cat(elem_idx).to(device)
        out = BatchFeatures(n_atoms=offset, structure_index=torch.cat(struct_idx).to(device),
                            atom_element=atom_element, n_structures=len(structures))
        z_of_element = torch.tensor([atomic_number(e) for e in self.elements], dtype=dtype, device=device)
        for e_i, e in enumerate(self.elements):
            atoms = (atom_element == e_i).nonzero().squeeze(1)
            out.per_element[e] = self._compute_element(e, atoms, pairs, atom_element, z_of_element,
                                                       offset, derivatives, dtype, device, force_mask)
        return out

    def _compute_element(self, element, atoms, pairs: PairList, atom_element, z_of_element, n_atoms,
                         derivatives, dtype, device, force_mask=None) -> ElementFeatures:
        rgroups, agroups = self._plans[element]
        n_f = len(self.by_element[element])
        row_of_atom = torch.full((n_atoms,), -1, dtype=torch.long, device=device)
        row_of_atom[atoms] = torch.arange(len(atoms), device=device)
        e_i = self._element_index[element]
        sel = (atom_element[pairs.center] == e_i) & (pairs.dist < self.element_cutoff(element))
        pe = pairs.select(sel)
        rows = row_of_atom[pe.center]
        nb_elem = atom_element[pe.neighbor]
        values = torch.zeros((len(atoms), n_f), dtype=dtype, device=device)
        dG = compact = None
        if derivatives == "compact":
            need = (torch.ones(len(pe), dtype=torch.bool, device=device) if force_mask is None
                    else force_mask[pe.center] | force_mask[pe.neighbor])
            # every radial group reaches every pair of every neighbour element: each stored scalar is
            # written, so the (large) array need not be zeroed first
            cut = self.element_cutoff(element)
            filled = all(g.rc >= cut and (g.neighbor is None or len(self.elements) == 1) for g in rgroups)
            dG = compact = CompactDerivatives.allocate(self.by_element[element], pe, need, dtype, device,
                                                       filled=filled)
        elif derivatives:
            dG = torch.zeros((len(pe), n_f, 3), dtype=dtype, device=device)
        for g in rgroups:
            self._radial(g, pe, rows, nb_elem, z_of_element, values, dG, dtype, device)
        for g in agroups:
            self._angular(g, pe, rows, nb_elem, z_of_element, len(atoms), values, dG, dtype, device)
        if compact is not None:
            compact.finalize(pe, rows, force_mask, atoms, n_f)
        return ElementFeatures(atoms=atoms, values=values, pair_row=rows, pair_neighbor=pe.neighbor,
                               pair_vec=pe.vec, dG=None if compact is not None else dG, pair_dist=pe.dist,
                               pair_nb_elem=nb_elem, compact=compact)

    def contract(self, features: "BatchFeatures", dE_dG: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """dE/dd_p (P, 3) for every pair of every element, from dE/dG (n_e, F_e) per element.

        Equivalent to ``einsum('pf,pfk->pk', dE_dG[rows], dG)`` but never forms dG:
        the derivative terms are summed over functions as they are computed.
        """
        out = {}
        for e, feat in features.per_element.items():
            rgroups, agroups = self._plans[e]
            dtype, device = feat.values.dtype, feat.values.device
            pe = PairList(feat.atoms[feat.pair_row], feat.pair_neighbor, feat.pair_vec, feat.pair_dist)
            grad = torch.zeros((len(pe), 3), dtype=dtype, device=device)
            z_of_element = torch.tensor([atomic_number(x) for x in self.elements], dtype=dtype, device=device)
            w = dE_dG[e].detach()
            for g in rgroups:
                self._radial(g, pe, feat.pair_row, feat.pair_nb_elem, z_of_element, None, None, dtype, device,
                             weights=w, grad=grad)
            for g in agroups:
                self._angular(g, pe, feat.pair_row, feat.pair_nb_elem, z_of_element, len(feat.atoms), None, None,
                              dtype, device, weights=w, grad=grad)
            out[e] = grad
        return out

    def _radial(self, g: _RadialGroup, pe: PairList, rows, nb_elem, z_of_element, values, dG, dtype, device,
                weights=None, grad=None):
        mask = pe.dist < g.rc
        if g.neighbor is not None:
            mask &= nb_elem == self._element_index[g.neighbor]
        idx = mask.nonzero().squeeze(1)
        if idx.numel() == 0:
            return
        r = pe.dist[idx]
        zw = z_of_element[nb_elem[idx]] if g.neighbor is None else None   # type 12: weight Z_j
        cols = g.cols.to(device)
        if values is not None:
            # Dense per-centre layout: (rows, slots) distances, padded with r = rc (f_c = 0).
            slot, counts, m = pad_slots(rows[idx], values.shape[0])
            n = values.shape[0]
            r_pad = torch.full((n, m), g.rc, dtype=dtype, device=device)
            r_pad[rows[idx], slot] = r
            w_pad = None
            if zw is not None:
                w_pad = torch.zeros((n, m), dtype=dtype, device=device)
                w_pad[rows[idx], slot] = zw
            step = max(1, _RADIAL_BLOCK // max(1, m))
            for a in range(0, n, step):
                rb = r_pad[a:a + step]
                fc, _ = cutoff_fdf(rb, g.rc, g.cutoff_type, g.alpha)
                if w_pad is not None:
                    fc = fc * w_pad[a:a + step]
                sums, order = _radial_sums(rb, fc, g, dtype, device)
                values[a:a + step, cols[order]] += sums.T
        if dG is None and grad is None:
            return
        if isinstance(dG, CompactDerivatives):     # only the needed pairs
            keep = dG.need[idx]
            idx, r = idx[keep], r[keep]
            if zw is not None:
                zw = zw[keep]
            if idx.numel() == 0:
                return
        order = _family_order(g, device)
        eta2, rs = 2.0 * g.eta.to(device, dtype)[order], g.rs.to(device, dtype)[order]
        cols_o = cols[order]
        if isinstance(dG, CompactDerivatives):
            runs = _runs(dG.column_pos[cols_o])
        step = max(1, _RADIAL_TERMS_BLOCK // max(1, len(cols)))
        for a in range(0, idx.numel(), step):
            ib, rb = idx[a:a + step], r[a:a + step]
            fc, dfc = cutoff_fdf(rb, g.rc, g.cutoff_type, g.alpha)
            ex, _ = _radial_exp(rb, g, dtype, device)
            # coef = (dfc - 2 eta (r - rs) fc) ex / r, in place
            coef = (rb[:, None] - rs[None, :]).mul_(eta2[None, :]).mul_(fc[:, None]).neg_().add_(dfc[:, None])
            coef.mul_(ex).div_(rb[:, None])
            if zw is not None:
                coef.mul_(zw[a:a + step, None])
            if isinstance(dG, CompactDerivatives):    # D = coef * d_p: store the scalar
                _store_columns(dG.radial, dG.slot[ib], coef, runs)
            elif dG is not None:
                dG[ib[:, None], cols_o[None, :]] += coef[:, :, None] * pe.vec[ib][:, None, :]
            if grad is not None:
                c = (coef * weights[rows[ib]][:, cols_o]).sum(1)
                grad.index_add_(0, ib, c[:, None] * pe.vec[ib])

    def _angular(self, g: AngularGroup, pe: PairList, rows, nb_elem, z_of_element, n_rows, values, dG,
                 dtype, device, weights=None, grad=None):
        """Angular functions of one group (:mod:`.angular`): values, per-function and/or contracted derivatives."""
        sub, e1, e2 = angular_pairs(g, pe, nb_elem, self._element_index)
        if sub.numel() < 2:
            return
        p = AngularParams.of(g, dtype, device)
        if values is not None:
            angular_values(g, p, pe, sub, rows[sub], nb_elem, z_of_element, n_rows, values, e1, e2)
        if dG is not None or grad is not None:
            angular_derivatives(g, p, pe, sub, rows[sub], nb_elem, z_of_element, n_rows, e1, e2, dG, weights, grad)


def pair_gradients(dE_dG: torch.Tensor, pair_row: torch.Tensor, dG: torch.Tensor) -> torch.Tensor:
    """dE/dd_p (P, 3) = sum_f dE/dG[row(p), f] dG[p, f, :], from dE/dG (n, F) and the pair derivatives dG (P, F, 3)."""
    return torch.einsum("pf,pfk->pk", dE_dG.index_select(0, pair_row), dG)


def forces_from_pairs(n_atoms: int, terms, dtype, device) -> torch.Tensor:
    """Forces -dE/dr (n_atoms, 3) from pair gradients: ``terms`` yields (g, centre, neighbour) per element.

    g (P, 3) is dE/dd_p for the pairs d_p = r_neighbour + S - r_centre, so
    dE/dr_centre = -g and dE/dr_neighbour = +g. Differentiable (training uses
    the forces in its loss).
    """
    forces = torch.zeros((n_atoms, 3), dtype=dtype, device=device)
    for g, centre, neighbor in terms:
        forces.index_add_(0, centre, g)
        forces.index_add_(0, neighbor, -g)
    return forces


def pair_forces(features: BatchFeatures, dE_dG: dict[str, torch.Tensor], virial: bool = False,
                sfset: "SymmetryFunctionSet | None" = None):
    """Forces -dE/dr (N, 3) and optionally the virial W = -sum_p d_p (x) dE/dd_p (3, 3) per structure.

    ``dE_dG[element]`` is (n_e, F_e): derivative of the total energy with
    respect to each *raw* symmetry-function value. Uses the stored ``dG`` if the
    features have it, else recomputes the contracted derivatives with ``sfset``. The virial follows LAMMPS's
    sign convention (W_ab = sum r_a f_b for pair forces; P V = N k T + tr W / 3).
    """
    any_feat = next(iter(features.per_element.values()))
    dtype, device = any_feat.values.dtype, any_feat.values.device
    contracted = None
    if any(f.dG is None for f in features.per_element.values()):
        if sfset is None:
            raise ValueError("features were computed without derivatives: pass the SymmetryFunctionSet")
        contracted = sfset.contract(features, dE_dG)
    grads = {e: contracted[e] if contracted is not None else pair_gradients(dE_dG[e], feat.pair_row, feat.dG)
             for e, feat in features.per_element.items() if feat.pair_row.numel()}
    feats = features.per_element
    terms = [(g, feats[e].atoms[feats[e].pair_row], feats[e].pair_neighbor) for e, g in grads.items()]
    forces = forces_from_pairs(features.n_atoms, terms, dtype, device)
    W = None
    if virial:
        W = torch.zeros((features.n_structures, 3, 3), dtype=dtype, device=device)
        for (g, centre, _), e in zip(terms, grads):
            W.index_add_(0, features.structure_index[centre], -feats[e].pair_vec[:, :, None] * g[:, None, :])
    return forces, W
