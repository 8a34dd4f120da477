"""Read a demo folder's artefacts for the report: every number it shows, nothing computed from scratch.

:func:`collect` reads (each one optional except ``demo.json``: a missing file
is listed in ``info["missing"]`` and the criteria that need it say "not
measured" and FAIL):

=======================================  ================================================
``demo.json``                            system, sizes, seed, criteria, versions
``select/selected.json``, ``path.csv``   the path, the chosen set (per element), repeats
``select/fakes/fakes.json``              the fake-feature experiment
``select/md_check/md_check.json``        the MD-checked choice (rule, every candidate)
``md/<name>/quench.json``                protocol and the guard's verdict on every run
``md/<name>/failed.json``                a quench that stopped with a LAMMPS error
``analysis/<name>/*.csv``                D, Arrhenius fits, RDF peaks, comparison
``analysis/<name>/species/*.csv``        partial RDFs, D per element, bond angles
``bench/bench.csv``                      timesteps/s
``potentials/errors/<name>/``            errors per state point of the final potentials
=======================================  ================================================

A potential with a FAILED run (the guard of :func:`toolkit.lammps.quench.quench`)
or a ``failed.json`` is reported FAILED: its analysis, if any, is not read.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import ToolkitError
from ..fileio import read_json
from .units import report_units

#: the demo's potentials, in the order the report shows them
POTENTIALS = ("reference", "selected", "full")

#: species tables of ``analysis/<name>/species/`` (toolkit.lammps.species_analysis)
SPECIES_TABLES = ("partial_rdf_peaks", "diffusion_elements_summary", "bond_angle_peaks", "bond_angles",
                  "arrhenius_elements")


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV file, numbers as floats (empty cells NaN), other cells as strings."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        d = {}
        for k, v in r.items():
            if v == "":
                d[k] = float("nan")
                continue
            try:
                d[k] = float(v)
            except (TypeError, ValueError):
                d[k] = v
        out.append(d)
    return out


class _Reader:
    """Optional artefacts of one folder: ``None`` (and the path in ``missing``) when absent or unreadable."""

    def __init__(self, root: Path):
        self.root = root
        self.missing: list[str] = []

    def json(self, rel: str):
        return self._read(rel, read_json)

    def csv(self, rel: str):
        return self._read(rel, read_csv)

    def _read(self, rel: str, how):
        path = self.root / rel
        if not path.exists():
            self.missing.append(rel)
            return None
        try:
            return how(path)
        except (OSError, ValueError) as exc:
            self.missing.append(f"{rel} (unreadable: {exc})")
            return None


def _quench_runs(rec: dict) -> list[dict]:
    """The guard's verdict per run of a ``quench.json``: status, reason, shortest pair, warnings, steps."""
    steps = rec.get("steps") or []
    out = []
    for run, st in sorted((rec.get("run_status") or {}).items()):
        k = int(run.split("_")[-1])
        mine = [s for s in steps if s.get("run") == k]
        out.append({"run": run, "status": st.get("status"), "reason": st.get("reason"), "step": st.get("step"),
                    "min_pair_distance": st.get("min_pair_distance"),
                    "extrapolation_warnings": st.get("extrapolation_warnings"),
                    "steps_done": [s.get("step") for s in mine if s.get("status") == "PASSED"],
                    "max_ew_per_atom_step": max((s.get("ew_per_atom_step") or 0.0 for s in mine), default=None)})
    return out


def _md(r: _Reader, name: str, failed: bool) -> dict | None:
    """The analysis tables of one potential (None if not analysed, or if its MD failed)."""
    a = f"analysis/{name}"
    if failed or not (r.root / a / "diffusion.csv").exists():
        return None
    out = {k: r.csv(f"{a}/{k}.csv") or [] for k in ("diffusion", "arrhenius", "rdf_peaks")}
    out["comparison"] = (r.csv(f"{a}/comparison.csv") or []) if name != "reference" else []
    species = {}
    for t in SPECIES_TABLES:
        if (r.root / a / "species" / f"{t}.csv").exists():
            species[t] = r.csv(f"{a}/species/{t}.csv")
    out["species"] = species
    return out


def collect(demo_dir: str | os.PathLike) -> dict:
    """Every number the report shows, read from the files of ``demo_dir`` (module docstring)."""
    d = Path(demo_dir)
    if not (d / "demo.json").exists():
        raise ToolkitError(f"report: {d / 'demo.json'} is missing (not a demo folder: run 'hdnnp demo' first)")
    demo = read_json(d / "demo.json")
    r = _Reader(d)
    system = (demo.get("sizes") or {}).get("system", "lj")
    units = report_units(system)
    sel = r.json("select/selected.json")
    fakes = r.json("select/fakes/fakes.json") if (d / "select" / "fakes").exists() else None
    if fakes is None and sel is not None:
        fakes = sel.get("fakes")
    md_check = r.json("select/md_check/md_check.json") if (d / "select" / "md_check").exists() else None
    if md_check is None and sel is not None:
        md_check = sel.get("md_check")
    cfg = {}
    if (d / "select" / "config.yaml").exists():
        import yaml

        cfg = yaml.safe_load((d / "select" / "config.yaml").read_text()) or {}
    quench, guard, md_failed, md = {}, {}, {}, {}
    for name in POTENTIALS:
        q = r.json(f"md/{name}/quench.json") if (d / "md" / name).exists() else None
        if q is not None:
            quench[name] = {"protocol": q.get("protocol") or {}, "runs": q.get("runs"), "seed": q.get("seed"),
                            "wall_time_s": q.get("wall_time_s"), "label": (q.get("potential") or {}).get("label"),
                            "lammps": (q.get("versions") or {}).get("lammps_executable"),
                            "potential": (q.get("potential") or {}).get("path") or "reference"}
            guard[name] = {"limits": q.get("guard") or {}, "runs": _quench_runs(q)}
            bad = [x for x in guard[name]["runs"] if x["status"] != "PASSED"]
            if bad:
                md_failed[name] = "; ".join(f"{x['run']} {x['status']} at {x['step']}: {x['reason']}" for x in bad)
        if (d / "md" / name / "failed.json").exists():
            err = r.json(f"md/{name}/failed.json") or {}
            md_failed[name] = err.get("error", "") or md_failed.get(name, "FAILED")
        m = _md(r, name, name in md_failed)
        if m is not None:
            md[name] = m
    bench = r.csv("bench/bench.csv") or []
    speed = {}
    for row in bench:  # the reference's label in bench.csv may be "lj/cut" for every system: use its kind
        speed["reference" if row.get("kind") == "reference" else row["label"]] = row
    steps = {}
    for name in demo.get("steps") or sorted(p.parent.name for p in d.glob("*/done.json")):
        if (d / name / "done.json").exists():
            rec = read_json(d / name / "done.json")
            steps[name] = {"seconds": rec.get("seconds"), "finished": rec.get("finished")}
    gen = r.json("data/generate.json") or {}
    state_errors = {}
    for name in ("selected", "full"):
        if (d / "potentials" / "errors" / name / "errors_by_state.csv").exists():
            state_errors[name] = r.csv(f"potentials/errors/{name}/errors_by_state.csv") or []
    return {"dir": d, "demo": demo, "system": units.system, "units": units, "selected": sel,
            "path": r.csv("select/path.csv") or [], "fakes": fakes, "md_check": md_check, "config": cfg,
            "md": md, "md_failed": md_failed, "state_errors": state_errors, "quench": quench, "guard": guard,
            "speed": speed, "steps": steps,
            "generate": {"wall_time_s": gen.get("wall_time_s"), "n_structures": gen.get("n_structures"),
                         "settings": gen.get("settings", {}),
                         "lammps": (gen.get("versions") or {}).get("lammps_executable")},
            "missing": r.missing}
