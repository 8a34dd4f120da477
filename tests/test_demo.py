"""``hdnnp demo`` end to end at a tiny size: every artefact, report numbers read from them, reuse of steps."""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import pytest

from toolkit.demo import STEPS, DemoSizes, make_sizes, run_demo
from toolkit.errors import ToolkitError

# A few minutes on 2 cores: 24 configurations of 32 atoms, a few epochs, 2 lambdas, 2 seeds,
# one temperature of very short MD, one run per potential, short benchmarks.
TINY = dict(
    configs=24, cells=(2, 2, 2), data_temperatures=(1.0, 1.5), data_densities=(0.9,), data_starts=("fcc", "liquid"),
    fakes=2, hidden=(6,), batch_size=8, epochs=40, patience=40, lambdas=(10.0, 300.0), gl_epochs=5, agl_epochs=5,
    refit_epochs=2, repeats=2, repeat_epochs=5, select_structures=20, force_epochs=2, force_batch_size=8,
    md_temperatures=(1.5,), melt_time=0.5, equilibration=0.25,
    measurement=1.0, traj_every=0.1, runs_selected=1, runs_reference=1, runs_full=1, full_md_temperatures=(1.5,),
    full_melt_time=0.05, full_equilibration=0.05, full_measurement=0.3, bench_steps=20, bench_full_steps=5,
    bench_repeats=1, jobs=2,
    # potentials trained this little leave the data's range in MD: the default guard would FAIL them (as it
    # should); here it is relaxed so that every later step has something to work on
    md_check=False, guard_distance_margin=0.5, guard_max_ew_rate=100.0,
)


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "DEMO"
    lines: list[str] = []
    t0 = time.perf_counter()
    report = run_demo(out, seed=3, sizes=TINY, echo=lines.append, show_progress=False)
    return {"out": out, "report": report, "lines": lines, "seconds": time.perf_counter() - t0}


@pytest.mark.slow
def test_every_artefact_is_written(demo):
    out = demo["out"]
    assert demo["report"] == out / "report.html"
    for name in STEPS:
        marker = json.loads((out / name / "done.json").read_text())
        assert marker["step"] == name and marker["seconds"] >= 0
        for rel in marker["outputs"]:
            assert (out / rel).exists(), rel
    for rel in ["data/input.data", "features/features.h5", "select/path.csv", "select/selected.json",
                "select/repeats.csv", "select/fakes/fakes.json", "select/selection_matrix.png",
                "select/test_rmse_boxplot.png", "potentials/selected/input.nn", "potentials/selected/scaling.data",
                "potentials/selected/weights.018.data", "potentials/full/input.nn", "md/reference/quench.json",
                "md/selected/quench.json", "md/full/quench.json", "analysis/selected/comparison.csv",
                "analysis/full/comparison.csv", "bench/bench.csv", "report/path.png", "report/arrhenius.png",
                "report/rdf.png", "report/radial_rdf.png", "report.json", "report.html"]:
        assert (out / rel).exists(), rel
    # the selected potential has the selected functions, the full one all 22
    sel = json.loads((out / "select" / "selected.json").read_text())
    n_sel = sum(1 for l in (out / "potentials/selected/input.nn").read_text().splitlines()
                if l.startswith("symfunction_short"))
    n_full = sum(1 for l in (out / "potentials/full/input.nn").read_text().splitlines()
                 if l.startswith("symfunction_short"))
    assert n_sel == sel["sets"]["AGL"]["n"] and n_full == 22


@pytest.mark.slow
def test_the_potentials_errors_per_state_point_are_measured(demo):
    """potentials/errors/<name>/: each sampled structure's error is the potential's prediction minus the data's
    reference; the per-state table groups them (the data's two starts and two temperatures) and the report
    shows it."""
    import numpy as np

    from toolkit.potential import load_potential
    from toolkit.structures import read_structures

    out = demo["out"]
    structures = read_structures(out / "data" / "input.data")
    rep = json.loads((out / "report.json").read_text())
    for name in ("selected", "full"):
        err = _csv(out / "potentials" / "errors" / name / "errors.csv")
        by = _csv(out / "potentials" / "errors" / name / "errors_by_state.csv")
        assert len(err) == len(structures)      # 24 structures, 6 per state point: every one sampled
        model = load_potential(out / "potentials" / name)
        for row in err[::7]:
            s = structures[int(row["structure"])]
            p = model.predict(s)
            assert float(row["energy_error"]) == pytest.approx((p.energy - s.energy) / len(s), rel=1e-6, abs=1e-9)
            assert float(row["force_rmse"]) == pytest.approx(np.sqrt(np.mean((p.forces - s.forces) ** 2)), rel=1e-6)
        assert sorted((r["start"], float(r["temperature"])) for r in by) == \
            [("fcc", 1.0), ("fcc", 1.5), ("liquid", 1.0), ("liquid", 1.5)]
        assert sum(int(r["n"]) for r in by) == len(structures)
        assert [float(r["energy_bias"]) for r in by] == pytest.approx(
            [float(r["energy_bias"]) for r in rep["state_errors"][name]], rel=1e-12)
    assert "Errors per state point" in (out / "report.html").read_text()


@pytest.mark.slow
def test_every_step_prints_progress_and_time(demo):
    text = "\n".join(demo["lines"])
    for k in range(1, len(STEPS) + 1):
        assert f"[{k}/{len(STEPS)}]" in text
    assert len(re.findall(r"done in \d", text)) >= len(STEPS)
    assert re.search(r"total .*report: .*report\.html", text)


@pytest.mark.slow
def test_report_numbers_come_from_the_artefacts(demo):
    out = demo["out"]
    rep = json.loads((out / "report.json").read_text())
    html = (out / "report.html").read_text()
    sel = json.loads((out / "select" / "selected.json").read_text())
    # selection
    assert rep["selected_functions"] == sel["sets"]["AGL"]["functions"]
    assert rep["n_selected"] == sel["sets"]["AGL"]["n"]
    crit = {r["criterion"]: r for r in rep["criteria"]}
    size_row = next(r for r in rep["criteria"] if r["criterion"].startswith("selected set has at most"))
    assert size_row["number"] == sel["sets"]["AGL"]["n"]
    fakes = json.loads((out / "select" / "fakes" / "fakes.json").read_text())
    fake_row = next(r for r in rep["criteria"] if "fake" in r["criterion"])
    assert fake_row["number"] == fakes["AGL"]["fakes_kept"]
    assert fake_row["pass"] == (fakes["AGL"]["fakes_kept"] == 0)
    # MD: D ratios and RDF peaks from comparison.csv
    comp = _csv(out / "analysis" / "selected" / "comparison.csv")
    assert comp
    for row in comp:
        t = float(row["temperature"])
        d_row = next(r for r in rep["criteria"] if r["criterion"].startswith("D within") and r.get("temperature") == t)
        assert d_row["number"] == pytest.approx(float(row["D_ratio"]), rel=1e-12)
        assert d_row["pass"] == (abs(float(row["D_ratio"]) - 1) <= 0.10)
        assert f"{float(row['D_ratio']):.3f}" in html
        h_row = next(r for r in rep["criteria"] if "height" in r["criterion"] and r.get("temperature") == t)
        assert h_row["number"] == pytest.approx(float(row["g_peak_rel_dev"]), rel=1e-12)
        p_row = next(r for r in rep["criteria"] if "position" in r["criterion"] and r.get("temperature") == t)
        assert p_row["number"] == pytest.approx(float(row["r_peak_rel_dev"]), rel=1e-12)
    # speed from bench.csv
    bench = {r["label"]: float(r["median"]) for r in _csv(out / "bench" / "bench.csv")}
    assert set(bench) == {"lj/cut", "selected", "full"}
    assert rep["speed_ratio_selected_full"] == pytest.approx(bench["selected"] / bench["full"], rel=1e-12)
    speed_row = next(r for r in rep["criteria"] if "as fast" in r["criterion"])
    assert speed_row["number"] == pytest.approx(bench["selected"] / bench["full"], rel=1e-12)
    assert f"{bench['selected'] / bench['full']:.2f}x" in html
    # the PASS/FAIL verdict in the HTML matches the table
    n_fail = sum(not r["pass"] for r in rep["criteria"])
    assert rep["all_pass"] == (n_fail == 0)
    assert ("all criteria PASS" in html) == (n_fail == 0)
    if n_fail:
        assert f"{n_fail} of {len(rep['criteria'])} criteria FAIL" in html
    assert html.count("class='fail'>FAIL") == n_fail
    assert html.count("class='pass'>PASS") == len(rep["criteria"]) - n_fail
    # self-contained: figures embedded, settings, seeds and versions shown
    assert html.count("data:image/png;base64,") >= 6
    assert "<img" in html and 'src="report/' not in html
    assert "seed: 3" in html and "torch" in html and "lammps" in html


@pytest.mark.slow
def test_rerun_reuses_every_step(demo):
    out = demo["out"]
    stamps = {n: (out / n / "done.json").stat().st_mtime_ns for n in STEPS}
    lines: list[str] = []
    t0 = time.perf_counter()
    run_demo(out, seed=3, sizes=TINY, echo=lines.append, show_progress=False)
    assert time.perf_counter() - t0 < 30
    assert sum("reused" in l for l in lines) == len(STEPS)
    assert {n: (out / n / "done.json").stat().st_mtime_ns for n in STEPS} == stamps


@pytest.mark.slow
def test_changed_setting_redoes_only_what_depends_on_it(demo):
    out = demo["out"]
    before = {n: json.loads((out / n / "done.json").read_text())["key"] for n in STEPS}
    lines: list[str] = []
    run_demo(out, seed=3, sizes={**TINY, "bench_repeats": 2}, echo=lines.append, show_progress=False)
    after = {n: json.loads((out / n / "done.json").read_text())["key"] for n in STEPS}
    changed = {n for n in STEPS if before[n] != after[n]}
    assert changed == {"bench", "report"}
    assert len(_csv(out / "bench" / "fast" / "bench_repeats.csv")) == 2 * 2
    assert len(_csv(out / "bench" / "full" / "bench_repeats.csv")) == 2


def test_sizes_are_checked():
    with pytest.raises(ToolkitError, match="unknown demo size 'epochz'"):
        make_sizes(sizes={"epochz": 3})
    assert make_sizes(full=True).configs == 28000
    assert isinstance(make_sizes(), DemoSizes)


def test_own_data_example_config_is_valid():
    from toolkit.config import load_config

    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "examples" / "own_data.yaml")
    assert cfg.symfuncs.candidates == "input.nn"
    assert Path(cfg.symfuncs.input_nn).is_file()
    assert cfg.selection.fakes == 10


def test_a_failed_step_stops_the_background_md(tmp_path, monkeypatch):
    """A step that raises cancels the MD running in the background (no run outlives the demo) and the
    demo's error is the one raised, at once."""
    import threading

    import toolkit.demo as demo
    from toolkit.background import BackgroundTask
    from toolkit.errors import LammpsError
    from toolkit.lammps.runner import CANCEL

    seen = threading.Event()

    def background_md():  # as run_lammps: polls CANCEL, stops and raises
        if not CANCEL.wait(timeout=60):
            return "finished"
        seen.set()
        raise LammpsError("run_000 was cancelled")

    def start(d):
        d.background["reference"] = BackgroundTask(background_md)

    def fail(d):
        raise ToolkitError("no candidate set passed the MD check")

    monkeypatch.setattr(demo, "_PIPELINE", {**demo._PIPELINE, "data": start, "features": fail})
    t0 = time.perf_counter()
    with pytest.raises(ToolkitError, match="no candidate set passed"):
        run_demo(tmp_path / "d", echo=lambda m: None, show_progress=False)
    assert seen.is_set() and time.perf_counter() - t0 < 30
    assert not CANCEL.is_set()  # cleared for the next runs of this process
