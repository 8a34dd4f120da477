"""Element-resolved candidate grids for any element list, and the named candidate sets built on them.

:func:`element_resolved_grid` builds, for every central element, radial
functions (type 2) for each neighbour element and angular functions (type 9,
or 3) for each unordered neighbour pair (``e1 <= e2`` by atomic number, as
n2p2 stores them). With ``E`` elements, ``R`` radial and ``A`` angular
parameter sets, each element has ``E R + E (E + 1) / 2 A`` candidates: the
combinatorial growth the reference study names for multi-component systems.
The result is in n2p2's order (elements by atomic number, each element's
functions sorted as n2p2 sorts them, :func:`~toolkit.symfuncs.definitions.sort_n2p2`),
so the written ``symfunction_short`` lines are already in the order of
``scaling.data`` and of the network inputs.

Named sets (:data:`NAMED_SETS`, the ``symfuncs.candidates`` config choices):

* ``si-boron``: the reference study's boron recipe on one element (Si):
  12 radial + 48 angular, one cutoff reaching past the third neighbour shell.
* ``si-boron-short``: the same recipe cut after the liquid's second shell
  (5.0 A): ``hdnnp demo --system si`` (cheaper and, for SW, more accurate).
* ``cuzr``: element-resolved radial and angular functions for Cu-Zr.

Units: lengths (``rc``, ``rs``, ``r_min``) in Angstrom (the data's length
unit), ``eta`` in 1/length^2.
"""

from __future__ import annotations

import os
from itertools import combinations_with_replacement
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import ToolkitError
from ..fileio import atomic_write
from ..structures import sort_elements
from .definitions import SymFunc, group_by_element


def _readable(values: Iterable[float]) -> list[float]:
    """Six significant digits: short, exact-reading numbers in ``input.nn``."""
    return [float(f"{float(x):.6g}") for x in values]


def radial_parameters(rc: float, n_centered: int, n_shifted: int, r_min: float) -> tuple[list[float], float, list[float]]:
    """``(centred etas, shifted eta, shifts)``: the radial layout of the toolkit's candidate sets.

    Centred functions (rs = 0): Gaussian widths 1/sqrt(2 eta) geometric from
    ``rc`` down to ``rc / 8``. Shifted functions: centres evenly from ``r_min``
    to ``rc (n-1)/n``, one width of half the spacing (eta = 1/(4 (spacing/2)^2)).
    The same layout as :func:`~toolkit.symfuncs.definitions.standard_candidates`.
    """
    widths = rc * np.geomspace(1.0, 1.0 / 8.0, n_centered)
    etas = 1.0 / (2.0 * widths**2)
    shifts = np.linspace(r_min, rc * (n_shifted - 1) / n_shifted, n_shifted) if n_shifted else np.zeros(0)
    spacing = shifts[1] - shifts[0] if n_shifted > 1 else rc / 4
    eta_shift = 1.0 / (2.0 * (0.5 * spacing) ** 2) / 2.0
    return _readable(etas), _readable([eta_shift])[0], _readable(shifts)


def element_resolved_grid(elements: Sequence[str], rc: float, radial_etas: Sequence[float] = (),
                          shift_etas: Sequence[float] = (), shifts: Sequence[float] = (),
                          angular_etas: Sequence[float] = (), zetas: Sequence[float] = (),
                          lambdas: Sequence[float] = (1.0, -1.0), rc_angular: float | None = None,
                          angular_type: int = 9, cutoff_type: int = 1, cutoff_alpha: float = 0.0,
                          centrals: Sequence[str] | None = None) -> list[SymFunc]:
    """Every element's candidates: radial per neighbour element, angular per neighbour pair.

    Per central element (``centrals``, default all) and neighbour element:
    centred radial functions (rs = 0) for each of ``radial_etas`` and shifted
    ones for each of ``shift_etas`` x ``shifts``, cutoff ``rc``. Per
    unordered neighbour pair: angular functions of ``angular_type`` (9: wide,
    3: narrow) for each eta x zeta x lambda, cutoff ``rc_angular`` (default
    ``rc``). Returns the functions in n2p2's order (see the module docstring).
    """
    if not elements:
        raise ToolkitError("element_resolved_grid: no elements")
    if angular_type not in (3, 9):
        raise ToolkitError(f"element_resolved_grid: angular type {angular_type}; use 3 (narrow) or 9 (wide)")
    order = sort_elements(list(dict.fromkeys(elements)))
    rca = rc if rc_angular is None else rc_angular
    cut = dict(cutoff_type=int(cutoff_type), cutoff_alpha=float(cutoff_alpha))
    out: list[SymFunc] = []
    for c in (order if centrals is None else sort_elements(list(centrals))):
        for nb in order:
            out += [SymFunc(c, 2, (nb,), float(eta), 0.0, float(rc), **cut) for eta in radial_etas]
            out += [SymFunc(c, 2, (nb,), float(eta), float(rs), float(rc), **cut) for eta in shift_etas for rs in shifts]
        for pair in combinations_with_replacement(order, 2):
            out += [SymFunc(c, angular_type, pair, float(eta), 0.0, float(rca), float(lam), float(z), **cut)
                    for eta in angular_etas for z in zetas for lam in lambdas]
    by_el = group_by_element(out, order)  # sorts in n2p2 order, rejects duplicates
    return [sf for e in order for sf in by_el[e]]


def symfunction_lines(symfuncs: Sequence[SymFunc]) -> list[str]:
    """The ``symfunction_short`` lines of ``symfuncs`` (in the given order)."""
    return [sf.to_line() for sf in symfuncs]


def write_symfunction_lines(path: str | os.PathLike, symfuncs: Sequence[SymFunc], comment: str | None = None) -> Path:
    """Write the ``symfunction_short`` lines (with the ``cutoff_type`` they assume) to ``path``, atomically."""
    types = {(sf.cutoff_type, sf.cutoff_alpha) for sf in symfuncs}
    if len(types) > 1:
        raise ToolkitError(f"{path}: functions with different cutoff types {sorted(types)}; n2p2 has one cutoff_type")
    ctype, alpha = types.pop() if types else (1, 0.0)
    head = [f"# {comment}"] if comment else []
    head.append(f"cutoff_type {ctype}" + (f" {alpha!r}" if alpha else ""))
    with atomic_write(path) as fh:
        fh.write("\n".join(head + symfunction_lines(symfuncs)) + "\n")
    return Path(path)


# ---------------------------------------------------------------------------
# named sets
# ---------------------------------------------------------------------------

def si_boron_candidates(element: str = "Si", rc: float = 7.0, r_min: float = 2.1, cutoff_type: int = 1,
                        rc_angular: float | None = None) -> list[SymFunc]:
    """The reference study's boron recipe for a directional covalent liquid: 12 radial + 48 angular.

    Recipe (Sandberg et al., Mach. Learn.: Sci. Technol. 5, 025043 (2024), the
    boron case): 12 radial and 48 angular candidates with one cutoff reaching
    the third neighbour shell (5.3 Angstrom for boron, about three first-neighbour
    distances), 2 x 25 hidden units. The study gives the counts and the cutoff;
    the parameter values here are the toolkit's layout:

    * 6 centred + 6 shifted radial functions (:func:`radial_parameters`;
      shifts from ``r_min`` = 2.1 Angstrom, where the liquid's g(r) rises);
    * 48 wide angular functions (type 9): 4 radial widths (eta such that
      1/sqrt(2 eta) = rc/2, rc/3, rc/4, rc/6) x zeta in {1, 2, 4, 8, 16, 32}
      x lambda = +1, -1.

    ``rc`` = 7.0 Angstrom for Stillinger-Weber liquid Si: measured g(r) at
    1700 K and 2.45 g/cm^3 (10 configurations of ``hdnnp generate si-sw``) has
    its first peak at 2.48, the second at 3.85 and the third at 6.1-6.2
    Angstrom with the minimum after it near 6.8 Angstrom; 7.0 is 2.8 first-
    neighbour distances (boron: 5.3 / 1.75 = 3.0).

    ``rc_angular`` (default ``rc``): the angular functions' own cutoff; their
    widths scale with it (rc_angular/2 ... rc_angular/6).
    """
    rca = rc if rc_angular is None else rc_angular
    etas, shift_eta, shifts = radial_parameters(rc, 6, 6, r_min)
    return element_resolved_grid([element], rc, etas, [shift_eta], shifts, recipe_angular_etas(rca), RECIPE_ZETAS,
                                 rc_angular=rca, cutoff_type=cutoff_type)


RECIPE_ZETAS = (1, 2, 4, 8, 16, 32)


def recipe_angular_etas(rc: float) -> list[float]:
    """The boron recipe's 4 angular widths for cutoff ``rc``: 1/sqrt(2 eta) = rc/2, rc/3, rc/4, rc/6."""
    return _readable(1.0 / (2.0 * (rc / np.array([2.0, 3.0, 4.0, 6.0])) ** 2))


def si_boron_short_candidates(element: str = "Si", rc: float = 5.0, r_min: float = 2.1,
                              cutoff_type: int = 1) -> list[SymFunc]:
    """The ``si-boron`` recipe at the cutoff of the liquid's second shell (5.0 A): the set of ``hdnnp demo --system si``.

    The same layout (6 centred + 6 shifted radial, 48 angular: widths rc/2 ...
    rc/6, zeta 1-32, lambda +-1), every function cut at 5.0 Angstrom instead of
    7.0: past the second neighbour shell of the SW liquid (measured g(r) of the
    demo's data, 1,500-2,600 K at 2.45 g/cm^3: peaks at 2.5 and 3.9 Angstrom,
    second minimum at 4.6-4.7) and past the whole range of SW itself (a sigma =
    3.77 Angstrom). Within 5.0 Angstrom a Si atom of that liquid has 26
    neighbours and 340 neighbour pairs, within 7.0 75 and 2,800: features,
    derivatives and MD cost a fraction, and the same 12 radial functions
    resolve the first shell finer (shifts 0.41 instead of 0.75 Angstrom apart).
    Measured (docs/systems.md): the full 60-function network fits the forces
    better (validation RMSE 0.17 against 0.21 eV/A with radial 7.0 / angular
    5.0, 0.23 with ``si-boron``; same data, 150 epochs).
    """
    return si_boron_candidates(element, rc=rc, r_min=r_min, cutoff_type=cutoff_type)


def si_dense_candidates(element: str = "Si", rc: float = 5.0, rc_short: float = 3.8, r_min: float = 2.1,
                        cutoff_type: int = 1) -> list[SymFunc]:
    """The boron recipe refined for liquid Si: 24 radial + 2 x 48 angular functions (120), the demo's set.

    * 12 centred + 12 shifted radial functions at ``rc`` = 5.0 Angstrom
      (:func:`radial_parameters`; shifts every 0.2 Angstrom from ``r_min``):
      twice the recipe's radial resolution (SW's pair term is steep);
    * the recipe's 48 wide angular functions (type 9; widths rc/2 ... rc/6,
      zeta 1-32, lambda +-1) at ``rc``, and the same 48 at ``rc_short`` =
      3.8 Angstrom, the reach of SW's three-body term (a sigma = 3.77
      Angstrom): two angular cutoffs as the reference study's Al set, whose
      angular functions stop at 4.4 of the radial 6.8 Angstrom.

    Measured (docs/systems.md, ``benchmarks/si_candidate_sets.py``): full
    2 x 25 networks on the same 120 liquid boxes, 600 epochs, validation force
    RMSE 0.068 eV/A against 0.142 with ``si-boron-short``; 0.133 with its 12
    radial + 48 angular at 3.8 only, 0.096 with 24 radial + 48 angular at 3.8.
    """
    etas, shift_eta, shifts = radial_parameters(rc, 12, 12, r_min)
    long = element_resolved_grid([element], rc, etas, [shift_eta], shifts, recipe_angular_etas(rc), RECIPE_ZETAS,
                                 rc_angular=rc, cutoff_type=cutoff_type)
    short = element_resolved_grid([element], rc_short, (), (), (), recipe_angular_etas(rc_short), RECIPE_ZETAS,
                                  rc_angular=rc_short, cutoff_type=cutoff_type)
    return group_by_element(long + short, [element])[element]


def cuzr_candidates(elements: Sequence[str] = ("Cu", "Zr"), rc: float = 7.5, rc_angular: float = 4.5,
                    r_min: float = 2.1, cutoff_type: int = 1) -> list[SymFunc]:
    """Element-resolved candidates for a binary metallic liquid (Cu-Zr): 108 per element, 216 in all.

    Per central element: for each neighbour element 6 centred + 24 shifted
    radial functions (rc 7.5 Angstrom, the reach of Mendelev's EAM, 7.6
    Angstrom; shifts every 0.22 Angstrom from 2.1 Angstrom, below the shortest
    Cu-Cu distance, to 7.19 Angstrom), and for each neighbour pair (Cu-Cu,
    Cu-Zr, Zr-Zr) 16 wide angular functions (type 9, rc 4.5 Angstrom: the first
    shell of every pair; measured partial g(r) of ``hdnnp generate cuzr-eam`` at
    1100 and 2000 K: first peaks Cu-Cu 2.4-2.6, Cu-Zr 2.8-2.9, Zr-Zr 3.2
    Angstrom, first minima 3.3-3.4, 3.7-3.8, 3.9 Angstrom): 2 widths
    (1/sqrt(2 eta) = rc/2, rc/4) x zeta in {1, 2, 4, 16} x lambda = +1, -1.
    Per element 2 x 30 radial + 3 x 16 angular = 108.

    The radial reach and resolution decide the fit (EAM sums pair terms and
    embedding functions of radial densities out to 7.6 Angstrom). Measured on
    300 Cu64Zr36 liquid boxes (1000-2100 K), 2 x 15 networks on radial functions
    alone, 120 epochs: validation / test force RMSE 0.083 / 0.082 eV/A with
    6 + 12 per neighbour element at rc 6.5, 0.066 / 0.073 with 6 + 12 at rc 7.5,
    0.038 / 0.047 with 6 + 16 and 0.025 / 0.038 with 6 + 24 at rc 7.5; the
    earlier 4 + 4 radial layout at rc 6.5 with these angular functions (128 in
    all): 0.119 / 0.122.
    """
    etas, shift_eta, shifts = radial_parameters(rc, 6, 24, r_min)
    ang_etas = _readable(1.0 / (2.0 * (rc_angular / np.array([2.0, 4.0])) ** 2))
    return element_resolved_grid(elements, rc, etas, [shift_eta], shifts, ang_etas, (1, 2, 4, 16),
                                 rc_angular=rc_angular, cutoff_type=cutoff_type)


#: Named candidate sets: name -> (builder(elements) -> functions, elements it is meant for).
NAMED_SETS: dict[str, tuple[Callable[..., list[SymFunc]], tuple[str, ...]]] = {
    "si-boron": (lambda elements: si_boron_candidates(elements[0]), ("Si",)),
    "si-boron-short": (lambda elements: si_boron_short_candidates(elements[0]), ("Si",)),
    "si-dense": (lambda elements: si_dense_candidates(elements[0]), ("Si",)),
    "cuzr": (lambda elements: cuzr_candidates(tuple(elements)), ("Cu", "Zr")),
}


def named_candidates(name: str, elements: Sequence[str] | None = None) -> list[SymFunc]:
    """A named candidate set (``si-boron``, ``si-boron-short``, ``si-dense``, ``cuzr``) for ``elements`` (default: the set's own)."""
    if name not in NAMED_SETS:
        raise ToolkitError(f"unknown candidate set {name!r}; known: {', '.join(NAMED_SETS)}")
    build, default = NAMED_SETS[name]
    elements = list(elements) if elements else list(default)
    if name.startswith("si-") and len(elements) != 1:
        raise ToolkitError(f"candidate set {name} is for one element, the data have {', '.join(elements)}")
    return build(elements)
