"""Symmetry-function building blocks against the full computation (which test_n2p2_reference checks against n2p2)."""

from __future__ import annotations

import numpy as np
import pytest

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
