"""Symmetry functions exactly as n2p2 defines them: definitions, cutoffs, neighbour lists, values, derivatives."""

from .compute import (BatchFeatures, ElementFeatures, SymmetryFunctionSet, forces_from_pairs, pair_forces,
                      pair_gradients, radial_terms)
from .cutoff import cutoff_fdf
from .definitions import (
    SymFunc,
    al_candidates_329,
    angular_grid,
    group_by_element,
    max_cutoff,
    n2p2_sort_key,
    parse_symfunction,
    radial_centered,
    radial_shifted,
    sort_n2p2,
    standard_candidates,
)
from .neighbors import PairList, build_pairs
from .scaling import SCALING_MODES, scaling_affine

__all__ = [
    "BatchFeatures", "ElementFeatures", "SymmetryFunctionSet", "forces_from_pairs", "pair_forces", "pair_gradients",
    "radial_terms", "SCALING_MODES", "scaling_affine", "cutoff_fdf", "SymFunc",
    "al_candidates_329", "angular_grid", "group_by_element", "max_cutoff", "n2p2_sort_key", "parse_symfunction",
    "radial_centered", "radial_shifted", "sort_n2p2", "standard_candidates", "PairList", "build_pairs",
]
