"""Energies, forces and symmetry functions against n2p2's own numbers (../shared/reference/n2p2)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import read_comp
from toolkit.potential import load_potential
from toolkit.structures import read_n2p2


def _check_case(case_dir, indices=None, rel=1e-7):
    model = load_potential(case_dir)
    structures = read_n2p2(case_dir / "input.data")
    ecomp = read_comp(case_dir / "energy.comp")
    fcomp = read_comp(case_dir / "forces.comp")
    indices = range(len(structures)) if indices is None else indices
    worst_e = worst_f = 0.0
    for k in indices:
        p = model.predict(structures[k], forces=True)
        e_ref = ecomp[k, 3]
        assert int(ecomp[k, 1]) == len(structures[k])
        worst_e = max(worst_e, abs(p.energy - e_ref) / abs(e_ref))
        f_ref = fcomp[fcomp[:, 0] == k, 3].reshape(-1, 3)
        # 9 significant digits printed: relative 1e-7 per component, with a floor of
        # 1e-7 of the structure's largest force for components that are nearly zero.
        scale = np.maximum(np.abs(f_ref), 1e-3 * np.abs(f_ref).max())
        worst_f = max(worst_f, float((np.abs(p.forces - f_ref) / scale).max()))
    assert worst_e < rel, f"energy relative error {worst_e:.2e}"
    assert worst_f < rel, f"force relative error {worst_f:.2e}"
    return worst_e, worst_f


def test_lj_dimer_scan_matches_n2p2(shared):
    _check_case(shared / "lj")


@pytest.mark.slow
def test_h2o_matches_n2p2(shared):
    # two elements, type 2 and type 3, normalisation (mean_energy, conv_energy, conv_length)
    _check_case(shared / "h2o_rpbe_d3")


def test_al_eam_matches_n2p2(shared):
    # cutoff_type 1, type 9 angular functions, 256-atom liquid boxes
    _check_case(shared / "al_eam_22", indices=range(0, 40, 8))


def _read_function_data(path, n_structures):
    blocks, lines = [], open(path).read().split("\n")
    i = 0
    while i < len(lines) and len(blocks) < n_structures:
        if not lines[i].strip():
            i += 1
            continue
        n = int(lines[i].split()[0])
        blocks.append(np.array([[float(x) for x in lines[i + 1 + k].split()[1:]] for k in range(n)]))
        i += n + 2
    return blocks


def test_raw_symmetry_functions_match_function_data(shared):
    model = load_potential(shared / "al_eam_22")
    structures = read_n2p2(shared / "al_eam_22" / "input.data")[:3]
    ref = _read_function_data(shared / "al_eam_22" / "function.data", 3)
    feats = model.sfset.compute(structures)
    G = feats.per_element["Al"].values.numpy()
    R = np.concatenate(ref)
    # function.data prints 10 decimals
    assert np.abs(G - R).max() < 6e-11


def test_sorted_order_matches_n2p2_table(shared):
    """n2p2's sf_table.txt lists each element's functions in its sorted order with their input.nn line."""
    from toolkit.symfuncs import parse_symfunction
    from toolkit.n2p2 import read_input_nn

    for case in ("h2o_rpbe_d3", "al_eam_22", "lj"):
        d = shared / case
        lines = open(d / "input.nn").read().split("\n")
        settings = read_input_nn(d / "input.nn")
        table: dict[str, list[int]] = {}
        current = None
        for line in open(d / "sf_table.txt"):
            if "atomic symmetry functions element" in line:
                current = line.split("element")[1].strip().rstrip(":").strip()
                table[current] = []
            tok = line.split()
            if current and len(tok) > 5 and tok[0].isdigit():
                table[current].append(int(tok[-1]))
        by_el = settings.symfuncs_by_element()
        for e, line_numbers in table.items():
            expected = [parse_symfunction(lines[n - 1], settings.cutoff_type, settings.cutoff_alpha) for n in line_numbers]
            assert by_el[e] == expected, case


def test_forces_are_minus_energy_gradient(shared):
    """Central finite differences of the energy (h = 1e-5 A) against the analytic forces."""
    model = load_potential(shared / "h2o_rpbe_d3")
    s = read_n2p2(shared / "h2o_rpbe_d3" / "input.data")[1]
    p = model.predict(s, forces=True)
    h = 1e-5
    for atom, k in [(0, 0), (1, 2), (7, 1), (30, 0)]:
        plus, minus = s.copy(), s.copy()
        plus.positions[atom, k] += h
        minus.positions[atom, k] -= h
        fd = -(model.predict(plus, forces=False).energy - model.predict(minus, forces=False).energy) / (2 * h)
        assert abs(fd - p.forces[atom, k]) < 1e-6 * max(1.0, abs(fd)), (atom, k, fd, p.forces[atom, k])


def test_virial_is_minus_strain_derivative(shared):
    """W_ab = -dE/d(eps_ab) for a homogeneous strain of cell and positions."""
    model = load_potential(shared / "al_eam_22")
    s = read_n2p2(shared / "al_eam_22" / "input.data")[0]
    W = model.predict(s, forces=True, virial=True).virial
    h = 1e-6
    for a, b in [(0, 0), (1, 1), (0, 1), (2, 0)]:
        eps = np.zeros((3, 3))
        eps[a, b] = h
        vals = []
        for sign in (1, -1):
            t = s.copy()
            F = np.eye(3) + sign * eps
            t.positions = t.positions @ F.T
            t.cell = t.cell @ F.T
            vals.append(model.predict(t, forces=False).energy)
        dE = (vals[0] - vals[1]) / (2 * h)
        assert abs(-dE - W[a, b]) < 1e-5 * max(1.0, abs(W).max()), (a, b, -dE, W[a, b])
