"""Radial distribution functions with OVITO (headless), averaged over frames and files.

``CoordinationAnalysisModifier`` computes g(r) of each frame in periodic
boundary conditions; :func:`compute_rdf` averages it over every frame of every
trajectory. :func:`first_peak` locates the first (highest) peak and refines it
with a quadratic fit. r in length units (Angstrom or sigma); g is dimensionless.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputFileError, ToolkitError


def compute_rdf(trajectories: Sequence[str | os.PathLike], cutoff: float, bins: int = 200,
                every: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """``(r, g, n_frames)``: g(r) averaged over the frames of LAMMPS dumps (or any OVITO-readable files).

    ``every``: use every n-th frame. The cutoff is reduced to just under half the
    shortest periodic box length if larger (g beyond it would count images twice).
    """
    os.environ.setdefault("OVITO_GUI_MODE", "0")
    from ovito.io import import_file
    from ovito.modifiers import CoordinationAnalysisModifier

    total, r, n_frames = None, None, 0
    for path in trajectories:
        path = Path(path)
        if not path.exists():
            raise InputFileError(path, None, "trajectory not found")
        try:
            pipeline = import_file(str(path))
        except Exception as exc:  # OVITO raises RuntimeError with its own text
            raise InputFileError(path, None, f"OVITO cannot read it: {exc}") from exc
        first = pipeline.source.compute(0)
        heights = _heights(np.asarray(first.cell[:3, :3]))
        rc = min(float(cutoff), 0.499 * float(heights.min()))
        if r is not None and abs(rc - r_cut) > 1e-9:
            rc = r_cut  # keep the bins of the first file
        modifier = CoordinationAnalysisModifier(cutoff=rc, number_of_bins=int(bins))
        pipeline.modifiers.append(modifier)
        for frame in range(0, pipeline.source.num_frames, max(1, int(every))):
            data = pipeline.compute(frame)
            xy = np.asarray(data.tables["coordination-rdf"].xy())
            if total is None:
                r, total, r_cut = xy[:, 0].copy(), np.zeros(len(xy)), rc
            total += xy[:, 1]
            n_frames += 1
    if n_frames == 0:
        raise ToolkitError("no trajectory frames for the RDF")
    return r, total / n_frames, n_frames


def _heights(cell: np.ndarray) -> np.ndarray:
    """Perpendicular heights of a cell whose *columns* are the cell vectors (OVITO convention)."""
    a, b, c = cell[:, 0], cell[:, 1], cell[:, 2]
    vol = abs(np.dot(a, np.cross(b, c)))
    return np.array([vol / np.linalg.norm(np.cross(b, c)), vol / np.linalg.norm(np.cross(c, a)),
                     vol / np.linalg.norm(np.cross(a, b))])


def first_peak(r: np.ndarray, g: np.ndarray, r_max: float | None = None) -> tuple[float, float]:
    """Position and height of the first peak of g(r).

    The highest bin (below ``r_max`` if given) is refined with a least-squares
    quadratic through the contiguous bins above 85 % of its height (at least
    the three-point parabola through the maximum and its neighbours).
    """
    r = np.asarray(r, float)
    g = np.asarray(g, float)
    sel = np.arange(len(r)) if r_max is None else np.flatnonzero(r <= r_max)
    if len(sel) < 3:
        raise ToolkitError("too few RDF bins to locate a peak")
    i = int(sel[np.argmax(g[sel])])
    gmax = g[i]
    if gmax <= 0:
        raise ToolkitError("g(r) is zero everywhere")
    lo = i
    while lo > 0 and g[lo - 1] >= 0.85 * gmax:
        lo -= 1
    hi = i
    while hi < len(g) - 1 and g[hi + 1] >= 0.85 * gmax:
        hi += 1
    if hi - lo + 1 < 5:
        lo, hi = max(i - 1, 0), min(i + 1, len(g) - 1)
    x, y = r[lo:hi + 1], g[lo:hi + 1]
    if len(x) < 3:
        return float(r[i]), float(gmax)
    a, b, c = np.polyfit(x - r[i], y, 2)
    if a >= 0:  # not a maximum (flat or one-bin spike): keep the bin
        return float(r[i]), float(gmax)
    dx = -b / (2 * a)
    dr = r[1] - r[0]
    dx = float(np.clip(dx, -dr, dr))
    return float(r[i] + dx), float(a * dx * dx + b * dx + c)
