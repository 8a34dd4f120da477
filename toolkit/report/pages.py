"""The report's HTML sections: one function per section, each a list of HTML strings.

Every number comes from ``info`` (:func:`toolkit.report.artefacts.collect`) or
the criteria rows (:mod:`toolkit.report.criteria`), in the data's units
(:mod:`toolkit.report.units`).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

from ..fileio import read_json
from ..stats import ratio_sem
from .criteria import NOT_MEASURED, deviation_text

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
font-size:.9em} th{background:#f3f3f3} td.pass,td.passed{background:#d9f2d9;font-weight:bold}
td.fail,td.failed{background:#f8d0d0;font-weight:bold} img{max-width:100%;margin:.5em 0} .fig{display:inline-block;
vertical-align:top;max-width:49%} pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.8em}
.verdict{font-size:1.15em;padding:.5em;border-radius:4px} .ok{background:#d9f2d9} .bad{background:#f8d0d0}
"""

_SYSTEM_TITLES = {"lj": "Lennard-Jones", "al-eam": "liquid aluminium", "si-sw": "liquid silicon",
                  "cuzr-eam": "the Cu-Zr liquid"}


def img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table(header: list[str], rows: list[list], cls: str = "") -> str:
    out = [f'<table class="{cls}"><tr>' + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def g(x, fmt=".4g") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return format(x, fmt) if isinstance(x, (int, float)) else html.escape(str(x))


def _fig(figs: dict, name: str, alt: str, cls: str = "fig") -> str:
    if name in figs:
        return f"<div class='{cls}'>{img(figs[name], alt)}</div>"
    return f"<p><i>{html.escape(alt)}: {NOT_MEASURED}</i></p>"


def step_title(info: dict, name: str) -> str:
    """A step's title with the system's reference potential named (older folders say lj/cut for every system)."""
    u = info["units"]
    title = (info["demo"].get("steps") or {}).get(name, name)
    return title.replace("lj/cut", u.reference_label) if not u.is_lj else title


def verdict(info: dict, rows: list[dict]) -> list[str]:
    """Title, folder, the reference potential, and the PASS/FAIL table."""
    demo, u = info["demo"], info["units"]
    h = [f"<h1>hdnnp demo: {_SYSTEM_TITLES.get(u.system, u.system)}, from reference data to an Arrhenius plot</h1>",
         f"<p>Folder <code>{html.escape(str(info['dir']))}</code>; system <b>{html.escape(u.system)}</b> "
         f"({html.escape(u.composition)}), reference potential <b>{html.escape(u.reference_name)}</b>; "
         f"{'full' if demo.get('full') else 'default'} sizes, seed {demo.get('seed')}; started "
         f"{html.escape(str(demo.get('started')))}. Units: lengths in {u.length}, energies in {u.energy}, time in "
         f"{u.time}, temperatures in {u.temperature}, energy RMSEs in {u.energy_rmse}, forces in {u.force}, D in "
         f"{u.diffusion}{' (' + u.diffusion_note + ')' if u.diffusion_note else ''}. Every number below is read "
         f"from the files of the steps (<code>report.json</code> holds them all).</p>"]
    n_fail = sum(not r["pass"] for r in rows)
    text = "all criteria PASS" if n_fail == 0 else f"{n_fail} of {len(rows)} criteria FAIL"
    h.append(f"<p class='verdict {'ok' if n_fail == 0 else 'bad'}'>{text}</p>")
    if info.get("missing"):
        h.append("<p>Artefacts not found (their criteria say <i>not measured</i>): "
                 + ", ".join(f"<code>{html.escape(m)}</code>" for m in info["missing"]) + "</p>")
    h.append("<h2>What the run must show</h2>")
    body = []
    for r in rows:
        lim = r.get("limit")
        body.append([html.escape(r["criterion"]), html.escape(r["value"]),
                     g(r["number"]) if isinstance(r.get("number"), (int, float)) else "–",
                     g(lim) if isinstance(lim, (int, float)) else "–",
                     "<span>PASS</span>" if r["pass"] else "<span>FAIL</span>"])
    h.append(table(["criterion", "value", "number", "limit", "result"], body, "criteria")
             .replace("<td><span>PASS</span></td>", "<td class='pass'>PASS</td>")
             .replace("<td><span>FAIL</span></td>", "<td class='fail'>FAIL</td>"))
    return h


def selection(info: dict, figs: dict) -> list[str]:
    """The path, the rule, the chosen set (per element), fakes and the repeats' test RMSEs."""
    sel, u, d = info["selected"], info["units"], info["dir"]
    h = ["<h2>Selection</h2>"]
    if sel is None:
        return h + [f"<p class='verdict bad'>{NOT_MEASURED}: no <code>select/selected.json</code> (the selection "
                    f"step failed or did not run).</p>"]
    metric = sel.get("metric", "energy")
    unit = u.rmse_unit(metric)
    scale = u.energy_scale if metric == "energy" else 1.0
    forces_cols = any(np.isfinite(float(r.get("val_rmse_forces_refit", float("nan")))) for r in info["path"])
    sc = {"max_features": sel.get("max_features"), "tolerance": sel.get("tolerance"),
          **{k: v for k, v in (info["config"].get("selection") or {}).items() if v is not None}}
    listed = ("per element below" if len(u.elements) > 1 else
              f"<code>{html.escape('; '.join(sel['sets']['AGL']['functions']))}</code>")
    h.append(f"<p>Chosen set (λ = {sel['lambda']:.3g}, {sel['sets']['AGL']['n']} of {sel['sets']['full']['n']} "
             f"functions): {listed}. "
             f"The path trains on {'energies and forces' if forces_cols else 'energies'}; the rule compares the "
             f"validation {'force RMSE per component' if metric == 'forces' else 'energy RMSE per atom'} ({unit}). "
             f"Rule: among the sets along the path with at most {sc.get('max_features')} functions whose refit "
             f"validation RMSE is at most {sc.get('tolerance')} times the best validation RMSE (the lower of the full "
             f"model's, {sel['full_val_rmse'] * scale:.4g}, and the best refit's: "
             f"{sel.get('reference_val_rmse', sel['full_val_rmse']) * scale:.4g} {unit}), the smallest (ties: lower "
             f"RMSE); if none qualifies, the best RMSE among the sets of at most that size"
             + ("; then the MD check (below)." if "candidates" in (info.get("md_check") or {}) else ".") + "</p>")
    h += _per_element(info)
    e_scale = u.energy_scale
    cols = ["λ", "functions", "angular", f"val. E RMSE penalised ({u.energy_rmse})", f"val. E RMSE refit ({u.energy_rmse})"]
    if forces_cols:
        cols += [f"val. F RMSE penalised ({u.force})", f"val. F RMSE refit ({u.force})"]
    h.append(table(cols + ["selected"],
                   [[g(r["lambda"], ".3g"), g(int(r["n_selected"]), "d"), g(r.get("n_angular"), ".0f"),
                     g(r["val_rmse_penalized"] * e_scale), g(r["val_rmse_refit"] * e_scale)]
                    + ([g(r.get("val_rmse_forces_penalized")), g(r.get("val_rmse_forces_refit"))] if forces_cols else [])
                    + [html.escape(str(r["selected"]))] for r in info["path"]]))
    h.append(_fig(figs, "path", "selection path"))
    if (d / "select" / "selection_matrix.png").exists():
        h.append(f"<div>{img(d / 'select' / 'selection_matrix.png', 'feature matrix')}</div>")
    if info["fakes"]:
        fk = info["fakes"]
        h.append(f"<p>Fake-feature experiment: {fk['n_fakes']} noise features"
                 f"{' per element' if len(u.elements) > 1 else ''} appended to the candidates, the whole path rerun "
                 f"(λ chosen {fk['lambda']:.3g}). Fakes kept:</p>")
        h.append(table(["method", "functions", "fakes kept"],
                       [[k, v["n"], v["fakes_kept"]] for k, v in fk.items() if isinstance(v, dict) and "n" in v]))
    h.append(f"<h3>Test {'force RMSE per component' if metric == 'forces' else 'energy RMSE per atom'} ({unit}) "
             f"over seeds (retrained from scratch), beside CUR and Pearson (PC) sets of the same size</h3>")
    if sel.get("test_rmse"):
        h.append(table(["set", "functions", "mean", "std", "min", "max", "n"],
                       [[k, sel["sets"][k]["n"], g(v["mean"] * scale), g(v["std"] * scale), g(v["min"] * scale),
                         g(v["max"] * scale), v["n"]] for k, v in sel["test_rmse"].items()]))
        h.append(table(["a", "b", "mean a", "mean b", "t", "p (Welch)"],
                       [[t["a"], t["b"], g(t["mean_a"] * scale), g(t["mean_b"] * scale), g(t["t"], ".3g"),
                         g(t["p_value"], ".3g")] for t in sel.get("ttests", [])]))
        if (d / "select" / "test_rmse_boxplot.png").exists():
            h.append(f"<div class='fig'>{img(d / 'select' / 'test_rmse_boxplot.png', 'test RMSE')}</div>")
    else:
        h.append(f"<p>{NOT_MEASURED}: no repeats (selection.repeats: 0).</p>")
    if "radial_rdf" in figs:
        h.append(_fig(figs, "radial_rdf", "radial functions and RDF"))
    for e in u.elements if len(u.elements) > 1 else ():
        f = d / "select" / f"radial_rdf_{e}.png"
        if f.exists():
            h.append(f"<div class='fig'>{img(f, f'radial functions of {e}')}</div>")
    return h


def _per_element(info: dict) -> list[str]:
    """Which functions each element's network kept (and the MD cost), AGL beside CUR and Pearson."""
    sets = info["selected"]["sets"]
    by = sets["AGL"].get("by_element") or {}
    if not by:
        return []
    h = ["<h3>Per element</h3>"]
    rows = []
    for e, b in by.items():
        row = [e, b["n_candidates"], f"{b['n_kept']} ({b['n_kept'] / b['n_candidates']:.0%})", b.get("n_radial", "–"),
               b.get("n_angular", "–")]
        row.append(g(b.get("md_cost")) + (f" of {g(b.get('md_cost_all'))}" if b.get("md_cost_all") else ""))
        for k in ("CUR", "PC"):
            o = (sets.get(k, {}).get("by_element") or {}).get(e)
            row.append(f"{o['n_kept']} ({o.get('n_radial', '?')} radial)" if o else "–")
        rows.append(row)
    h.append(table(["element", "candidates", "kept (AGL)", "radial", "angular", "MD cost of the kept (of all)",
                    "CUR", "Pearson"], rows))
    if len(by) > 1:
        for e, b in by.items():
            h.append(f"<p><b>{html.escape(e)}</b> keeps: <code>{html.escape('; '.join(b['functions']))}</code></p>")
    return h


def state_errors(info: dict) -> list[str]:
    """The final potentials' energy and force errors per state point of the data (a bias between
    temperatures shows here before it shows in MD)."""
    errs, u = info.get("state_errors") or {}, info["units"]
    if not errs:
        return []
    h = ["<h2>Errors per state point</h2>",
         "<p>The final potentials on evenly spaced structures of every state point of the data (training, "
         "validation and test alike): the mean energy error per atom (its bias), its RMSE and the force RMSE. "
         "A bias that changes with temperature tilts the liquid's energy landscape: it shifts structure and "
         "diffusion although the average errors look small.</p>"]
    names = [n for n in ("selected", "full") if n in errs]
    first = errs[names[0]]

    def key(r):   # the state point's index and the kind of start (MD samples or rattled copies): never NaN
        return r.get("state"), r.get("start")

    def varies(col):
        vals = {r.get(col) for r in first if isinstance(r.get(col), float) and np.isfinite(r.get(col))}
        return len(vals) > 1

    extra = [(c, label) for c, label in (("density_target", f"density ({u.density})"), ("pressure_target", "pressure"))
             if varies(c)]
    header = ["start", f"T ({u.temperature})", *[label for _, label in extra], "n"]
    for n in names:
        header += [f"{n}: energy bias ({u.energy_rmse})", f"{n}: energy RMSE ({u.energy_rmse})",
                   f"{n}: force RMSE ({u.force})"]
    rows = []
    for f in first:
        row = [g(f.get("start")), g(f.get("temperature"), "g"), *[g(f.get(c), "g") for c, _ in extra],
               g(int(f["n"]), "d")]
        for n in names:
            r = next((x for x in errs[n] if key(x) == key(f)), None)
            row += ([g(r["energy_bias"] * u.energy_scale, "+.3f"), g(r["energy_rmse"] * u.energy_scale, ".3f"),
                     g(r["force_rmse"], ".4f")] if r else ["–"] * 3)
        rows.append(row)
    h.append(table(header, rows))
    d = info["dir"]
    for n in names:
        png = d / "potentials" / "errors" / n / "errors_by_state.png"
        if png.exists():
            h.append(f"<div class='fig'>{img(png, f'{n} potential: errors per state point')}</div>")
    return h


def md_check(info: dict) -> list[str]:
    """The MD-checked choice: the rule and what each candidate set did."""
    u = info["units"]
    rec = info.get("md_check")
    h = ["<h2>The MD-checked choice</h2>"]
    if rec is None:
        return h + [f"<p class='verdict bad'>{NOT_MEASURED}: no MD-check record "
                    f"(<code>select/md_check/md_check.json</code>).</p>"]
    if "skipped" in rec:
        return h + [f"<p class='verdict bad'>The MD check was skipped: {html.escape(str(rec['skipped']))}. The "
                    f"chosen set went to the quench without a short MD first.</p>"]
    h.append(f"<p>Rule: {html.escape(rec.get('rule', ''))}. The data's shortest pair distance: "
             f"{g(rec.get('data_min_distance'))} {u.length}.</p>")
    rows = []
    for c in rec.get("candidates", []):
        ok = c.get("status") == "PASSED"
        rows.append([g(c.get("rank", 0) + 1, "d"), g(c.get("lambda"), ".3g"), g(c.get("n_selected"), "d"),
                     f"<span>{'PASSED' if ok else html.escape(str(c.get('status')))}</span>",
                     html.escape(str(c.get("reason") or "–")), g(c.get("min_pair_distance"), ".3g"),
                     g(c.get("distance_limit"), ".3g"), g(c.get("extrapolation_warnings"), "d"),
                     "chosen" if c.get("step") == rec.get("chosen_step") and ok else ""])
    h.append(table(["rank", "λ", "functions", "status", "reason", f"closest pair ({u.length})",
                    f"limit ({u.length})", "extrapolation warnings", ""], rows)
             .replace("<td><span>PASSED</span></td>", "<td class='passed'>PASSED</td>")
             .replace("<td><span>FAILED</span></td>", "<td class='failed'>FAILED</td>"))
    if rec.get("chosen_step") is None:
        h.append("<p class='verdict bad'>No candidate set passed: no potential was handed out.</p>")
    return h


def guard(info: dict) -> list[str]:
    """The MD guard's verdict on every run of every quench (FAILED runs with their reason)."""
    u = info["units"]
    h = ["<h2>MD guard: every quench run</h2>"]
    for name in ("reference", "selected", "full"):
        gd = info.get("guard", {}).get(name)
        label = u.reference_label if name == "reference" else name
        if gd is None:
            if name in info.get("md_failed", {}):
                h.append(f"<p class='verdict bad'><b>{label}</b>: MD FAILED: "
                         f"{html.escape(info['md_failed'][name])}</p>")
            continue
        lim = gd["limits"]
        h.append(f"<p><b>{html.escape(label)}</b>: limit {g(lim.get('min_distance'), '.3g')} {u.length} "
                 f"({html.escape(str(lim.get('distance_source', 'guard')))}), at most {g(lim.get('max_ew_rate'))} "
                 f"extrapolation warnings per atom and step, conserved-energy drift at most "
                 f"{g(lim.get('max_drift_kT'))} kB T per atom.</p>")
        rows = [[r["run"], f"<span>{html.escape(str(r['status']))}</span>", html.escape(str(r["step"] or "–")),
                 html.escape(str(r["reason"] or "–")), g(r["min_pair_distance"], ".3g"),
                 g(r["extrapolation_warnings"], "d") if isinstance(r["extrapolation_warnings"], int) else
                 g(r["extrapolation_warnings"]), g(r["max_ew_per_atom_step"], ".3g"), ", ".join(r["steps_done"])]
                for r in gd["runs"]]
        h.append(table(["run", "status", "failed at", "reason", f"closest pair ({u.length})", "extrapolation warnings",
                        "max warnings / atom / step", "steps passed"], rows)
                 .replace("<td><span>PASSED</span></td>", "<td class='passed'>PASSED</td>")
                 .replace("<td><span>FAILED</span></td>", "<td class='failed'>FAILED</td>"))
        if name in info.get("md_failed", {}):
            h.append(f"<p class='verdict bad'><b>The {label} potential FAILED in MD</b>: "
                     f"{html.escape(info['md_failed'][name])}. It is reported as FAILED and not analysed.</p>")
    return h


def _protocol_text(info: dict) -> str:
    u = info["units"]
    q = (info["quench"].get("selected") or info["quench"].get("reference") or {}).get("protocol") or {}
    runs = ", ".join(f"{u.reference_label if k == 'reference' else k} {v.get('runs')}" for k, v in info["quench"].items())
    n_atoms = q.get("n_atoms")
    return (f"{n_atoms or '?'} atoms, Nose-Hoover NVT at {g(q.get('density'))} {u.density}, timestep "
            f"{g(q.get('timestep'))} {u.time}; melt {g(q.get('melt_time'))} {u.time} at T = "
            f"{g(q.get('melt_temperature'))} {u.temperature}, then per temperature {g(q.get('equilibration'))} {u.time} "
            f"equilibration and {g(q.get('measurement'))} {u.time} measurement. Runs (velocity seeds): {runs}. "
            f"D from the Einstein fit over the last 80 % of the MSD "
            f"({(info['demo'].get('sizes') or {}).get('msd_source', '')} MSD), mean ± standard error over runs, in "
            f"{u.diffusion}{' (' + u.diffusion_note + ')' if u.diffusion_note else ''}.")


def md(info: dict, figs: dict) -> list[str]:
    """The quench protocol, D and RDF comparisons, Arrhenius fits, per-element results."""
    u = info["units"]
    h = [f"<h2>Molecular dynamics: melt and quench, against {html.escape(u.reference_name)}</h2>",
         f"<p>{_protocol_text(info)}"
         + (" The selected potential in MD is the chosen set's refit continued on energies and forces "
            "(<code>potentials/refit</code>); the full potential is the selection's model on all candidates."
            if (info["dir"] / "potentials" / "refit" / "model.pt").exists() else "") + "</p>"]
    ref_src = (info["quench"].get("reference") or {}).get("label") or "lj/cut"
    drows = []
    for name in ("selected", "full"):
        m = info["md"].get(name)
        if m is None:
            continue
        dif = {(r["source"], r["temperature"]): r for r in m["diffusion"]}
        for c in m["comparison"]:
            a, b = dif.get((name, c["temperature"]), {}), dif.get((ref_src, c["temperature"]), {})
            err = ratio_sem(c["D"], a.get("D_sem"), c["D_reference"], b.get("D_sem"))
            drows.append([name, g(c["temperature"], "g"), f"{g(c['D'])} ± {g(a.get('D_sem'), '.2g')}",
                          f"{g(c['D_reference'])} ± {g(b.get('D_sem'), '.2g')}", f"{c['D_ratio']:.3f} ± {g(err, '.2g')}",
                          f"{c['r_peak_rel_dev']:+.2%}", f"{c['g_peak_rel_dev']:+.2%}"])
    h.append(table(["potential", f"T ({u.temperature})", f"D ({u.diffusion})", f"D {u.reference_label}",
                    "D ratio", "RDF peak position", "RDF peak height"], drows) if drows else
             f"<p>{NOT_MEASURED}: no potential compared with {html.escape(u.reference_label)} (no analysis).</p>")
    for name, err in info["md_failed"].items():
        h.append(f"<p class='verdict bad'><b>MD with the {name} potential FAILED</b> (not analysed): "
                 f"{html.escape(err)}</p>")
    h += _full_note(info)
    h.append(_fig(figs, "arrhenius", "Arrhenius plot"))
    h.append(_fig(figs, "rdf", "RDF"))
    arr = []
    for name, m in info["md"].items():
        src = ref_src if name == "reference" else name
        for f in m["arrhenius"]:
            if f["source"] == src:
                arr.append([u.reference_label if name == "reference" else name, g(f["Ea"]), g(f.get("Ea_stderr")),
                            g(f["D0"]), g(f.get("r2"), ".4f")])
    if arr:
        h.append(table(["potential", f"Ea ({u.energy})", "± (s.e.)", f"D0 ({u.diffusion})", "r²"], arr))
    h += _species(info, figs)
    return h


def _full_note(info: dict) -> list[str]:
    speed, sizes, u = info["speed"], info["demo"].get("sizes") or {}, info["units"]
    n_full = (info["selected"] or {}).get("sets", {}).get("full", {}).get("n", "all-candidate")
    if "full" in info["md"]:
        temps = ", ".join(f"{t:g}" for t in sizes.get("full_md_temperatures", []))
        return [f"<p>The full {n_full}-function potential ran its own, shorter protocol: {sizes.get('runs_full')} "
                f"run(s) at T = {temps} {u.temperature}, melt {g(sizes.get('full_melt_time'))} {u.time}, "
                f"{g(sizes.get('full_equilibration'))} {u.time} equilibration and "
                f"{g(sizes.get('full_measurement'))} {u.time} measurement, so its D carries a larger statistical "
                f"error; it is shown for comparison and is not a pass criterion.</p>"]
    if "full" in speed and "full" not in info["md_failed"] and not sizes.get("runs_full"):
        return [f"<p><b>The full {n_full}-function potential was not quenched at these sizes</b> "
                f"(<code>runs_full = 0</code>); its speed is measured below.</p>"]
    return []


def _species(info: dict, figs: dict) -> list[str]:
    """Per-element D and partial RDF peaks (alloys), bond-angle peaks (covalent liquids)."""
    from .criteria import species_comparison

    u = info["units"]
    h = []
    d_cmp, p_cmp = species_comparison(info)
    if len(u.elements) > 1 and d_cmp is not None:
        h.append("<h3>Per element: D and partial RDFs</h3>")
        h.append(table(["element", f"T ({u.temperature})", f"D ({u.diffusion})", f"D {u.reference_label}", "D ratio"],
                       [[r["element"], g(r["temperature"], "g"), g(r["D_mean"]), g(r["D_mean_ref"]),
                         f"{r['D_ratio']:.3f} ± {g(r['D_ratio_sem'], '.2g')}"] for r in d_cmp.to_dict("records")]))
        h.append(table(["pair", f"T ({u.temperature})", f"r peak ({u.length})", "reference", "deviation", "g peak",
                        "reference", "deviation"],
                       [[r["pair"], g(r["temperature"], "g"), g(r["r_peak"]), g(r["r_peak_ref"]),
                         deviation_text(r, "r_peak"), g(r["g_peak"]), g(r["g_peak_ref"]), deviation_text(r, "g_peak")]
                        for r in p_cmp.to_dict("records")]))
        h.append(_fig(figs, "partial_rdf", "partial RDFs"))
    fits = [(u.reference_label if n == "reference" else n, f) for n in ("reference", "selected", "full")
            for f in ((info["md"].get(n) or {}).get("species", {}).get("arrhenius_elements") or [])]
    if len(u.elements) > 1 and fits:
        h.append(table(["potential", "element", f"Ea ({u.energy})", "± (s.e.)", f"D0 ({u.diffusion})"],
                       [[lab, f["element"], g(f["Ea"]), g(f.get("Ea_stderr")), g(f["D0"])] for lab, f in fits]))
    peaks = {n: (info["md"].get(n) or {}).get("species", {}).get("bond_angle_peaks") for n in ("reference", "selected")}
    if peaks["selected"] and peaks["reference"]:
        ref = {r["temperature"]: r for r in peaks["reference"]}
        h.append("<h3>Bond-angle distributions</h3>")
        h.append(table([f"T ({u.temperature})", "peak selected (degrees)", f"peak {u.reference_label}", "difference",
                        f"bond cutoff ({u.length})"],
                       [[g(r["temperature"], "g"), g(r["theta_peak"], ".1f"),
                         g(ref.get(r["temperature"], {}).get("theta_peak"), ".1f"),
                         g(r["theta_peak"] - ref[r["temperature"]]["theta_peak"], "+.2f")
                         if r["temperature"] in ref else "–", g(r["bond_cutoff"], ".3g")] for r in peaks["selected"]]))
        h.append(_fig(figs, "bond_angles", "bond-angle distributions"))
    return h


def speed(info: dict, figs: dict) -> list[str]:
    sp, u = info["speed"], info["units"]
    h = ["<h2>Speed in LAMMPS</h2>"]
    if not sp:
        return h + [f"<p class='verdict bad'>{NOT_MEASURED}: no <code>bench/bench.csv</code>.</p>"]
    per_day = next((v.get("per_day_unit") for v in sp.values() if isinstance(v.get("per_day_unit"), str)), "per day")
    h.append(table(["potential", "median timesteps/s", "min", "max", per_day, "vs selected"],
                   [[u.reference_label if k == "reference" else k, g(v["median"], ".0f"), g(v["min"], ".0f"),
                     g(v["max"], ".0f"), g(v["per_day_median"], ".3g"),
                     g(v["median"] / sp["selected"]["median"], ".2f") if sp.get("selected", {}).get("median")
                     else "–"]
                    for k, v in sp.items()]))
    h.append(_fig(figs, "speed", "speed"))
    return h


def settings(info: dict, numbers: dict, criteria: dict) -> list[str]:
    """Timings, sizes and seed, the configs, the refit, the data generation and versions."""
    import yaml

    demo, timings, d, u = info["demo"], numbers["timings_s"], info["dir"], info["units"]
    h = ["<h2>Settings, seeds, versions, timings</h2>"]
    h.append(table(["step", "time"], [[html.escape(step_title(info, k)), g(v, ".0f") + " s"] for k, v in timings.items()]
                   + [["total (sum of steps)", g(numbers["total_s"], ".0f") + " s"]]))
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
            m = read_json(metrics).get("test", {})
            e = m.get("rmse_energy")
            h.append(f"<p>Refit test RMSE: energy {g(e * u.energy_scale if e is not None else None)} {u.energy_rmse}, "
                     f"forces {g(m.get('rmse_forces'))} {u.force}.</p>")
    h.append("<h3>Reference data</h3><pre>" + html.escape(yaml.safe_dump(
        {k: v for k, v in info["generate"].get("settings", {}).items() if k != "state_points"}, sort_keys=False)) + "</pre>")
    h.append("<h3>Versions</h3><pre>" + html.escape(yaml.safe_dump(
        {**demo.get("versions", {}), "lammps_executable": info["generate"].get("lammps")}, sort_keys=False)) + "</pre>")
    return h
