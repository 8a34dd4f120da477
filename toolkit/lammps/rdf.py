"""Radial distribution functions with OVITO (headless), averaged over frames and files.

``CoordinationAnalysisModifier`` computes g(r) of each frame in periodic
boundary conditions; :func:`average_rdf` averages it (total or partial) over
every frame of every trajectory file or :class:`~toolkit.structures.Structure`,
:func:`compute_rdf` is the total g(r). The toolkit's only g(r): the selection
plots and the per-element analysis use it too. :func:`first_peak` locates the first (highest) peak and refines it
with a quadratic fit. r in length units (Angstrom or sigma); g is dimensionless.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputFileError, ToolkitError
from ..structures import Structure


def ovito_sources(sources: Sequence[str | os.PathLike | Structure], type_names: Mapping[int, str] | None = None):
    """OVITO pipelines for trajectory files (LAMMPS dumps, ...) or :class:`Structure` objects.

    ``type_names`` names numeric LAMMPS types (``{1: "Cu", 2: "Zr"}``) so that
    partial tables are labelled by element.
    """
    os.environ.setdefault("OVITO_GUI_MODE", "0")
    from ovito.io import import_file
    from ovito.io.ase import ase_to_ovito
    from ovito.pipeline import Pipeline, StaticSource

    def rename(frame, data):
        if type_names:
            types = data.particles_.particle_types_
            for t in types.types_:
                if t.id in type_names:
                    t.name = type_names[t.id]

    out = []
    for src in sources:
        if isinstance(src, Structure):
            pipeline = Pipeline(source=StaticSource(data=ase_to_ovito(src.to_ase())))
        else:
            path = Path(src)
            if not path.exists():
                raise InputFileError(path, None, "trajectory not found")
            try:
                pipeline = import_file(str(path))
            except Exception as exc:  # OVITO raises RuntimeError with its own text
                raise InputFileError(path, None, f"OVITO cannot read it: {exc}") from exc
        pipeline.modifiers.append(rename)
        out.append(pipeline)
    return out


def n_frames(pipeline) -> int:
    return int(getattr(pipeline.source, "num_frames", 1) or 1)


def average_rdf(sources: Sequence[str | os.PathLike | Structure], cutoff: float, bins: int = 200, every: int = 1,
                partial: bool = False, type_names: Mapping[int, str] | None = None, key=None):
    """``(r, {column: g}, n_frames)``: OVITO's g(r) (total, or every element pair) averaged over frames and sources.

    ``CoordinationAnalysisModifier`` bins pair distances up to the cutoff, which is
    reduced to just under half the shortest periodic box height of the first
    source if larger (g beyond it would count images twice); every source uses
    the first one's bins. ``key`` maps OVITO's column names (``"Cu-Zr"``) to the
    returned keys; the total g(r) is keyed ``"g"``.
    """
    from ovito.modifiers import CoordinationAnalysisModifier

    total: dict = {}
    r, r_cut, frames = None, None, 0
    for pipeline in ovito_sources(sources, type_names):
        first = pipeline.compute(0)
        rc = min(float(cutoff), 0.499 * float(_heights(np.asarray(first.cell[:3, :3])).min()))
        rc = r_cut if r_cut is not None else rc  # the first source sets the bins
        pipeline.modifiers.append(CoordinationAnalysisModifier(cutoff=rc, number_of_bins=int(bins), partial=partial))
        for frame in range(0, n_frames(pipeline), max(1, int(every))):
            table = pipeline.compute(frame).tables["coordination-rdf"]
            xy = np.asarray(table.xy())
            if r is None:
                r, r_cut = xy[:, 0].copy(), rc
            names = list(table.y.component_names) if partial else ["g"]
            for k, name in enumerate(names):
                col = key(name) if key is not None else name
                if frames and col not in total:
                    raise ToolkitError(f"RDF: column {name} missing from the first frame")
                total[col] = total.get(col, 0.0) + xy[:, 1 + k]
            frames += 1
    if frames == 0:
        raise ToolkitError("no trajectory frames for the RDF")
    return r, {c: v / frames for c, v in total.items()}, frames


def compute_rdf(sources: Sequence[str | os.PathLike | Structure], cutoff: float, bins: int = 200,
                every: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """``(r, g, n_frames)``: g(r) averaged over the frames of LAMMPS dumps (or any OVITO-readable files) or structures.

    ``every``: use every n-th frame. The cutoff is reduced to just under half the
    shortest periodic box height if larger (see :func:`average_rdf`).
    """
    r, tables, frames = average_rdf(sources, cutoff, bins, every)
    return r, tables["g"], frames


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


def peak_sem(r: np.ndarray, per_run: Sequence[np.ndarray]) -> tuple[float, float]:
    """Standard errors (position, height) of :func:`first_peak` over runs, each run's own g(r) its sample.

    The runs (independent velocity seeds) are the independent samples, as for D;
    NaN for a single run.
    """
    if len(per_run) < 2:
        return float("nan"), float("nan")
    peaks = np.array([first_peak(r, g) for g in per_run])
    sem = peaks.std(axis=0, ddof=1) / np.sqrt(len(per_run))
    return float(sem[0]), float(sem[1])
