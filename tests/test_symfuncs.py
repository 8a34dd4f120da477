"""Symmetry-function building blocks against the full computation (which test_n2p2_reference checks against n2p2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.structures import Structure
from toolkit.symfuncs import SymmetryFunctionSet, radial_terms, standard_candidates


def test_radial_terms_are_the_dimer_values():
    """For an isolated dimer each atom has one neighbour: G_i of a radial function is its pair term at r."""
    sfs = [sf for sf in standard_candidates("Ar", rc=2.8, n_centered=4, n_shifted=5, zetas=(1,)) if sf.is_radial]
    sfset = SymmetryFunctionSet(sfs, ["Ar"])
    r = np.array([0.7, 1.05, 1.6, 2.3, 2.79, 3.1])
    dimers = [Structure(positions=np.array([[0.0, 0.0, 0.0], [d, 0.0, 0.0]]), elements=["Ar", "Ar"]) for d in r]
    G = sfset.compute(dimers).per_element["Ar"].values.numpy()[::2]      # first atom of each dimer
    terms = radial_terms(sfset.by_element["Ar"], r)
    np.testing.assert_allclose(terms.T, G, rtol=1e-14, atol=1e-300)
    assert np.all(terms[:, -1] == 0.0) and terms[:, :-1].max() > 0.5   # beyond the cutoff: zero


def _cluster():
    rng = np.random.default_rng(4)
    pos = rng.uniform(0.0, 3.0, (7, 3))
    return Structure(positions=pos, elements=["H", "O", "H", "H", "O", "H", "O"])


def _mixed_set():
    from toolkit.symfuncs import parse_symfunction

    lines = ["H 2 O 0.5 0.0 4.0", "H 12 0.3 0.5 4.0", "O 3 H H 0.1 1 1 4.0", "O 3 H O 0.2 -1 2 4.5",
             "O 9 H O 0.3 1 4 4.0 0.5", "O 9 O O 0.1 -1 1.5 4.0", "H 13 0.2 0.5 1 2 4.0", "H 13 0.1 0.0 -1 2.5 4.0",
             "H 9 H O 0.05 1 1 3.5"]
    return SymmetryFunctionSet([parse_symfunction(l, 6, 0.3) for l in lines], ["H", "O"])


def test_derivatives_of_every_type_match_finite_differences():
    """dG/dr from the stored pair derivatives equals central differences of the values (types 2, 3, 9, 12, 13)."""
    sfset, s = _mixed_set(), _cluster()
    f = sfset.compute(s, derivatives=True)
    h = 1e-5
    for e, feat in f.per_element.items():
        for atom in (0, 1):
            for k in range(3):
                plus, minus = s.copy(), s.copy()
                plus.positions[atom, k] += h
                minus.positions[atom, k] -= h
                fd = (sfset.compute(plus).per_element[e].values - sfset.compute(minus).per_element[e].values) / (2 * h)
                # analytic: dG_i/dr_j = sum over pairs p of i with neighbour j of D[p]; dG_i/dr_i = -sum_p D[p]
                an = torch.zeros_like(fd)
                an.index_add_(0, feat.pair_row, feat.dG[:, :, k] * (feat.pair_neighbor == atom)[:, None])
                own = (feat.atoms == atom).nonzero().flatten()
                if len(own):
                    an[own] -= feat.dG[feat.pair_row == own[0], :, k].sum(0)
                np.testing.assert_allclose(an.numpy(), fd.numpy(), atol=2e-8, rtol=1e-6)


def test_contracted_derivatives_equal_the_stored_ones():
    """contract(dE/dG) = sum_f dE/dG_f dG_f/dd_p without forming dG (the model's force path)."""
    from toolkit.symfuncs import pair_gradients

    sfset, s = _mixed_set(), _cluster()
    f = sfset.compute(s, derivatives=True)
    rng = np.random.default_rng(1)
    w = {e: torch.as_tensor(rng.normal(size=tuple(x.values.shape))) for e, x in f.per_element.items()}
    contracted = sfset.contract(sfset.compute(s), w)
    for e, feat in f.per_element.items():
        np.testing.assert_allclose(contracted[e].numpy(), pair_gradients(w[e], feat.pair_row, feat.dG).numpy(),
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("force_atoms", [(1, 4), (0, 2, 3, 5, 6), tuple(range(7))])
def test_compact_derivatives_equal_the_dense_rows(force_atoms):
    """The stored layout for force atoms (per-pair sums for the wide type, triplets for the others) holds the
    dense derivatives: pairs whose neighbour is a force atom, and the force atoms' own sums (-dG_k/dr_k)."""
    sfset, s = _mixed_set(), _cluster()
    mask = torch.zeros(len(s), dtype=torch.bool)
    mask[list(force_atoms)] = True
    dense = sfset.compute(s, derivatives=True)
    comp = sfset.compute(s, derivatives="compact", force_mask=mask)
    n_angular = 0
    for e, feat in dense.per_element.items():
        c = comp.per_element[e].compact
        assert torch.all(mask[feat.pair_neighbor[c.pairs]])
        assert int(mask[feat.pair_neighbor].sum()) == len(c.pairs)
        ref = feat.dG[c.pairs]
        radial = c.radial[:, :, None] * feat.pair_vec[c.pairs][:, None, :]
        np.testing.assert_allclose(radial.numpy(), ref[:, c.radial_columns].numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(c.angular.numpy(), ref[c.angular_pair][:, c.angular_columns].numpy(),
                                   rtol=1e-12, atol=1e-15)
        n_angular += int((c.angular != 0).sum())
        centre = feat.atoms[feat.pair_row]
        own = torch.stack([feat.dG[centre == k].sum(0) for k in feat.atoms[c.self_rows]]
                          or [feat.dG[:0].sum(0)])[:len(c.self_rows)]
        np.testing.assert_allclose(c.self_block.numpy(), own.numpy(), rtol=1e-12, atol=1e-14)
    assert n_angular > 0


def test_angular_powers_follow_n2p2():
    """(1 + lambda cos)^zeta with repeated squaring for integer zeta, pow() otherwise, 0 where 1 + lambda cos <= 0."""
    from toolkit.symfuncs.angular import _angular_powers

    cos = torch.tensor([-1.0, -0.3, 0.0, 0.45, 1.0], dtype=torch.float64)
    lam = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    zeta = torch.tensor([1.0, 4.0, 2.5], dtype=torch.float64)
    pzm1, pz = _angular_powers(cos, lam, zeta)
    base = 1.0 + lam * cos[:, None]
    ref = torch.where(base > 0, base.clamp(min=0) ** zeta, torch.zeros_like(base))
    np.testing.assert_allclose(pz.numpy(), ref.numpy(), rtol=1e-15, atol=0)
    assert pz[0, 0] == 0.0 and pz[4, 1] == 0.0 and pzm1[0, 0] == 0.0      # 1 + lambda cos = 0
    assert pz[3, 1].item() == pytest.approx(0.55 ** 4, rel=1e-15)
