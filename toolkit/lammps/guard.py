"""MD guard rails: stop a LAMMPS run that leaves the range of the training data, and say why.

Every quench step (and every MD check of a selection) is watched, inside
LAMMPS, every ``every`` steps:

* the **shortest pair distance** (``compute pair/local dist`` +
  ``compute reduce min``; needs no ``single()`` of the pair style, so it works
  with n2p2's ``pair_style hdnnp`` too): the run stops when it falls below
  ``min_distance``;
* **extrapolation warnings** of ``pair_style hdnnp`` (symmetry functions
  outside the range of ``scaling.data``): counted with the pair style's own
  ``showewsum`` summaries (``### NNP EW SUMMARY ###`` log lines, n2p2's
  format) and the run stops when they exceed ``maxew`` (n2p2's keyword: per
  MPI rank, accumulated over the run), i.e. more than ``max_ew_rate``
  warnings per atom and timestep on average;
* the **drift of the conserved energy** of the Nose-Hoover NVT integration
  (thermo ``econserve``: kinetic + potential + thermostat energy) per atom,
  relative to its start: the run stops above ``max_drift_kT`` k_B T;
* the **temperature** (above ``EXPLOSION_FACTOR`` times the target) and
  **lost atoms** (LAMMPS's own check).

A stopped run is FAILED with a reason (:func:`failure_reason` reads it from
the log). The values of a run that passed are summarised by
:func:`step_metrics` (shortest distance, warnings, drift) for its results.

Distances: ``min_distance`` is the data's shortest interatomic distance
times ``1 - distance_margin`` (default margin 0.1). The margin is there
because the data's shortest distance is a sample minimum: the reference EAM
itself reaches 2.007 Angstrom in 60 ps of liquid Al at 1250 K while 400
structures of its data have none closer than 2.01 Angstrom; a collapsing
potential goes far below (0.06 Angstrom). Without data the system's
``FALLBACK_MIN_DISTANCE`` is used and the results say so.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ToolkitError

#: A temperature above this multiple of the target counts as an explosion.
EXPLOSION_FACTOR = 10.0

#: Shortest pair distance allowed when the data's is unknown (length units): well below any
#: liquid's first neighbours (Al ~2.0 A, Si ~1.9 A, Cu-Zr ~2.2 A, LJ ~0.8 sigma), far above a collapse.
FALLBACK_MIN_DISTANCE = {"lj": 0.7, "al-eam": 1.8, "si-sw": 1.7, "cuzr": 1.9}

#: Log-line patterns of the stops.
_HALT = re.compile(r"Fix halt condition for fix-id (\S+) met on step (\d+) with value (\S+)")
_EW_SUM = re.compile(r"^### NNP EW SUMMARY ### TS:\s*(\d+)\s+EW\s+(\d+)")
_TOO_MANY_EW = "Too many extrapolation warnings"


@dataclass(frozen=True)
class GuardSettings:
    """Limits of the MD guard rails (length and energy in the system's units).

    ``min_distance``: fail below this pair distance (``None``: no distance check);
    ``data_min_distance``: the data's shortest distance it was derived from (or ``None``);
    ``distance_source``: where the limit came from (for the results);
    ``max_ew_rate``: extrapolation warnings allowed per atom and timestep (average over a run);
    ``max_drift_kT``: conserved-energy drift allowed per atom, in k_B T;
    ``every``: timesteps between checks (at most; capped by the thermo interval).
    """

    min_distance: float | None
    data_min_distance: float | None = None
    distance_source: str = "given"
    max_ew_rate: float = 0.01
    max_drift_kT: float = 0.1
    every: int = 100

    def as_dict(self) -> dict:
        return asdict(self)


def guard_settings(system_name: str, min_distance: float | None = None, data_min_distance: float | None = None,
                   distance_margin: float = 0.1, max_ew_rate: float = 0.01, max_drift_kT: float = 0.1,
                   every: int = 100) -> GuardSettings:
    """The guard limits: an explicit ``min_distance`` wins, else the data's shortest distance
    times ``1 - distance_margin``, else the system's fallback."""
    if not 0.0 <= distance_margin < 1.0:
        raise ToolkitError(f"distance margin must be in [0, 1) (got {distance_margin})")
    if max_ew_rate < 0 or max_drift_kT <= 0 or every < 1:
        raise ToolkitError("guard limits: max_ew_rate >= 0, max_drift_kT > 0 and every >= 1 are required")
    if min_distance is not None:
        if min_distance < 0:
            raise ToolkitError(f"minimum distance must be >= 0 (got {min_distance})")
        limit, source = float(min_distance), "given (--min-distance)"
    elif data_min_distance is not None and math.isfinite(data_min_distance):
        limit = float(data_min_distance) * (1.0 - distance_margin)
        source = f"data's shortest distance {data_min_distance:.4g} x (1 - {distance_margin:g})"
    else:
        limit = FALLBACK_MIN_DISTANCE.get(system_name)
        source = (f"fallback for {system_name} (data's shortest distance unknown: pass the data or --min-distance)"
                  if limit is not None else "none")
    return GuardSettings(limit, data_min_distance, source, float(max_ew_rate), float(max_drift_kT), int(every))


def data_min_distance(path: str | os.PathLike, probe: float = 4.0) -> float:
    """Shortest interatomic distance of the structures in an n2p2 ``input.data`` (or any readable file).

    Rattled copies (``hdnnp generate --rattled``; a comment line with ``rattled``)
    are skipped: the guard's limit is where MD of the reference went, not where
    random displacements put pairs on purpose.
    """
    from ..structures import read_structures
    from ..symfuncs.neighbors import shortest_distance
    from .generate import is_rattled

    structures = [s for s in read_structures(path) if not is_rattled(s)]
    return shortest_distance(structures, probe)


def step_variables(guard: GuardSettings, n_atoms: int, n_steps: int, temperature: float, kB: float,
                   thermo_every: int, stop_on_warnings: bool = True) -> dict:
    """LAMMPS variables of the guard block in ``lammps_inputs/quench*.in``.

    ``stop_on_warnings=False`` (the melt, which starts from a crystal at the
    liquid's density that a potential fitted to liquids has never seen): the
    warnings are counted and reported but do not stop the run.
    """
    every = max(1, min(guard.every, thermo_every))
    maxew = int(math.ceil(guard.max_ew_rate * n_atoms * (n_steps + 1))) if stop_on_warnings else 2**31 - 1
    maxew = min(2**31 - 1, maxew)
    return {
        "guard_every": every,
        "min_dist": guard.min_distance if guard.min_distance is not None else 0.0,
        "max_drift": guard.max_drift_kT * kB * temperature,
        "max_temp": EXPLOSION_FACTOR * temperature,
        "maxew": maxew,
    }


def guarded_pair_lines(pair_lines: list[str]) -> list[str]:
    """The potential's lines with ``pair_style hdnnp`` counting warnings (``showewsum ${guard_every}``)
    and stopping at ``maxew ${maxew}`` (both n2p2 keywords); other pair styles are unchanged."""
    out = []
    for line in pair_lines:
        tok = line.split()
        if len(tok) >= 2 and tok[0] == "pair_style" and tok[1] == "hdnnp":
            for key, value in (("showewsum", "${guard_every}"), ("maxew", "${maxew}"), ("resetew", "no")):
                if key in tok:
                    tok[tok.index(key) + 1] = value
                else:
                    tok += [key, value]
            line = " ".join(tok)
        out.append(line)
    return out


def extrapolation_warnings(log: str | os.PathLike) -> int:
    """Total extrapolation warnings of a run: the sum of the ``### NNP EW SUMMARY ###`` lines.

    A timestep evaluated twice (the setup of consecutive ``run`` commands) is counted once.
    """
    total, last = 0, None
    try:
        with open(log, errors="replace") as fh:
            for line in fh:
                m = _EW_SUM.match(line)
                if m and m.group(1) != last:
                    total += int(m.group(2))
                    last = m.group(1)
    except OSError:
        return 0
    return total


def read_guard_table(path: str | os.PathLike) -> np.ndarray:
    """``guard.dat`` (step, shortest distance, energy drift per atom) as an ``(n, 3)`` array."""
    rows = []
    try:
        with open(path) as fh:
            for line in fh:
                tok = line.split()
                if tok and not tok[0].startswith("#") and len(tok) >= 3:
                    try:
                        rows.append([float(t) for t in tok[:3]])
                    except ValueError:
                        continue
    except OSError:
        pass
    return np.array(rows, dtype=float).reshape(-1, 3)


def step_metrics(step_dir: str | os.PathLike, n_atoms: int, n_steps: int) -> dict:
    """What the guard saw in a step: shortest distance, warnings (total and per atom-step), largest drift."""
    step_dir = Path(step_dir)
    table = read_guard_table(step_dir / "guard.dat")
    dist = table[:, 1] if len(table) else np.array([])
    dist = dist[dist < 1e10]  # compute reduce min gives a huge number when no pair is within the cutoff
    ew = extrapolation_warnings(step_dir / "log.lammps")
    return {
        "min_pair_distance": float(dist.min()) if len(dist) else None,
        "extrapolation_warnings": ew,
        "ew_per_atom_step": ew / max(1, n_atoms * n_steps),
        "max_energy_drift_per_atom": float(np.abs(table[:, 2]).max()) if len(table) else None,
        "guard_samples": int(len(table)),
    }


def failure_reason(log: str | os.PathLike, variables: dict, guard: GuardSettings, units: dict,
                   error: str = "") -> str | None:
    """Why a stopped run stopped (a guard, LAMMPS's lost-atoms check, NaN or a temperature explosion
    found in the log; ``error`` is the :class:`LammpsError` message), or ``None`` if it was something else."""
    text = Path(log).read_text(errors="replace") if Path(log).exists() else ""
    length, energy = units.get("length", ""), units.get("energy", "")
    m = _HALT.search(text)
    if m:
        fix, step, value = m.group(1), int(m.group(2)), float(m.group(3))
        if fix == "guard_dist":
            return (f"shortest pair distance {value:.3g} {length} at step {step} is below the limit "
                    f"{variables['min_dist']:.3g} {length} ({guard.distance_source})")
        if fix == "guard_drift":
            return (f"conserved-energy drift {value:.3g} {energy}/atom at step {step} exceeds "
                    f"{variables['max_drift']:.3g} {energy}/atom ({guard.max_drift_kT:g} kB T)")
        if fix == "guard_temp":
            return (f"temperature {value:.4g} at step {step} exceeds {variables['max_temp']:.4g} "
                    f"({EXPLOSION_FACTOR:g} x the target): the potential exploded")
    if _TOO_MANY_EW in text:
        # the toolkit's plugin names the count; n2p2's pair style does not (then: the summaries so far)
        m = re.search(_TOO_MANY_EW + r": (\d+)", text)
        ew = int(m.group(1)) if m else extrapolation_warnings(log)
        return (f"extrapolation warnings ({ew}) exceed maxew {variables['maxew']} "
                f"({guard.max_ew_rate:g} per atom and step): symmetry functions left the data's range")
    if "Lost atoms" in text:
        return "lost atoms: the potential exploded"
    if "went unphysical" in error:
        return "unphysical thermo output: " + error.split("went unphysical", 1)[1].strip(" (")
    return None
