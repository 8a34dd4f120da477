"""Bond-angle distributions: the directional order that g(r) alone hides (liquid Si, covalent liquids).

Bonds join atoms closer than a cutoff (by default the first minimum of g(r),
:func:`first_minimum`); the angle theta_jik between bonds i-j and i-k is
histogrammed over all atoms i and bond pairs (OVITO's ``CreateBondsModifier``
and ``BondAngleDistributionModifier``), averaged over frames and files and
normalised to a probability density (per degree). :func:`angle_peak` locates
the highest peak (refined as in :func:`toolkit.lammps.rdf.first_peak`).

Reference values: tetrahedral 109.47 degrees (diamond); the fcc first shell
gives 60, 90, 120 and 180 degrees in the ratio 24 : 12 : 24 : 6.
Units: theta in degrees, cutoff in length units.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from ..errors import ToolkitError
from ..structures import Structure
from .partials import n_frames, ovito_sources
from .rdf import first_peak


def bond_angle_distribution(sources: Sequence[str | os.PathLike | Structure], cutoff: float, bins: int = 180,
                            every: int = 1, type_names: Mapping[int, str] | None = None
                            ) -> tuple[np.ndarray, np.ndarray, int]:
    """``(theta, p, n_frames)``: bin centres (degrees, 0-180) and the angle density (integrates to 1)."""
    from ovito.modifiers import BondAngleDistributionModifier, CreateBondsModifier

    total, theta, frames = None, None, 0
    for pipeline in ovito_sources(sources, type_names):
        pipeline.modifiers.append(CreateBondsModifier(cutoff=float(cutoff)))
        pipeline.modifiers.append(BondAngleDistributionModifier(bins=int(bins)))
        for frame in range(0, n_frames(pipeline), max(1, int(every))):
            xy = np.asarray(pipeline.compute(frame).tables["bond-angle-distr"].xy())
            if total is None:
                theta, total = xy[:, 0].copy(), np.zeros(len(xy))
            total += xy[:, 1]
            frames += 1
    if frames == 0:
        raise ToolkitError("no frames for the bond-angle distribution")
    if total.sum() <= 0:
        raise ToolkitError(f"no bond angles: no atom has two neighbours closer than {cutoff:g}")
    return theta, total / (total.sum() * (theta[1] - theta[0])), frames


def angle_peak(theta: np.ndarray, p: np.ndarray, theta_min: float = 0.0, smooth: float = 3.0) -> tuple[float, float]:
    """``(angle, density)`` of the highest peak above ``theta_min`` degrees.

    Liquid distributions are broad and flat-topped: the density is first
    smoothed with a Gaussian of ``smooth`` degrees (0: none), so that the
    peak does not jump between noisy bins.
    """
    theta = np.asarray(theta, float)
    p = np.asarray(p, float)
    if smooth > 0:
        width = smooth / (theta[1] - theta[0])
        k = np.arange(-int(4 * width) - 1, int(4 * width) + 2)
        kernel = np.exp(-0.5 * (k / width) ** 2)
        p = np.convolve(p, kernel / kernel.sum(), mode="same")
    sel = theta >= theta_min
    return first_peak(theta[sel], p[sel])


def first_minimum(r: np.ndarray, g: np.ndarray) -> float:
    """Position of the first minimum of g(r) after its first peak: the usual bond cutoff (length units)."""
    r = np.asarray(r, float)
    g = np.asarray(g, float)
    i = int(np.argmax(g))
    # smooth over 5 bins so that noise does not end the search early
    gs = np.convolve(g, np.ones(5) / 5, mode="same")
    for k in range(i + 2, len(g) - 2):
        if gs[k] <= gs[k - 1] and gs[k] < gs[k + 1] and g[k] < g[i]:
            return float(r[k])
    raise ToolkitError("g(r) has no minimum after its first peak within the cutoff")
