"""Quench protocol: resumable after a kill, identical results, clear LAMMPS errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import negated_output_copy

from toolkit.errors import LammpsError, ToolkitError
from toolkit.fileio import read_json
from toolkit.lammps.analysis import analyze
from toolkit.lammps.bench import bench
from toolkit.lammps.potentials import resolve_potential
from toolkit.lammps.quench import quench
from toolkit.lammps.runner import check_log, run_lammps

# the tiny runs are too short for a clean diffusive regime; analyze() warns about that
pytestmark = pytest.mark.filterwarnings("ignore:.*MSD log-log slope:UserWarning")

# A tiny LJ protocol: two temperatures, short steps (a few seconds in all).
TINY = dict(temperatures=[1.5, 1.0], melt_time=1.0, equilibration=1.0, measurement=6.0, msd_every=0.05,
            traj_every=0.5)
TINY_ARGS = ["--system", "lj", "--runs", "1", "--seed", "5", "--temperatures", "1.5,1.0", "--melt-time", "1",
             "--equilibration", "1", "--measurement", "6", "--msd-every", "0.05", "--traj-every", "0.5", "--quiet"]
STEPS = ["melt", "T_1.5", "T_1"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("quench") / "full"
    quench("reference", out, "lj", runs=1, seed=5, show_progress=False, **TINY)
    return out


def test_quench_layout(uninterrupted):
    meta = read_json(uninterrupted / "quench.json")
    assert meta["protocol"]["temperatures"] == [1.5, 1.0]
    assert meta["potential"]["kind"] == "reference"
    assert len(meta["steps"]) == 3
    for name in STEPS:
        d = uninterrupted / "run_000" / name
        assert (d / "done.json").exists() and (d / "final.data").exists() and (d / "in.lammps").exists()
    for name in STEPS[1:]:
        d = uninterrupted / "run_000" / name
        lines = [ln for ln in (d / "msd.dat").read_text().splitlines() if not ln.startswith("#")]
        assert len(lines) == 121  # 6 tau / 0.05 tau, plus the origin
        assert (d / "traj.lammpstrj").read_text().count("ITEM: TIMESTEP") == 13
        assert read_json(d / "done.json")["mean_temperature"] == pytest.approx(float(name[2:]), rel=0.15)


@pytest.mark.slow
def test_killed_quench_resumes_with_identical_results(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "toolkit", "quench", "reference", "-o", str(out), *TINY_ARGS]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = out / "run_000" / "T_1.5" / "done.json"
    t0 = time.time()
    while not first.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() - t0 < 120
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: Python and LAMMPS
    proc.wait()
    assert not (out / "run_000" / "T_1" / "done.json").exists(), "killed too late to test resuming"
    finished = {n: (out / "run_000" / n / "done.json").read_text() for n in STEPS[:2]}

    rc = subprocess.run(cmd, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    for n in STEPS[:2]:  # finished steps were not rerun
        assert (out / "run_000" / n / "done.json").read_text() == finished[n]
    for n in STEPS:
        for f in ("final.data", "msd.dat", "traj.lammpstrj"):
            a, b = uninterrupted / "run_000" / n / f, out / "run_000" / n / f
            if a.exists():
                assert a.read_bytes() == b.read_bytes(), f"{n}/{f} differs after resuming"
    ra = analyze(uninterrupted, out_dir=tmp_path / "ra")
    rb = analyze(out, out_dir=tmp_path / "rb")
    assert ra["diffusion"]["D_mean"].tolist() == rb["diffusion"]["D_mean"].tolist()


def test_analysis_of_quench_against_itself(uninterrupted, tmp_path):
    res = analyze(uninterrupted, reference_dir=uninterrupted, out_dir=tmp_path / "report")
    for name in ("diffusion.csv", "diffusion_runs.csv", "arrhenius.csv", "rdf.csv", "rdf_peaks.csv",
                 "comparison.csv", "arrhenius.png", "rdf.png", "msd.png", "analysis.json"):
        assert (tmp_path / "report" / name).exists(), name
    cmp = res["comparison"]
    assert (cmp["D_ratio"] == 1.0).all() and (cmp["g_peak_rel_dev"] == 0.0).all()
    d = res["diffusion"].groupby("temperature")["D_mean"].first()
    assert d.loc[1.5] > d.loc[1.0] > 0.0  # liquid, faster when hotter
    peaks = res["rdf_peaks"]
    assert peaks["r_peak"].between(1.0, 1.15).all()  # LJ first neighbours near 2^(1/6) sigma


def test_changed_settings_are_refused(uninterrupted):
    with pytest.raises(ToolkitError, match="other settings.*measurement"):
        quench("reference", uninterrupted, "lj", runs=1, seed=5, show_progress=False,
               **{**TINY, "measurement": 7.0})


def test_bench_of_the_reference_potential(tmp_path):
    table = bench(["reference", "reference"], tmp_path / "b" / "bench.csv", system="lj", steps=20, warmup=0,
                  repeats=2, cells=(2, 2, 2), show_progress=False)
    assert table["label"].tolist() == ["reference", "reference_1"]
    assert table["n_atoms"].tolist() == [32, 32] and table["per_day_unit"].tolist() == ["tau/day"] * 2
    assert (table["min"] <= table["median"]).all() and (table["median"] <= table["max"]).all()
    assert table["speed_vs_reference"].iloc[0] == pytest.approx(1.0)
    meta = read_json(tmp_path / "b" / "bench.json")
    assert meta["settings"]["steps"] == 20 and meta["versions"]["lammps_executable"] != "unknown"
    assert (tmp_path / "b" / "bench.png").exists()

def test_missing_lammps_is_a_clear_error(tmp_path):
    with pytest.raises(LammpsError, match="LAMMPS executable not found.*nonexistent"):
        quench("reference", tmp_path / "q", "lj", runs=1, lmp="/nonexistent/lmp_mpi", show_progress=False, **TINY)
    from toolkit.cli import main

    assert main(["quench", "reference", "-o", str(tmp_path / "q2"), *TINY_ARGS, "--lmp", "no_such_lmp"]) == 1


def test_lammps_error_names_run_and_log_line(tmp_path):
    (tmp_path / "in.bad").write_text("units lj\natom_style atomic\nregion b block 0 1 0 1 0 1\ncreate_box 1 b\n"
                                     "pair_style no_such_style 2.5\n")
    with pytest.raises(LammpsError) as err:
        run_lammps("in.bad", tmp_path, name="broken-input")
    msg = str(err.value)
    assert "broken-input" in msg and str(tmp_path) in msg
    assert "log.lammps, line" in msg and "ERROR" in msg and "no_such_style" in msg


def test_exploding_potential_is_marked_failed(tmp_path):
    # a 10x too large timestep makes the LJ liquid explode: the guard stops the run and marks it FAILED
    out = quench("reference", tmp_path / "boom", "lj", runs=1, show_progress=False,
                 **{**TINY, "melt_time": 5.0}, timestep=0.05)
    meta = read_json(out / "quench.json")
    status = meta["run_status"]["run_000"]
    assert status["status"] == "FAILED" and status["step"] == "melt" and meta["failed_runs"] == ["run_000"]
    assert re.search(r"shortest pair distance|drift|temperature|lost atoms|exploded", status["reason"])
    failed = read_json(out / "run_000" / "melt" / "failed.json")
    assert failed["status"] == "FAILED" and failed["reason"] == status["reason"]
    assert not (out / "run_000" / "T_1.5").exists()  # later temperatures are not run
    with pytest.raises(ToolkitError, match="refusing to analyse.*run_000 FAILED at melt"):
        analyze(out, out_dir=tmp_path / "report")


def test_nan_in_thermo_output_is_reported(tmp_path):
    log = tmp_path / "log.lammps"
    log.write_text("LAMMPS (22 Jul 2025)\n   Step          Temp          PotEng    \n"
                   "         0   1.5           -6.9    \n       100   -nan          nan    \n"
                   "Loop time of 0.1 on 1 procs for 100 steps with 256 atoms\n")
    with pytest.raises(LammpsError, match=r"run T_0.7 .*NaN.*log.lammps, line 4: 100\s+-nan"):
        check_log(log, tmp_path, name="T_0.7")
    log.write_text(log.read_text().replace("-nan          nan", "5000.0        -2.0"))
    with pytest.raises(LammpsError, match="temperature above 15"):
        check_log(log, tmp_path, name="T_1.5", max_temperature=15.0)


# ---------------------------------------------------------------------------
# HDNNPs: the shared n2p2 Al test potential (22 symmetry functions, trained on fcc at 2.70 g/cm^3)

AL_NN = Path("/work/shared/reference/n2p2/al_eam_22")
needs_al_nn = pytest.mark.skipif(not (AL_NN / "input.nn").exists(), reason="shared n2p2 Al potential not available")


def _preamble_or_skip():
    try:
        from toolkit.lammps_plugin.build import pair_style_preamble

        return pair_style_preamble()
    except Exception as exc:  # no compiler / plugin cannot be built here
        pytest.skip(f"pair_style hdnnp not available: {exc}")


@pytest.mark.slow
@needs_al_nn
def test_hdnnp_quench_bench_and_model_export(tmp_path):
    _preamble_or_skip()
    out = quench(AL_NN, tmp_path / "nn", "al", runs=1, seed=2, temperatures=[1000.0], density=2.6978,
                 melt_time=0.1, equilibration=0.05, measurement=0.2, msd_every=0.01, traj_every=0.05,
                 show_progress=False)
    pair = (out / "pair.in").read_text()
    # n2p2's keywords: warnings summed every ${guard_every} steps, the run stops above ${maxew}
    assert (f'pair_style hdnnp 6.8 dir "{AL_NN.resolve()}/" showew no showewsum ${{guard_every}} resetew no '
            'maxew ${maxew}') in pair
    assert "pair_coeff * * Al" in pair
    done = read_json(out / "run_000" / "T_1000" / "done.json")
    assert done["status"] == "PASSED" and done["extrapolation_warnings"] >= 0 and done["min_pair_distance"] > 2.0
    meta = read_json(out / "quench.json")
    assert meta["potential"]["kind"] == "hdnnp" and meta["potential"]["cutoff"] == 6.8

    table = bench(["reference", AL_NN], tmp_path / "bench" / "bench.csv", system="al", steps=20, warmup=5,
                  repeats=2, show_progress=False)
    assert table["label"].tolist() == ["reference", "al_eam_22"]
    assert (table["median"] > 0).all() and (table["min"] <= table["median"]).all()
    assert (tmp_path / "bench" / "bench.png").exists() and (tmp_path / "bench" / "bench_repeats.csv").exists()

    # a toolkit model.pt is exported to n2p2 on the fly
    from toolkit.potential import load_n2p2, save_model

    model_pt = save_model(load_n2p2(AL_NN), tmp_path / "model.pt")
    spec, system = resolve_potential(model_pt, None, work_dir=tmp_path / "md")
    assert system.name == "al-eam" and spec.kind == "hdnnp" and spec.cutoff == 6.8
    assert (tmp_path / "md" / "potential" / "input.nn").exists()
    assert spec.label == "model"


BAD_ARGS = ["--system", "al", "--runs", "1", "--temperatures", "1250", "--melt-time", "1", "--equilibration",
            "0.2", "--measurement", "0.4", "--msd-every", "0.01", "--traj-every", "0.1", "--quiet"]


@needs_al_nn
@pytest.mark.slow
def test_bad_potential_is_stopped_and_marked_failed_with_the_reason(tmp_path, capsys):
    _preamble_or_skip()
    from toolkit.cli import main

    bad = negated_output_copy(AL_NN, tmp_path / "negated")
    # collapse: pairs closer than the data's shortest distance (2.01 A in the study's data, less 10 %)
    rc = main(["quench", str(bad), "-o", str(tmp_path / "q1"), *BAD_ARGS, "--max-ew-rate", "1e6",
               "--min-distance", "1.81"])
    assert rc == 3
    out, err = capsys.readouterr()
    assert "run_000: FAILED" in out and "below the limit 1.81 Angstrom" in out and "1 of 1 runs FAILED" in err
    failed = read_json(tmp_path / "q1" / "run_000" / "melt" / "failed.json")
    assert failed["status"] == "FAILED" and failed["min_pair_distance"] < 1.81
    assert failed["extrapolation_warnings"] > 0  # counted, not hidden

    # far outside the data: extrapolation warnings above the limit stop the first temperature step
    rc = main(["quench", str(AL_NN), "-o", str(tmp_path / "q2"), *BAD_ARGS, "--min-distance", "0.5",
               "--max-drift", "1e9"])
    assert rc == 3
    meta = read_json(tmp_path / "q2" / "quench.json")
    st = meta["run_status"]["run_000"]
    assert st["status"] == "FAILED" and st["step"] == "T_1250", st
    assert re.match(r"extrapolation warnings \((\d+)\) exceed maxew 771 \(0.01 per atom and step\)", st["reason"])
    assert int(re.match(r"extrapolation warnings \((\d+)\)", st["reason"]).group(1)) > 771
    melt = read_json(tmp_path / "q2" / "run_000" / "melt" / "done.json")  # the melt only counts them
    assert melt["status"] == "PASSED" and melt["extrapolation_warnings"] > 1000


def test_cuzr_quench_takes_a_composition(tmp_path, capsys):
    """``hdnnp quench --composition Cu50Zr50``: the atom counts, quench.json and the mass density follow it."""
    from toolkit.cli import main
    from toolkit.lammps.partials import dump_types
    from toolkit.lammps.systems import get_system

    args = ["--system", "cuzr", "--runs", "1", "--temperatures", "2000", "--melt-time", "0.02", "--equilibration",
            "0.02", "--measurement", "0.04", "--msd-every", "0.02", "--traj-every", "0.02", "--cells", "2,2,2",
            "--quiet"]
    assert main(["quench", "reference", "-o", str(tmp_path / "half"), *args, "--composition", "Cu50Zr50"]) == 0
    meta = read_json(tmp_path / "half" / "quench.json")
    assert meta["protocol"]["composition"] == {"Cu": 0.5, "Zr": 0.5}
    types = dump_types(tmp_path / "half" / "run_000" / "T_2000" / "traj.lammpstrj")
    assert (types == 1).sum() == 16 and (types == 2).sum() == 16  # 32 atoms, half of each
    # the lattice gives 7.1 g/cm^3 at this composition's mean molar mass (not Cu64Zr36's)
    half = get_system("cuzr").with_composition("Cu50Zr50")
    assert meta["protocol"]["lattice_scale"] == pytest.approx(half.lattice_scale("fcc", 7.1))
    assert main(["quench", "reference", "-o", str(tmp_path / "default"), *args]) == 0
    types = dump_types(tmp_path / "default" / "run_000" / "T_2000" / "traj.lammpstrj")
    assert (types == 2).sum() == get_system("cuzr").atom_counts(32)[1]
    capsys.readouterr()
    # a composition the system cannot have: one clear error line, nothing run
    assert main(["quench", "reference", "-o", str(tmp_path / "bad"), *args, "--composition", "Cu50Al50"]) != 0
    err = capsys.readouterr().err
    assert "error:" in err and "Cu50Al50" in err and "Traceback" not in err
    assert main(["quench", "reference", "-o", str(tmp_path / "al"), "--system", "al", "--composition", "Cu50Zr50",
                 "--quiet"]) != 0
    assert "needs amounts of exactly Al" in capsys.readouterr().err
