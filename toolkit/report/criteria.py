"""The report's PASS/FAIL rows, each computed from the artefacts :func:`toolkit.report.artefacts.collect` read.

A row: ``criterion`` (text), ``value`` (text with the number, its unit and
what it was compared with), ``number``, ``limit``, ``pass`` and, where it
applies, ``temperature``, ``element`` or ``pair``. A missing artefact (a step
that failed or was skipped) gives a row whose value starts with "not
measured" and which FAILs; a potential whose MD FAILED is never analysed:
its rows say "FAILED".

Keys of the criteria dict (``demo.json`` ``criteria``; the demo's
``CRITERIA``, ``AL_CRITERIA``, ``SI_CRITERIA``, ``CUZR_CRITERIA``), each
switching its rows on:

========================  ==================================================================
max_selected              functions in the AGL set
max_fakes                 fake features kept (AGL path on candidates + fakes)
max_force_rmse_ratio      test force RMSE AGL / full (repeats, mean over seeds)
min_angular_fraction      angular functions / functions of the AGL set
max_element_fraction      per element: kept / candidates
baselines                 CUR and Pearson sets of the AGL set's size measured beside it
d_ratio_tol               |D / D_ref - 1| at every quench temperature (per element with
                          ``per_element``)
rdf_peak_tol              |first-peak height, position / reference - 1| (partial RDFs with
                          ``per_element``)
angle_peak_tol            |bond-angle peak - reference's| in degrees
min_speedup               timesteps/s selected / full
md_guard                  the choice passed the MD check; every MD run checked by the guard;
                          the selected potential's runs PASSED
========================  ==================================================================
"""

from __future__ import annotations

import numpy as np

from ..stats import ratio_sem

FAKE_PREFIX = "fake_"
NOT_MEASURED = "not measured"


def _row(criterion: str, number, limit, ok: bool, value: str, **extra) -> dict:
    return {"criterion": criterion, "number": number, "limit": limit, "pass": bool(ok), "value": value, **extra}


def _missing(criterion: str, limit, why: str, **extra) -> dict:
    return _row(criterion, None, limit, False, why if why.startswith(("FAILED", NOT_MEASURED)) else
                f"{NOT_MEASURED}: {why}", **extra)


def _finite(*xs) -> bool:
    return all(x is not None and isinstance(x, (int, float)) and np.isfinite(x) for x in xs)


def deviation_text(row: dict, q: str) -> str:
    """``row[q_dev]`` (a relative deviation) as a signed percentage, ``± row[q_dev_sem]`` when known."""
    sem = row.get(f"{q}_dev_sem")
    return f"{row[f'{q}_dev']:+.2%}" + (f" ± {sem:.2%}" if _finite(sem) else "")


def _pm(x, s, fmt=".4g") -> str:
    return f"{x:{fmt}}" + (f" ± {s:.2g}" if _finite(s) else "")


# ---------------------------------------------------------------------------
# selection
# ---------------------------------------------------------------------------

def _agl(info: dict) -> dict | None:
    sel = info.get("selected")
    return (sel or {}).get("sets", {}).get("AGL")


def selection_rows(info: dict, criteria: dict) -> list[dict]:
    """Size, fakes, force RMSE against the full model, angular share, per-element share, baselines."""
    rows = []
    agl = _agl(info)
    why = "no selection (select/selected.json missing: the select step failed or did not run)"
    if "max_selected" in criteria:
        lim = criteria["max_selected"]
        crit = f"selected set has at most {lim} functions"
        if agl is None:
            rows.append(_missing(crit, lim, why))
        else:
            n = int(agl["n"])
            rows.append(_row(crit, n, lim, n <= lim, f"{n} functions"))
    if "max_fakes" in criteria:
        rows.append(_fakes_row(info, criteria["max_fakes"]))
    if "max_force_rmse_ratio" in criteria:
        rows.append(_force_rmse_row(info, criteria["max_force_rmse_ratio"]))
    if "min_angular_fraction" in criteria:
        lim = float(criteria["min_angular_fraction"])
        crit = f"the AGL set keeps angular functions (at least {lim:.3g} of the set)"
        if agl is None:
            rows.append(_missing(crit, lim, why))
        else:
            n_ang = sum(int(b.get("n_angular", 0)) for b in agl.get("by_element", {}).values())
            n = int(agl["n"])
            frac = n_ang / n if n else 0.0
            rows.append(_row(crit, frac, lim, n > 0 and frac >= lim - 1e-12,
                             f"{n_ang} of {n} functions angular ({frac:.0%})"))
    if "max_element_fraction" in criteria:
        lim = float(criteria["max_element_fraction"])
        if agl is None:
            rows.append(_missing(f"per element at most {lim:.3g} of its candidates kept", lim, why))
        for e, b in ((agl or {}).get("by_element") or {}).items():
            k, c = int(b["n_kept"]), int(b["n_candidates"])
            rows.append(_row(f"{e}: at most {lim:.3g} of its candidates kept ({int(lim * c + 1e-9)} of {c})", k / c,
                             lim, k <= lim * c + 1e-9,
                             f"{k} of {c} ({k / c:.0%}; {b.get('n_radial', '?')} radial, "
                             f"{b.get('n_angular', '?')} angular)", element=e))
    if criteria.get("baselines"):
        rows.append(_baselines_row(info))
    return rows


def _fakes_row(info: dict, lim) -> dict:
    fk, agl = info.get("fakes"), _agl(info)
    if fk is None or "AGL" not in fk:
        return _missing("none of the fake features selected", lim,
                        "no fake-feature experiment found (select/fakes/fakes.json)")
    kept = int(fk["AGL"]["fakes_kept"])
    in_set = sum(1 for f in (agl or {}).get("functions", []) if str(f).startswith(FAKE_PREFIX))
    return _row(f"none of the {fk['n_fakes']} fake features selected (AGL path on candidates + fakes)",
                kept + in_set, lim, kept + in_set <= lim, f"{kept} fakes in the AGL set of {fk['AGL']['n']} functions")


def _test_rmse(info: dict, name: str):
    return ((info.get("selected") or {}).get("test_rmse") or {}).get(name)


def _force_rmse_row(info: dict, lim: float) -> dict:
    u = info["units"]
    n = _n_full(info)
    crit = f"test force RMSE of the selected set at most {lim:g}x the full " + (f"{n}-function " if n else "") + "model's"
    sel = info.get("selected")
    if sel is None:
        return _missing(crit, lim, "no selection (select/selected.json missing)")
    if sel.get("metric") != "forces":
        return _missing(crit, lim, "the repeats measured energy RMSEs (selection metric: energy)")
    a, f = _test_rmse(info, "AGL"), _test_rmse(info, "full")
    if not a or not f:
        return _missing(crit, lim, "no repeats (selection.repeats: 0)")
    if not _finite(a["mean"], f["mean"]) or f["mean"] <= 0 or a["mean"] <= 0:
        return _missing(crit, lim, f"test RMSEs {a['mean']:.4g} (AGL) and {f['mean']:.4g} (full) {u.force}: "
                                   f"no test structures?")
    ratio = a["mean"] / f["mean"]
    return _row(crit, ratio, lim, ratio <= lim,
                f"{ratio:.3f}x: {a['mean']:.4g} ± {a['std']:.2g} vs {f['mean']:.4g} ± {f['std']:.2g} {u.force} "
                f"(mean ± s.d. over {a['n']} seeds, retrained from scratch)")


def _n_full(info: dict):
    sets = (info.get("selected") or {}).get("sets", {})
    return sets.get("full", {}).get("n")


def _baselines_row(info: dict) -> dict:
    u = info["units"]
    agl = _agl(info)
    crit = "CUR and Pearson sets of the AGL set's size measured beside it (test RMSE; MD only for AGL)"
    if agl is None:
        return _missing(crit, None, "no selection (select/selected.json missing)")
    sets = info["selected"]["sets"]
    metric = info["selected"].get("metric", "energy")
    parts, ok = [], True
    for key, name in (("AGL", "AGL"), ("CUR", "CUR"), ("PC", "Pearson")):
        t = _test_rmse(info, key)
        if key not in sets or sets[key]["n"] != agl["n"] or not t or not (_finite(t["mean"]) and t["mean"] > 0):
            ok = False
            parts.append(f"{name}: {NOT_MEASURED}")
            continue
        parts.append(f"{name} ({sets[key]['n']}): {u.rmse_text(t['mean'], metric)}")
    return _row(crit, int(agl["n"]), None, ok, ("" if ok else f"{NOT_MEASURED} (some): ") + "; ".join(parts))


# ---------------------------------------------------------------------------
# MD against the reference
# ---------------------------------------------------------------------------

def _temperatures(info: dict) -> list[float]:
    proto = (info.get("quench", {}).get("selected") or {}).get("protocol") or {}
    temps = proto.get("temperatures") or (info["demo"].get("sizes") or {}).get("md_temperatures") or []
    return [float(t) for t in temps]


def _why_no_md(info: dict) -> str:
    failed = info.get("md_failed", {}).get("selected")
    if failed:
        return f"FAILED: the selected potential's MD failed ({failed}); not analysed"
    if "selected" not in info.get("quench", {}):
        return f"{NOT_MEASURED}: no MD of the selected potential (md/selected/quench.json missing)"
    if "selected" not in info.get("md", {}):
        return f"{NOT_MEASURED}: no analysis of the selected potential (analysis/selected missing)"
    return f"{NOT_MEASURED}: no finished MD at this temperature"


def _reference_source(info: dict) -> str:
    """The reference's label in the analysis tables (``quench.json``'s; "lj/cut" in older demo folders)."""
    return (info.get("quench", {}).get("reference") or {}).get("label") or "lj/cut"


def md_rows(info: dict, criteria: dict) -> list[dict]:
    """D, RDF (total or partial) and bond-angle peaks at every quench temperature."""
    per_element = bool(criteria.get("per_element"))
    rows = []
    if "d_ratio_tol" in criteria:
        rows += (_element_d_rows if per_element else _d_rows)(info, float(criteria["d_ratio_tol"]))
    if "rdf_peak_tol" in criteria:
        rows += (_partial_rdf_rows if per_element else _rdf_rows)(info, float(criteria["rdf_peak_tol"]))
    if "angle_peak_tol" in criteria:
        rows += _angle_rows(info, float(criteria["angle_peak_tol"]))
    return rows


def _d_rows(info: dict, tol: float) -> list[dict]:
    u = info["units"]
    ref = u.reference_label
    md = info.get("md", {}).get("selected")
    comp = {c["temperature"]: c for c in (md or {}).get("comparison", [])}
    dif = {(r["source"], r["temperature"]): r for r in (md or {}).get("diffusion", [])}
    ref_src = _reference_source(info)
    rows = []
    for t in _temperatures(info):
        crit = f"D within {tol:.0%} of {ref} at T = {u.temperature_text(t)}"
        c = comp.get(t)
        if c is None:
            rows.append(_missing(crit, tol, _why_no_md(info), temperature=t))
            continue
        a = dif.get(("selected", t), {})
        b = dif.get((ref_src, t), {})
        err = ratio_sem(c["D"], a.get("D_sem"), c["D_reference"], b.get("D_sem"))
        dev = c["D_ratio"] - 1.0
        se = ("± standard error over runs" if _finite(err) else
              "no standard error: a single run of " + ("both" if not (_finite(a.get("D_sem")) or _finite(b.get("D_sem")))
                                                     else "one potential"))
        rows.append(_row(crit, c["D_ratio"], tol, abs(dev) <= tol,
                         f"D ratio {_pm(c['D_ratio'], err, '.3f')} ({dev:+.1%}); D = {_pm(c['D'], a.get('D_sem'))} "
                         f"vs {_pm(c['D_reference'], b.get('D_sem'))} {u.diffusion} ({se})", temperature=t))
    return rows


def _rdf_rows(info: dict, tol: float) -> list[dict]:
    u = info["units"]
    md = info.get("md", {}).get("selected")
    comp = {c["temperature"]: c for c in (md or {}).get("comparison", [])}
    rows = []
    for key, what, abs_key, ref_key, unit in (("g_peak_rel_dev", "height", "g_peak", "g_peak_reference", ""),
                                              ("r_peak_rel_dev", "position", "r_peak", "r_peak_reference",
                                               f" {u.length}")):
        for t in _temperatures(info):
            crit = f"RDF first-peak {what} within {tol:.0%} at T = {u.temperature_text(t)}"
            c = comp.get(t)
            if c is None:
                rows.append(_missing(crit, tol, _why_no_md(info), temperature=t))
                continue
            err = c.get(f"{abs_key}_rel_dev_sem")
            dev = f"{c[key]:+.2%} ± {err:.2%}" if _finite(err) else f"{c[key]:+.2%}"
            se = " (± standard error over runs)" if _finite(err) else ""
            rows.append(_row(crit, c[key], tol, abs(c[key]) <= tol,
                             f"{dev} ({c[abs_key]:.4g} vs {c[ref_key]:.4g}{unit}){se}", temperature=t))
    return rows


def _species_frames(info: dict, name: str, table: str):
    import pandas as pd

    rows = ((info.get("md", {}).get(name) or {}).get("species") or {}).get(table)
    return None if not rows else pd.DataFrame(rows)


def species_comparison(info: dict):
    """``(diffusion, peaks)`` of :func:`toolkit.lammps.species_analysis.compare_species`, or None each."""
    from ..lammps.species_analysis import compare_species

    mine = {t: _species_frames(info, "selected", t) for t in ("diffusion_elements_summary", "partial_rdf_peaks")}
    ref = {t: _species_frames(info, "reference", t) for t in mine}
    if any(v is None for v in (*mine.values(), *ref.values())):
        return None, None
    return compare_species(mine, ref)


def _why_no_species(info: dict) -> str:
    why = _why_no_md(info)
    if why.endswith("no finished MD at this temperature") and not info["md"]["selected"].get("species"):
        return f"{NOT_MEASURED}: no per-element analysis (analysis/selected/species missing)"
    return why


def _element_d_rows(info: dict, tol: float) -> list[dict]:
    u = info["units"]
    d_cmp, _ = species_comparison(info)
    by = {} if d_cmp is None else {(r["element"], float(r["temperature"])): r for r in d_cmp.to_dict("records")}
    rows = []
    for e in u.elements:
        for t in _temperatures(info):
            crit = f"D of {e} within {tol:.0%} of {u.reference_label} at T = {u.temperature_text(t)}"
            r = by.get((e, t))
            if r is None:
                rows.append(_missing(crit, tol, _why_no_species(info), temperature=t, element=e))
                continue
            dev = r["D_ratio"] - 1.0
            se = "± standard error over runs" if _finite(r["D_ratio_sem"]) else "no standard error: a single run"
            rows.append(_row(crit, r["D_ratio"], tol, abs(dev) <= tol,
                             f"D ratio {_pm(r['D_ratio'], r['D_ratio_sem'], '.3f')} ({dev:+.1%}); D = "
                             f"{r['D_mean']:.4g} vs {r['D_mean_ref']:.4g} {u.diffusion} ({se})", temperature=t,
                             element=e))
    return rows


def _pairs(elements) -> list[str]:
    return [f"{a}-{b}" for i, a in enumerate(elements) for b in elements[i:]]


def _partial_rdf_rows(info: dict, tol: float) -> list[dict]:
    u = info["units"]
    _, p_cmp = species_comparison(info)
    by = {} if p_cmp is None else {(r["pair"], float(r["temperature"])): r for r in p_cmp.to_dict("records")}
    rows = []
    for pair in _pairs(u.elements):
        for t in _temperatures(info):
            crit = f"partial RDF {pair} first peak within {tol:.0%} (height and position) at T = {u.temperature_text(t)}"
            r = by.get((pair, t))
            if r is None:
                rows.append(_missing(crit, tol, _why_no_species(info), temperature=t, pair=pair))
                continue
            worst = max(abs(r["g_peak_dev"]), abs(r["r_peak_dev"]))
            se = " (± standard error over runs)" if _finite(r.get("g_peak_dev_sem")) else ""
            rows.append(_row(crit, worst, tol, worst <= tol,
                             f"height {deviation_text(r, 'g_peak')} ({r['g_peak']:.3g} vs {r['g_peak_ref']:.3g}), "
                             f"position {deviation_text(r, 'r_peak')} ({r['r_peak']:.3g} vs {r['r_peak_ref']:.3g} "
                             f"{u.length}){se}",
                             temperature=t, pair=pair))
    return rows


def _angle_rows(info: dict, tol: float) -> list[dict]:
    u = info["units"]
    mine = {float(r["temperature"]): r for r in
            ((info.get("md", {}).get("selected") or {}).get("species") or {}).get("bond_angle_peaks") or []}
    ref = {float(r["temperature"]): r for r in
           ((info.get("md", {}).get("reference") or {}).get("species") or {}).get("bond_angle_peaks") or []}
    rows = []
    for t in _temperatures(info):
        crit = f"bond-angle distribution peak within {tol:g} degrees of {u.reference_label} at T = {u.temperature_text(t)}"
        a, b = mine.get(t), ref.get(t)
        if a is None or b is None:
            why = _why_no_md(info)
            if why.endswith("no finished MD at this temperature"):
                why = f"{NOT_MEASURED}: no bond-angle distribution (analysis/*/species/bond_angle_peaks.csv)"
            rows.append(_missing(crit, tol, why, temperature=t))
            continue
        dev = a["theta_peak"] - b["theta_peak"]
        rows.append(_row(crit, dev, tol, abs(dev) <= tol,
                         f"{dev:+.2f} degrees ({a['theta_peak']:.1f} vs {b['theta_peak']:.1f}; bonds < "
                         f"{a['bond_cutoff']:.3g} {u.length})", temperature=t))
    return rows


# ---------------------------------------------------------------------------
# speed and the MD guard
# ---------------------------------------------------------------------------

def speed_row(info: dict, lim: float) -> dict:
    sp = info.get("speed", {})
    crit = (f"selected potential faster than the full one (timesteps/s)" if lim <= 1.0 else
            f"selected potential at least {lim:g}x as fast as the full one")
    if "selected" not in sp or "full" not in sp:
        return _missing(crit, lim, "no speed measurement (bench/bench.csv)")
    a, b = sp["selected"].get("median"), sp["full"].get("median")
    if not _finite(a, b) or a <= 0 or b <= 0:
        return _missing(crit, lim, f"timesteps/s {a} (selected) and {b} (full) in bench/bench.csv")
    ratio = a / b
    ok = ratio > 1.0 if lim <= 1.0 else ratio >= lim
    return _row(crit, ratio, lim, ok,
                f"{ratio:.2f}x ({sp['selected']['median']:.0f} vs {sp['full']['median']:.0f} timesteps/s)")


def md_check_row(info: dict) -> dict:
    """The choice passed the short hot MD (select/md_check) before any quench."""
    crit = "the chosen set passed the MD check before it was handed out (select/md_check)"
    rec = info.get("md_check")
    if rec is None:
        return _missing(crit, None, "no MD-check record (select/md_check/md_check.json, selected.json md_check)")
    if "skipped" in rec:
        return _missing(crit, None, f"the MD check was skipped ({rec['skipped']})")
    cands = rec.get("candidates") or []
    chosen = next((c for c in cands if c.get("step") == rec.get("chosen_step") and c.get("status") == "PASSED"), None)
    rejected = [c for c in cands if c is not chosen]
    text = "; ".join(f"{c['n_selected']} functions {c['status']}" + (f" ({c['reason']})" if c.get("reason") else "")
                     for c in rejected)
    if chosen is None:
        return _row(crit, None, None, False, f"FAILED: no candidate passed ({text or 'none tried'})")
    return _row(crit, len(cands), None, True,
                f"{chosen['n_selected']} functions (λ = {chosen['lambda']:.3g}) PASSED, candidate {chosen['rank'] + 1} "
                f"of {len(cands)} tried" + (f"; rejected: {text}" if rejected else ""))


def _guard_summary(info: dict, name: str) -> tuple[bool, str]:
    """(every run checked, text) of one potential's quench."""
    u = info["units"]
    g = info.get("guard", {}).get(name)
    if g is None:
        return False, f"{name}: {NOT_MEASURED} (no md/{name}/quench.json)"
    runs, lim = g["runs"], g["limits"]
    checked = bool(runs) and lim.get("min_distance") is not None and all(
        r["status"] in ("PASSED", "FAILED") and r["min_pair_distance"] is not None
        and r["extrapolation_warnings"] is not None for r in runs)
    n_ok = sum(r["status"] == "PASSED" for r in runs)
    dmin = [r["min_pair_distance"] for r in runs if r["min_pair_distance"] is not None]
    ew = sum(int(r["extrapolation_warnings"] or 0) for r in runs)
    text = (f"{name} {n_ok}/{len(runs)} PASSED" + (f", closest pair {min(dmin):.3g} {u.length}" if dmin else "")
            + f", {ew} extrapolation warnings")
    failed = [r for r in runs if r["status"] != "PASSED"]
    if failed:
        text += " (" + "; ".join(f"{r['run']} {r['status']} at {r['step']}: {r['reason']}" for r in failed) + ")"
    return checked, text


def guard_rows(info: dict) -> list[dict]:
    """Every quench run checked (shortest pair, warnings); the selected potential's runs all PASSED."""
    u = info["units"]
    sizes = info["demo"].get("sizes") or {}
    names = ["reference", "selected"] + (["full"] if sizes.get("runs_full", 1) else [])
    results = [_guard_summary(info, n) for n in names]
    lim = (info.get("guard", {}).get("selected") or {}).get("limits") or {}
    limit_text = (f"; limit {lim['min_distance']:.3g} {u.length} = {lim.get('distance_source', 'guard')}, at most "
                  f"{lim.get('max_ew_rate', float('nan')):g} warnings per atom and step" if lim.get("min_distance")
                  else "")
    unmeasured = [n for n in names if n not in info.get("guard", {})]
    rows = [_row("every MD run checked: shortest pair distance and extrapolation warnings counted and reported",
                 sum(ok for ok, _ in results), len(names), all(ok for ok, _ in results),
                 (f"{NOT_MEASURED} ({', '.join(unmeasured)}): " if unmeasured else "")
                 + "; ".join(t for _, t in results) + limit_text)]
    g = info.get("guard", {}).get("selected")
    crit = "the selected potential's MD stayed in the data's range (no pair below the guard's limit, every run PASSED)"
    if g is None or not g["runs"]:
        rows.append(_missing(crit, lim.get("min_distance"), "no MD of the selected potential (md/selected/quench.json)"))
    else:
        dmin = min((r["min_pair_distance"] for r in g["runs"] if r["min_pair_distance"] is not None), default=None)
        ok = all(r["status"] == "PASSED" for r in g["runs"]) and "selected" not in info.get("md_failed", {})
        rows.append(_row(crit, dmin, lim.get("min_distance"), ok, results[1][1] if ok else
                         f"FAILED: {info.get('md_failed', {}).get('selected') or results[1][1]}"))
    return rows


def evaluate_criteria(info: dict, criteria: dict) -> list[dict]:
    """PASS/FAIL rows (module docstring) of ``criteria`` on the artefacts in ``info``."""
    rows = selection_rows(info, criteria)
    if criteria.get("md_guard"):
        rows.append(md_check_row(info))
    rows += md_rows(info, criteria)
    if "min_speedup" in criteria:
        rows.append(speed_row(info, float(criteria["min_speedup"])))
    if criteria.get("md_guard"):
        rows += guard_rows(info)
    return rows
