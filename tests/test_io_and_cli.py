"""Structures, n2p2 files and the commands: round trips, bad input, CLI outputs, ASE calculator."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import read_comp
from toolkit.errors import InputFileError, StructureError
from toolkit.n2p2 import read_input_nn
from toolkit.potential import load_potential, save_model
from toolkit.structures import Structure, read_n2p2, read_structures, write_n2p2
from toolkit.symfuncs import SymFunc, SymmetryFunctionSet, parse_symfunction, standard_candidates


def hdnnp(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_input_data_round_trip_is_lossless(shared, tmp_path):
    original = read_n2p2(shared / "h2o_rpbe_d3" / "input.data")
    write_n2p2(tmp_path / "input.data", original)
    again = read_n2p2(tmp_path / "input.data")
    assert len(again) == len(original) == 20
    for a, b in zip(original, again):
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.forces, b.forces)
        assert np.array_equal(a.cell, b.cell) and a.energy == b.energy and a.elements == b.elements
        assert a.comments == b.comments and a.total_charge == b.total_charge


def test_non_periodic_structures_have_no_cell(shared):
    s = read_n2p2(shared / "lj" / "input.data")
    assert len(s) == 101 and s[0].cell is None and s[0].comments[0].startswith("r =")


@pytest.mark.parametrize("text, message", [
    ("begin\natom 0 0 0 Xx 0 0 0 0 0\nend\n", "line 2: unknown element 'Xx'"),
    ("begin\natom 0 0 nan Al 0 0 0 0 0\nend\n", "line 2: z is 'nan'"),
    ("begin\natom 0 0 0 Al 0 0 0 0\nend\n", "line 2: 'atom' line needs 9 fields"),
    ("begin\nlattice 1 0 0\natom 0 0 0 Al 0 0 0 0 0\nend\n", "1 'lattice' lines"),
    ("begin\natom 0 0 0 Al 0 0 0 0 0\n", "no 'end'"),
    ("atom 0 0 0 Al 0 0 0 0 0\n", "line 1: 'atom' outside a begin/end block"),
])
def test_malformed_input_data_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "input.data"
    path.write_text(text)
    with pytest.raises(InputFileError) as err:
        read_n2p2(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_ase_formats_are_read(tmp_path):
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.io import write

    atoms = bulk("Cu", "fcc", a=3.6).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=1)
    atoms.calc = EMT()
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    write(tmp_path / "a.extxyz", atoms)
    s = read_structures(tmp_path / "a.extxyz")[0]
    assert s.energy == pytest.approx(e) and np.allclose(s.forces, f) and s.cell is not None


def test_symfunction_lines_round_trip(shared):
    settings = read_input_nn(shared / "h2o_rpbe_d3" / "input.nn")
    for sf in settings.symfuncs:
        assert parse_symfunction(sf.to_line(), sf.cutoff_type, sf.cutoff_alpha) == sf
    cands = standard_candidates("Ar", rc=2.8)
    assert len(cands) == 22 and sum(c.is_radial for c in cands) == 12 and all(c.type == 9 for c in cands[12:])


def test_bad_symfunction_lines_are_rejected():
    for line, msg in [("Al 2 Al 0.1 0", "4 values"), ("Al 7 Al 1 2 3", "not supported"),
                      ("Al 9 Al Al 0.1 0.5 1 4.4", "lambda"), ("Al 2 Qq 0.1 0 6", "unknown element")]:
        with pytest.raises(InputFileError, match=msg):
            parse_symfunction(line)


def test_export_import_round_trip_predicts_identically(shared, tmp_path):
    model = load_potential(shared / "h2o_rpbe_d3")
    s = read_n2p2(shared / "h2o_rpbe_d3" / "input.data")[2]
    ref = model.predict(s)
    r = hdnnp("import-n2p2", shared / "h2o_rpbe_d3", tmp_path / "model.pt")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-c", "from toolkit.cli import export_n2p2_main; import sys; "
                        f"sys.exit(export_n2p2_main([r'{tmp_path / 'model.pt'}', r'{tmp_path / 'out'}']))"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for f in ("input.nn", "scaling.data", "weights.001.data", "weights.008.data"):
        assert (tmp_path / "out" / f).is_file()
    again = load_potential(tmp_path / "out").predict(s)
    assert again.energy == ref.energy
    assert np.array_equal(again.forces, ref.forces)
    # the weights text is n2p2's own layout: same numbers, same columns
    ours = [l.split() for l in open(tmp_path / "out" / "weights.008.data") if not l.startswith("#")]
    theirs = [l.split() for l in open(shared / "h2o_rpbe_d3" / "weights.008.data") if not l.startswith("#")]
    assert [o[1:] for o in ours] == [t[1:] for t in theirs]
    assert np.array_equal([float(o[0]) for o in ours], [float(t[0]) for t in theirs])


def test_predict_command_writes_csvs(shared, tmp_path):
    r = hdnnp("predict", shared / "lj", shared / "lj" / "input.data", "-o", tmp_path / "pred")
    assert r.returncode == 0, r.stderr
    e = pd.read_csv(tmp_path / "pred" / "energies.csv")
    f = pd.read_csv(tmp_path / "pred" / "forces.csv")
    assert list(e.columns) == ["structure", "n_atoms", "energy"] and len(e) == 101
    assert list(f.columns) == ["structure", "atom", "fx", "fy", "fz"] and len(f) == 202
    ref = read_comp(shared / "lj" / "energy.comp")
    assert np.allclose(e["energy"], ref[:, 3], rtol=1e-7, atol=1e-9)


def test_predict_command_writes_errors_per_structure_and_per_state(shared, tmp_path):
    """errors.csv agrees with n2p2's energy.comp / forces.comp; with a states.csv beside the data the errors
    are grouped per state point (bias = mean error per atom, force RMSE over every component)."""
    import shutil

    data = tmp_path / "data" / "input.data"
    data.parent.mkdir()
    shutil.copy(shared / "lj" / "input.data", data)
    temperature = np.where(np.arange(101) < 40, 100.0, 250.0)
    pd.DataFrame({"structure": range(101), "state": (temperature > 100).astype(int), "start": "liquid",
                  "temperature": temperature}).to_csv(data.with_name("states.csv"), index=False)
    r = hdnnp("predict", shared / "lj", data, "-o", tmp_path / "pred")
    assert r.returncode == 0, r.stderr
    err = pd.read_csv(tmp_path / "pred" / "errors.csv")
    ec, fc = read_comp(shared / "lj" / "energy.comp"), read_comp(shared / "lj" / "forces.comp")
    assert list(err.columns) == ["structure", "n_atoms", "energy_error", "force_rmse"] and len(err) == 101
    np.testing.assert_allclose(err["energy_error"], (ec[:, 3] - ec[:, 2]) / ec[:, 1], atol=2e-8)
    f_rmse = [np.sqrt(np.mean((fc[fc[:, 0] == s, 3] - fc[fc[:, 0] == s, 2]) ** 2)) for s in range(101)]
    np.testing.assert_allclose(err["force_rmse"], f_rmse, rtol=1e-6, atol=2e-7)   # comp: 9 digits
    by = pd.read_csv(tmp_path / "pred" / "errors_by_state.csv")
    assert by["temperature"].tolist() == [100.0, 250.0] and by["n"].tolist() == [40, 61]
    hot = err["structure"] >= 40
    assert by["energy_bias"].iloc[1] == pytest.approx(err.loc[hot, "energy_error"].mean(), rel=1e-9)
    assert by["force_rmse"].iloc[0] == pytest.approx(np.sqrt(np.mean(np.square(err.loc[~hot, "force_rmse"]))),
                                                      rel=1e-9)   # two atoms in every structure
    assert (tmp_path / "pred" / "errors_by_state.png").stat().st_size > 1000
    assert "RMSE against the data's 101 reference structures" in r.stdout


def test_state_units_follow_the_generated_system():
    from toolkit.prediction_errors import state_units

    assert state_units(pd.DataFrame({"system": ["cuzr-eam"]})) == ("eV/atom", "eV/Angstrom", "K")
    assert state_units(pd.DataFrame({"system": ["lj"]})) == ("epsilon/atom", "epsilon/sigma", "epsilon/kB")
    assert state_units(pd.DataFrame({"temperature": [1.0]})) == ("energy/atom", "energy/length", "temperature")


def test_a_states_file_that_does_not_fit_the_data_is_named_and_not_used(shared, tmp_path):
    import shutil

    data = tmp_path / "input.data"
    shutil.copy(shared / "lj" / "input.data", data)
    pd.DataFrame({"structure": range(50), "temperature": 1.0}).to_csv(tmp_path / "states.csv", index=False)
    r = hdnnp("predict", shared / "lj", data, "-o", tmp_path / "pred")
    assert r.returncode == 0, r.stderr
    assert f"warning: {tmp_path / 'states.csv'}: not one row per structure of the data (50 rows, 101 structures" \
        in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "pred" / "errors.csv").is_file() and not (tmp_path / "pred" / "errors_by_state.csv").exists()
    (tmp_path / "states.csv").write_bytes(b"structure,temperature\n0,1\n1,\"2\n")   # an unclosed quote
    r = hdnnp("predict", shared / "lj", data, "-o", tmp_path / "pred2")
    assert r.returncode == 0 and f"{tmp_path / 'states.csv'}: unreadable" in r.stderr and "Traceback" not in r.stderr


def test_symfuncs_command_stores_values_and_definitions(shared, tmp_path):
    from toolkit.features import FeatureFile

    r = hdnnp("symfuncs", shared / "lj" / "input.nn", shared / "lj" / "input.data", "-o", tmp_path / "f.h5",
              "--derivatives")
    assert r.returncode == 0, r.stderr
    with FeatureFile(tmp_path / "f.h5") as ff:
        assert ff.elements == ["Ne"] and ff.values("Ne").shape == (202, 5)
        assert ff.symfunc_lines("Ne")[1] == "symfunction_short Ne 2 Ne 1 0.25 3"
        # 5 radial functions: one scalar per pair and function; every atom is a force atom
        P = ff.h5["derivatives/Ne/pair_row"].shape[0]
        assert P > 0 and ff.h5["derivatives/Ne/dG_radial"].shape == (P, 5)
        assert ff.h5["derivatives/Ne/dG_angular"].shape == (0, 0, 3)
        assert len(ff.h5["derivatives/force_atoms"]) == 202


def test_missing_potential_gives_clear_error(tmp_path):
    r = hdnnp("predict", tmp_path / "nope", tmp_path / "x.data", "-o", tmp_path / "o")
    assert r.returncode == 1 and "nope" in r.stderr and "no such file or directory" in r.stderr


def test_wrong_layer_sizes_name_the_weights_file(shared, tmp_path):
    import shutil

    d = tmp_path / "pot"
    shutil.copytree(shared / "lj", d)
    text = (d / "input.nn").read_text().replace("global_nodes_short              3", "global_nodes_short              4")
    (d / "input.nn").write_text(text)
    with pytest.raises(InputFileError, match=r"weights\.010\.data.*needs 29"):
        load_potential(d)


def test_constant_symmetry_function_is_reported(shared, tmp_path):
    import shutil

    d = tmp_path / "pot"
    shutil.copytree(shared / "lj", d)
    lines = (d / "scaling.data").read_text().split("\n")
    row = [i for i, l in enumerate(lines) if l.strip() and not l.startswith("#")][2]
    tok = lines[row].split()
    tok[3] = tok[2]  # max = min
    lines[row] = " ".join(tok)
    (d / "scaling.data").write_text("\n".join(lines))
    with pytest.raises(InputFileError, match="function 3 of Ne.*constant"):
        load_potential(d)


def test_overlapping_atoms_are_rejected():
    sfset = SymmetryFunctionSet([SymFunc("Ar", 2, ("Ar",), 1.0, 0.0, 2.8)])
    s = Structure([[0, 0, 0], [0.01, 0, 0], [1.5, 0, 0]], ["Ar"] * 3)
    with pytest.raises(StructureError, match="atoms 0 and 1 are 0.01 apart"):
        sfset.compute(s, min_distance=0.5, where="structure")


def test_min_distance_check_fast_path_names_the_pair_list_closest_pair():
    """The k-d tree (orthorhombic or isolated) finds the pair the neighbour list finds, across the boundary too."""
    import toolkit.structures as st
    from toolkit.symfuncs.neighbors import build_pairs

    rng = np.random.default_rng(3)
    cells = [np.diag([7.0, 8.0, 9.0]), None]
    for cell in cells:
        for trial in range(20):
            pos = rng.uniform(0, 7, (40, 3))
            i, j = rng.choice(40, 2, replace=False)
            shift = np.array([7.0, 0, 0]) if cell is not None and trial % 2 else 0.0
            pos[j] = pos[i] + shift + rng.normal(0, 0.1, 3)   # a close pair, every other one through the boundary
            s = Structure(pos, ["Ar"] * 40, cell=cell)
            fast = st._closest_pair_kdtree(s, 0.5)
            pl = build_pairs(pos, cell, 0.5)
            p = int(pl.dist.argmin())
            assert {fast[0], fast[1]} == {int(pl.center[p]), int(pl.neighbor[p])}
            assert fast[2] == pytest.approx(float(pl.dist[p]), rel=1e-12)
            assert st._closest_pair_kdtree(Structure(pos[:1], ["Ar"], cell=cell), 0.5) in (None, False)
    tri = Structure([[0, 0, 0], [1, 0, 0]], ["Ar"] * 2, cell=[[5, 0, 0], [1, 5, 0], [0, 0, 5]])
    assert st._closest_pair_kdtree(tri, 0.5) is False          # triclinic: the pair list decides
    with pytest.raises(StructureError, match="atoms 0 .Ar. and 1 .Ar. are 0.2 apart"):
        st.check_min_distance([Structure([[0.1, 1, 1], [6.9, 1, 1]], ["Ar"] * 2, cell=np.diag([7.0, 7, 7]))], 0.5)


def test_ase_calculator_runs_md_and_matches_predict(shared):
    from ase.md.verlet import VelocityVerlet
    from ase import units
    from toolkit.calculator import HDNNPCalculator

    s = read_n2p2(shared / "al_eam_22" / "input.data")[0]
    calc = HDNNPCalculator(shared / "al_eam_22")
    atoms = s.to_ase()
    atoms.calc = calc
    p = calc.model.predict(s, virial=True)
    assert atoms.get_potential_energy() == pytest.approx(p.energy, rel=1e-12)
    assert np.allclose(atoms.get_forces(), p.forces, rtol=1e-10, atol=1e-12)
    stress = atoms.get_stress()
    assert stress[0] == pytest.approx(-p.virial[0, 0] / atoms.get_volume(), rel=1e-10)
    dyn = VelocityVerlet(atoms, 1.0 * units.fs)
    e0 = atoms.get_potential_energy() + atoms.get_kinetic_energy()
    dyn.run(5)
    e1 = atoms.get_potential_energy() + atoms.get_kinetic_energy()
    assert abs(e1 - e0) < 1e-3 * len(atoms)


def test_n2p2_templates_are_valid_input_nn():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "n2p2_templates"
    counts = {p.name: len(read_input_nn(p).symfuncs) for p in sorted(root.glob("*.input.nn"))}
    assert counts == {"al_329.input.nn": 329, "lj_22.input.nn": 22, "si_22.input.nn": 22}


@pytest.mark.parametrize("argv, value", [
    (["quench", "reference", "-o", "md", "--cells", "4"], ("cells", [4, 4, 4])),
    (["quench", "reference", "-o", "md", "--cells", "2,3,4"], ("cells", [2, 3, 4])),
    (["generate", "lj", "gen", "--temperatures", "1:2:3"], ("temperatures", [1.0, 1.5, 2.0])),
    (["generate", "lj", "gen", "--temperatures", "0.5, 0.7,"], ("temperatures", [0.5, 0.7])),
])
def test_list_options_are_parsed(argv, value):
    from toolkit.cli import build_parser

    assert getattr(build_parser().parse_args(argv), value[0]) == value[1]


@pytest.mark.parametrize("argv, message", [
    (["quench", "reference", "-o", "md", "--cells", "4,x"], "argument --cells: expected N or NX,NY,NZ"),
    (["quench", "reference", "-o", "md", "--cells", "4,4"], "argument --cells: expected N or NX,NY,NZ"),
    (["quench", "reference", "-o", "md", "--cells", "0"], "argument --cells: expected N or NX,NY,NZ"),
    (["generate", "lj", "gen", "--temperatures", "1:2:x"], "argument --temperatures: expected start:stop:count"),
    (["generate", "lj", "gen", "--temperatures", ","], "argument --temperatures: expected a comma list"),
    (["quench", "reference", "-o", "md", "--temperatures", "1,a"], "argument --temperatures: invalid floats value"),
])
def test_bad_list_options_give_one_usage_error(argv, message, capsys):
    from toolkit.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    errors = [l for l in capsys.readouterr().err.splitlines() if "error:" in l]
    assert len(errors) == 1 and message in errors[0], errors
