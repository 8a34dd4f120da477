"""The demo's report: every number read from the artefacts of ``DEMO/``, PASS/FAIL, one HTML file.

:func:`collect` reads the step outputs (``select/selected.json``,
``select/path.csv``, ``select/fakes/fakes.json``, ``analysis/*/comparison.csv``,
``analysis/*/diffusion.csv``, ``analysis/*/rdf.csv``, ``bench/bench.csv``, the
step markers and ``demo.json``); :func:`evaluate_criteria` turns them into the
PASS/FAIL table of the criteria recorded in ``demo.json``; :func:`write_report` draws
the figures into ``DEMO/report/`` and writes ``DEMO/report.json`` (all numbers
shown) and ``DEMO/report.html`` (self-contained: figures embedded as base64 PNG).
"""

from __future__ import annotations

import base64
import csv
import html
import math
import os
from pathlib import Path

import numpy as np

from .errors import ToolkitError
from .fileio import atomic_write, read_json, write_json
from .plotting import save_figure
from .plotting import pyplot as _plt
from .selection.plots import plot_rmse_vs_n

MD_LABELS = {"reference": "lj/cut", "selected": "selected", "full": "full"}
_COLORS = {"lj/cut": "k", "selected": "C3", "full": "C0"}
_STYLES = {"lj/cut": "--", "selected": "-", "full": ":"}


def _read_csv(path: Path) -> list[dict]:
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


def _need(path: Path) -> Path:
    if not path.exists():
        raise ToolkitError(f"report: {path} is missing (run the demo step that writes it)")
    return path


def collect(demo_dir: str | os.PathLike) -> dict:
    """Every number the report shows, read from the files of ``demo_dir``."""
    d = Path(demo_dir)
    demo = read_json(_need(d / "demo.json"))
    sel = read_json(_need(d / "select" / "selected.json"))
    path_rows = _read_csv(_need(d / "select" / "path.csv"))
    fakes_file = d / "select" / "fakes" / "fakes.json"
    fakes = read_json(fakes_file) if fakes_file.exists() else None
    cfg_file = d / "select" / "config.yaml"
    import yaml

    cfg = yaml.safe_load(cfg_file.read_text()) if cfg_file.exists() else {}
    md = {}
    for name in ("selected", "full"):
        a = d / "analysis" / name
        if not (a / "comparison.csv").exists():
            continue  # not quenched at these sizes, or its MD failed before any temperature finished
        md[name] = {"comparison": _read_csv(_need(a / "comparison.csv")),
                    "diffusion": _read_csv(_need(a / "diffusion.csv")),
                    "arrhenius": _read_csv(_need(a / "arrhenius.csv")),
                    "rdf_peaks": _read_csv(_need(a / "rdf_peaks.csv"))}
    md_failed = {}
    for name in ("selected", "full"):
        f = d / "md" / name / "failed.json"
        if f.exists():
            md_failed[name] = read_json(f).get("error", "")
    ref = d / "analysis" / "reference"
    md["reference"] = {"diffusion": _read_csv(_need(ref / "diffusion.csv")),
                       "arrhenius": _read_csv(_need(ref / "arrhenius.csv")),
                       "rdf_peaks": _read_csv(_need(ref / "rdf_peaks.csv")), "comparison": []}
    bench = _read_csv(_need(d / "bench" / "bench.csv"))
    speed = {r["label"]: r for r in bench}
    steps = {}
    for name in demo.get("steps") or sorted(p.parent.name for p in d.glob("*/done.json")):
        m = d / name / "done.json"
        if m.exists():
            rec = read_json(m)
            steps[name] = {"seconds": rec.get("seconds"), "finished": rec.get("finished")}
    gen = read_json(d / "data" / "generate.json") if (d / "data" / "generate.json").exists() else {}
    quench = {}
    for name in ("reference", "selected", "full"):
        q = d / "md" / name / "quench.json"
        if q.exists():
            rec = read_json(q)
            quench[name] = {"protocol": rec.get("protocol"), "runs": rec.get("runs"), "seed": rec.get("seed"),
                            "wall_time_s": rec.get("wall_time_s"), "lammps": rec.get("versions", {}).get("lammps_executable"),
                            "potential": rec.get("potential", {}).get("path") or "reference"}
    return {"md_failed": md_failed, "demo": demo, "selected": sel, "path": path_rows, "fakes": fakes, "config": cfg, "md": md,
            "speed": speed, "steps": steps, "generate": {"wall_time_s": gen.get("wall_time_s"),
                                                        "n_structures": gen.get("n_structures"),
                                                        "settings": gen.get("settings", {}),
                                                        "lammps": gen.get("versions", {}).get("lammps_executable")},
            "quench": quench}


def _ratio_err(a, sa, b, sb) -> float:
    if not all(np.isfinite([a, sa, b, sb])) or a == 0 or b == 0:
        return float("nan")
    return abs(a / b) * math.sqrt((sa / a) ** 2 + (sb / b) ** 2)


def evaluate_criteria(info: dict, criteria: dict) -> list[dict]:
    """PASS/FAIL rows: criterion, value (text), number, limit, pass."""
    rows = []
    agl = info["selected"]["sets"]["AGL"]
    n = int(agl["n"])
    rows.append({"criterion": f"selected set has at most {criteria['max_selected']} functions",
                 "number": n, "limit": criteria["max_selected"], "pass": n <= criteria["max_selected"],
                 "value": f"{n} functions"})
    fk = info.get("fakes")
    fakes_in_set = sum(1 for f in agl["functions"] if str(f).startswith("fake_"))
    if fk is not None and "AGL" in fk:
        kept = int(fk["AGL"]["fakes_kept"])
        rows.append({"criterion": f"none of the {fk['n_fakes']} fake features selected (AGL path on "
                                  f"candidates + fakes)",
                     "number": kept + fakes_in_set, "limit": criteria["max_fakes"],
                     "pass": kept + fakes_in_set <= criteria["max_fakes"],
                     "value": f"{kept} fakes in the AGL set of {fk['AGL']['n']} functions"})
    else:
        rows.append({"criterion": "none of the fake features selected", "number": None, "limit": criteria["max_fakes"],
                     "pass": False, "value": "no fake-feature experiment found (select/fakes/fakes.json)"})
    tol = criteria["d_ratio_tol"]
    ptol = criteria["rdf_peak_tol"]
    temps = (info["quench"].get("selected", {}).get("protocol") or {}).get("temperatures") \
        or info["demo"].get("sizes", {}).get("md_temperatures", [])
    comp = info["md"].get("selected", {}).get("comparison", [])
    have = {c["temperature"] for c in comp}
    failed = info.get("md_failed", {}).get("selected")
    for t in temps:
        if float(t) not in have:
            why = f"no finished MD at this temperature{': ' + failed if failed else ''}"
            for what in (f"D within {tol:.0%} of lj/cut", f"RDF first-peak height within {ptol:.0%}",
                         f"RDF first-peak position within {ptol:.0%}"):
                rows.append({"criterion": f"{what} at T = {float(t):g}", "temperature": float(t), "number": None,
                             "limit": tol, "pass": False, "value": why})
    for c in comp:
        t = c["temperature"]
        dev = c["D_ratio"] - 1.0
        rows.append({"criterion": f"D within {tol:.0%} of lj/cut at T = {t:g}", "temperature": t,
                     "number": c["D_ratio"], "limit": tol, "pass": bool(abs(dev) <= tol),
                     "value": f"D ratio {c['D_ratio']:.3f} ({dev:+.1%}; D = {c['D']:.4g} vs {c['D_reference']:.4g})"})
    for c in comp:
        t = c["temperature"]
        for key, what in (("g_peak_rel_dev", "height"), ("r_peak_rel_dev", "position")):
            rows.append({"criterion": f"RDF first-peak {what} within {ptol:.0%} at T = {t:g}", "temperature": t,
                         "number": c[key], "limit": ptol, "pass": bool(abs(c[key]) <= ptol),
                         "value": f"{c[key]:+.2%}"})
    sp = info["speed"]
    if "selected" in sp and "full" in sp:
        ratio = sp["selected"]["median"] / sp["full"]["median"]
        rows.append({"criterion": f"selected potential at least {criteria['min_speedup']:g}x as fast as the full one",
                     "number": ratio, "limit": criteria["min_speedup"], "pass": bool(ratio >= criteria["min_speedup"]),
                     "value": f"{ratio:.2f}x ({sp['selected']['median']:.0f} vs {sp['full']['median']:.0f} timesteps/s)"})
    return rows


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------

def _save(fig, path: Path) -> Path:
    return save_figure(fig, path, dpi=120)


def plot_path(info: dict, path: Path) -> Path:
    """Validation RMSE of the refits along the lambda path, with the selection rule drawn in."""
    sel, cfg = info["selected"], info["config"].get("selection", {})
    chosen = next((r for r in info["path"] if r["n_selected"] and math.isclose(r["lambda"], sel["lambda"], rel_tol=1e-6)),
                  None)
    tol = cfg.get("tolerance")
    return plot_rmse_vs_n(info["path"], float(sel["full_val_rmse"]), path, chosen,
                          tolerance=None if tol is None else float(tol), max_features=int(cfg.get("max_features", 0) or 0),
                          metric=sel.get("metric", "energy"), n_candidates=len(sel["sets"]["full"]["functions"]))


def plot_arrhenius(info: dict, path: Path) -> Path:
    """ln D against 1/T for lj/cut, the selected and the full potential, with fits."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    rows, fits = [], []
    for name in ("reference", "selected", "full"):
        m = info["md"].get(name)
        if m is not None:
            rows += [r for r in m["diffusion"] if (r["source"] == "lj/cut") == (name == "reference")]
            fits += [r for r in m["arrhenius"] if (r["source"] == "lj/cut") == (name == "reference")]
    for lab in ("lj/cut", "selected", "full"):
        d = [r for r in rows if r["source"] == lab]
        if not d:
            continue
        x = np.array([1.0 / r["temperature"] for r in d])
        D = np.array([r["D_mean"] for r in d])
        sem = np.array([r["D_sem"] if isinstance(r["D_sem"], float) else np.nan for r in d])
        err = np.where(np.isfinite(sem), sem / D, 0.0)
        ax.errorbar(x, np.log(D), yerr=err, ls="none", marker="o" if lab != "lj/cut" else "s", capsize=3,
                    color=_COLORS[lab], mfc="none" if lab == "full" else None, label=lab)
        f = next((r for r in fits if r["source"] == lab), None)
        if f is not None and len(x) > 1:
            xs = np.linspace(x.min(), x.max(), 50)
            ax.plot(xs, np.log(f["D0"]) - f["Ea"] * xs, color=_COLORS[lab], ls=_STYLES[lab], lw=1,
                    label=f"{lab}: Ea = {f['Ea']:.3g} epsilon")
    ax.set_xlabel("1 / T  (kB / epsilon)")
    ax.set_ylabel("ln D  (D in sigma^2 / tau)")
    ax.legend(fontsize=7)
    ax.set_title("Arrhenius plot of the quenched LJ liquid", fontsize=9)
    return _save(fig, path)


def plot_speed(info: dict, path: Path) -> Path:
    """Median timesteps/s (min-max whiskers) of the three potentials, log scale."""
    plt = _plt()
    sp = info["speed"]
    labels = [k for k in ("lj/cut", "selected", "full") if k in sp]
    med = np.array([sp[k]["median"] for k in labels])
    lo = med - np.array([sp[k]["min"] for k in labels])
    hi = np.array([sp[k]["max"] for k in labels]) - med
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.bar(labels, med, yerr=[lo, hi], capsize=4, color=[_COLORS[k] for k in labels], alpha=0.8)
    for i, v in enumerate(med):
        ax.text(i, v, f" {v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("timesteps / s (256 atoms, 1 core)")
    ax.set_title("LAMMPS speed", fontsize=9)
    return _save(fig, path)


def plot_rdfs(demo_dir: Path, path: Path) -> Path:
    """g(r) per temperature for the three potentials (curves offset)."""
    plt = _plt()
    rows = _read_csv(demo_dir / "analysis" / "reference" / "rdf.csv")
    for name in ("selected", "full"):
        if (demo_dir / "analysis" / name / "rdf.csv").exists():
            rows += [r for r in _read_csv(demo_dir / "analysis" / name / "rdf.csv") if r["source"] != "lj/cut"]
    temps = sorted({r["temperature"] for r in rows})
    fig, ax = plt.subplots(figsize=(5.5, 1.4 + 1.2 * len(temps)))
    step = 1.5
    for k, t in enumerate(temps):
        for lab in ("lj/cut", "selected", "full"):
            d = [r for r in rows if r["source"] == lab and r["temperature"] == t]
            if d:
                ax.plot([r["r"] for r in d], [r["g"] + k * step for r in d], color=_COLORS[lab], ls=_STYLES[lab],
                        lw=1.2, label=lab if k == 0 else None)
        ax.text(0.05, k * step + 0.2, f"T = {t:g}", fontsize=8)
    ax.set_xlabel("r  (sigma)")
    ax.set_ylabel(f"g(r)  (offset by {step} per temperature)")
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def plot_radial_vs_rdf(demo_dir: Path, info: dict, path: Path) -> Path:
    """The candidate radial functions (selected ones bold) over g(r) of the lj/cut liquid."""
    from .potential import load_potential
    from .selection.plots import plot_radial_rdf

    model = load_potential(demo_dir / "potentials" / "full")
    sfs = list(model.settings.symfuncs)
    chosen = {str(f) for f in info["selected"]["sets"]["AGL"]["functions"]}
    names = info["selected"]["sets"]["full"]["functions"]
    # full-set names are in the model's column order; map them to the selected mask
    mask = [nm in chosen for nm in names]
    if len(mask) != len(sfs):
        raise ToolkitError("report: the full potential's functions do not match select/selected.json")
    ref = _read_csv(demo_dir / "analysis" / "reference" / "rdf.csv")
    t_low = min(r["temperature"] for r in ref)
    r = np.array([x["r"] for x in ref if x["temperature"] == t_low])
    g = np.array([x["g"] for x in ref if x["temperature"] == t_low])
    return plot_radial_rdf(sfs, mask, r, g, path)


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list], cls: str = "") -> str:
    out = [f'<table class="{cls}"><tr>' + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _g(x, fmt=".4g") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return format(x, fmt) if isinstance(x, (int, float)) else html.escape(str(x))


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
font-size:.9em} th{background:#f3f3f3} td.pass{background:#d9f2d9;font-weight:bold}
td.fail{background:#f8d0d0;font-weight:bold} img{max-width:100%;margin:.5em 0} .fig{display:inline-block;
vertical-align:top;max-width:49%} pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.8em}
.verdict{font-size:1.15em;padding:.5em;border-radius:4px} .ok{background:#d9f2d9} .bad{background:#f8d0d0}
"""


def _numbers(info: dict, rows: list[dict], timings: dict) -> dict:
    """Every number the report shows (``report.json``)."""
    sel, speed = info["selected"], info["speed"]
    ratio = speed["selected"]["median"] / speed["full"]["median"] if "selected" in speed and "full" in speed else None
    return {
        "criteria": rows,
        "all_pass": all(r["pass"] for r in rows),
        "selected_functions": sel["sets"]["AGL"]["functions"],
        "n_selected": sel["sets"]["AGL"]["n"],
        "lambda": sel["lambda"],
        "full_val_rmse": sel["full_val_rmse"],
        "fakes": info["fakes"],
        "sets": {k: {"n": v["n"], "functions": v["functions"]} for k, v in sel["sets"].items()},
        "test_rmse": sel.get("test_rmse"),
        "ttests": sel.get("ttests"),
        "comparison": {k: v["comparison"] for k, v in info["md"].items() if k != "reference"},
        "md_failed": info["md_failed"],
        "diffusion": {k: v["diffusion"] for k, v in info["md"].items()},
        "arrhenius": {k: v["arrhenius"] for k, v in info["md"].items()},
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


def _html_verdict(d: Path, info: dict, rows: list[dict]) -> list[str]:
    """Title, folder, and the PASS/FAIL table."""
    demo = info["demo"]
    h = ["<h1>hdnnp demo: Lennard-Jones, from reference data to an Arrhenius plot</h1>",
         f"<p>Folder <code>{html.escape(str(d))}</code>; {'full' if demo.get('full') else 'default'} sizes, "
         f"seed {demo.get('seed')}; started {html.escape(str(demo.get('started')))}. Every number below is read "
         f"from the files of the steps (<code>report.json</code> holds them all).</p>"]
    n_fail = sum(not r["pass"] for r in rows)
    verdict = ("all criteria PASS" if n_fail == 0 else f"{n_fail} of {len(rows)} criteria FAIL")
    h.append(f"<p class='verdict {'ok' if n_fail == 0 else 'bad'}'>{verdict}</p>")
    h.append("<h2>What the run must show</h2>")
    h.append(_table(["criterion", "value", "result"],
                    [[html.escape(r["criterion"]), html.escape(r["value"]),
                      f"<span>{'PASS' if r['pass'] else 'FAIL'}</span>"] for r in rows], "criteria")
             .replace("<td><span>PASS</span></td>", "<td class='pass'>PASS</td>")
             .replace("<td><span>FAIL</span></td>", "<td class='fail'>FAIL</td>"))
    return h


def _html_selection(d: Path, info: dict, figs: dict) -> list[str]:
    """The path, the rule, the chosen set, fakes and the repeats' test RMSEs."""
    from .selection.path import METRICS

    sel = info["selected"]
    h = ["<h2>Selection</h2>"]
    metric = sel.get("metric", "energy")
    unit = "epsilon/atom" if metric == "energy" else "epsilon/sigma"
    forces_cols = any(np.isfinite(float(r.get("val_rmse_forces_refit", float("nan")))) for r in info["path"])
    h.append(f"<p>Chosen set (λ = {sel['lambda']:.3g}, {sel['sets']['AGL']['n']} functions): "
             f"<code>{html.escape('; '.join(sel['sets']['AGL']['functions']))}</code>. "
             f"The path trains on {'energies and forces' if forces_cols else 'energies'}; the rule compares the "
             f"validation {METRICS[metric][3]}. "
             f"Rule: among the sets along the path with at most {info['config'].get('selection', {}).get('max_features')} "
             f"functions whose refit validation RMSE is at most {info['config'].get('selection', {}).get('tolerance')} "
             f"times the best validation RMSE (the lower of the full model's, {sel['full_val_rmse']:.4g}, and the best "
             f"refit's: {sel.get('reference_val_rmse', sel['full_val_rmse']):.4g} {unit}), the smallest "
             f"(ties: lower RMSE); "
             f"if none qualifies, the best RMSE among the sets of at most that size.</p>")
    cols = ["λ", "functions", "angular", "val. E RMSE penalised", "val. E RMSE refit"]
    if forces_cols:
        cols += ["val. F RMSE penalised", "val. F RMSE refit"]
    h.append(_table(cols + ["selected"],
                    [[_g(r["lambda"], ".3g"), _g(int(r["n_selected"]), "d"), _g(r.get("n_angular"), ".0f"),
                      _g(r["val_rmse_penalized"]), _g(r["val_rmse_refit"])]
                     + ([_g(r.get("val_rmse_forces_penalized")), _g(r.get("val_rmse_forces_refit"))] if forces_cols else [])
                     + [html.escape(str(r["selected"]))]
                     for r in info["path"]]))
    h.append(f"<div class='fig'>{_img(figs['path'], 'path')}</div>")
    if (d / "select" / "selection_matrix.png").exists():
        h.append(f"<div>{_img(d / 'select' / 'selection_matrix.png', 'feature matrix')}</div>")
    if info["fakes"]:
        fk = info["fakes"]
        h.append(f"<p>Fake-feature experiment: {fk['n_fakes']} noise features appended to the candidates, the "
                 f"whole path rerun (λ chosen {fk['lambda']:.3g}). Fakes kept:</p>")
        h.append(_table(["method", "functions", "fakes kept"],
                        [[k, v["n"], v["fakes_kept"]] for k, v in fk.items() if isinstance(v, dict) and "n" in v]))
    h.append(f"<h3>Test {html.escape(METRICS[metric][3])} over seeds (retrained from scratch)</h3>")
    if sel.get("test_rmse"):
        h.append(_table(["set", "functions", "mean", "std", "min", "max", "n"],
                        [[k, sel["sets"][k]["n"], _g(v["mean"]), _g(v["std"]), _g(v["min"]), _g(v["max"]), v["n"]]
                         for k, v in sel["test_rmse"].items()]))
        h.append(_table(["a", "b", "mean a", "mean b", "t", "p (Welch)"],
                        [[t["a"], t["b"], _g(t["mean_a"]), _g(t["mean_b"]), _g(t["t"], ".3g"), _g(t["p_value"], ".3g")]
                         for t in sel.get("ttests", [])]))
        if (d / "select" / "test_rmse_boxplot.png").exists():
            h.append(f"<div class='fig'>{_img(d / 'select' / 'test_rmse_boxplot.png', 'test RMSE')}</div>")
    h.append(f"<div class='fig'>{_img(figs['radial_rdf'], 'radial functions and RDF')}</div>")

    return h


def _html_md(d: Path, info: dict, figs: dict) -> list[str]:
    """The quench protocol, D and RDF comparisons, the full potential's note, Arrhenius fits."""
    sel, speed = info["selected"], info["speed"]
    h = []
    h.append("<h2>Molecular dynamics: melt and quench at ρ = "
             f"{info['quench'].get('selected', {}).get('protocol', {}).get('density', '')} σ<sup>-3</sup></h2>")
    q = info["quench"].get("selected", {}).get("protocol", {}) or {}
    h.append(f"<p>256 atoms, Nose-Hoover NVT, timestep {q.get('timestep')} τ; melt {q.get('melt_time')} τ at "
             f"T = {q.get('melt_temperature')}, then per temperature {q.get('equilibration')} τ equilibration and "
             f"{q.get('measurement')} τ measurement. Runs (velocity seeds): "
             + ", ".join(f"{MD_LABELS[k]} {v.get('runs')}" for k, v in info["quench"].items())
             + f". D from the Einstein fit over the last 80 % of the MSD "
             f"({info['demo'].get('sizes', {}).get('msd_source', '')} MSD), mean ± standard error over runs. "
             + ("The selected potential in MD is the chosen set's refit continued on energies and forces "
                "(<code>potentials/refit</code>); the full potential is the selection's model on all candidates"
                + (", trained on energies and forces." if sel.get("metric") == "forces" else ", trained on energies.")
                if (d / "potentials" / "refit" / "model.pt").exists() else "")
             + "</p>")
    drows = []
    for name in [n for n in info["md"] if n != "reference"]:
        comp = info["md"][name]["comparison"]
        dif = {(r["source"], r["temperature"]): r for r in info["md"][name]["diffusion"]}
        for c in comp:
            a = dif.get((name, c["temperature"]), {})
            b = dif.get(("lj/cut", c["temperature"]), {})
            err = _ratio_err(c["D"], a.get("D_sem", float("nan")), c["D_reference"], b.get("D_sem", float("nan")))
            drows.append([name, _g(c["temperature"], "g"), f"{_g(c['D'])} ± {_g(a.get('D_sem'), '.2g')}",
                          f"{_g(c['D_reference'])} ± {_g(b.get('D_sem'), '.2g')}", f"{c['D_ratio']:.3f} ± {_g(err, '.2g')}",
                          f"{c['r_peak_rel_dev']:+.2%}", f"{c['g_peak_rel_dev']:+.2%}"])
    h.append(_table(["potential", "T", "D", "D lj/cut", "D ratio", "RDF peak position", "RDF peak height"], drows))
    for name, err in info["md_failed"].items():
        h.append(f"<p class='verdict bad'><b>MD with the {name} potential failed</b>: {html.escape(err)}</p>")
    if "full" not in info["md"] and "full" in speed and "full" not in info["md_failed"]:
        sizes = info["demo"].get("sizes", {})
        steps = (sizes.get("melt_time", 0) + len(sizes.get("md_temperatures", [])) * (sizes.get("equilibration", 0)
                 + sizes.get("measurement", 0))) / 0.005
        hours = steps / speed["full"]["median"] / 3600.0
        h.append(f"<p><b>The full 22-function potential was not quenched at these sizes</b> (<code>runs_full = 0</code>): "
                 f"at its measured {speed['full']['median']:.3g} timesteps/s one run of the protocol above "
                 f"({steps:.0f} steps) would take {hours:.1f} hours on one core. <code>--full</code> (or "
                 f"<code>runs_full</code>) quenches it.</p>")
    if "full" in info["md"]:
        sz = info["demo"].get("sizes", {})
        temps = ", ".join(f"{t:g}" for t in sz.get("full_md_temperatures", []))
        slow = (f", {speed['selected']['median'] / speed['full']['median']:.0f} times slower than the selected one"
                if "full" in speed and "selected" in speed else "")
        refit_note = (" It is the selection's full model, trained on energies only: unlike the selected set it gets "
                      "no refit on forces, so its MD numbers measure that energy-only fit, not the 22 functions' best."
                      if (d / "potentials" / "refit").exists() and sel.get("metric") != "forces" else
                      " It is the selection's full model (energies and forces, AdamW): unlike the selected set it "
                      "is not continued with L-BFGS.")
        h.append(f"<p>The full 22-function potential (angular functions{slow}) ran its own, shorter protocol: "
                 f"{sz.get('runs_full')} run(s) at T = {temps}, melt {sz.get('full_melt_time'):g} tau, "
                 f"{sz.get('full_equilibration'):g} tau equilibration and {sz.get('full_measurement'):g} tau "
                 f"measurement, so its D carries a larger statistical error; it is shown for comparison and is not "
                 f"a pass criterion.{refit_note}</p>")
    h.append(f"<div class='fig'>{_img(figs['arrhenius'], 'Arrhenius')}</div>")
    h.append(f"<div class='fig'>{_img(figs['rdf'], 'RDF')}</div>")
    arr = []
    for name in info["md"]:
        for f in info["md"][name]["arrhenius"]:
            if (f["source"] == "lj/cut") != (name == "reference"):
                continue
            arr.append([f["source"], _g(f["Ea"]), _g(f.get("Ea_stderr")), _g(f["D0"]), _g(f.get("r2"), ".4f")])
    h.append(_table(["potential", "Ea (epsilon)", "± (s.e.)", "D0 (sigma²/tau)", "r²"], arr))

    return h


def _html_speed(info: dict, figs: dict) -> list[str]:
    speed = info["speed"]
    h = []
    h.append("<h2>Speed in LAMMPS</h2>")
    h.append(_table(["potential", "median timesteps/s", "min", "max", "tau/day", "vs selected"],
                    [[k, _g(v["median"], ".0f"), _g(v["min"], ".0f"), _g(v["max"], ".0f"), _g(v["per_day_median"], ".3g"),
                      _g(v["median"] / speed["selected"]["median"], ".2f") if "selected" in speed else "–"]
                     for k, v in speed.items()]))
    h.append(f"<div class='fig'>{_img(figs['speed'], 'speed')}</div>")

    return h


def _html_settings(d: Path, info: dict, numbers: dict, criteria: dict) -> list[str]:
    """Timings, sizes and seed, the configs, the refit, the data generation and versions."""
    import yaml

    demo, timings = info["demo"], numbers["timings_s"]
    titles = demo.get("steps") or {}
    h = []
    h.append("<h2>Settings, seeds, versions, timings</h2>")
    h.append(_table(["step", "time"], [[html.escape(titles.get(k, k)), _g(v, ".0f") + " s"] for k, v in timings.items()]
                    + [["total (sum of steps)", _g(numbers["total_s"], ".0f") + " s"]]))
    h.append("<h3>Demo sizes and seed</h3><pre>" + html.escape(yaml.safe_dump(
        {"seed": demo.get("seed"), "full": demo.get("full"), "lmp": demo.get("lmp"), "sizes": demo.get("sizes"),
         "criteria": criteria}, sort_keys=False)) + "</pre>")
    h.append("<h3>Selection config (select/config.yaml)</h3><pre>" + html.escape(yaml.safe_dump(info["config"], sort_keys=False))
             + "</pre>")
    refit_cfg = d / "potentials" / "refit" / "config.yaml"
    if refit_cfg.exists():
        h.append("<h3>Refit of the selected functions on energies and forces (potentials/refit/config.yaml)</h3><pre>"
                 + html.escape(refit_cfg.read_text()) + "</pre>")
        metrics = d / "potentials" / "refit" / "metrics.json"
        if metrics.exists():
            m = read_json(metrics)
            h.append(f"<p>Refit test RMSE: energy {_g(m.get('test', {}).get('rmse_energy'))} epsilon/atom, forces "
                     f"{_g(m.get('test', {}).get('rmse_forces'))} epsilon/sigma.</p>")
    h.append("<h3>Reference data</h3><pre>" + html.escape(yaml.safe_dump(
        {k: v for k, v in info["generate"].get("settings", {}).items() if k != "state_points"}, sort_keys=False)) + "</pre>")
    h.append("<h3>Versions</h3><pre>" + html.escape(yaml.safe_dump(
        {**demo.get("versions", {}), "lammps_executable": info["generate"].get("lammps")}, sort_keys=False)) + "</pre>")
    return h


def write_report(demo_dir: str | os.PathLike, timings: dict | None = None) -> dict:
    """Figures, ``report.json`` and ``report.html`` of a finished demo; returns the report's numbers."""
    d = Path(demo_dir)
    info = collect(d)
    criteria = info["demo"].get("criteria")
    if not criteria:
        raise ToolkitError(f"report: {d / 'demo.json'} records no criteria")
    rows = evaluate_criteria(info, criteria)
    fig_dir = d / "report"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figs = {
        "path": plot_path(info, fig_dir / "path.png"),
        "arrhenius": plot_arrhenius(info, fig_dir / "arrhenius.png"),
        "rdf": plot_rdfs(d, fig_dir / "rdf.png"),
        "radial_rdf": plot_radial_vs_rdf(d, info, fig_dir / "radial_rdf.png"),
        "speed": plot_speed(info, fig_dir / "speed.png"),
    }
    timings = {**{k: v["seconds"] for k, v in info["steps"].items()}, **(timings or {})}
    numbers = _numbers(info, rows, timings)
    write_json(d / "report.json", numbers)
    h = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hdnnp demo report</title>"
         f"<style>{_CSS}</style></head><body>"]
    h += _html_verdict(d, info, rows)
    h += _html_selection(d, info, figs)
    h += _html_md(d, info, figs)
    h += _html_speed(info, figs)
    h += _html_settings(d, info, numbers, criteria)
    h.append("</body></html>")
    with atomic_write(d / "report.html") as fh:
        fh.write("\n".join(h))
    return numbers
