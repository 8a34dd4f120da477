"""Symmetry-function definitions in n2p2's vocabulary.

A :class:`SymFunc` is one ``symfunction_short`` line of n2p2's ``input.nn``:

==== ======================================================== ==========================================
type line (after ``symfunction_short``)                        value
==== ======================================================== ==========================================
2    ``ec 2 e1 eta rs rc``                                    sum_j exp(-eta (r_ij - rs)^2) fc(r_ij)
3    ``ec 3 e1 e2 eta lambda zeta rc [rs]``                   2^(1-zeta) sum_{j<k} (1 + lambda cos)^zeta
                                                              exp(-eta [(r_ij-rs)^2 + (r_ik-rs)^2 + (r_jk-rs)^2])
                                                              fc(r_ij) fc(r_ik) fc(r_jk)   (narrow, G4)
9    ``ec 9 e1 e2 eta lambda zeta rc [rs]``                   as type 3 without the r_jk terms (wide, G5)
12   ``ec 12 eta rs rc``                                      type 2 weighted by the neighbour's atomic number
13   ``ec 13 eta rs lambda zeta rc``                          type 3 weighted by Z_j Z_k, all neighbours
==== ======================================================== ==========================================

Units: ``eta`` in 1/length^2, ``rs`` and ``rc`` in length (n2p2 reads them in
the physical units of the data). The cutoff function (``cutoff_type`` and its
``alpha``) is global in n2p2 and is stored with each function here so that a
definition is complete on its own.

n2p2 sorts each element's functions before use (``SymFnc*::operator<``); the
sorted order is the order of ``scaling.data`` and of the network inputs.
:func:`n2p2_sort_key` reproduces it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputFileError
from ..structures import atomic_number

RADIAL_TYPES = (2, 12)
ANGULAR_TYPES = (3, 9, 13)
SUPPORTED_TYPES = RADIAL_TYPES + ANGULAR_TYPES
WEIGHTED_TYPES = (12, 13)

#: n2p2's ``cutoff_type`` numbers (CutoffFunction::CutoffType).
CUTOFF_TYPES = {0: "hard", 1: "cos", 2: "tanhu", 3: "tanh", 4: "exp", 5: "poly1", 6: "poly2", 7: "poly3", 8: "poly4"}


def _num(x: float) -> str:
    """Shortest text that reads back as the same double (``0.0013``, ``-1``, ``6.8``)."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


@dataclass(frozen=True)
class SymFunc:
    """One n2p2 symmetry function (``symfunction_short`` line).

    ``neighbors`` holds ``(e1,)`` for type 2, ``(e1, e2)`` for types 3 and 9 in
    the order written, and ``()`` for the weighted types 12 and 13.
    ``lambda_`` and ``zeta`` are 0 for radial functions.
    """

    element: str
    type: int
    neighbors: tuple[str, ...]
    eta: float
    rs: float
    rc: float
    lambda_: float = 0.0
    zeta: float = 0.0
    cutoff_type: int = 1
    cutoff_alpha: float = 0.0

    # -- classification --------------------------------------------------
    @property
    def is_radial(self) -> bool:
        return self.type in RADIAL_TYPES

    @property
    def is_angular(self) -> bool:
        return self.type in ANGULAR_TYPES

    @property
    def e1(self) -> str | None:
        return self.neighbors[0] if self.neighbors else None

    @property
    def e2(self) -> str | None:
        return self.neighbors[1] if len(self.neighbors) > 1 else None

    def canonical_neighbors(self) -> tuple[str, ...]:
        """Neighbour elements ordered by atomic number, as n2p2 stores them (e1 <= e2)."""
        return tuple(sorted(self.neighbors, key=atomic_number))

    # -- text ------------------------------------------------------------
    def to_line(self) -> str:
        """The ``symfunction_short ...`` line that defines this function in ``input.nn``."""
        t = self.type
        if t == 2:
            body = [self.neighbors[0], _num(self.eta), _num(self.rs), _num(self.rc)]
        elif t in (3, 9):
            body = [self.neighbors[0], self.neighbors[1], _num(self.eta), _num(self.lambda_), _num(self.zeta), _num(self.rc)]
            if self.rs != 0.0:
                body.append(_num(self.rs))
        elif t == 12:
            body = [_num(self.eta), _num(self.rs), _num(self.rc)]
        elif t == 13:
            body = [_num(self.eta), _num(self.rs), _num(self.lambda_), _num(self.zeta), _num(self.rc)]
        else:  # pragma: no cover - constructor paths reject these
            raise ValueError(f"unsupported symmetry function type {t}")
        return " ".join(["symfunction_short", self.element, str(t), *body])

    def label(self) -> str:
        """A short human-readable name, e.g. ``G2(Al; eta=0.04, rs=0, rc=6.8)``."""
        nb = "-".join(self.neighbors)
        if self.is_radial:
            return f"G{self.type}({self.element}:{nb} eta={_num(self.eta)} rs={_num(self.rs)} rc={_num(self.rc)})"
        return (f"G{self.type}({self.element}:{nb} eta={_num(self.eta)} lambda={_num(self.lambda_)} "
                f"zeta={_num(self.zeta)} rc={_num(self.rc)})")

    def with_cutoff(self, cutoff_type: int, cutoff_alpha: float = 0.0) -> "SymFunc":
        return replace(self, cutoff_type=int(cutoff_type), cutoff_alpha=float(cutoff_alpha))


def parse_symfunction(line: str, cutoff_type: int = 1, cutoff_alpha: float = 0.0,
                      path=None, lineno: int | None = None) -> SymFunc:
    """Parse the arguments of a ``symfunction_short`` line (keyword optional).

    Raises :class:`InputFileError` (naming ``path``/``lineno`` if given) for
    unknown types, wrong argument counts, unknown elements or bad numbers.
    """
    text = line.split("#", 1)[0].split()
    if text and text[0] == "symfunction_short":
        text = text[1:]

    def fail(msg):
        raise InputFileError(path or "<symfunction_short>", lineno, msg)

    if len(text) < 2:
        fail("symfunction_short needs at least an element and a type")
    element = text[0]
    try:
        t = int(text[1])
    except ValueError:
        fail(f"symmetry function type {text[1]!r} is not an integer")
    if t not in SUPPORTED_TYPES:
        fail(f"symmetry function type {t} is not supported (supported: {', '.join(map(str, SUPPORTED_TYPES))})")
    args = text[2:]

    def nums(tokens, names):
        out = []
        for tok, name in zip(tokens, names):
            try:
                v = float(tok)
            except ValueError:
                fail(f"cannot read {name} from {tok!r}")
            if not math.isfinite(v):
                fail(f"{name} is {tok!r}")
            out.append(v)
        return out

    for el in [element] + (args[:1] if t == 2 else args[:2] if t in (3, 9) else []):
        try:
            atomic_number(el)
        except KeyError:
            fail(f"unknown element {el!r}")

    if t == 2:
        if len(args) != 4:
            fail(f"type 2 needs 'e1 eta rs rc' (4 values), found {len(args)}")
        eta, rs, rc = nums(args[1:], ("eta", "rs", "rc"))
        sf = SymFunc(element, 2, (args[0],), eta, rs, rc)
    elif t in (3, 9):
        if len(args) not in (6, 7):
            fail(f"type {t} needs 'e1 e2 eta lambda zeta rc [rs]' (6 or 7 values), found {len(args)}")
        eta, lam, zeta, rc = nums(args[2:6], ("eta", "lambda", "zeta", "rc"))
        rs = nums(args[6:7], ("rs",))[0] if len(args) == 7 else 0.0
        sf = SymFunc(element, t, (args[0], args[1]), eta, rs, rc, lam, zeta)
    elif t == 12:
        if len(args) != 3:
            fail(f"type 12 needs 'eta rs rc' (3 values), found {len(args)}")
        eta, rs, rc = nums(args, ("eta", "rs", "rc"))
        sf = SymFunc(element, 12, (), eta, rs, rc)
    else:  # 13
        if len(args) != 5:
            fail(f"type 13 needs 'eta rs lambda zeta rc' (5 values), found {len(args)}")
        eta, rs, lam, zeta, rc = nums(args, ("eta", "rs", "lambda", "zeta", "rc"))
        sf = SymFunc(element, 13, (), eta, rs, rc, lam, zeta)
    if sf.rc <= 0:
        fail(f"cutoff radius must be positive, got {sf.rc}")
    if sf.eta < 0:
        fail(f"eta must be >= 0, got {sf.eta}")
    if sf.is_angular and sf.lambda_ not in (-1.0, 1.0):
        fail(f"lambda must be +1 or -1, got {sf.lambda_}")
    if sf.is_angular and sf.zeta < 1.0:
        fail(f"zeta must be >= 1, got {sf.zeta}")
    return sf.with_cutoff(cutoff_type, cutoff_alpha)


def n2p2_sort_key(sf: SymFunc, element_order: Sequence[str] | None = None) -> tuple:
    """Key that orders one element's functions as n2p2 does (``SymFnc*::operator<``).

    Order: type, cutoff type, cutoff alpha, rc, eta, rs, zeta, lambda, then the
    neighbour elements' indices (n2p2's element index = rank by atomic number).
    """
    if element_order is None:
        idx = atomic_number
    else:
        pos = {e: i for i, e in enumerate(element_order)}
        idx = pos.__getitem__
    nb = tuple(sorted(idx(e) for e in sf.neighbors))
    if sf.type in (2,):
        return (sf.type, sf.cutoff_type, sf.cutoff_alpha, sf.rc, sf.eta, sf.rs, nb)
    if sf.type == 12:
        return (sf.type, sf.cutoff_type, sf.cutoff_alpha, sf.rc, sf.eta, sf.rs)
    return (sf.type, sf.cutoff_type, sf.cutoff_alpha, sf.rc, sf.eta, sf.rs, sf.zeta, sf.lambda_, nb)


def sort_n2p2(symfuncs: Iterable[SymFunc], element_order: Sequence[str] | None = None) -> list[SymFunc]:
    """One element's functions in n2p2's internal (sorted) order; duplicates are an error."""
    out = sorted(symfuncs, key=lambda s: n2p2_sort_key(s, element_order))
    for a, b in zip(out, out[1:]):
        if n2p2_sort_key(a, element_order) == n2p2_sort_key(b, element_order) and a.element == b.element:
            raise ValueError(f"duplicate symmetry function: {a.to_line()}")
    return out


def group_by_element(symfuncs: Iterable[SymFunc], elements: Sequence[str]) -> dict[str, list[SymFunc]]:
    """Split functions by central element and sort each list in n2p2 order."""
    by_el: dict[str, list[SymFunc]] = {e: [] for e in elements}
    for sf in symfuncs:
        if sf.element not in by_el:
            raise ValueError(f"symmetry function for element {sf.element!r}, which is not in the element list {list(elements)}")
        for nb in sf.neighbors:
            if nb not in by_el:
                raise ValueError(f"symmetry function {sf.to_line()!r} has neighbour element {nb!r} not in {list(elements)}")
        by_el[sf.element].append(sf)
    return {e: sort_n2p2(v, elements) for e, v in by_el.items()}


# ---------------------------------------------------------------------------
# candidate grids
# ---------------------------------------------------------------------------

def radial_centered(element: str, neighbor: str, etas: Iterable[float], rc: float, **cutoff) -> list[SymFunc]:
    """Centred radial functions (type 2, rs = 0), one per eta (1/length^2)."""
    return [SymFunc(element, 2, (neighbor,), float(e), 0.0, float(rc), **cutoff) for e in etas]


def radial_shifted(element: str, neighbor: str, eta: float, shifts: Iterable[float], rc: float, **cutoff) -> list[SymFunc]:
    """Shifted radial functions (type 2) of one width ``eta``, one per shift ``rs`` (length)."""
    return [SymFunc(element, 2, (neighbor,), float(eta), float(r), float(rc), **cutoff) for r in shifts]


def angular_grid(element: str, neighbors: tuple[str, str], etas: Iterable[float], zetas: Iterable[float],
                 rc: float, lambdas: Iterable[float] = (1.0, -1.0), sf_type: int = 9, **cutoff) -> list[SymFunc]:
    """Angular functions (type 3 or 9), the product grid eta x zeta x lambda."""
    return [SymFunc(element, sf_type, tuple(neighbors), float(e), 0.0, float(rc), float(l), float(z), **cutoff)
            for e in etas for z in zetas for l in lambdas]


def al_candidates_329(element: str = "Al", cutoff_type: int = 1) -> list[SymFunc]:
    """The 329 candidate functions of the original variable-selection study (liquid Al).

    201 centred radial (eta = linspace(0, 2, 201), first value 0.0013; rc 6.8 A),
    68 shifted radial (eta 1.85, rs = linspace(0.05, 6.8, 68); rc 6.8 A),
    60 wide angular (type 9; rc 4.4 A, eta = linspace(0, 2, 6) with first value
    0.0013, zeta in {1, 2, 4, 16, 64}, lambda = +1 and -1).
    """
    cut = dict(cutoff_type=cutoff_type)
    etas = np.linspace(0.0, 2.0, 201)
    etas[0] = 0.0013
    shifts = np.linspace(0.05, 6.8, 68)
    ang_etas = np.linspace(0.0, 2.0, 6)
    ang_etas[0] = 0.0013
    return (radial_centered(element, element, etas, 6.8, **cut)
            + radial_shifted(element, element, 1.85, shifts, 6.8, **cut)
            + angular_grid(element, (element, element), ang_etas, (1, 2, 4, 16, 64), 4.4, **cut))


def standard_candidates(element: str, neighbor: str | None = None, rc: float = 2.8, rc_angular: float | None = None,
                        n_centered: int = 6, n_shifted: int = 6, zetas=(1, 2, 4, 16, 64),
                        angular_eta: float | None = None, cutoff_type: int = 1, r_min: float | None = None) -> list[SymFunc]:
    """A compact candidate set in the style of the reference study (12 radial + 10 angular by default).

    * ``n_centered`` centred radial functions (rs = 0) whose Gaussian widths
      1/sqrt(2 eta) go geometrically from ``rc`` down to about ``rc / 8``;
    * ``n_shifted`` shifted radial functions of one constant width whose
      centres rs cover the cutoff sphere evenly from ``r_min`` (default
      ``0.25 rc``) to ``rc * (n-1)/n``;
    * ``len(zetas) x 2`` wide angular functions (type 9) with one wide radial
      part (``angular_eta``, default 1/(2 (rc/2)^2)), lambda = +1 and -1.

    Units: ``rc`` in the length unit of the data; eta in 1/length^2.
    """
    from .grids import radial_parameters  # the radial layout shared with the element-resolved sets

    nb = neighbor or element
    rca = rc if rc_angular is None else rc_angular
    cut = dict(cutoff_type=cutoff_type)
    etas, eta_shift, shifts = radial_parameters(rc, n_centered, n_shifted, 0.25 * rc if r_min is None else r_min)
    ang_eta = 1.0 / (2.0 * (0.5 * rca) ** 2) if angular_eta is None else angular_eta
    return (radial_centered(element, nb, etas, rc, **cut)
            + radial_shifted(element, nb, eta_shift, shifts, rc, **cut)
            + angular_grid(element, (nb, nb), [float(f"{ang_eta:.6g}")], zetas, rca, **cut))


def max_cutoff(symfuncs: Iterable[SymFunc]) -> float:
    """Largest cutoff radius of a set of functions (length units)."""
    return max((sf.rc for sf in symfuncs), default=0.0)
