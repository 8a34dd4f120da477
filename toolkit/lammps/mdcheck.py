"""A choice that survives MD: the top candidate sets of a selection path in a short hot MD.

The selection's choice rule (:func:`toolkit.selection.path.choose_step`)
picks by validation RMSE alone; a set that fits well can still collapse in MD
(the reference study's setting picked 4 Al functions whose liquid collapsed to
pairs at 0.06 Angstrom). :func:`check_path` ranks the path's sets by that rule
(the rule's choice first, then its choice among the rest, ...), runs each of
the first ``candidates`` distinct sets in a short hot MD and takes the first
that passes:

* protocol: :func:`toolkit.lammps.quench.quench` with ``runs`` independent
  runs (velocity seeds; default 2): melt the fcc crystal at the system's
  quench density, then one temperature step at the highest quench temperature
  (``MDCheckSettings``; Al: 3 ps melt, 1 ps equilibration, 4 ps measurement at
  1,250 K). A collapse is a rare event in a run: on liquid Al a 10-function
  set passed one run and then collapsed in 3 of the 4 quench runs (and in 1 of
  4 check runs of 10 ps), so one run is one sample of it;
* rule: every run must pass the guard rails (:mod:`toolkit.lammps.guard`): no
  pair closer than the data's shortest distance less 10 %, at most 0.01
  extrapolation warnings per atom and step at the hot temperature, no
  conserved-energy drift above 0.1 kB T per atom, no explosion or lost atoms.

What each candidate did (status, reason, shortest distance, warnings) and the
rule go into ``RUN/md_check/md_check.json`` and ``selected.json``
(``md_check``). A set that has not passed is never marked chosen: if none of
the candidates passes, :class:`MDCheckFailed` is raised.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ToolkitError
from ..fileio import read_json, write_json

#: Short protocols per system: (melt, equilibration, measurement) in the system's time unit.
CHECK_TIMES = {"lj": (5.0, 2.0, 10.0), "al-eam": (3.0, 1.0, 4.0), "si-sw": (3.0, 1.0, 3.0),
               "cuzr-eam": (3.0, 1.0, 4.0)}


class MDCheckFailed(ToolkitError):
    """No candidate set of the path passed the MD check."""


@dataclass(frozen=True)
class MDCheckSettings:
    """The MD check (times in the system's unit, temperature in K or epsilon/kB).

    ``candidates``: distinct sets tried at most, in the order of the choice rule;
    ``runs``: independent runs (velocity seeds) per set, every one must pass;
    ``temperature``: default the system's highest quench temperature;
    ``density``: default the system's quench density (g/cm^3, sigma^-3);
    ``melt``, ``equilibration``, ``measurement``: default ``CHECK_TIMES``;
    ``distance_margin``, ``max_ew_rate``, ``max_drift_kT``: the guard's limits;
    ``composition``: alloys, the mole fractions of the MD box (e.g. the data's; default the system's).
    """

    candidates: int = 3
    runs: int = 2
    temperature: float | None = None
    density: float | None = None
    melt: float | None = None
    equilibration: float | None = None
    measurement: float | None = None
    distance_margin: float = 0.1
    max_ew_rate: float = 0.01
    max_drift_kT: float = 0.1
    composition: tuple[tuple[str, float], ...] | None = None

    def system(self, elements) -> "System":
        """The built-in system of ``elements`` (one element or a list), at ``composition`` if given."""
        from .systems import system_for_elements

        system = system_for_elements([elements] if isinstance(elements, str) else list(elements))
        return system.with_composition(dict(self.composition)) if self.composition else system

    def protocol(self, system) -> dict:
        melt, eq, meas = CHECK_TIMES.get(system.name, (3.0, 1.0, 4.0))
        t = float(self.temperature if self.temperature is not None else max(system.quench_temperatures))
        meas = float(self.measurement or meas)
        density = float(self.density if self.density is not None else system.quench_density)
        return {"temperatures": [t], "density": density, "melt_time": float(self.melt or melt), "equilibration": float(self.equilibration or eq),
                "measurement": meas, "msd_every": meas / 20, "traj_every": meas / 4}


def md_check_available(elements: Sequence[str], lmp=None) -> str | None:
    """``None`` if the MD check can run for these elements here, else the reason it cannot."""
    from .runner import lammps_command
    from .systems import system_for_elements

    try:
        system_for_elements(list(elements))
        lammps_command(lmp)
        from ..lammps_plugin.build import pair_style_preamble

        pair_style_preamble()
    except Exception as exc:  # no system for the element, no LAMMPS, plugin cannot be built
        return str(exc)
    return None


def check_model(model_pt: str | os.PathLike, out_dir: str | os.PathLike, element: str | Sequence[str],
                data_min_distance: float | None, settings: MDCheckSettings = MDCheckSettings(), seed: int = 0,
                lmp=None) -> dict:
    """Run one candidate's MD check; returns its record (``status`` PASSED/FAILED, ``reason``, guard values).

    ``element``: the potential's element, or its elements (alloys: the box of ``settings.composition``)."""
    from .quench import quench

    system = settings.system(element)
    proto = settings.protocol(system)
    guard = {"data_min_distance": data_min_distance, "distance_margin": settings.distance_margin,
             "max_ew_rate": settings.max_ew_rate, "max_drift_kT": settings.max_drift_kT}
    out = quench(model_pt, out_dir, system, runs=settings.runs, seed=seed, lmp=lmp, show_progress=False,
                 guard=guard, label=Path(model_pt).parent.name, **proto)
    meta = read_json(Path(out) / "quench.json")
    runs = meta["run_status"]
    failed = [(name, st) for name, st in sorted(runs.items()) if st["status"] != "PASSED"]
    hot = [s for s in meta["steps"] if s.get("temperature") is not None]
    dists = [st["min_pair_distance"] for st in runs.values() if st.get("min_pair_distance") is not None]
    rates = [s["ew_per_atom_step"] for s in hot if s.get("ew_per_atom_step") is not None]
    speeds = [s["timesteps_per_s"] for s in hot if s.get("timesteps_per_s")]
    return {"status": "FAILED" if failed else "PASSED",
            "reason": f"{failed[0][0]} of {len(runs)}: {failed[0][1].get('reason')}" if failed else None,
            "failed_step": failed[0][1].get("step") if failed else None,
            "runs": {name: st["status"] for name, st in sorted(runs.items())},
            "min_pair_distance": min(dists) if dists else None,
            "extrapolation_warnings": sum(st["extrapolation_warnings"] for st in runs.values()),
            "ew_per_atom_step_hot": max(rates) if rates else None,
            "timesteps_per_s": speeds[0] if speeds else None,
            "distance_limit": meta["guard"]["min_distance"], "directory": str(out)}


def check_path(ranked: Sequence[dict], model_of: Callable[[dict], Path], element: str | Sequence[str],
               data_min_distance: float | None, out_dir: str | os.PathLike,
               settings: MDCheckSettings = MDCheckSettings(), seed: int = 0, lmp=None, echo=print) -> tuple[dict, dict]:
    """The first of ``ranked`` (the choice rule's top ``settings.candidates`` path records, best first:
    :func:`toolkit.selection.path.ranked_steps`) that passes the MD check, and the record.

    ``model_of(record)`` gives the ``model.pt`` of a path record. The record
    (written to ``out_dir/md_check.json``) holds the rule, the protocol and
    every candidate's result. Raises :class:`MDCheckFailed` (after writing it)
    if no candidate passes.
    """
    out_dir = Path(out_dir)
    system = settings.system(element)
    proto = settings.protocol(system)
    record = {"rule": (f"the first of the choice rule's top {settings.candidates} distinct sets whose "
                       f"{settings.runs} run(s) of {proto['measurement']:g} {system.time_unit} at {proto['temperatures'][0]:g} "
                       f"{system.temperature_unit} (after a {proto['melt_time']:g} {system.time_unit} melt) all pass the "
                       f"guard: no pair closer than the data's shortest distance x (1 - {settings.distance_margin:g}), "
                       f"<= {settings.max_ew_rate:g} extrapolation warnings per atom and step, conserved-energy drift "
                       f"<= {settings.max_drift_kT:g} kB T per atom, no explosion or lost atoms"),
              "system": system.name, "protocol": proto, "settings": asdict(settings),
              "data_min_distance": data_min_distance, "candidates": [], "chosen_step": None}
    chosen = None
    for rank, rec in enumerate(ranked):
        res = check_model(model_of(rec), out_dir / f"step_{rec['step']:03d}", element, data_min_distance, settings,
                          seed, lmp)
        res.update({"rank": rank, "step": rec["step"], "lambda": rec["lambda"], "n_selected": rec["n_selected"],
                    "selected": list(rec["selected"])})
        record["candidates"].append(res)
        d = res["min_pair_distance"]
        echo(f"MD check {rank + 1}/{len(ranked)}: lambda {rec['lambda']:.4g}, {rec['n_selected']} functions: "
             f"{res['status']}" + (f" ({res['reason']})" if res["status"] != "PASSED" else
                                   f" (shortest pair {d:.3g} {system.length_unit}, "
                                   f"{res['extrapolation_warnings']} extrapolation warnings)"))
        if res["status"] == "PASSED":
            chosen = rec
            record["chosen_step"] = rec["step"]
            break
    write_json(out_dir / "md_check.json", record)
    if chosen is None:
        raise MDCheckFailed(f"no candidate set passed the MD check ({len(ranked)} tried: "
                            + "; ".join(f"{c['n_selected']} functions: {c['reason']}" for c in record["candidates"])
                            + f"); see {out_dir / 'md_check.json'}")
    return chosen, record
