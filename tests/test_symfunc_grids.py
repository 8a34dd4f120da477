"""Element-resolved candidate grids: n2p2 lines that round-trip through the parser, in n2p2's sorted order."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import ToolkitError
from toolkit.n2p2.settings import read_input_nn
from toolkit.symfuncs import parse_symfunction
from toolkit.symfuncs.grids import (
    cuzr_candidates,
    element_resolved_grid,
    named_candidates,
    si_boron_candidates,
    symfunction_lines,
    write_symfunction_lines,
)


def _key(sf):
    return (sf.element, sf.type, sf.canonical_neighbors(), sf.eta, sf.rs, sf.rc, sf.lambda_, sf.zeta)


def _sf_table(path: Path) -> dict[str, list[int]]:
    """n2p2's sf_table.txt: per element, the input.nn line numbers in n2p2's sorted order."""
    table: dict[str, list[int]] = {}
    current = None
    for line in open(path):
        if "atomic symmetry functions element" in line:
            current = line.split("element")[1].strip().rstrip(":").strip()
            table[current] = []
        tok = line.split()
        if current and len(tok) > 5 and tok[0].isdigit():
            table[current].append(int(tok[-1]))
    return table


def test_grid_counts_and_round_trip(tmp_path):
    grid = element_resolved_grid(["Zr", "Cu", "O"], rc=6.0, radial_etas=[0.01, 0.1], shift_etas=[2.0],
                                 shifts=[2.5, 3.5], angular_etas=[0.05], zetas=[1, 4], rc_angular=4.0,
                                 cutoff_type=2)
    # 3 elements: per central 3 x 4 radial + 6 pairs x 4 angular = 36
    assert len(grid) == 3 * 36
    assert [sf.element for sf in grid] == ["O"] * 36 + ["Cu"] * 36 + ["Zr"] * 36  # atomic-number order
    assert {sf.neighbors for sf in grid if sf.element == "Cu" and sf.is_angular} == {
        ("O", "O"), ("O", "Cu"), ("O", "Zr"), ("Cu", "Cu"), ("Cu", "Zr"), ("Zr", "Zr")}
    path = write_symfunction_lines(tmp_path / "grid.nn", grid, comment="test grid")
    text = path.read_text()
    assert "cutoff_type 2" in text
    back = [parse_symfunction(line, cutoff_type=2) for line in text.splitlines() if line.startswith("symfunction_short")]
    assert back == grid  # exact numbers and order
    # and through the full input.nn parser, whose per-element sorting leaves the order unchanged
    nn = tmp_path / "input.nn"
    nn.write_text("number_of_elements 3\nelements O Cu Zr\nglobal_hidden_layers_short 1\nglobal_nodes_short 5\n"
                  "global_activation_short t l\n" + text)
    settings = read_input_nn(nn)
    assert settings.symfuncs == grid
    by_el = settings.symfuncs_by_element()
    assert [sf for e in ("O", "Cu", "Zr") for sf in by_el[e]] == grid


def test_grid_order_matches_n2p2_for_two_elements(shared):
    """A superset grid of the H2O potential's functions, restricted to them, is in n2p2's own sorted order."""
    H2O = shared / "h2o_rpbe_d3"
    nn = read_input_nn(H2O / "input.nn")
    grid = element_resolved_grid(["O", "H"], rc=12.0, radial_etas=[0.001, 0.01, 0.03, 0.06],
                                 shift_etas=[0.15, 0.3, 0.6, 1.5], shifts=[0.9, 1.9, 4.0],
                                 angular_etas=[0.001, 0.01, 0.03, 0.07, 0.2], zetas=[1, 4], angular_type=3,
                                 cutoff_type=nn.cutoff_type)
    assert len(grid) == 2 * (2 * 16 + 3 * 20)
    wanted = {_key(sf) for sf in nn.symfuncs}
    kept = [sf for sf in grid if _key(sf) in wanted]
    assert len(kept) == len(nn.symfuncs) == 57  # every function of the potential is in the grid
    lines = (H2O / "input.nn").read_text().split("\n")
    for element, line_numbers in _sf_table(H2O / "sf_table.txt").items():
        n2p2_order = [_key(parse_symfunction(lines[n - 1])) for n in line_numbers]
        assert [_key(sf) for sf in kept if sf.element == element] == n2p2_order, element


def test_named_sets():
    si = named_candidates("si-boron")
    assert len(si) == 60 and sum(sf.is_radial for sf in si) == 12 and sum(sf.is_angular for sf in si) == 48
    assert {sf.element for sf in si} == {"Si"} and max(sf.rc for sf in si) == 7.0
    assert len({(sf.eta, sf.zeta, sf.lambda_) for sf in si if sf.is_angular}) == 48  # no duplicates
    assert si == si_boron_candidates()
    short = named_candidates("si-boron-short")  # the demo's set: the same recipe, every function cut at 5.0 A
    assert len(short) == 60 and {sf.rc for sf in short} == {5.0} and sum(sf.is_angular for sf in short) == 48
    assert short == si_boron_candidates(rc=5.0)
    # the widths scale with the cutoff (rc/2 ... rc/6): eta x rc^2 is the same, zeta and lambda too
    key = lambda sf, rc: (round(sf.eta * rc**2, 4), sf.zeta, sf.lambda_)  # noqa: E731
    assert sorted(key(sf, 5.0) for sf in short if sf.is_angular) == sorted(key(sf, 7.0) for sf in si if sf.is_angular)
    shifts = sorted(sf.rs for sf in short if sf.is_radial and sf.rs > 0)
    assert shifts[0] == 2.1 and shifts[-1] == pytest.approx(5.0 * 5 / 6, abs=1e-5)  # the first two shells, finer
    dense = named_candidates("si-dense")  # the demo's set: twice the radial resolution, angular at 5.0 and 3.8 A
    assert len(dense) == 120 and sum(sf.is_radial for sf in dense) == 24
    assert sorted({sf.rc for sf in dense if sf.is_angular}) == [3.8, 5.0] and {sf.rc for sf in dense if sf.is_radial} == {5.0}
    for rc in (3.8, 5.0):
        assert sorted(key(sf, rc) for sf in dense if sf.is_angular and sf.rc == rc) == \
            sorted(key(sf, 5.0) for sf in short if sf.is_angular)
    dense_shifts = sorted(sf.rs for sf in dense if sf.is_radial and sf.rs > 0)
    assert len(dense_shifts) == 12 and dense_shifts[0] == 2.1 and dense_shifts[1] - dense_shifts[0] < shifts[1] - shifts[0]
    assert len({sf.to_line() for sf in dense}) == 120
    cuzr = named_candidates("cuzr")
    assert cuzr == cuzr_candidates() and len(cuzr) == 216
    for e in ("Cu", "Zr"):
        mine = [sf for sf in cuzr if sf.element == e]
        assert sum(sf.is_radial and sf.neighbors == ("Zr",) for sf in mine) == 30  # 6 centred + 24 shifted
        assert max(sf.rc for sf in mine if sf.is_radial) == 7.5 and max(sf.rc for sf in mine if sf.is_angular) == 4.5
        assert sum(sf.is_angular and sf.neighbors == ("Cu", "Zr") for sf in mine) == 16
    assert all(line.startswith("symfunction_short ") for line in symfunction_lines(cuzr))
    with pytest.raises(ToolkitError, match="one element"):
        named_candidates("si-boron", ["Cu", "Zr"])
    with pytest.raises(ToolkitError, match="si-boron-short is for one element"):
        named_candidates("si-boron-short", ["Cu", "Zr"])
    with pytest.raises(ToolkitError, match="unknown candidate set"):
        named_candidates("boron")


def test_example_configs_of_the_two_systems_load():
    from pathlib import Path

    from toolkit.config import load_config

    root = Path(__file__).resolve().parents[1] / "examples"
    si, cuzr = load_config(root / "si_boron.yaml"), load_config(root / "cuzr.yaml")
    assert si.symfuncs.candidates == "si-boron" and si.data.generate.system == "si"
    assert cuzr.symfuncs.candidates == "cuzr" and cuzr.data.generate.composition == "Cu64Zr36"
    assert si.selection.cost_model == cuzr.selection.cost_model == "terms"
