"""The demo's report: every number read from the artefacts of ``DEMO/``, PASS/FAIL, one HTML file.

* :mod:`toolkit.report.artefacts` -- :func:`collect` reads the step outputs
  (missing ones listed, never a crash);
* :mod:`toolkit.report.criteria` -- :func:`evaluate_criteria` turns them into
  the PASS/FAIL rows of the criteria recorded in ``demo.json`` (per system:
  the demo's ``CRITERIA``, ``AL_CRITERIA``, ``SI_CRITERIA``, ``CUZR_CRITERIA``);
* :mod:`toolkit.report.units` -- the data's units and the reference potential
  of each system (Mendelev EAM Al, Stillinger-Weber Si, Mendelev EAM Cu-Zr,
  lj/cut);
* :mod:`toolkit.report.figures` and :mod:`toolkit.report.pages` -- the
  figures and HTML sections.

:func:`write_report` draws the figures into ``DEMO/report/`` and writes
``DEMO/report.json`` (all numbers shown) and ``DEMO/report.html``
(self-contained: figures embedded as base64 PNG).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ToolkitError
from ..fileio import atomic_write, write_json
from . import pages
from .artefacts import collect
from .criteria import evaluate_criteria
from .figures import draw_figures, plot_path

__all__ = ["collect", "evaluate_criteria", "plot_path", "write_report"]


def _numbers(info: dict, rows: list[dict], timings: dict) -> dict:
    """Every number the report shows (``report.json``)."""
    sel, speed, u = info["selected"] or {}, info["speed"], info["units"]
    speed_row = next((r for r in rows if "as fast as the full" in r["criterion"] or "faster than the full" in r["criterion"]),
                     None)
    ratio = speed_row["number"] if speed_row is not None else (
        speed["selected"]["median"] / speed["full"]["median"] if "selected" in speed and "full" in speed
        and speed["full"]["median"] else None)
    agl = sel.get("sets", {}).get("AGL", {})
    return {
        "system": u.system, "reference_potential": u.reference_name,
        "units": {"length": u.length, "energy": u.energy, "time": u.time, "temperature": u.temperature,
                  "energy_rmse": u.energy_rmse, "force": u.force, "D": u.diffusion},
        "criteria": rows,
        "all_pass": all(r["pass"] for r in rows),
        "missing_artefacts": info["missing"],
        "selected_functions": agl.get("functions"),
        "n_selected": agl.get("n"),
        "by_element": agl.get("by_element"),
        "lambda": sel.get("lambda"),
        "full_val_rmse": sel.get("full_val_rmse"),
        "fakes": info["fakes"],
        "sets": {k: {"n": v["n"], "functions": v["functions"]} for k, v in sel.get("sets", {}).items()},
        "test_rmse": sel.get("test_rmse"),
        "ttests": sel.get("ttests"),
        "md_check": info["md_check"],
        "state_errors": info["state_errors"],
        "guard": info["guard"],
        "comparison": {k: v["comparison"] for k, v in info["md"].items() if k != "reference"},
        "md_failed": info["md_failed"],
        "diffusion": {k: v["diffusion"] for k, v in info["md"].items()},
        "arrhenius": {k: v["arrhenius"] for k, v in info["md"].items()},
        "species": {k: {t: rows_ for t, rows_ in v["species"].items() if t != "bond_angles"}
                    for k, v in info["md"].items() if v.get("species")},
        "speed": {k: {"median": v["median"], "min": v["min"], "max": v["max"], "per_day_median": v["per_day_median"]}
                  for k, v in speed.items()},
        "speed_ratio_selected_full": ratio,
        "timings_s": timings,
        "total_s": float(sum(v for v in timings.values() if v)),
        "settings": info["demo"],
        "selection_config": info["config"],
        "quench": info["quench"],
        "generate": info["generate"],
    }


def write_report(demo_dir: str | os.PathLike, timings: dict | None = None) -> dict:
    """Figures, ``report.json`` and ``report.html`` of a demo folder; returns the report's numbers.

    Works on a partial folder too: what a failed or skipped step did not write
    is "not measured" (and FAILs); only a folder without ``demo.json`` (or
    without criteria in it) is refused.
    """
    d = Path(demo_dir)
    info = collect(d)
    criteria = info["demo"].get("criteria")
    if not criteria:
        raise ToolkitError(f"report: {d / 'demo.json'} records no criteria")
    rows = evaluate_criteria(info, criteria)
    figs, no_figs = draw_figures(info, d / "report")
    timings = {**{k: v["seconds"] for k, v in info["steps"].items()}, **(timings or {})}
    numbers = _numbers(info, rows, timings)
    numbers["figures_not_drawn"] = no_figs
    write_json(d / "report.json", numbers)
    h = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hdnnp demo report ({info['units'].system})</title>"
         f"<style>{pages.CSS}</style></head><body>"]
    h += pages.verdict(info, rows)
    h += pages.selection(info, figs)
    h += pages.md_check(info)
    h += pages.state_errors(info)
    h += pages.md(info, figs)
    h += pages.guard(info)
    h += pages.speed(info, figs)
    h += pages.settings(info, numbers, criteria)
    h.append("</body></html>")
    with atomic_write(d / "report.html") as fh:
        fh.write("\n".join(h))
    return numbers
