"""Per-element analysis of alloys: partial RDFs, coordination numbers, per-element diffusion and Arrhenius fits.

* :func:`partial_rdfs`: g_ab(r) of every element pair with OVITO's
  ``CoordinationAnalysisModifier(partial=True)`` (the same modifier as the
  total g(r) of :mod:`toolkit.lammps.rdf`), averaged over frames and files.
  Faber-Ziman normalisation: g_ab -> 1 at large r for every pair, and
  sum_ab c_a c_b g_ab = g.
* :func:`coordination_number`: n_ab(r1, r2) = 4 pi rho_b int g_ab r^2 dr, the
  mean number of b neighbours of an a atom between r1 and r2.
* :func:`element_msd` / :func:`element_diffusion`: the MSD of each element
  (all time origins, :func:`toolkit.lammps.msd.msd_multi_origin`) after
  removing the centre-of-mass drift of the whole system (mass-weighted, as
  LAMMPS ``compute msd com yes``), and its Einstein fit
  (:func:`toolkit.lammps.msd.fit_diffusion`).
* :func:`element_arrhenius`: :func:`toolkit.lammps.arrhenius.fit_arrhenius`
  for each element.

Units: r in length units (Angstrom), D in length^2/time (Angstrom^2/ps),
rho in atoms/length^3, Ea in the energy unit of kB.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputFileError, ToolkitError
from ..structures import Structure, atomic_number
from .arrhenius import ArrheniusFit, fit_arrhenius
from .msd import DiffusionFit, fit_diffusion, msd_multi_origin
from .rdf import average_rdf, first_peak, n_frames, ovito_sources  # noqa: F401 (re-exported)

Pair = tuple[str, str]


def partial_rdfs(sources: Sequence[str | os.PathLike | Structure], cutoff: float, bins: int = 200, every: int = 1,
                 type_names: Mapping[int, str] | None = None) -> tuple[np.ndarray, dict[Pair, np.ndarray], int]:
    """``(r, {(a, b): g_ab}, n_frames)``: partial RDFs averaged over frames of every source.

    Pairs are ``(a, b)`` with a before b by atomic number (each unordered pair once).
    The cutoff is reduced below half the shortest periodic box height as in
    :func:`toolkit.lammps.rdf.compute_rdf`.
    """
    r, tables, frames = average_rdf(sources, cutoff, bins, every, partial=True, type_names=type_names,
                                    key=_canonical)
    return r, {p: tables[p] for p in sorted(tables, key=lambda p: [_order(e) for e in p])}, frames


def _order(element: str):
    try:
        return (atomic_number(element), element)
    except KeyError:  # numeric LAMMPS types without names
        return (10**6, element)


def _canonical(name: str) -> Pair:
    """``"Zr-Cu"`` -> ``("Cu", "Zr")``: elements by atomic number (OVITO's order follows the data)."""
    a, b = name.split("-", 1)
    return tuple(sorted((a, b), key=_order))  # type: ignore[return-value]


def partial_first_peaks(r: np.ndarray, partials: Mapping[Pair, np.ndarray],
                        r_max: float | None = None) -> dict[Pair, tuple[float, float]]:
    """Highest peak (below ``r_max``) of every partial, ``(position, height)``: :func:`toolkit.lammps.rdf.first_peak`.

    In a liquid the highest peak is the first; in a crystal pass ``r_max``.
    """
    return {p: first_peak(r, g, r_max=r_max) for p, g in partials.items()}


def coordination_number(r: np.ndarray, g: np.ndarray, rho_b: float, r_min: float = 0.0, r_max: float = np.inf) -> float:
    """Mean number of b neighbours of an a atom with r_min <= r < r_max: 4 pi rho_b int g_ab r^2 dr (bin sums).

    ``r`` are bin centres of equal width; ``rho_b`` the number density of b (atoms/length^3).
    """
    r = np.asarray(r, float)
    dr = r[1] - r[0]
    sel = (r >= r_min) & (r < r_max)
    return float(4.0 * np.pi * rho_b * np.sum(np.asarray(g, float)[sel] * r[sel] ** 2) * dr)


def element_msd(positions: np.ndarray, elements: Sequence[str], masses: Mapping[str, float] | None = None,
                max_lag: int | None = None) -> dict[str, np.ndarray]:
    """MSD of each element (all time origins) with the whole system's centre-of-mass drift removed.

    ``positions``: unwrapped, ``(n_frames, n_atoms, 3)``; ``masses`` (per
    element) weight the centre of mass (default equal).
    """
    x = np.asarray(positions, float)
    elements = np.asarray(elements)
    if x.ndim != 3 or x.shape[1] != len(elements):
        raise ToolkitError(f"positions of shape {x.shape} for {len(elements)} atoms")
    w = np.array([masses[e] for e in elements], float) if masses else np.ones(len(elements))
    com = (x * w[None, :, None]).sum(axis=1, keepdims=True) / w.sum()
    x = x - com
    return {str(e): msd_multi_origin(x[:, elements == e], max_lag=max_lag, remove_com=False)
            for e in dict.fromkeys(elements.tolist())}


def element_diffusion(t: np.ndarray, positions: np.ndarray, elements: Sequence[str],
                      masses: Mapping[str, float] | None = None, fit_start: float = 0.2,
                      fit_end: float = 1.0) -> dict[str, DiffusionFit]:
    """Einstein fit of each element's MSD (lags up to half the trajectory); ``t`` of the frames (time units)."""
    msds = element_msd(positions, elements, masses)
    lags = np.asarray(t, float)[: len(next(iter(msds.values())))]
    return {e: fit_diffusion(lags, m, fit_start=fit_start, fit_end=fit_end) for e, m in msds.items()}


def element_arrhenius(temperatures: Sequence[float], D: Mapping[str, Sequence[float]], kB: float,
                      D_stderr: Mapping[str, Sequence[float]] | None = None) -> dict[str, ArrheniusFit]:
    """An Arrhenius fit D_e(T) = D0 exp(-Ea / (kB T)) for each element ``e`` of ``D``."""
    return {e: fit_arrhenius(temperatures, d, kB=kB, D_stderr=None if D_stderr is None else D_stderr[e])
            for e, d in D.items()}


def dump_types(path: str | os.PathLike) -> np.ndarray:
    """LAMMPS atom types (sorted by id) of the first frame of a dump."""
    from .dump import iter_dump

    for frame in iter_dump(path):
        if not frame.has("type"):
            raise InputFileError(path, None, "no 'type' column: cannot tell the elements apart")
        return frame.column("type").astype(int)
    raise InputFileError(path, None, "no frames")
