"""``hdnnp demo --system al`` at a tiny size: EAM data, the 329 candidates, every artefact, report numbers from them."""

from __future__ import annotations

import csv
import json

import pytest

from toolkit.demo import make_sizes, run_demo
from toolkit.demo_al import AL_CRITERIA, AL_DEFAULT

# Under a minute on 2 cores: 16 liquid boxes of 32 atoms, a few epochs, one temperature of very short MD.
# Potentials trained this little leave the data's range in MD: the default guard would FAIL them (as it
# should); here it is relaxed and the MD check is off, so that every later step has something to work on.
TINY_AL = dict(configs=16, cells=(2, 2, 2), data_temperatures=(1100.0, 1500.0), fakes=2, hidden=(6,), batch_size=4,
               epochs=10, patience=10, lambdas=(5.0, 50.0), gl_epochs=3, agl_epochs=3, refit_epochs=2, repeats=2,
               repeat_epochs=3, select_structures=8, force_epochs=2, force_batch_size=8, md_temperatures=(1250.0,),
               melt_time=0.2, equilibration=0.1, measurement=0.4, traj_every=0.02, runs_selected=1,
               runs_reference=1, runs_full=1, full_md_temperatures=(1250.0,), full_melt_time=0.02,
               full_equilibration=0.02, full_measurement=0.04, bench_steps=10, bench_full_steps=2, bench_repeats=1,
               jobs=2, md_check=False, guard_distance_margin=0.5, guard_max_ew_rate=1000.0)


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_al_presets():
    s = make_sizes(system="al")
    assert s is AL_DEFAULT and s.system == "al-eam" and s.md_temperatures == (1250.0, 1125.0, 1000.0, 875.0)
    full = make_sizes(full=True, system="al-eam")
    assert full.configs == 25000 and full.runs_selected == 10 and full.measurement == 1000.0


@pytest.mark.slow
def test_tiny_al_demo(tmp_path):
    out = tmp_path / "AL"
    lines = []
    run_demo(out, seed=1, sizes=TINY_AL, system="al", echo=lines.append, show_progress=False)
    for rel in ["data/input.data", "features/features.h5", "select/selected.json", "select/fakes/fakes.json",
                "potentials/selected/input.nn", "potentials/full/input.nn", "md/reference/quench.json",
                "md/selected/quench.json", "md/full/quench.json", "analysis/selected/comparison.csv",
                "bench/bench.csv", "report.json", "report.html"]:
        assert (out / rel).exists(), rel
    demo = json.loads((out / "demo.json").read_text())
    assert demo["sizes"]["system"] == "al-eam" and demo["criteria"] == AL_CRITERIA
    # EAM data, the 329 candidates, Al's quench protocol and the guard in every MD run
    assert "pair_style eam/fs" in (out / "md" / "reference" / "pair.in").read_text()
    full_nn = (out / "potentials" / "full" / "input.nn").read_text()
    assert full_nn.count("symfunction_short") == 329
    q = json.loads((out / "md" / "selected" / "quench.json").read_text())
    assert q["protocol"]["system"] == "al-eam" and q["protocol"]["temperatures"] == [1250.0]
    assert q["guard"]["data_min_distance"] > 1.8 and q["run_status"]["run_000"]["status"] == "PASSED"
    assert q["run_status"]["run_000"]["extrapolation_warnings"] >= 0  # counted and reported
    sel = json.loads((out / "select" / "selected.json").read_text())
    assert sel["metric"] == "forces" and sel["md_check"] == {"skipped": "selection.md_check: false"}
    # the report's numbers come from the artefacts, with the Al limits
    rep = json.loads((out / "report.json").read_text())
    size_row = next(r for r in rep["criteria"] if r["criterion"].startswith("selected set has at most"))
    assert size_row["number"] == sel["sets"]["AGL"]["n"] and size_row["limit"] == 15
    for row in _csv(out / "analysis" / "selected" / "comparison.csv"):
        t = float(row["temperature"])
        d_row = next(r for r in rep["criteria"] if r["criterion"].startswith("D within") and r.get("temperature") == t)
        assert d_row["number"] == pytest.approx(float(row["D_ratio"]), rel=1e-12)
        h_row = next(r for r in rep["criteria"] if "height" in r["criterion"] and r.get("temperature") == t)
        assert h_row["pass"] == (abs(float(row["g_peak_rel_dev"])) <= 0.02)
    bench = {r["label"]: float(r["median"]) for r in _csv(out / "bench" / "bench.csv")}
    speed_row = next(r for r in rep["criteria"] if "as fast" in r["criterion"])
    assert speed_row["number"] == pytest.approx(bench["selected"] / bench["full"], rel=1e-12)
    assert speed_row["pass"] == (bench["selected"] / bench["full"] >= 10.0)
    assert any("329 Al candidates" in ln for ln in lines) and any("ps equilibration" in ln for ln in lines)
