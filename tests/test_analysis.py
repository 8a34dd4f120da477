"""Analysis: MSD -> D on a synthetic random walk, Arrhenius fits, RDF peaks of a perfect lattice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toolkit.errors import ToolkitError
from toolkit.fileio import write_json
from toolkit.lammps.analysis import analyze
from toolkit.lammps.arrhenius import fit_arrhenius
from toolkit.lammps.dump import write_dump
from toolkit.lammps.msd import (fit_diffusion, msd_from_positions, msd_multi_origin, random_walk, random_walk_msd,
                                read_msd, read_unwrapped)
from toolkit.lammps.rdf import compute_rdf, first_peak
from toolkit.lammps.systems import KB_EV
from toolkit.structures import Structure


def _fcc(a: float, n: int, element: str = "Al") -> Structure:
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.array([[i, j, k] for i in range(n) for j in range(n) for k in range(n)])
    pos = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a
    return Structure(positions=pos, elements=[element] * len(pos), cell=np.eye(3) * a * n)


def _write_msd(path, steps, msd):
    with open(path, "w") as fh:
        fh.write("# Time-averaged data for fix msd\n# TimeStep c_msd[4]\n")
        for s, m in zip(steps, msd):
            fh.write(f"{int(s)} {m:.10g}\n")


def test_random_walk_diffusion_recovered_within_2_percent(tmp_path):
    # 200,000 walkers: the Einstein fit's statistical error is ~0.4 %, so 2 % is a real bound
    D, dt = 0.37, 0.01
    msd = random_walk_msd(n_particles=200_000, n_steps=200, D=D, dt=dt, seed=11)
    t = np.arange(len(msd)) * dt
    fit = fit_diffusion(t, msd)
    assert fit.D == pytest.approx(D, rel=0.02)
    assert abs(fit.D - D) < 5 * fit.D_stderr + 0.005 * D
    assert fit.alpha == pytest.approx(1.0, abs=0.05)
    assert fit.t_start == pytest.approx(0.2 * t[-1]) and fit.t_end == pytest.approx(t[-1])
    # the same through a LAMMPS-style msd.dat (steps offset, timestep 0.002)
    steps = 5000 + np.arange(len(msd)) * 5
    _write_msd(tmp_path / "msd.dat", steps, msd)
    t2, m2 = read_msd(tmp_path / "msd.dat", timestep=dt / 5)
    np.testing.assert_allclose(t2, t)
    assert fit_diffusion(t2, m2).D == pytest.approx(fit.D, rel=1e-8)


def test_msd_from_positions_matches_lammps_definition():
    x = random_walk(n_particles=50, n_steps=20, D=1.0, dt=0.1, seed=2)
    drift = np.linspace(0, 3, 21)[:, None, None] * np.array([1.0, -2.0, 0.5])
    msd = msd_from_positions(x + drift)  # com yes: a uniform drift does not count
    disp = x - x[0]
    disp -= disp.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(msd, (disp ** 2).sum(axis=2).mean(axis=1), atol=1e-12)
    assert msd[0] == 0.0


def test_ballistic_start_is_skipped():
    # MSD = v^2 t^2 for t < tau, then 6 D t: the default window (last 80 %) sees only the linear part
    t = np.linspace(0, 100, 1001)
    D, tau = 0.05, 2.0
    msd = np.where(t < tau, 6 * D * t ** 2 / tau, 6 * D * t)
    fit = fit_diffusion(t, msd)
    assert fit.D == pytest.approx(D, rel=1e-10)


def test_arrhenius_recovers_D0_and_Ea():
    T = np.array([1250.0, 1125.0, 1000.0, 875.0])
    D0, Ea = 0.9, 0.25  # A^2/ps, eV
    D = D0 * np.exp(-Ea / (KB_EV * T))
    fit = fit_arrhenius(T, D, kB=KB_EV)
    assert fit.D0 == pytest.approx(D0, rel=1e-10)
    assert fit.Ea == pytest.approx(Ea, rel=1e-10)
    assert fit.r2 == pytest.approx(1.0)
    # noisy (2 %) with standard errors: within 3 standard errors, in LJ units too
    rng = np.random.default_rng(4)
    T = np.linspace(0.7, 1.5, 6)
    D = 0.3 * np.exp(-1.8 / T)
    noisy = D * (1 + 0.02 * rng.standard_normal(len(T)))
    fit = fit_arrhenius(T, noisy, kB=1.0, D_stderr=0.02 * D)
    assert fit.weighted
    assert abs(fit.Ea - 1.8) < 3 * fit.Ea_stderr
    assert abs(fit.D0 - 0.3) < 3 * fit.D0_stderr
    np.testing.assert_allclose(fit.predict(T), D, rtol=0.05)


@pytest.mark.parametrize("a,n,element,cutoff", [(4.05, 4, "Al", 8.0), (1.6796, 4, "Ar", 3.2)])
def test_rdf_peaks_of_perfect_fcc(tmp_path, a, n, element, cutoff):
    s = _fcc(a, n, element)
    write_dump(tmp_path / "fcc.lammpstrj", [s, s], {element: 1})
    r, g, frames = compute_rdf([tmp_path / "fcc.lammpstrj"], cutoff=cutoff, bins=400)
    assert frames == 2
    dr = r[1] - r[0]
    rp, gp = first_peak(r, g)
    assert abs(rp - a / np.sqrt(2)) <= 0.5 * dr + 1e-9
    assert g[r < a / np.sqrt(2) - dr].max() == 0.0  # nothing closer than the nearest neighbours
    # second shell at a, third at a sqrt(3/2)
    for shell in (a, a * np.sqrt(1.5)):
        if shell < r[-1]:
            window = np.abs(r - shell) <= dr
            assert g[window].max() > 1.0
    # coordination number from g: 12 nearest neighbours
    rho = len(s) / s.volume
    first = r < (a / np.sqrt(2) + a) / 2
    assert 4 * np.pi * rho * np.sum(g[first] * r[first] ** 2) * dr == pytest.approx(12, rel=0.02)
    # the same g(r) from structures in memory (the selection plots' source)
    r2, g2, frames2 = compute_rdf([s], cutoff=cutoff, bins=400)
    assert frames2 == 1
    np.testing.assert_allclose(r2, r, rtol=1e-12)
    np.testing.assert_allclose(g2, g, rtol=1e-9, atol=1e-12)


def test_first_peak_of_smooth_curve():
    r = np.linspace(0.01, 5, 500)
    g = 1 + 2.5 * np.exp(-((r - 1.234) ** 2) / (2 * 0.08 ** 2))
    rp, gp = first_peak(r, g)
    assert rp == pytest.approx(1.234, abs=1e-3)
    assert gp == pytest.approx(3.5, rel=0.01)


def test_analyze_synthetic_quench_recovers_activation_energy(tmp_path):
    """A fake quench directory: random-walk MSDs with Arrhenius D(T), fcc frames for the RDF."""
    temps, D0, Ea, dt = [1250.0, 1000.0, 875.0], 1.2, 0.3, 0.002
    md = tmp_path / "MD"
    proto = {"system": "al-eam", "temperatures": temps, "timestep": dt}
    write_json(md / "quench.json", {"protocol": proto, "potential": {"label": "synthetic"}})
    s = _fcc(4.2, 4)
    for run in range(3):
        for k, T in enumerate(temps):
            d = md / f"run_{run:03d}" / f"T_{T:g}"
            d.mkdir(parents=True)
            D = D0 * np.exp(-Ea / (KB_EV * T))
            msd = random_walk_msd(50_000, 100, D, dt * 50, seed=100 * run + k)
            _write_msd(d / "msd.dat", np.arange(101) * 50, msd)
            write_dump(d / "traj.lammpstrj", [s], {"Al": 1})
            write_json(d / "done.json", {"temperature": T, "mean_temperature": T})
    res = analyze(md, out_dir=tmp_path / "report")
    diff = res["diffusion"].set_index("temperature")
    for T in temps:
        assert diff.loc[T, "D_mean"] == pytest.approx(D0 * np.exp(-Ea / (KB_EV * T)), rel=0.02)
        assert diff.loc[T, "n_runs"] == 3 and diff.loc[T, "D_sem"] > 0
    fit = res["arrhenius"].iloc[0]
    assert fit.Ea == pytest.approx(Ea, rel=0.05)
    table = pd.read_csv(tmp_path / "report" / "arrhenius.csv")
    assert table.loc[0, "Ea"] == pytest.approx(fit.Ea)
    peaks = pd.read_csv(tmp_path / "report" / "rdf_peaks.csv")
    assert np.allclose(peaks["r_peak"], 4.2 / np.sqrt(2), atol=0.03)


def _synthetic_quench(md, temps=(1250.0, 1000.0), runs=2, structure=None, guard=None):
    dt = 0.002
    meta = {"protocol": {"system": "al-eam", "temperatures": list(temps), "timestep": dt},
            "potential": {"label": "synthetic"}}
    if guard is not None:
        meta["guard"] = guard
    write_json(md / "quench.json", meta)
    s = structure if structure is not None else _fcc(4.2, 4)
    for run in range(runs):
        for k, T in enumerate(temps):
            d = md / f"run_{run:03d}" / f"T_{T:g}"
            d.mkdir(parents=True)
            _write_msd(d / "msd.dat", np.arange(101) * 50, random_walk_msd(20_000, 100, 0.5, dt * 50, seed=run + k))
            write_dump(d / "traj.lammpstrj", [s], {"Al": 1})
            write_json(d / "done.json", {"temperature": T, "mean_temperature": T})


def test_analyze_refuses_a_collapsed_structure_instead_of_fitting_it(tmp_path):
    """The issue's case: a collapsed liquid (pairs at 0.06 A) gave an RDF 'first peak' at 0.02 A without a word."""
    s = _fcc(4.2, 4)
    pos = s.positions.copy()
    pos[1] = pos[0] + [0.06, 0.0, 0.0]  # two atoms 0.06 A apart
    collapsed = Structure(positions=pos, elements=s.elements, cell=s.cell)
    _synthetic_quench(tmp_path / "MD", structure=collapsed)
    with pytest.raises(ToolkitError, match=r"refusing to analyse T = 1250: its g\(r\) has pairs at r < 0\.0[0-9].*limit 1\.8"):
        analyze(tmp_path / "MD", out_dir=tmp_path / "report")
    # a quench whose guard allowed 2.1 A refuses a structure with pairs at 2.05 A (and the fcc at 2.97 A passes)
    pos = s.positions.copy()
    pos[1] = pos[0] + [2.05, 0.0, 0.0]
    near = Structure(positions=pos, elements=s.elements, cell=s.cell)
    _synthetic_quench(tmp_path / "MD2", structure=near, guard={"min_distance": 2.1})
    with pytest.raises(ToolkitError, match=r"pairs at r < 2\.0[5-9].*limit 2\.1"):
        analyze(tmp_path / "MD2", out_dir=tmp_path / "report2")
    _synthetic_quench(tmp_path / "MD3", guard={"min_distance": 2.1})
    res = analyze(tmp_path / "MD3", out_dir=tmp_path / "report3")
    assert res["rdf_peaks"]["r_min"].min() == pytest.approx(4.2 / np.sqrt(2), abs=0.05)


def test_analyze_refuses_failed_runs_unless_allowed(tmp_path):
    md = tmp_path / "MD"
    _synthetic_quench(md, runs=3)
    reason = "shortest pair distance 0.06 Angstrom at step 400 is below the limit 1.81 Angstrom"
    failed = md / "run_001" / "T_1000"
    (failed / "done.json").unlink()
    write_json(failed / "failed.json", {"status": "FAILED", "reason": reason})
    with pytest.raises(ToolkitError, match="refusing to analyse runs that left the data's range: run_001 FAILED at "
                       "T_1000: shortest pair distance 0.06"):
        analyze(md, out_dir=tmp_path / "r1")
    from toolkit.cli import main

    assert main(["analyze", str(md), "-o", str(tmp_path / "r0")]) == 1
    with pytest.warns(UserWarning, match="leaving out 1 FAILED run"):
        res = analyze(md, out_dir=tmp_path / "r2", allow_failed=True)
    assert set(res["diffusion_runs"]["run"]) == {0, 2}  # run 1 left out at every temperature
    assert (res["diffusion"]["n_runs"] == 2).all()
    assert res["excluded_runs"] == {"synthetic": {"run_001": f"T_1000: {reason}"}}
    for run in ("run_000", "run_002"):
        (md / run / "T_1000" / "done.json").unlink()
        write_json(md / run / "T_1000" / "failed.json", {"status": "FAILED", "reason": "lost atoms"})
    with pytest.raises(ToolkitError, match="every run FAILED"):
        analyze(md, out_dir=tmp_path / "r3", allow_failed=True)


def test_trajectory_msd_unwraps_and_averages_origins(tmp_path):
    D, dt, L = 0.2, 0.5, 8.0
    x = random_walk(n_particles=400, n_steps=300, D=D, dt=dt, seed=7) + 4.0
    img = np.floor(x / L)
    wrapped = x - img * L
    with open(tmp_path / "traj.lammpstrj", "w") as fh:
        for k, (w, i) in enumerate(zip(wrapped, img)):
            fh.write(f"ITEM: TIMESTEP\n{1000 + 10 * k}\nITEM: NUMBER OF ATOMS\n{len(w)}\n"
                     f"ITEM: BOX BOUNDS pp pp pp\n0 {L}\n0 {L}\n0 {L}\nITEM: ATOMS id type element x y z ix iy iz\n")
            for n, (p, q) in enumerate(zip(w, i), start=1):
                fh.write(f"{n} 1 Ar {p[0]:.17g} {p[1]:.17g} {p[2]:.17g} {int(q[0])} {int(q[1])} {int(q[2])}\n")
    t, pos = read_unwrapped(tmp_path / "traj.lammpstrj", timestep=dt / 10)
    np.testing.assert_allclose(t, np.arange(301) * dt)
    np.testing.assert_allclose(pos, x, atol=1e-10)
    msd = msd_multi_origin(pos, max_lag=5)
    c = x - x.mean(axis=1, keepdims=True)
    brute = [np.mean([((c[i + lag] - c[i]) ** 2).sum(axis=1).mean() for i in range(301 - lag)]) for lag in range(6)]
    np.testing.assert_allclose(msd, brute, rtol=1e-12)
    full = msd_multi_origin(pos)
    assert fit_diffusion(t[: len(full)], full).D == pytest.approx(D, rel=0.05)


@pytest.mark.filterwarnings("ignore:.*no Arrhenius fit")   # one temperature: no Arrhenius fit, by design
def test_rdf_peak_standard_errors_come_from_the_runs(tmp_path):
    """The first peak's standard error is the spread of the runs' own peaks (runs are the independent samples,
    as for D), and the comparison's error on the relative deviation combines both sides' (first order)."""
    temps = (1000.0,)
    peaks = {}
    for name, rattle in (("pot", 0.10), ("ref", 0.15)):
        md = tmp_path / name
        write_json(md / "quench.json", {"protocol": {"system": "al-eam", "temperatures": list(temps),
                                                     "timestep": 0.002}, "potential": {"label": name}})
        own = []
        for run in range(3):
            s = _fcc(4.2, 4)
            s.positions += np.random.default_rng(10 * run + len(name)).normal(0, rattle * (1 + run / 4),
                                                                               s.positions.shape)
            d = md / f"run_{run:03d}" / "T_1000"
            d.mkdir(parents=True)
            _write_msd(d / "msd.dat", np.arange(101) * 50, random_walk_msd(20_000, 100, 0.5, 0.1, seed=run))
            write_dump(d / "traj.lammpstrj", [s], {"Al": 1})
            write_json(d / "done.json", {"temperature": 1000.0, "mean_temperature": 1000.0})
            r, g, _ = compute_rdf([d / "traj.lammpstrj"], cutoff=6.0, bins=200)
            own.append(first_peak(r, g)[1])
        peaks[name] = (np.mean(own), np.std(own, ddof=1) / np.sqrt(3))
    res = analyze(tmp_path / "pot", tmp_path / "ref", out_dir=tmp_path / "out", rdf_cutoff=6.0)
    p = res["rdf_peaks"].set_index("source")
    for name in ("pot", "ref"):
        assert p.loc[name, "g_peak_sem"] == pytest.approx(peaks[name][1], rel=1e-9) and peaks[name][1] > 0.01
        assert p.loc[name, "n_runs"] == 3
    c = res["comparison"].iloc[0]
    ratio = c.g_peak / c.g_peak_reference
    assert c.g_peak_rel_dev == pytest.approx(ratio - 1)
    want = ratio * np.hypot(peaks["pot"][1] / c.g_peak, peaks["ref"][1] / c.g_peak_reference)
    assert c.g_peak_rel_dev_sem == pytest.approx(want, rel=1e-9)
