"""Selection per element network: MD costs of functions per element, cost-weighted penalties,
per-element reports and the feature-matrix plot split by element."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from toolkit.structures import Structure
from toolkit.symfuncs import SymFunc
from toolkit.symfuncs.cost import md_costs
from toolkit.training import ModelSpec, TrainSettings, prepare, train

torch.set_num_threads(1)


def test_md_costs_count_neighbour_terms_on_ideal_lattices():
    from ase.build import bulk

    al = Structure.from_ase(bulk("Al", "fcc", a=4.05, cubic=True).repeat(3))  # 12 at 2.86, 6 at 4.05
    sfs = {"Al": [SymFunc("Al", 2, ("Al",), 0.1, 0.0, 3.5), SymFunc("Al", 2, ("Al",), 0.1, 0.0, 4.5),
                  SymFunc("Al", 9, ("Al", "Al"), 0.1, 0.0, 3.5, 1.0, 1.0), None]}
    c = md_costs(sfs, [al])
    unit = (12 + 18) / 2  # the mean radial function
    np.testing.assert_allclose(c["Al"], [12 / unit, 18 / unit, 66 / unit, 1.0])
    # B2 Cu-Zr (a = 3.2): each atom has 8 unlike neighbours at 2.77 and 6 like ones at 3.2
    grid = np.array([[i, j, k] for i in range(4) for j in range(4) for k in range(4)], float) * 3.2
    b2 = Structure(positions=np.concatenate([grid, grid + 1.6]), elements=["Cu"] * 64 + ["Zr"] * 64,
                   cell=np.eye(3) * 12.8)
    sfs = {e: [SymFunc(e, 2, ("Zr",), 0.1, 0.0, 3.0), SymFunc(e, 2, ("Cu",), 0.1, 0.0, 3.0),
               SymFunc(e, 9, ("Zr", "Zr"), 0.1, 0.0, 3.0, 1.0, 1.0), SymFunc(e, 9, ("Cu", "Zr"), 0.1, 0.0, 3.5, 1.0, 1.0)]
           for e in ("Cu", "Zr")}
    c = md_costs(sfs, [b2])
    unit = (8 + 0 + 0 + 8) / 4
    np.testing.assert_allclose(c["Cu"], [8 / unit, 0.0, 28 / unit, 8 * 6 / unit])
    np.testing.assert_allclose(c["Zr"], [0.0, 8 / unit, 0.0, 8 * 6 / unit])
    # per MD step of the box: x the element's share x 2 elements; B2 has equal shares: unchanged
    from toolkit.symfuncs.cost import box_costs

    same = box_costs(c, [b2])
    np.testing.assert_allclose(same["Cu"], c["Cu"]) and np.testing.assert_allclose(same["Zr"], c["Zr"])
    cu3zr = b2.copy()
    cu3zr.elements = ["Cu"] * 96 + ["Zr"] * 32  # 3 : 1 -> Cu x 1.5, Zr x 0.5
    box = box_costs(c, [cu3zr])
    np.testing.assert_allclose(box["Cu"], 1.5 * c["Cu"])
    np.testing.assert_allclose(box["Zr"], 0.5 * c["Zr"])


def test_measured_costs_weight_the_path_and_lambda_max(lj_features, tmp_path):
    """A measured cost array replaces the angular_cost rule; doubling every cost halves lambda_max."""
    from toolkit.selection import lambda_max
    from toolkit.selection.path import group_costs, run_path
    from toolkit.settings import SelectionSettings

    path, _ = lj_features
    exp = prepare(path, ModelSpec(hidden=[6]), split=(0.5, 0.25, 0.25), dtype=torch.float64)
    st = TrainSettings(epochs=30, batch_size=2, lr=1e-2, weight_decay=0.0, progress=False)
    full = exp.new_networks(seed=0)
    train(full, exp.data, exp.train, exp.val, st)
    angular = np.array([sf.is_angular for sf in exp.data.symfuncs["Ar"]])
    measured = {"Ar": np.where(angular, 1e6, 1.0)}
    assert np.array_equal(group_costs(exp, 1e6)["Ar"], group_costs(exp, 7.0, measured)["Ar"])
    pad = group_costs(exp, measured={"Ar": np.arange(1.0, 5.0)})["Ar"]  # 6 columns, 4 costs: the rest the median
    np.testing.assert_allclose(pad, [1, 2, 3, 4, 2.5, 2.5])
    s = SelectionSettings(lambdas=[1e-3], gl_epochs=5, agl_epochs=5, refit_epochs=1)
    rec = run_path(exp, full, 1.0, s, st, tmp_path / "m", save_models=False, echo=lambda m: None,
                   cost=group_costs(exp, measured=measured))[0]
    assert rec["n_angular"] == 0 and rec["n_selected"] == 4
    one = lambda_max(exp, full, st, {"Ar": np.ones(6)})
    assert lambda_max(exp, full, st, {"Ar": np.full(6, 2.0)}) == pytest.approx(one / 2, rel=1e-9)


def test_element_summary_and_split_matrix_plot(tmp_path):
    from toolkit.selection.per_element import column_groups, element_summary
    from toolkit.selection.plots import plot_selection_matrix
    from toolkit.training import FeatureData

    rng = np.random.default_rng(0)
    X = {"Cu": rng.uniform(size=(40, 5)), "Zr": rng.uniform(size=(24, 3))}
    idx = {"Cu": np.repeat(np.arange(8), 5), "Zr": np.repeat(np.arange(8), 3)}
    data = FeatureData.from_arrays(X, idx, rng.normal(size=8), np.full(8, 8), dtype=torch.float64)
    exp = prepare(data, ModelSpec(hidden=[3]), split=(0.5, 0.25, 0.25))
    s = element_summary(exp, {"Cu": [4, 0], "Zr": []}, cost={"Cu": np.arange(5.0), "Zr": np.ones(3)})
    assert s["Cu"]["n_candidates"] == 5 and s["Cu"]["n_kept"] == 2 and s["Zr"]["n_kept"] == 0
    assert s["Cu"]["md_cost"] == 4.0 and s["Cu"]["md_cost_all"] == 10.0 and s["Zr"]["md_cost"] == 0.0
    assert s["Cu"]["functions"] == [exp.data.names["Cu"][0], exp.data.names["Cu"][4]]
    assert column_groups(exp, 2) == [("Cu", 7), ("Zr", 5)]
    out = plot_selection_matrix({"AGL": [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]}, [f"f{i}" for i in range(12)],
                                tmp_path / "m.png", groups=column_groups(exp, 2))
    assert out.is_file() and out.stat().st_size > 1000


@pytest.mark.slow
def test_select_two_elements_per_element_report_and_costs(tmp_path):
    """hdnnp select on two elements with element-resolved candidates and the measured MD cost."""
    from conftest import lj_boxes

    from toolkit.cli import main
    from toolkit.structures import write_n2p2
    from toolkit.symfuncs.grids import element_resolved_grid, write_symfunction_lines

    structs = lj_boxes(24, seed=1, max_rattle=0.08, forces=False)
    for s in structs:  # every other atom becomes Kr: two elements, one network each
        s.elements = ["Kr" if i % 2 else "Ar" for i in range(len(s))]
    write_n2p2(tmp_path / "input.data", structs)
    grid = element_resolved_grid(["Ar", "Kr"], rc=2.0, radial_etas=[0.5, 2.0], angular_etas=[0.5], zetas=[1],
                                 rc_angular=1.4)
    write_symfunction_lines(tmp_path / "sf.nn", grid)
    head = "number_of_elements 2\nelements Ar Kr\nglobal_hidden_layers_short 1\nglobal_nodes_short 4\n" \
           "global_activation_short t l\n"
    (tmp_path / "input.nn").write_text(head + (tmp_path / "sf.nn").read_text())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
data: {{structures: input.data}}
symfuncs: {{candidates: input.nn, input_nn: input.nn}}
model: {{hidden: [4]}}
training: {{epochs: 4, batch_size: 4, lr: 0.01, progress: false, split: [0.5, 0.25, 0.25]}}
selection: {{n_lambdas: 2, lambda_ratio: 0.01, repeats: 0, fakes: 2, rdf_structures: 4, max_features: 30,
            cost_model: terms}}
""")
    out = tmp_path / "run"
    assert main(["select", str(cfg), "-o", str(out), "--quiet"]) == 0
    sel = json.loads((out / "selected.json").read_text())
    by = sel["sets"]["full"]["by_element"]
    assert {e: by[e]["n_candidates"] for e in by} == {"Ar": 2 * 2 + 3 * 2, "Kr": 2 * 2 + 3 * 2}
    agl = sel["sets"]["AGL"]["by_element"]
    assert sum(agl[e]["n_kept"] for e in agl) == sel["sets"]["AGL"]["n"]
    assert set(sel["md_costs"]) == {"Ar", "Kr"} and len(sel["md_costs"]["Ar"]) == 10
    assert by["Ar"]["md_cost_all"] == pytest.approx(sum(sel["md_costs"]["Ar"]))
    assert (out / "selection_matrix.png").is_file() and (out / "fakes" / "fakes.json").is_file()


def test_short_labels_name_other_neighbour_elements():
    from toolkit.selection.plots import short_label

    assert short_label(SymFunc("Al", 2, ("Al",), 0.5, 0.0, 6.0), "x") == "G2 η=0.5 rs=0"
    assert short_label(SymFunc("Cu", 2, ("Zr",), 0.5, 2.0, 6.0), "x") == "Zr G2 η=0.5 rs=2"
    assert short_label(SymFunc("Cu", 9, ("Cu", "Zr"), 0.5, 0.0, 4.5, -1.0, 4.0), "x") == "Cu-Zr G9 ζ=4 λ=-1"
