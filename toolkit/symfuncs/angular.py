"""Angular symmetry functions (types 3, 9, 13) in small vectorised pieces.

Per triplet (i; j, k) of a centre i and two neighbours j < k:

    G_f = pnorm_f sum_{j<k} cs E_f P_f
    cs  = w_jk fc(r_ij) fc(r_ik) [fc(r_jk)]
    E_f = exp(-eta (r_ij - rs)^2) exp(-eta (r_ik - rs)^2) [exp(-eta (r_jk - rs)^2)]
    P_f = (1 + lambda cos theta_ijk)^zeta,   pnorm_f = 2^(1 - zeta)

with [..] only for the narrow types 3 and 13, and w_jk the neighbour-element
match (types 3/9 with two different neighbour elements) times Z_j Z_k (type 13).
A group's functions share the cutoff and neighbour elements, so E factorises
over its distinct (eta, rs) pairs and P over its distinct (lambda, zeta) pairs.

Pieces: :func:`_triplet_terms` (geometry, cutoff product, exponentials,
powers) serves :func:`angular_values` (dense per-centre layout, one batched
matrix product per block) and :func:`angular_derivatives` (a triplet list per
block of centres), which adds either each function's derivative
(:func:`_per_function_pair_gradients`) or their contraction with dE/dG
(:func:`_contracted_pair_gradients`). Distances in length units; derivatives
per length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .compact import CompactDerivatives
from .cutoff import cutoff_fdf
from .neighbors import PairList, pad_slots

# Triplets processed at once for derivatives: bounds memory to ~T * F * 3 doubles.
_TRIPLET_CHUNK = 16384
# Triplets per block of the values: the block's terms (x (eta, rs) and (lambda, zeta) pairs) stay in cache.
_VALUE_TRIPLETS = 16384


@dataclass
class AngularGroup:
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



def _integer_power(table: dict, n: int) -> torch.Tensor:
    """x^n for an integer n >= 1 from ``table`` {1: x, 2: x^2, 4: x^4, ...} (filled as needed).

    Repeated squaring as n2p2's pow_int: the squares x^(2^b) of the set bits of n,
    multiplied in increasing order of b. The squares are shared by every exponent.
    """
    result, bit = None, 1
    while n:
        if bit not in table:
            table[bit] = table[bit // 2] * table[bit // 2]
        if n & 1:
            result = table[bit] if result is None else result * table[bit]
        n >>= 1
        bit *= 2
    return result


def _angular_powers(cos: torch.Tensor, lam: torch.Tensor, zeta: torch.Tensor, minus_one: bool = True):
    """((1 + lambda cos)^(zeta - 1), (1 + lambda cos)^zeta) for every cos (...) and (lambda, zeta) pair: (..., n_lz).

    0 where 1 + lambda cos <= 0 (as n2p2). Integer zeta (the usual case) uses
    repeated squaring (:func:`_integer_power`), multiplications only, with the
    squares shared by the zetas of one lambda; other zetas use pow(). With
    ``minus_one`` False (values only) the first is None and the second is
    computed directly.
    """
    bases: dict[float, tuple] = {}
    pzm1_cols, pz_cols = [], []
    for l, z in zip(lam.tolist(), zeta.tolist()):
        if l not in bases:
            plam = 1.0 + l * cos
            positive = plam > 0.0
            x = torch.where(positive, plam, torch.zeros_like(plam))
            bases[l] = (plam, positive, x, {1: x})
        plam, positive, x, table = bases[l]
        integer = z == round(z) and z >= 1.0
        if minus_one:
            n = int(round(z)) - 1
            if integer and n >= 1:
                pzm1 = _integer_power(table, n)
            elif integer:
                pzm1 = positive.to(plam.dtype)
            else:
                pzm1 = torch.where(positive, torch.where(positive, plam, torch.ones_like(plam)) ** (z - 1.0),
                                   torch.zeros_like(plam))
            pzm1_cols.append(pzm1)
            pz_cols.append(pzm1 * plam)
        else:
            pz_cols.append(_integer_power(table, int(round(z))) if integer else x ** z)
    pz = torch.stack(pz_cols, dim=-1)
    return (torch.stack(pzm1_cols, dim=-1) if minus_one else None), pz


@dataclass
class AngularParams:
    """An angular group's parameters as tensors of the computation's dtype and device."""

    cols: torch.Tensor
    eta_u: torch.Tensor
    rs_u: torch.Tensor
    lam_u: torch.Tensor
    zeta_u: torch.Tensor
    er_index: torch.Tensor
    lz_index: torch.Tensor
    pnorm: torch.Tensor

    @classmethod
    def of(cls, g: AngularGroup, dtype, device) -> "AngularParams":
        to = dict(device=device, dtype=dtype)
        return cls(g.cols.to(device), g.eta_u.to(**to), g.rs_u.to(**to), g.lam_u.to(**to), g.zeta_u.to(**to),
                   g.er_index.to(device), g.lz_index.to(device), g.pnorm.to(**to))


def _exp_terms(r: torch.Tensor, eta: torch.Tensor, rs: torch.Tensor) -> torch.Tensor:
    """exp(-eta (r - rs)^2) for every distance (...) and (eta, rs) pair: (..., n_er)."""
    x = r[..., None] - rs
    return torch.exp(-eta * x * x)


def _neighbour_weight(g: AngularGroup, ej, ek, e1, e2, z_of_element):
    """w_jk: 1 if the neighbour elements (ej, ek) match the group's pair (any order), times Z_j Z_k for type 13.

    None when every triplet has weight 1. Element index -1 (padding) has Z = 0.
    """
    w = None
    if e1 is not None and e1 != e2:
        w = (((ej == e1) & (ek == e2)) | ((ej == e2) & (ek == e1))).to(z_of_element.dtype)
    if g.sf_type == 13:
        z = torch.cat([z_of_element, z_of_element.new_zeros(1)])
        zz = z[ej] * z[ek]
        w = zz if w is None else w * zz
    return w


@dataclass
class _Triplets:
    """Terms of a set of triplets (any leading shape ...): geometry, cutoff product, exponentials, powers."""

    dij: torch.Tensor          # (..., 3) r_j - r_i
    dik: torch.Tensor
    rij: torch.Tensor          # (...)
    rik: torch.Tensor
    cos: torch.Tensor
    cs: torch.Tensor           # cutoff product times the neighbour weight
    E: torch.Tensor            # (..., n_er)
    pzm1: torch.Tensor | None  # (..., n_lz); None for values only
    pz: torch.Tensor
    w: torch.Tensor | None
    djk: torch.Tensor | None = None   # narrow types only
    rjk: torch.Tensor | None = None
    fcjk: torch.Tensor | None = None
    dfcjk: torch.Tensor | None = None


def _triplet_terms(g: AngularGroup, p: AngularParams, dij, dik, rij, rik, fc_ij, fc_ik, ex_ij, ex_ik, w,
                   minus_one: bool = True) -> _Triplets:
    """The terms of triplets from their two pairs' vectors, distances, cutoffs and exponentials
    (``minus_one`` False: values only, no (1 + lambda cos)^(zeta - 1))."""
    cos = (dij * dik).sum(-1) / (rij * rik)
    cs = fc_ij * fc_ik
    E = ex_ij * ex_ik
    jk = {}
    if g.sf_type in (3, 13):
        djk = dik - dij
        rjk = torch.linalg.vector_norm(djk, dim=-1)
        fcjk, dfcjk = cutoff_fdf(rjk, g.rc, g.cutoff_type, g.alpha)   # 0 beyond rc
        cs = cs * fcjk
        E = E * _exp_terms(rjk, p.eta_u, p.rs_u)
        jk = dict(djk=djk, rjk=rjk, fcjk=fcjk, dfcjk=dfcjk)
    if w is not None:
        cs = cs * w
    pzm1, pz = _angular_powers(cos, p.lam_u, p.zeta_u, minus_one)
    return _Triplets(dij, dik, rij, rik, cos, cs, E, pzm1, pz, w, **jk)


def angular_pairs(g: AngularGroup, pe: PairList, nb_elem, element_index):
    """Positions in ``pe`` of the pairs an angular group uses (sorted by centre), and its neighbour element indices."""
    mask = pe.dist < g.rc
    e1 = e2 = None
    if g.neighbors is not None:
        e1, e2 = (element_index[x] for x in g.neighbors)
        mask &= (nb_elem == e1) | (nb_elem == e2)
    return mask.nonzero().squeeze(1), e1, e2


def angular_values(g: AngularGroup, p: AngularParams, pe: PairList, sub, sub_rows, nb_elem, z_of_element,
                    n_rows, values, e1, e2):
    """Add an angular group's values: dense (centre, neighbour slot) layout, all slot pairs (a < b) of a centre
    are its triplets; padded slots have r = rc, f_c = 0 and contribute nothing. One batched matrix
    product per block of centres: G_i[f] = pnorm_f * sum_t (E cs)[t, er(f)] P[t, lz(f)]."""
    dtype, device = values.dtype, values.device
    slot, counts, m = pad_slots(sub_rows, n_rows)
    if m < 2:
        return
    r_pad = torch.full((n_rows, m), g.rc, dtype=dtype, device=device)
    r_pad[sub_rows, slot] = pe.dist[sub]
    v_pad = torch.zeros((n_rows, m, 3), dtype=dtype, device=device)
    v_pad[:, :, 0] = g.rc
    v_pad[sub_rows, slot] = pe.vec[sub]
    el_pad = torch.full((n_rows, m), -1, dtype=torch.long, device=device)
    el_pad[sub_rows, slot] = nb_elem[sub]
    fc_pad, _ = cutoff_fdf(r_pad, g.rc, g.cutoff_type, g.alpha)
    ex_pad = _exp_terms(r_pad, p.eta_u, p.rs_u)                    # (n, m, n_er)
    tri0, tri1 = torch.triu_indices(m, m, 1, device=device)
    step = max(1, _VALUE_TRIPLETS // max(1, tri0.numel()))
    for a in range(0, n_rows, step):
        b = min(n_rows, a + step)
        rp, vp, fp, ep, elp = r_pad[a:b], v_pad[a:b], fc_pad[a:b], ex_pad[a:b], el_pad[a:b]
        w = _neighbour_weight(g, elp[:, tri0], elp[:, tri1], e1, e2, z_of_element)
        t = _triplet_terms(g, p, vp[:, tri0], vp[:, tri1], rp[:, tri0], rp[:, tri1], fp[:, tri0], fp[:, tri1],
                           ep[:, tri0], ep[:, tri1], w, minus_one=False)
        M = torch.bmm((t.E * t.cs[:, :, None]).transpose(1, 2), t.pz)   # (nb, n_er, n_lz)
        values[a:b, p.cols] += p.pnorm[None, :] * M[:, p.er_index, p.lz_index]


def _triplet_blocks(counts: torch.Tensor, starts: torch.Tensor, n_rows: int, block: int):
    """Triplets (pl, ql, row) of blocks of centres: positions (in the group's pair list) of the pairs ij and ik,
    j < k in the centre's pair order, and the centre's row."""
    device = counts.device
    for r0 in range(0, n_rows, block):
        r1 = min(n_rows, r0 + block)
        c = counts[r0:r1]
        m = int(c.max())
        if m < 2:
            continue
        tri = torch.triu_indices(m, m, 1, device=device)
        r_idx, t_idx = (tri[1][None, :] < c[:, None]).nonzero(as_tuple=True)
        yield starts[r0:r1][r_idx] + tri[0][t_idx], starts[r0:r1][r_idx] + tri[1][t_idx], r0 + r_idx


@dataclass
class _RadialDerivatives:
    """d/dr of the distance-dependent factors of triplets: of E (per (eta, rs) pair) and of cs."""

    exr_ij: torch.Tensor       # dE/dr_ij (T, n_er)
    exr_ik: torch.Tensor
    dcs_ij: torch.Tensor       # d(cs)/dr_ij (T,)
    dcs_ik: torch.Tensor
    exr_jk: torch.Tensor | None = None
    dcs_jk: torch.Tensor | None = None
    inside: torch.Tensor | None = None     # r_jk < rc
    safe_rjk: torch.Tensor | None = None   # r_jk, 1 outside (no division by zero)


def _radial_derivatives(g: AngularGroup, p: AngularParams, t: _Triplets, dfc_ij, dfc_ik, fc_ij, fc_ik):
    eta, rs = p.eta_u[None, :], p.rs_u[None, :]
    narrow = t.rjk is not None
    wfc = 1.0 if t.w is None else t.w
    d = _RadialDerivatives(exr_ij=t.E * (-2.0 * eta * (t.rij[:, None] - rs)),
                           exr_ik=t.E * (-2.0 * eta * (t.rik[:, None] - rs)),
                           dcs_ij=dfc_ij * fc_ik * (t.fcjk if narrow else 1.0) * wfc,
                           dcs_ik=fc_ij * dfc_ik * (t.fcjk if narrow else 1.0) * wfc)
    if narrow:
        d.inside = t.rjk < g.rc
        d.safe_rjk = torch.where(d.inside, t.rjk, torch.ones_like(t.rjk))
        d.exr_jk = t.E * (-2.0 * eta * (t.rjk[:, None] - rs))
        d.dcs_jk = fc_ij * fc_ik * t.dfcjk * wfc
    return d


def _contracted_pair_gradients(t: _Triplets, d: _RadialDerivatives, wt: torch.Tensor, zl_u: torch.Tensor):
    """sum_f w_f dG_f/dd_ij and /dd_ik per triplet, (T, 3) each; ``wt`` (T, n_er, n_lz) holds pnorm_f w_f at (er(f), lz(f))."""
    q1 = torch.einsum("tel,tl->te", wt, t.pzm1 * zl_u[None, :])
    q2 = torch.einsum("tel,tl->te", wt, t.pz)
    s_b = (t.E * q1).sum(1)
    s_0 = (t.E * q2).sum(1)
    cs, cos, rij, rik = t.cs, t.cos, t.rij, t.rik
    b_s = cs * s_b / (rij * rik)
    aj_s = -cs * cos * s_b / (rij * rij) + (cs * (d.exr_ij * q2).sum(1) + d.dcs_ij * s_0) / rij
    ak_s = -cs * cos * s_b / (rik * rik) + (cs * (d.exr_ik * q2).sum(1) + d.dcs_ik * s_0) / rik
    gj = aj_s[:, None] * t.dij + b_s[:, None] * t.dik
    gk = ak_s[:, None] * t.dik + b_s[:, None] * t.dij
    if t.rjk is not None:
        c3_s = -(cs * (d.exr_jk * q2).sum(1) + d.dcs_jk * s_0) / d.safe_rjk
        c3_s = torch.where(d.inside, c3_s, torch.zeros_like(c3_s))
        gj = gj + c3_s[:, None] * t.djk
        gk = gk - c3_s[:, None] * t.djk
    return gj, gk


def _per_function_pair_terms(t: _Triplets, d: _RadialDerivatives, p: AngularParams, zl_u: torch.Tensor):
    """Coefficients ``(aj, ak, b, c3)``, (T, F) each, of the pair gradients per triplet and function:

    dG_f/dd_ij = aj d_ij + b d_ik + c3 d_jk,  dG_f/dd_ik = ak d_ik + b d_ij - c3 d_jk
    (c3 None for the wide type 9).
    """
    eta, rs = p.eta_u[None, :], p.rs_u[None, :]
    cs, cos, rij, rik = t.cs, t.cos, t.rij, t.rik
    # per (eta, rs) pair: d(cs E)/dr along a pair, per unit E and per unit length: (T, n_er)
    hj = (cs[:, None] * (-2.0 * eta * (rij[:, None] - rs)) + d.dcs_ij[:, None]) / rij[:, None]
    hk = (cs[:, None] * (-2.0 * eta * (rik[:, None] - rs)) + d.dcs_ik[:, None]) / rik[:, None]
    pe = t.E[:, p.er_index] * p.pnorm[None, :]                 # (T, F) from here on
    u = pe * (t.pzm1 * zl_u[None, :])[:, p.lz_index]            # pnorm E zeta lambda (1 + lambda cos)^(zeta - 1)
    w = pe * t.pz[:, p.lz_index]                                # pnorm E (1 + lambda cos)^zeta
    b = u * (cs / (rij * rik))[:, None]
    aj = (w * hj[:, p.er_index]).sub_(u * (cs * cos / (rij * rij))[:, None])
    ak = (w * hk[:, p.er_index]).sub_(u * (cs * cos / (rik * rik))[:, None])
    c3 = None
    if t.rjk is not None:
        hjk = (cs[:, None] * (-2.0 * eta * (t.rjk[:, None] - rs)) + d.dcs_jk[:, None]) / d.safe_rjk[:, None]
        hjk = torch.where(d.inside[:, None], hjk, torch.zeros_like(hjk))
        c3 = (w * hjk[:, p.er_index]).neg_()
    return aj, ak, b, c3


def _per_function_pair_gradients(t: _Triplets, d: _RadialDerivatives, p: AngularParams, zl_u: torch.Tensor):
    """dG_f/dd_ij and dG_f/dd_ik per triplet and function, (T, F, 3) each."""
    aj, ak, b, c3 = _per_function_pair_terms(t, d, p, zl_u)
    gj = aj[:, :, None] * t.dij[:, None, :] + b[:, :, None] * t.dik[:, None, :]
    gk = ak[:, :, None] * t.dik[:, None, :] + b[:, :, None] * t.dij[:, None, :]
    if c3 is not None:
        gj = gj + c3[:, :, None] * t.djk[:, None, :]
        gk = gk - c3[:, :, None] * t.djk[:, None, :]
    return gj, gk


def _add_partner_terms(buf: torch.Tensor, sj, sk, t: _Triplets, b, c3) -> None:
    """Add the terms of the pair gradients along the *other* pairs (b d_ik + c3 d_jk for ij, b d_ij - c3 d_jk
    for ik) into ``buf`` rows ``sj``, ``sk``; the terms along a pair's own vector are summed as scalars."""
    v = b[:, :, None] * t.dik[:, None, :]
    if c3 is not None:
        v.addcmul_(c3[:, :, None], t.djk[:, None, :])
    buf.index_add_(0, sj, v)
    v = b[:, :, None] * t.dij[:, None, :]
    if c3 is not None:
        v.addcmul_(c3[:, :, None], t.djk[:, None, :], value=-1.0)
    buf.index_add_(0, sk, v)


# Stored pairs x neighbour slots per block of the wide per-pair derivatives (~10 MB of temporaries).
_WIDE_PAIR_SLOTS = 16384


def _compact_wide_derivatives(g: AngularGroup, p: AngularParams, pe: PairList, sub, sub_rows, nb_elem,
                              z_of_element, n_rows, e1, e2, compact: CompactDerivatives) -> None:
    """Type 9's derivatives with respect to each stored pair vector d_a = r_j - r_i, per pair, not per triplet.

    For the wide type, E and the cutoffs factor per pair, so with u = d/r, Q_k[er] = E_k[er] fc_k and
    the sums over the centre's other neighbours k (w_ak: element match, 0 for k = a)

        S1 = sum_k w P_ak Q_k,  S2 = sum_k w U_ak cos_ak Q_k,  S3 = sum_k w U_ak Q_k u_k
        (P = (1 + lambda cos)^zeta, U = zeta lambda (1 + lambda cos)^(zeta - 1), per (lambda, zeta))

    are batched matrix products over k, and

        dG_f/dd_a = pnorm_f [u_a (d(E_a fc_a)/dr_a S1 - E_a fc_a / r_a S2) + E_a fc_a / r_a S3]

    at (er(f), lz(f)) (the chain rule through cos_ak = u_a . u_k gives (u_k - cos u_a) / r_a). Work is
    (stored pairs) x (neighbours) x (er + lz) plus BLAS, instead of triplets x functions with scatters.
    """
    dtype, device = p.eta_u.dtype, p.eta_u.device
    a_slot = compact.angular_slot[sub]
    q_all = (a_slot >= 0).nonzero().squeeze(1)        # positions in sub of the stored pairs
    if q_all.numel() == 0:
        return
    slot, counts, m = pad_slots(sub_rows, n_rows)
    r_pad = torch.full((n_rows, m), g.rc, dtype=dtype, device=device)
    r_pad[sub_rows, slot] = pe.dist[sub]
    u_pad = torch.zeros((n_rows, m, 3), dtype=dtype, device=device)
    u_pad[:, :, 0] = 1.0
    u_pad[sub_rows, slot] = pe.vec[sub] / pe.dist[sub][:, None]
    el_pad = torch.full((n_rows, m), -1, dtype=torch.long, device=device)
    el_pad[sub_rows, slot] = nb_elem[sub]
    fc_pad, _ = cutoff_fdf(r_pad, g.rc, g.cutoff_type, g.alpha)        # 0 on the padding: Q = 0 there
    q_pad = _exp_terms(r_pad, p.eta_u, p.rs_u).mul_(fc_pad[..., None])   # (n, m, n_er)
    r_a_all = pe.dist[sub[q_all]]
    fc_a_all, dfc_a_all = cutoff_fdf(r_a_all, g.rc, g.cutoff_type, g.alpha)
    zl_u = p.lam_u * p.zeta_u
    n_er, n_lz = len(p.eta_u), len(p.lam_u)
    cpos = compact.column_pos[p.cols]
    step = max(1, _WIDE_PAIR_SLOTS // max(1, m))
    for a0 in range(0, q_all.numel(), step):
        q = q_all[a0:a0 + step]
        nb = q.numel()
        rq, sq = sub_rows[q], slot[q]
        Qk, uk = q_pad[rq], u_pad[rq]                                   # (nb, m, n_er), (nb, m, 3)
        ua = u_pad[rq, sq]                                              # (nb, 3)
        cos = torch.bmm(uk, ua[:, :, None]).squeeze(2)                  # (nb, m)
        w = torch.ones((nb, m), dtype=dtype, device=device)
        w[torch.arange(nb, device=device), sq] = 0.0                    # k != a
        wn = _neighbour_weight(g, el_pad[rq, sq][:, None], el_pad[rq], e1, e2, z_of_element)
        if wn is not None:
            w.mul_(wn)
        pzm1, pz = _angular_powers(cos, p.lam_u, p.zeta_u)              # (nb, m, n_lz)
        wu = pzm1.mul_(zl_u).mul_(w[..., None])
        rhs = torch.cat([pz.mul_(w[..., None]), wu * cos[..., None]], dim=2)          # (nb, m, 2 n_lz)
        s12 = torch.bmm(Qk.transpose(1, 2), rhs)                                       # (nb, n_er, 2 n_lz)
        lhs3 = (Qk[:, :, :, None] * uk[:, :, None, :]).reshape(nb, m, n_er * 3)
        s3 = torch.bmm(lhs3.transpose(1, 2), wu).view(nb, n_er, 3, n_lz)
        r_a, fc_a, dfc_a = r_a_all[a0:a0 + step], fc_a_all[a0:a0 + step], dfc_a_all[a0:a0 + step]
        ex_a = _exp_terms(r_a, p.eta_u, p.rs_u)                                        # (nb, n_er)
        dq_a = ex_a * (dfc_a[:, None] - 2.0 * p.eta_u * (r_a[:, None] - p.rs_u) * fc_a[:, None])
        c_a = ex_a * (fc_a / r_a)[:, None]
        radial = dq_a[:, :, None] * s12[:, :, :n_lz] - c_a[:, :, None] * s12[:, :, n_lz:]   # (nb, n_er, n_lz)
        x = s3.mul_(c_a[:, :, None, None]).add_(radial[:, :, None, :] * ua[:, None, :, None])
        res = x[:, p.er_index, :, p.lz_index].mul_(p.pnorm[:, None, None])   # (F, nb, 3): indices lead
        compact.angular[a_slot[q][:, None], cpos[None, :]] += res.transpose(0, 1)


def angular_derivatives(g: AngularGroup, p: AngularParams, pe: PairList, sub, sub_rows, nb_elem, z_of_element,
                         n_rows, e1, e2, dG=None, weights=None, grad=None):
    """Add an angular group's pair derivatives: per function into ``dG`` (P, F, 3), or contracted with
    ``weights`` (n_rows, F) into ``grad`` (P, 3). Triplets are listed for blocks of centres
    (about _TRIPLET_CHUNK at a time, bounding memory)."""
    if isinstance(dG, CompactDerivatives) and g.sf_type == 9 and grad is None:
        _compact_wide_derivatives(g, p, pe, sub, sub_rows, nb_elem, z_of_element, n_rows, e1, e2, dG)
        return
    dtype = p.eta_u.dtype
    r_sub = pe.dist[sub]
    fc_sub, dfc_sub = cutoff_fdf(r_sub, g.rc, g.cutoff_type, g.alpha)
    ex_sub = _exp_terms(r_sub, p.eta_u, p.rs_u)    # per pair and distinct (eta, rs)
    counts = torch.bincount(sub_rows, minlength=n_rows)
    starts = torch.cumsum(counts, 0) - counts
    if grad is not None:
        # Per-centre weight matrices (n_er x n_lz) holding pnorm_f * dE/dG_f at (er(f), lz(f)).
        wmat = torch.zeros((n_rows, len(p.eta_u), len(p.lam_u)), dtype=dtype, device=p.eta_u.device)
        wmat[:, p.er_index, p.lz_index] = weights[:, p.cols] * p.pnorm[None, :]
    zl_u = p.lam_u * p.zeta_u
    nmax = int(counts.max())
    block = max(1, _TRIPLET_CHUNK // max(1, nmax * (nmax - 1) // 2)) * (4 if dG is None else 1)
    compact = dG if isinstance(dG, CompactDerivatives) else None
    if compact is not None:   # one buffer per group, not per block: time stays linear in the pairs
        # row per stored angular pair, plus a last row for the pairs not stored
        n_a = compact.angular.shape[0]
        buf = torch.zeros((n_a + 1, len(p.cols), 3), dtype=dtype, device=p.eta_u.device)
        own = torch.zeros((n_a + 1, len(p.cols)), dtype=dtype, device=p.eta_u.device)   # along the pair itself
        slot_of = torch.where(compact.angular_slot >= 0, compact.angular_slot, n_a)
    for pl, ql, row in _triplet_blocks(counts, starts, n_rows, block):
        if compact is not None:   # only the triplets that touch a needed pair
            t_keep = compact.need[sub[pl]] | compact.need[sub[ql]]
            pl, ql, row = pl[t_keep], ql[t_keep], row[t_keep]
            if pl.numel() == 0:
                continue
        pp, qq = sub[pl], sub[ql]
        w = _neighbour_weight(g, nb_elem[pp], nb_elem[qq], e1, e2, z_of_element)
        t = _triplet_terms(g, p, pe.vec[pp], pe.vec[qq], r_sub[pl], r_sub[ql], fc_sub[pl], fc_sub[ql],
                           ex_sub[pl], ex_sub[ql], w)
        d = _radial_derivatives(g, p, t, dfc_sub[pl], dfc_sub[ql], fc_sub[pl], fc_sub[ql])
        if grad is not None:
            gj, gk = _contracted_pair_gradients(t, d, wmat[row], zl_u)
            grad.index_add_(0, pp, gj)
            grad.index_add_(0, qq, gk)
        if compact is not None:
            aj, ak, b, c3 = _per_function_pair_terms(t, d, p, zl_u)
            sj, sk = slot_of[pp], slot_of[qq]
            own.index_add_(0, sj, aj)
            own.index_add_(0, sk, ak)
            _add_partner_terms(buf, sj, sk, t, b, c3)
        elif dG is not None:
            gj, gk = _per_function_pair_gradients(t, d, p, zl_u)
            blk = torch.zeros((dG.shape[0], len(p.cols), 3), dtype=dtype, device=dG.device)
            blk.index_add_(0, pp, gj)
            blk.index_add_(0, qq, gk)
            dG[:, p.cols] += blk
    if compact is not None:
        vec = pe.vec[compact.pairs[compact.angular_pair]]
        buf = buf[:-1].addcmul_(own[:-1, :, None], vec[:, None, :])
        compact.angular[:, compact.column_pos[p.cols]] += buf
