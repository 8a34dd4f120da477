"""``hdnnp demo --system si|cuzr`` at a tiny size: the systems' data, candidate sets, quench and report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from toolkit.demo import make_sizes, run_demo
from toolkit.demo_multi import CANDIDATES, CUZR_CRITERIA, CUZR_DEFAULT, SI_CRITERIA, SI_DEFAULT

# As tests/test_demo_al.py: a few liquid boxes, a few epochs, one temperature of very short MD, the guard
# relaxed and the MD check off (potentials trained this little leave the data's range).
_TINY = dict(configs=12, cells=(2, 2, 2), fakes=2, hidden=(6,), batch_size=4, epochs=6, patience=6,
             lambdas=(5.0, 50.0), gl_epochs=2, agl_epochs=2, refit_epochs=1, repeats=2, repeat_epochs=2,
             select_structures=6, force_epochs=1, force_batch_size=6, melt_time=0.2, equilibration=0.1,
             measurement=0.4, traj_every=0.02, runs_selected=1, runs_reference=1, runs_full=1, full_melt_time=0.02,
             full_equilibration=0.02, full_measurement=0.04, bench_steps=10, bench_full_steps=2, bench_repeats=1,
             jobs=1, md_check=False, guard_distance_margin=0.5, guard_max_ew_rate=1000.0)
TINY = {"si": dict(_TINY, data_temperatures=(1700.0, 2500.0), md_temperatures=(2500.0,),
                   full_md_temperatures=(2500.0,), refit_data="all", refit_force_atoms=1.0),
        "cuzr": dict(_TINY, data_temperatures=(1400.0, 2000.0), md_temperatures=(2000.0,),
                     full_md_temperatures=(2000.0,), data_rattled=2, msd_fit_start=0.1, msd_fit_end=0.5)}


def test_si_and_cuzr_presets():
    si, cuzr = make_sizes(system="si"), make_sizes(system="cuzr")
    assert si is SI_DEFAULT and si.system == "si-sw" and si.md_temperatures[0] == 2500.0
    assert si.md_temperatures[-1] == 1500.0 and si.hidden == (25, 25)
    assert cuzr is CUZR_DEFAULT and cuzr.md_temperatures == (2000.0, 1700.0, 1400.0)
    assert cuzr.runs_selected == 4 and cuzr.runs_reference == 8 and cuzr.measurement == 60.0
    # D fitted over lags of 3-15 ps: the long lags' few time origins doubled its scatter (benchmarks/cuzr_md_noise.py)
    assert (cuzr.msd_fit_start, cuzr.msd_fit_end) == (0.1, 0.5) and (si.msd_fit_start, si.msd_fit_end) == (0.2, 1.0)
    assert cuzr.data_rattled == 40 and cuzr.max_per_element == 36 and cuzr.refit_force_atoms == 128
    assert cuzr.force_weight == 0.02 and cuzr.select_force_weight == 1.0   # the refit weighs energies more
    assert (cuzr.n_lambdas, cuzr.lambda_ratio, cuzr.refine) == (10, 1e-3, 3)
    assert max(cuzr.data_temperatures) >= cuzr.md_temperatures[0] and min(cuzr.data_temperatures) <= 1400.0
    assert make_sizes(full=True, system="si-sw").measurement == 1000.0
    # Si: the boron recipe refined: twice the radial resolution, angular functions at 5.0 and 3.8 A (docs/systems.md)
    assert CANDIDATES["si-sw"] == "si-dense"
    # Si selects with the study's unweighted penalty, Cu-Zr with the measured MD cost per function
    from pathlib import Path

    from toolkit.demo import selection_config
    sel = {k: selection_config(s, 0, Path("s.data"), Path("f.h5"))["selection"] for k, s in (("si", si), ("cuzr", cuzr))}
    assert "cost_model" not in sel["si"] and sel["si"]["angular_cost"] == 1.0
    assert sel["cuzr"]["cost_model"] == "box" and sel["cuzr"]["max_per_element"] == 36
    assert selection_config(cuzr, 0, Path("s.data"), Path("f.h5"))["training"]["train_tail"] == 40


def test_final_refit_takes_every_jobs_threads():
    """The selection trains `jobs` models at a time with `threads` each; the final refit alone takes all of them."""
    from toolkit.demo import _refit_threads

    assert _refit_threads(CUZR_DEFAULT) == CUZR_DEFAULT.threads * CUZR_DEFAULT.jobs == 2
    assert _refit_threads(CUZR_DEFAULT.replace(threads=3, jobs=1)) == 3
    assert _refit_threads(CUZR_DEFAULT.replace(threads=0)) is None     # 0: torch's choice


def test_rattled_copies_train_only():
    """The selection takes its MD samples at random and every rattled copy after them, as training's tail."""
    from pathlib import Path

    from toolkit.demo import _selection_take, selection_config

    s = make_sizes(sizes={"data_rattled": 3, "select_structures": 5}, system="cuzr")
    take = _selection_take(20, s, 0).tolist()
    assert take[-3:] == [17, 18, 19] and len(take) == 8
    assert take[:5] == sorted(take[:5]) and max(take[:5]) < 17
    assert _selection_take(20, s, 0).tolist() == take  # seeded
    assert selection_config(s, 0, Path("s.data"), Path("f.h5"))["training"]["train_tail"] == 3
    assert "train_tail" not in selection_config(CUZR_DEFAULT.replace(data_rattled=0), 0, Path("s"), Path("f"))["training"]


@pytest.mark.slow
@pytest.mark.parametrize("system,name,pair_style,n_candidates,criteria", [
    ("si", "si-sw", "pair_style sw", 120, SI_CRITERIA),
    ("cuzr", "cuzr-eam", "pair_style eam/fs", 216, CUZR_CRITERIA),
])
def test_tiny_demo(tmp_path, system, name, pair_style, n_candidates, criteria):
    out = tmp_path / system
    lines = []
    run_demo(out, seed=1, sizes=TINY[system], system=system, echo=lines.append, show_progress=False)
    for rel in ["data/input.data", "select/selected.json", "potentials/selected/input.nn", "md/reference/quench.json",
                "md/selected/quench.json", "bench/bench.csv", "report.json", "report.html"]:
        assert (out / rel).exists(), rel
    demo = json.loads((out / "demo.json").read_text())
    assert demo["sizes"]["system"] == name and demo["criteria"] == criteria
    assert pair_style in (out / "md" / "reference" / "pair.in").read_text()
    assert (out / "potentials" / "full" / "input.nn").read_text().count("symfunction_short") == n_candidates
    sel = json.loads((out / "select" / "selected.json").read_text())
    if system == "cuzr":  # measured MD costs per element as penalty weights (Si: the study's unweighted penalty)
        assert set(sel["md_costs"]) == set(sel["sets"]["AGL"]["by_element"])
        # 2 rattled copies after the 12 MD samples; the selection and the final refit train on them only
        import yaml

        from toolkit.structures import read_structures

        assert [" rattled " in s.comment for s in read_structures(out / "data" / "input.data")] == [False] * 12 + [True] * 2
        mine = read_structures(out / "features" / "structures.data")
        assert len(mine) == 8 and [" rattled " in s.comment for s in mine[-3:]] == [False, True, True]
        assert yaml.safe_load((out / "select" / "config.yaml").read_text())["training"]["train_tail"] == 2
        assert yaml.safe_load((out / "potentials" / "refit" / "config.yaml").read_text())["training"]["train_tail"] == 2
    else:
        assert not sel.get("md_costs")
    if system == "si":  # the final refit on every structure and atom: the selection's split kept, the rest trains
        import yaml

        from toolkit.demo import _selection_take
        from toolkit.structures import read_structures

        refit = yaml.safe_load((out / "potentials" / "refit" / "config.yaml").read_text())
        assert refit["training"]["train_tail"] == 6 and "force_atoms" not in refit["data"]
        data, mine = read_structures(out / "data" / "input.data"), read_structures(refit["data"]["structures"])
        take = _selection_take(12, make_sizes(sizes=TINY["si"], system="si"), 1)
        assert [m.energy for m in mine[:6]] == [data[i].energy for i in take]
        assert sorted(m.energy for m in mine) == sorted(x.energy for x in data)
    q = json.loads((out / "md" / "selected" / "quench.json").read_text())
    assert q["protocol"]["system"] == name
    # every potential's melt runs with the reference potential (melt_pair.in): Si's crystal superheats far above
    # the data, Cu-Zr's random solid solution is a crystal no liquid datum resembles
    melt_in = (out / "md" / "selected" / "run_000" / "melt" / "in.lammps").read_text()
    assert "melt_pair.in" in melt_in and "melt_potential" in q["protocol"]
    assert pair_style in (out / "md" / "selected" / "melt_pair.in").read_text()
    if system == "si":
        assert q["protocol"]["melt_potential"] == "Stillinger-Weber" and q["protocol"]["melt_cool_time"] == 1.0
        # ... and cools the liquid to the first temperature (1 ps of SW at 2500 K) before the HDNNP takes over
        log = (out / "md" / "selected" / "run_000" / "melt" / "log.lammps").read_text()
        assert "nvt temp 3500.0 3500.0" in log and "nvt temp 2500.0 2500.0" in log
        assert "pair_style sw" in (out / "md" / "selected" / "melt_pair.in").read_text()
        assert "../../pair.in" in (out / "md" / "selected" / "run_000" / "T_2500" / "in.lammps").read_text()
        assert "pair_style hdnnp" in (out / "md" / "selected" / "pair.in").read_text()
        assert not (out / "md" / "reference" / "melt_pair.in").exists()
    # the analysis step's per-element tables (bond angles for Si) for the report, and the report's rows
    species = out / "analysis" / "reference" / "species"
    assert (species / "diffusion_elements_summary.csv").exists() and (species / "partial_rdf_peaks.csv").exists()
    assert (species / "bond_angle_peaks.csv").exists() == (system == "si")
    # the preset's Einstein-fit window reaches both analyses: longest lag 0.2 ps (21 frames 0.02 ps apart)
    t_end = {"si": 0.2, "cuzr": 0.1}[system]
    for csv in (species / "diffusion_elements.csv", out / "analysis" / "reference" / "diffusion_runs.csv"):
        assert np.allclose(pd.read_csv(csv)["fit_end"], t_end), csv
    rep = json.loads((out / "report.json").read_text())
    crits = [r["criterion"] for r in rep["criteria"]]
    assert rep["reference_potential"] == {"si": "Stillinger-Weber Si (Si.sw)",
                                          "cuzr": "Mendelev EAM for Cu-Zr (CuZr_mm.eam.fs)"}[system]
    wanted = (["the AGL set keeps angular functions", "CUR and Pearson sets", "bond-angle distribution peak",
               "test force RMSE"] if system == "si" else
              ["Cu: at most", "Zr: at most", "D of Cu within", "D of Zr within", "partial RDF Cu-Zr"])
    for start in wanted + ["every MD run checked", "the chosen set passed the MD check", "selected potential faster"]:
        assert any(c.startswith(start) for c in crits), (start, crits)
    for r in rep["criteria"]:  # every row has its verdict from a number, or says why there is none
        assert r["number"] is not None or r["value"].startswith(("not measured", "FAILED"))
