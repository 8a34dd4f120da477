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

from ..structures import Structure, atomic_number, sort_elements
from .cutoff import cutoff_fdf
from .definitions import SymFunc, group_by_element, max_cutoff
from .neighbors import PairList, build_pairs

# Triplets processed at once for derivatives: bounds memory to ~T * F * 3 doubles.
_TRIPLET_CHUNK = 16384


@dataclass
class _RadialGroup:
    cols: torch.Tensor         # columns in the element's (sorted) SF list
    neighbor: str | None       # neighbour element (None: weighted type 12, all neighbours)
    rc: float
    cutoff_type: int
    alpha: float
    eta: torch.Tensor
    rs: torch.Tensor


@dataclass
class _AngularGroup:
    cols: torch.Tensor
    sf_type: int               # 3 (narrow), 9 (wide) or 13 (weighted narrow)
    neighbors: tuple | None    # canonical (e1, e2), None for type 13
    rc: float
    cutoff_type: int
    alpha: float
    er_index: torch.Tensor     # per column: index into the distinct (eta, rs) pairs
    eta_u: torch.Tensor        # distinct eta values
    rs_u: torch.Tensor
    lz_index: torch.Tensor     # per column: index into the distinct (lambda, zeta) pairs
    lam_u: torch.Tensor
    zeta_u: torch.Tensor
    eta: torch.Tensor          # per column
    rs: torch.Tensor
    lam: torch.Tensor
    zeta: torch.Tensor
    pnorm: torch.Tensor        # 2^(1 - zeta) per column


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
        self._plans = {e: self._plan(sfs) for e, sfs in self.by_element.items()}

    # -- description --------------------------------------------------------
    @property
    def n_features(self) -> dict[str, int]:
        return {e: len(v) for e, v in self.by_element.items()}

    def symfuncs(self) -> list[SymFunc]:
        return [sf for e in self.elements for sf in self.by_element[e]]

    def element_cutoff(self, element: str) -> float:
        return max_cutoff(self.by_element[element])

    def _plan(self, sfs: list[SymFunc]):
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
            rgroups.append(_RadialGroup(torch.tensor(cols), nb, rc, ct, alpha,
                                        torch.tensor([sfs[c].eta for c in cols], dtype=f64),
                                        torch.tensor([sfs[c].rs for c in cols], dtype=f64)))
        agroups = []
        for (t, nb, rc, ct, alpha), cols in angular.items():
            er = sorted({(sfs[c].eta, sfs[c].rs) for c in cols})
            lz = sorted({(sfs[c].lambda_, sfs[c].zeta) for c in cols})
            agroups.append(_AngularGroup(
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

    # -- computation --------------------------------------------------------
    def compute(self, structures: Structure | Sequence[Structure], derivatives: bool = False,
                dtype=torch.float64, device=None, min_distance: float | None = None,
                where: str = "structure") -> BatchFeatures:
        """Symmetry functions (and, if asked, their pair derivatives) of a batch of structures.

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
                raise ValueError(f"{where} {s_i}: element {exc.args[0]!r} has no symmetry functions "
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
                                                       offset, derivatives, dtype, device)
        return out

    def _compute_element(self, element, atoms, pairs: PairList, atom_element, z_of_element, n_atoms,
                         derivatives, dtype, device) -> ElementFeatures:
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
        dG = torch.zeros((len(pe), n_f, 3), dtype=dtype, device=device) if derivatives else None
        for g in rgroups:
            self._radial(g, pe, rows, nb_elem, z_of_element, values, dG, dtype, device)
        for g in agroups:
            self._angular(g, pe, rows, nb_elem, z_of_element, len(atoms), values, dG, dtype, device)
        return ElementFeatures(atoms=atoms, values=values, pair_row=rows, pair_neighbor=pe.neighbor,
                               pair_vec=pe.vec, dG=dG, pair_dist=pe.dist, pair_nb_elem=nb_elem)

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
        fc, dfc = cutoff_fdf(r, g.rc, g.cutoff_type, g.alpha)
        eta, rs = g.eta.to(device, dtype), g.rs.to(device, dtype)
        x = r[:, None] - rs[None, :]
        ex = torch.exp(-eta[None, :] * x * x)
        weight = z_of_element[nb_elem[idx]][:, None] if g.neighbor is None else None
        contrib = ex * fc[:, None]
        if weight is not None:
            contrib = contrib * weight
        cols = g.cols.to(device)
        if values is not None:
            values[:, cols] += torch.zeros((values.shape[0], len(cols)), dtype=dtype, device=device).index_add_(
                0, rows[idx], contrib)
        if dG is not None or grad is not None:
            coef = (dfc[:, None] - 2.0 * eta[None, :] * x * fc[:, None]) * ex / r[:, None]
            if weight is not None:
                coef = coef * weight
            if dG is not None:
                dG[idx[:, None], cols[None, :]] += coef[:, :, None] * pe.vec[idx][:, None, :]
            if grad is not None:
                c = (coef * weights[rows[idx]][:, cols]).sum(1)
                grad.index_add_(0, idx, c[:, None] * pe.vec[idx])

    def _angular(self, g: _AngularGroup, pe: PairList, rows, nb_elem, z_of_element, n_rows, values, dG,
                 dtype, device, weights=None, grad=None):
        mask = pe.dist < g.rc
        if g.neighbors is not None:
            e1, e2 = (self._element_index[x] for x in g.neighbors)
            mask &= (nb_elem == e1) | (nb_elem == e2)
        sub = mask.nonzero().squeeze(1)          # positions in pe, sorted by centre
        if sub.numel() < 2:
            return
        p_loc, q_loc = _triplets(rows[sub], n_rows)
        if g.neighbors is not None and e1 != e2:
            ep, eq = nb_elem[sub[p_loc]], nb_elem[sub[q_loc]]
            keep = ((ep == e1) & (eq == e2)) | ((ep == e2) & (eq == e1))
            p_loc, q_loc = p_loc[keep], q_loc[keep]
        if p_loc.numel() == 0:
            return
        r_sub = pe.dist[sub]
        fc_sub, dfc_sub = cutoff_fdf(r_sub, g.rc, g.cutoff_type, g.alpha)
        narrow = g.sf_type in (3, 13)
        cols = g.cols.to(device)
        to = dict(device=device, dtype=dtype)
        eta_u, rs_u = g.eta_u.to(**to), g.rs_u.to(**to)
        lam_u, zeta_u = g.lam_u.to(**to), g.zeta_u.to(**to)
        er_index, lz_index = g.er_index.to(device), g.lz_index.to(device)
        eta, rs, lam, zeta, pnorm = (t.to(**to) for t in (g.eta, g.rs, g.lam, g.zeta, g.pnorm))
        # Per pair and distinct (eta, rs): exp(-eta (r - rs)^2); a triplet multiplies two (three) of them.
        x_sub = r_sub[:, None] - rs_u[None, :]
        ex_sub = torch.exp(-eta_u[None, :] * x_sub * x_sub)
        acc = torch.zeros((n_rows, len(cols)), **to)
        chunk = _TRIPLET_CHUNK if dG is not None else 4 * _TRIPLET_CHUNK
        need_deriv = dG is not None or grad is not None
        for start in range(0, p_loc.numel(), chunk):
            pl, ql = p_loc[start:start + chunk], q_loc[start:start + chunk]
            pp, qq = sub[pl], sub[ql]
            dij, dik = pe.vec[pp], pe.vec[qq]
            rij, rik = r_sub[pl], r_sub[ql]
            cos = (dij * dik).sum(1) / (rij * rik)
            pfc = fc_sub[pl] * fc_sub[ql]
            ex = ex_sub[pl] * ex_sub[ql]                      # (T, n_er)
            if narrow:
                djk = dik - dij
                rjk = torch.linalg.vector_norm(djk, dim=1)
                inside = rjk < g.rc
                fc_jk, dfc_jk = cutoff_fdf(rjk, g.rc, g.cutoff_type, g.alpha)
                xjk = rjk[:, None] - rs_u[None, :]
                ex = ex * torch.exp(-eta_u[None, :] * xjk * xjk)
                pfc = torch.where(inside, pfc * fc_jk, torch.zeros_like(pfc))
            plam_u = 1.0 + lam_u[None, :] * cos[:, None]      # (T, n_lz)
            positive = plam_u > 0.0
            base = torch.where(positive, plam_u, torch.ones_like(plam_u))
            pow_zm1 = torch.where(positive, base ** (zeta_u[None, :] - 1.0), torch.zeros_like(plam_u))
            fg = ex[:, er_index] * pow_zm1[:, lz_index]       # (T, F): exp part * (1 + lambda cos)^(zeta - 1)
            plam = plam_u[:, lz_index]
            w = pfc
            if g.sf_type == 13:
                w = w * z_of_element[nb_elem[pp]] * z_of_element[nb_elem[qq]]
            if values is not None:
                acc.index_add_(0, rows[pp], fg * plam * w[:, None])
            if not need_deriv:
                continue
            # d/d(d_ij) and d/d(d_ik) of pnorm * fg * plam * Cs, with Cs the product of cutoffs.
            wpn = pnorm[None, :] * fg
            zl = zeta * lam
            if g.sf_type == 13:
                zz = z_of_element[nb_elem[pp]] * z_of_element[nb_elem[qq]]
            else:
                zz = None
            cs = pfc[:, None]
            fc_ij, fc_ik, dfc_ij, dfc_ik = fc_sub[pl], fc_sub[ql], dfc_sub[pl], dfc_sub[ql]
            if narrow:
                fcjk = torch.where(inside, fc_jk, torch.zeros_like(fc_jk))
                dfcjk = torch.where(inside, dfc_jk, torch.zeros_like(dfc_jk))
            else:
                fcjk = torch.ones_like(fc_ij)
                dfcjk = None
            rijs = rij[:, None] - rs[None, :]
            riks = rik[:, None] - rs[None, :]
            b = wpn * zl[None, :] * cs / (rij * rik)[:, None]
            aj = wpn * (-zl[None, :] * cs * cos[:, None] / (rij * rij)[:, None]
                        + plam * (-2.0 * eta[None, :] * rijs * cs + (dfc_ij * fc_ik * fcjk)[:, None]) / rij[:, None])
            ak = wpn * (-zl[None, :] * cs * cos[:, None] / (rik * rik)[:, None]
                        + plam * (-2.0 * eta[None, :] * riks * cs + (fc_ij * dfc_ik * fcjk)[:, None]) / rik[:, None])
            c3 = None
            if narrow:
                rjks = rjk[:, None] - rs[None, :]
                safe_rjk = torch.where(inside, rjk, torch.ones_like(rjk))
                c3 = -wpn * plam * (-2.0 * eta[None, :] * rjks * cs + (fc_ij * fc_ik * dfcjk)[:, None]) / safe_rjk[:, None]
                c3 = torch.where(inside[:, None], c3, torch.zeros_like(c3))
            if zz is not None:
                aj, ak, b = aj * zz[:, None], ak * zz[:, None], b * zz[:, None]
                c3 = c3 * zz[:, None] if c3 is not None else None
            if grad is not None:
                # Sum over functions first: (T, F) coefficients -> (T,) scalars -> (T, 3) vectors.
                wt = weights[rows[pp]][:, cols]
                aj_s, ak_s, b_s = (aj * wt).sum(1), (ak * wt).sum(1), (b * wt).sum(1)
                gj = aj_s[:, None] * dij + b_s[:, None] * dik
                gk = ak_s[:, None] * dik + b_s[:, None] * dij
                if c3 is not None:
                    c3_s = (c3 * wt).sum(1)
                    gj = gj + c3_s[:, None] * djk
                    gk = gk - c3_s[:, None] * djk
                grad.index_add_(0, pp, gj)
                grad.index_add_(0, qq, gk)
            if dG is not None:
                gj = aj[:, :, None] * dij[:, None, :] + b[:, :, None] * dik[:, None, :]
                gk = ak[:, :, None] * dik[:, None, :] + b[:, :, None] * dij[:, None, :]
                if c3 is not None:
                    gj = gj + c3[:, :, None] * djk[:, None, :]
                    gk = gk - c3[:, :, None] * djk[:, None, :]
                block = torch.zeros((dG.shape[0], len(cols), 3), **to)
                block.index_add_(0, pp, gj)
                block.index_add_(0, qq, gk)
                dG[:, cols] += block
        if values is not None:
            values[:, cols] += acc * pnorm[None, :]


def _triplets(rows_sorted: torch.Tensor, n_rows: int):
    """All index pairs (p < q) of list entries that share a centre; entries are sorted by centre."""
    device = rows_sorted.device
    counts = torch.bincount(rows_sorted, minlength=n_rows)
    nmax = int(counts.max()) if counts.numel() else 0
    if nmax < 2:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    starts = torch.cumsum(counts, 0) - counts
    tri = torch.triu_indices(nmax, nmax, 1, device=device)
    valid = tri[1][None, :] < counts[:, None]
    r_idx, t_idx = valid.nonzero(as_tuple=True)
    return starts[r_idx] + tri[0][t_idx], starts[r_idx] + tri[1][t_idx]


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
    forces = torch.zeros((features.n_atoms, 3), dtype=dtype, device=device)
    W = torch.zeros((features.n_structures, 3, 3), dtype=dtype, device=device) if virial else None
    contracted = None
    if any(f.dG is None for f in features.per_element.values()):
        if sfset is None:
            raise ValueError("features were computed without derivatives: pass the SymmetryFunctionSet")
        contracted = sfset.contract(features, dE_dG)
    for e, feat in features.per_element.items():
        if feat.pair_row.numel() == 0:
            continue
        if contracted is not None:
            g = contracted[e]
        else:
            g = torch.einsum("pf,pfk->pk", dE_dG[e][feat.pair_row], feat.dG)  # dE/dd_p, (P, 3)
        centre = feat.atoms[feat.pair_row]
        forces.index_add_(0, centre, g)               # d_p = r_j - r_i: dE/dr_i = -g
        forces.index_add_(0, feat.pair_neighbor, -g)
        if virial:
            s = features.structure_index[centre]
            W.index_add_(0, s, -feat.pair_vec[:, :, None] * g[:, None, :])
    return forces, W
