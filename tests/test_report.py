"""The demo report: PASS/FAIL rows computed from the artefacts, per system, in the data's units.

Fast: a small synthetic demo folder (the files the demo's steps write, with
chosen numbers) instead of a demo run; tests/test_demo_al.py and
tests/test_demo_multi.py run the real thing at a tiny size (slow).
"""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

from toolkit.demo_al import AL_CRITERIA
from toolkit.demo_multi import CUZR_CRITERIA, SI_CRITERIA
from toolkit.report import collect, evaluate_criteria, plot_path, write_report
from toolkit.report.units import report_units

CRITERIA = {"max_selected": 8, "max_fakes": 0, "d_ratio_tol": 0.10, "rdf_peak_tol": 0.05, "min_speedup": 1.5}


# ---------------------------------------------------------------------------
# hand-made info (the LJ criteria, as before the per-system report)
# ---------------------------------------------------------------------------

def _info(d_ratio=1.04, g_dev=0.01, r_dev=-0.002, fakes_kept=0, n=7, speed=(3000.0, 1500.0), temps=(1.5, 1.0)):
    comp = [{"temperature": t, "D_ratio": d_ratio, "D": 0.1 * d_ratio, "D_reference": 0.1, "g_peak_rel_dev": g_dev,
             "r_peak_rel_dev": r_dev, "g_peak": 3.0 * (1 + g_dev), "g_peak_reference": 3.0,
             "r_peak": 1.1 * (1 + r_dev), "r_peak_reference": 1.1} for t in temps[:1]]
    path = [{"lambda": 10.0, "n_selected": 12, "val_rmse_penalized": 0.02, "val_rmse_refit": 0.011},
            {"lambda": 30.0, "n_selected": n, "val_rmse_penalized": 0.03, "val_rmse_refit": 0.0115},
            {"lambda": 90.0, "n_selected": 0, "val_rmse_penalized": 0.3, "val_rmse_refit": float("nan")}]
    return {"selected": {"sets": {"AGL": {"n": n, "functions": [f"G{i}" for i in range(n)]},
                                  "full": {"n": 22, "functions": [f"G{i}" for i in range(22)]}},
                         "lambda": 30.0, "full_val_rmse": 0.0105, "metric": "energy"},
            "fakes": {"n_fakes": 10, "AGL": {"fakes_kept": fakes_kept, "n": n}}, "units": report_units("lj"),
            "quench": {"selected": {"protocol": {"temperatures": list(temps)}}}, "demo": {},
            "md": {"selected": {"comparison": comp, "diffusion": []}}, "md_failed": {},
            "speed": {"selected": {"median": speed[0]}, "full": {"median": speed[1]}},
            "path": path, "config": {"selection": {"tolerance": 1.1, "max_features": 8}}}


def test_criteria_pass_and_fail_on_the_numbers():
    rows = evaluate_criteria(_info(), CRITERIA)
    by = {r["criterion"]: r for r in rows}
    assert by["selected set has at most 8 functions"]["pass"] and by["selected set has at most 8 functions"]["number"] == 7
    assert by["D within 10% of lj/cut at T = 1.5"]["pass"]
    assert by["RDF first-peak height within 5% at T = 1.5"]["number"] == pytest.approx(0.01)
    assert by["selected potential at least 1.5x as fast as the full one"]["number"] == pytest.approx(2.0)
    # the second quench temperature has no MD: its three criteria fail and say why
    missing = [r for r in rows if r.get("temperature") == 1.0]
    assert len(missing) == 3 and not any(r["pass"] for r in missing)
    assert all("no finished MD" in r["value"] for r in missing)

    bad = {r["criterion"]: r for r in evaluate_criteria(_info(d_ratio=1.12, g_dev=-0.06, fakes_kept=1, n=9,
                                                              speed=(2000.0, 1500.0)), CRITERIA)}
    assert not bad["selected set has at most 8 functions"]["pass"]
    assert not bad["D within 10% of lj/cut at T = 1.5"]["pass"]
    assert not bad["RDF first-peak height within 5% at T = 1.5"]["pass"]
    assert bad["RDF first-peak position within 5% at T = 1.5"]["pass"]
    assert not bad["selected potential at least 1.5x as fast as the full one"]["pass"]
    assert not next(r for r in bad.values() if r["criterion"].startswith("none of the 10 fake"))["pass"]


def test_path_figure_is_written(tmp_path):
    out = plot_path(_info(), tmp_path / "path.png")
    assert out.stat().st_size > 10_000


# ---------------------------------------------------------------------------
# a synthetic demo folder
# ---------------------------------------------------------------------------

_SYSTEMS = {
    "al-eam": {"elements": ["Al"], "criteria": AL_CRITERIA, "temps": [1250.0, 1125.0], "n_full": 329},
    "si-sw": {"elements": ["Si"], "criteria": SI_CRITERIA, "temps": [2500.0, 2300.0], "n_full": 60},
    "cuzr-eam": {"elements": ["Cu", "Zr"], "criteria": CUZR_CRITERIA, "temps": [2000.0, 1800.0], "n_full": 128},
}


def _write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _quench(d, name, temps, status="PASSED", reason=None, n_runs=2):
    run_status = {f"run_{k:03d}": {"status": "PASSED", "extrapolation_warnings": 0 if name == "reference" else 120,
                                   "min_pair_distance": 2.05} for k in range(n_runs)}
    if status != "PASSED":
        run_status["run_001"].update(status=status, reason=reason, step=f"T_{temps[0]:g}", min_pair_distance=0.9)
    _write_json(d / "md" / name / "quench.json", {
        "protocol": {"temperatures": temps, "density": 2.35, "timestep": 0.002, "melt_temperature": temps[0],
                     "melt_time": 10.0, "equilibration": 5.0, "measurement": 20.0, "n_atoms": 256},
        "potential": {"label": "lj/cut" if name == "reference" else name}, "runs": n_runs, "seed": 0,
        "guard": {"min_distance": 1.8, "data_min_distance": 2.0, "distance_source": "data's shortest distance 2 x 0.9",
                  "max_ew_rate": 0.01, "max_drift_kT": 0.1},
        "steps": [{"run": k, "step": f"T_{t:g}", "status": "PASSED", "ew_per_atom_step": 0.001} for k in range(n_runs)
                  for t in temps], "run_status": run_status})


def _analysis(d, name, temps, ref_src, d_ratio, g_dev):
    a = d / "analysis" / name
    src = name if name != "reference" else ref_src
    D = {t: 0.5 * (t / 1000.0) for t in temps}
    mine = {t: D[t] * (d_ratio if name != "reference" else 1.0) for t in temps}
    rows = [{"source": src, "temperature": t, "D_mean": mine[t], "D_sem": 0.01, "D_std": 0.014, "n_runs": 2}
            for t in temps]
    if name != "reference":
        rows += [{"source": ref_src, "temperature": t, "D_mean": D[t], "D_sem": 0.02, "D_std": 0.04, "n_runs": 4}
                 for t in temps]
        _write_csv(a / "comparison.csv", [
            {"temperature": t, "D": mine[t], "D_reference": D[t], "D_ratio": mine[t] / D[t], "r_peak": 2.8,
             "r_peak_reference": 2.8, "g_peak": 3.0 * (1 + g_dev), "g_peak_reference": 3.0, "r_peak_rel_dev": 0.0,
             "g_peak_rel_dev": g_dev} for t in temps])
    _write_csv(a / "diffusion.csv", rows)
    _write_csv(a / "arrhenius.csv", [{"source": src, "D0": 10.0, "Ea": 0.3, "Ea_stderr": 0.01, "r2": 0.99}])
    _write_csv(a / "rdf_peaks.csv", [{"source": src, "temperature": t, "r_peak": 2.8, "g_peak": 3.0} for t in temps])
    _write_csv(a / "rdf.csv", [{"source": src, "temperature": t, "r": 0.1 * k, "g": min(1.0, 0.02 * k)}
                               for t in temps for k in range(1, 60)])


def _species(d, name, temps, elements, d_ratio, theta):
    s = d / "analysis" / name / "species"
    _write_csv(s / "diffusion_elements_summary.csv", [
        {"source": name, "element": e, "temperature": t, "D_mean": (0.4 + 0.1 * i) * (d_ratio if name != "reference"
                                                                                     else 1.0),
         "D_std": 0.01, "n_runs": 2, "D_sem": 0.007} for i, e in enumerate(elements) for t in temps])
    pairs = [f"{a}-{b}" for i, a in enumerate(elements) for b in elements[i:]]
    _write_csv(s / "partial_rdf_peaks.csv", [{"source": name, "temperature": t, "pair": p, "r_peak": 2.7 + 0.1 * k,
                                              "g_peak": 2.5, "r_peak_sem": 0.0, "g_peak_sem": 0.025,
                                              "n_frames": 20, "n_runs": 2} for k, p in enumerate(pairs) for t in temps])
    _write_csv(s / "partial_rdf.csv", [{"source": name, "temperature": t, "pair": p, "r": 0.1 * k, "g": min(1.0, 0.03 * k)}
                                       for p in pairs for t in temps for k in range(1, 40)])
    _write_csv(s / "arrhenius_elements.csv", [{"source": name, "element": e, "D0": 30.0 + i, "Ea": 0.41 + 0.1 * i,
                                               "Ea_stderr": 0.02} for i, e in enumerate(elements)])
    if theta is not None:
        _write_csv(s / "bond_angle_peaks.csv", [{"source": name, "temperature": t, "theta_peak": theta, "p_peak": 0.02,
                                                 "bond_cutoff": 3.1} for t in temps])


def make_demo(d, system="al-eam", d_ratio=1.03, g_dev=0.01, md_check=True, selected_failed=False, n_agl=9):
    """A demo folder with the artefacts of every step (numbers chosen so that every criterion PASSes)."""
    spec = _SYSTEMS[system]
    temps, elements = spec["temps"], spec["elements"]
    crit = dict(spec["criteria"])
    _write_json(d / "demo.json", {"full": False, "seed": 0, "criteria": crit, "started": "now",
                                  "sizes": {"system": system, "md_temperatures": temps, "runs_full": 1,
                                            "full_md_temperatures": temps[:1], "msd_source": "trajectory"},
                                  "steps": {"data": "reference data (LAMMPS, lj/cut)"}})
    per = {e: n_agl // len(elements) for e in elements}
    n_cand = spec["n_full"] // len(elements)

    def by_element(kept, n_ang):
        return {e: {"n_candidates": n_cand, "n_kept": kept[e], "n_radial": kept[e] - n_ang[e], "n_angular": n_ang[e],
                    "functions": [f"G2({e}:{e} k={i})" for i in range(kept[e])]} for e in elements}

    sets = {"full": {"n": spec["n_full"], "functions": [f"F{i}" for i in range(spec["n_full"])],
                     "by_element": by_element({e: n_cand for e in elements}, {e: n_cand // 2 for e in elements})}}
    for k in ("AGL", "CUR", "PC"):
        sets[k] = {"n": n_agl, "functions": [f"{k}{i}" for i in range(n_agl)],
                   "by_element": by_element(per, {e: per[e] // 2 for e in elements})}
    rmse = {"full": 0.10, "AGL": 0.11, "CUR": 0.16, "PC": 0.17}
    check = ({"rule": "the first of the top 3 sets whose hot run passes the guard", "data_min_distance": 2.0,
              "chosen_step": 2, "candidates": [
                  {"rank": 0, "step": 1, "lambda": 30.0, "n_selected": 4, "status": "FAILED",
                   "reason": "shortest pair distance 0.06 Angstrom", "min_pair_distance": 0.06, "distance_limit": 1.8,
                   "extrapolation_warnings": 10},
                  {"rank": 1, "step": 2, "lambda": 10.0, "n_selected": n_agl, "status": "PASSED", "reason": None,
                   "min_pair_distance": 2.04, "distance_limit": 1.8, "extrapolation_warnings": 0}]}
             if md_check else {"skipped": "selection.md_check: false"})
    _write_json(d / "select" / "selected.json", {
        "lambda": 10.0, "metric": "forces", "full_val_rmse": 0.1, "reference_val_rmse": 0.1, "sets": sets,
        "test_rmse": {k: {"mean": v, "std": 0.005, "min": v, "max": v, "median": v, "n": 2} for k, v in rmse.items()},
        "ttests": [], "md_check": check})
    if md_check:
        _write_json(d / "select" / "md_check" / "md_check.json", check)
    _write_json(d / "select" / "fakes" / "fakes.json", {"n_fakes": 10, "lambda": 10.0,
                                                         "AGL": {"n": n_agl, "fakes_kept": 0}})
    _write_csv(d / "select" / "path.csv", [
        {"lambda": 10.0, "n_selected": n_agl, "n_angular": 3, "val_rmse_penalized": 0.004, "val_rmse_refit": 0.003,
         "val_rmse_forces_penalized": 0.12, "val_rmse_forces_refit": 0.11, "selected": "a;b"}])
    for name in ("reference", "selected", "full"):
        failed = name == "selected" and selected_failed
        _quench(d, name, temps if name != "full" else temps[:1],
                **({"status": "FAILED", "reason": "shortest pair distance 0.9 Angstrom below 1.8"} if failed else {}))
        if not failed:
            _analysis(d, name, temps if name != "full" else temps[:1], "lj/cut", d_ratio, g_dev)
            if system != "al-eam":
                _species(d, name, temps, elements, d_ratio, 109.0 if system == "si-sw" else None)
    _write_csv(d / "bench" / "bench.csv", [
        {"label": lab, "kind": kind, "n_atoms": 256, "median": med, "min": med * 0.9, "max": med * 1.1,
         "per_day_median": med * 0.17, "per_day_unit": "ns/day"}
        for lab, kind, med in (("lj/cut", "reference", 5000.0), ("selected", "hdnnp", 500.0), ("full", "hdnnp", 30.0))])
    return d


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """One synthetic folder per system (copy before changing it)."""
    root = tmp_path_factory.mktemp("demos")
    return {s: make_demo(root / s, s) for s in _SYSTEMS}


def _copy(demos, system, tmp_path):
    return shutil.copytree(demos[system], tmp_path / system)


def _rows(d):
    info = collect(d)
    return info, evaluate_criteria(info, info["demo"]["criteria"])


def _find(rows, start, **kw):
    hits = [r for r in rows if r["criterion"].startswith(start) and all(r.get(k) == v for k, v in kw.items())]
    assert len(hits) == 1, (start, kw, [r["criterion"] for r in rows])
    return hits[0]


def test_al_rows_all_pass_in_the_data_units(demos, tmp_path):
    d = _copy(demos, "al-eam", tmp_path)
    numbers = write_report(d)
    rows = numbers["criteria"]
    assert all(r["pass"] for r in rows), [r for r in rows if not r["pass"]]
    assert numbers["reference_potential"].startswith("Mendelev EAM") and numbers["units"]["D"] == "Angstrom^2/ps"
    # the Al targets of issue 13, each a row
    for start in ("selected set has at most 15", "none of the 10 fake", "test force RMSE of the selected set at most 1.2x",
                  "the chosen set passed the MD check", "selected potential at least 10x", "every MD run checked",
                  "the selected potential's MD stayed"):
        _find(rows, start)
    for t in (1250.0, 1125.0):
        row = _find(rows, "D within 10% of EAM (Mendelev)", temperature=t)
        assert "±" in row["value"] and "Angstrom^2/ps" in row["value"]
        _find(rows, "RDF first-peak height within 2%", temperature=t)
        _find(rows, "RDF first-peak position within 2%", temperature=t)
    f = _find(rows, "test force RMSE")
    assert f["number"] == pytest.approx(0.11 / 0.10) and "eV/Angstrom" in f["value"]
    assert _find(rows, "selected potential at least 10x")["number"] == pytest.approx(500.0 / 30.0)
    page = re.sub(r'src="data:image/png;base64,[^"]*"', "", (d / "report.html").read_text())
    assert "Mendelev EAM for Al" in page and "lj/cut" not in page.split("<h2>Settings")[0]
    assert not re.search(r"\b(sigma|epsilon|tau)\b", page)
    assert "The MD-checked choice" in page and "shortest pair distance 0.06 Angstrom" in page
    assert "MD guard: every quench run" in page
    assert page.count("class='pass'>PASS<") == len(rows) and "class='fail'" not in page  # one verdict cell per row
    assert (d / "report" / "arrhenius.png").exists() and (d / "report" / "speed.png").exists()


def test_rows_follow_the_artefacts(demos, tmp_path):
    """Change a number in an artefact: the row's number and verdict change with it."""
    d = _copy(demos, "al-eam", tmp_path)
    comp = d / "analysis" / "selected" / "comparison.csv"
    with open(comp, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[0]["D_ratio"] = "1.25"
    rows[0]["g_peak_rel_dev"] = "-0.031"
    _write_csv(comp, rows)
    sel = json.loads((d / "select" / "selected.json").read_text())
    sel["test_rmse"]["AGL"]["mean"] = 0.13
    _write_json(d / "select" / "selected.json", sel)
    _, rows = _rows(d)
    t = float(rows_t := 1250.0)
    d_row = _find(rows, "D within 10%", temperature=t)
    assert d_row["number"] == 1.25 and not d_row["pass"]
    h_row = _find(rows, "RDF first-peak height", temperature=rows_t)
    assert h_row["number"] == pytest.approx(-0.031) and not h_row["pass"] and "-3.10%" in h_row["value"]
    assert _find(rows, "D within 10%", temperature=1125.0)["pass"]
    f = _find(rows, "test force RMSE")
    assert f["number"] == pytest.approx(1.3) and not f["pass"]


@pytest.mark.parametrize("rel,start", [
    ("select/selected.json", "selected set has at most"),
    ("select/fakes/fakes.json", "none of the fake"),
    ("select/md_check", "the chosen set passed the MD check"),
    ("analysis/selected", "D within 10%"),
    ("bench/bench.csv", "selected potential at least"),
    ("md/selected", "the selected potential's MD stayed"),
])
def test_missing_artefact_is_not_measured_and_fails(demos, tmp_path, rel, start):
    d = _copy(demos, "al-eam", tmp_path)
    p = d / rel
    shutil.rmtree(p) if p.is_dir() else p.unlink()
    if rel == "select/md_check":  # selected.json keeps a copy of the record: drop it too
        sel = json.loads((d / "select" / "selected.json").read_text())
        del sel["md_check"]
        _write_json(d / "select" / "selected.json", sel)
    numbers = write_report(d)  # never a crash
    hits = [r for r in numbers["criteria"] if r["criterion"].startswith(start)]
    assert hits and all(not r["pass"] and r["value"].startswith("not measured") for r in hits)
    assert not numbers["all_pass"]
    assert "not measured" in (d / "report.html").read_text()


def test_failed_md_is_reported_failed_and_not_analysed(tmp_path):
    d = make_demo(tmp_path / "al", selected_failed=True)
    # a stale analysis of the failed potential must not be read
    _analysis(d, "selected", [1250.0, 1125.0], "lj/cut", 1.0, 0.0)
    numbers = write_report(d)
    rows = numbers["criteria"]
    for r in [r for r in rows if r.get("temperature") is not None]:
        assert not r["pass"] and r["value"].startswith("FAILED") and "not analysed" in r["value"]
    guard = _find(rows, "the selected potential's MD stayed")
    assert not guard["pass"] and "shortest pair distance 0.9" in guard["value"]
    assert _find(rows, "every MD run checked")["pass"]  # checked, and the failure reported
    assert "selected" not in numbers["comparison"] and "selected" in numbers["md_failed"]
    page = (d / "report.html").read_text()
    assert "FAILED in MD" in page and "not analysed" in page


def test_md_check_skipped_fails_its_row(tmp_path):
    d = make_demo(tmp_path / "al", md_check=False)
    _, rows = _rows(d)
    row = _find(rows, "the chosen set passed the MD check")
    assert not row["pass"] and "skipped" in row["value"]


def test_si_rows(demos, tmp_path):
    d = _copy(demos, "si-sw", tmp_path)
    numbers = write_report(d)
    rows = numbers["criteria"]
    assert all(r["pass"] for r in rows), [r for r in rows if not r["pass"]]
    ang = _find(rows, "the AGL set keeps angular functions")
    assert ang["number"] == pytest.approx(4 / 9) and ang["limit"] == pytest.approx(1 / 3)
    base = _find(rows, "CUR and Pearson sets")
    assert "CUR (9): 0.16 eV/Angstrom" in base["value"] and "Pearson (9): 0.17" in base["value"]
    for t in (2500.0, 2300.0):
        _find(rows, "D within 10% of Stillinger-Weber", temperature=t)
        _find(rows, "bond-angle distribution peak within 3 degrees", temperature=t)
    assert "Stillinger-Weber" in (d / "report.html").read_text()
    # a bond-angle peak 4 degrees off fails; a missing table is "not measured"
    _species(d, "selected", [2500.0, 2300.0], ["Si"], 1.03, 113.0)
    _, rows = _rows(d)
    a = _find(rows, "bond-angle distribution peak", temperature=2500.0)
    assert a["number"] == pytest.approx(4.0) and not a["pass"]
    (d / "analysis" / "reference" / "species" / "bond_angle_peaks.csv").unlink()
    _, rows = _rows(d)
    assert _find(rows, "bond-angle distribution peak", temperature=2300.0)["value"].startswith("not measured")
    # too few angular functions
    sel = json.loads((d / "select" / "selected.json").read_text())
    sel["sets"]["AGL"]["by_element"]["Si"]["n_angular"] = 2
    _write_json(d / "select" / "selected.json", sel)
    _, rows = _rows(d)
    assert not _find(rows, "the AGL set keeps angular functions")["pass"]


def test_cuzr_rows_per_element(demos, tmp_path):
    d = _copy(demos, "cuzr-eam", tmp_path)
    numbers = write_report(d)
    rows = numbers["criteria"]
    assert all(r["pass"] for r in rows), [r for r in rows if not r["pass"]]
    for e in ("Cu", "Zr"):
        share = _find(rows, f"{e}: at most 0.333 of its candidates kept")
        assert share["number"] == pytest.approx(4 / 64)
        for t in (2000.0, 1800.0):
            _find(rows, f"D of {e} within 10% of EAM (Mendelev)", temperature=t, element=e)
    for p in ("Cu-Cu", "Cu-Zr", "Zr-Zr"):
        row = _find(rows, f"partial RDF {p} first peak", temperature=2000.0, pair=p)
        # each side's height 2.5 +- 0.025 (1 %): the deviation's standard error sqrt(2) %
        assert "height +0.00% ± 1.41% (2.5 vs 2.5)" in row["value"] and "(± standard error over runs)" in row["value"]
    assert not [r for r in rows if r["criterion"].startswith("D within")]  # partial D replaces the total
    page = (d / "report.html").read_text()
    assert "Per element" in page and "<b>Cu</b> keeps" in page and "Mendelev EAM for Cu-Zr" in page
    assert "<td>Zr</td><td>0.51</td>" in page  # the per-element Arrhenius fit, from arrhenius_elements.csv
    assert (d / "report" / "partial_rdf.png").exists() and "partial_rdf" not in numbers["figures_not_drawn"]
    # Cu keeps more than a third; Zr's D 15 % off
    sel = json.loads((d / "select" / "selected.json").read_text())
    sel["sets"]["AGL"]["by_element"]["Cu"]["n_kept"] = 22
    _write_json(d / "select" / "selected.json", sel)
    summ = d / "analysis" / "selected" / "species" / "diffusion_elements_summary.csv"
    with open(summ, newline="") as fh:
        srows = list(csv.DictReader(fh))
    for r in srows:
        if r["element"] == "Zr" and float(r["temperature"]) == 1800.0:
            r["D_mean"] = str(0.5 * 1.15)
    _write_csv(summ, srows)
    _, rows = _rows(d)
    assert not _find(rows, "Cu: at most")["pass"] and _find(rows, "Zr: at most")["pass"]
    zr = _find(rows, "D of Zr", temperature=1800.0)
    assert zr["number"] == pytest.approx(1.15) and not zr["pass"]
    assert _find(rows, "D of Zr", temperature=2000.0)["pass"]


def test_old_lj_folder_layout_still_reads(demos, tmp_path):
    """demo.json without a system (LJ): the LJ units and the lj/cut reference, as before."""
    d = _copy(demos, "al-eam", tmp_path)
    demo = json.loads((d / "demo.json").read_text())
    demo["sizes"].pop("system")
    demo["criteria"] = CRITERIA
    _write_json(d / "demo.json", demo)
    info, rows = _rows(d)
    assert info["units"].reference_label == "lj/cut" and info["units"].length == "sigma"
    assert _find(rows, "D within 10% of lj/cut at T = 1250", temperature=1250.0)
    assert not [r for r in rows if "MD check" in r["criterion"]]  # no md_guard key: no guard rows


def test_a_failed_step_still_leaves_a_report(tmp_path, monkeypatch):
    """hdnnp demo: a step that raises (e.g. no set passed the MD check) -> the report of what exists, then the error."""
    import toolkit.demo as demo
    from toolkit.errors import ToolkitError

    def fail(d):
        raise ToolkitError("no candidate set passed the MD check")

    steps = {n: (lambda d: None) for n in demo.STEPS}
    steps["select"] = fail
    monkeypatch.setattr(demo, "_PIPELINE", steps)
    lines = []
    with pytest.raises(ToolkitError, match="MD check"):
        demo.run_demo(tmp_path / "D", system="al", echo=lines.append, show_progress=False)
    rep = json.loads((tmp_path / "D" / "report.json").read_text())
    assert rep["criteria"] and not rep["all_pass"]
    assert all(r["value"].startswith("not measured") for r in rep["criteria"])
    assert "select/selected.json" in rep["missing_artefacts"]
    assert any("step select failed" in ln for ln in lines)
