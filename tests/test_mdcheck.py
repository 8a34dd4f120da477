"""The MD check of a selection path: the rule's order, and a bad set rejected in favour of one that stays in range."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import negated_output_copy

from toolkit.fileio import read_json
from toolkit.lammps.mdcheck import MDCheckFailed, MDCheckSettings, check_path
from toolkit.selection.path import ranked_steps

AL_NN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "n2p2" / "al_eam_22"  # ../shared


def _rec(step, n, rmse, lam=1.0):
    return {"step": step, "lambda": lam, "n_selected": n, "selected": [f"G{step}_{k}" for k in range(n)],
            "selected_idx": {"Al": list(range(n))}, "val_rmse_refit": rmse, "n_angular": 0}


def test_ranked_steps_follow_the_choice_rule_and_skip_repeated_sets():
    records = [_rec(0, 12, 1.0), _rec(1, 8, 1.1), _rec(2, 5, 1.3), _rec(3, 3, 2.5), _rec(4, 5, 1.2)]
    records[4]["selected"] = list(records[2]["selected"])  # the same set at another lambda
    # tolerance 1.5 x best (1.0): sets of 5 (the lower-error one first), 8; then the rule's fallbacks
    ranked = ranked_steps(records, full_val_rmse=1.0, max_features=10, tolerance=1.5, metric="energy", n=3)
    assert [r["step"] for r in ranked] == [4, 1, 3]
    assert len(ranked_steps(records, 1.0, 10, 1.5, "energy", n=10)) == 4  # 5 records, one repeated set


def test_a_set_passes_the_md_check_only_if_every_run_does(tmp_path, monkeypatch):
    """Runs are independent samples of a rare collapse: one FAILED run of two fails the set, with its reason."""
    import toolkit.lammps.mdcheck as mdcheck
    from toolkit.fileio import write_json

    seen = {}

    def fake_quench(model, out, system, runs, seed, **kw):
        seen["runs"] = runs
        status = {"run_000": {"status": "PASSED", "extrapolation_warnings": 10, "min_pair_distance": 2.1},
                  "run_001": {"status": "FAILED", "step": "melt", "reason": "shortest pair distance 1.02 Angstrom",
                              "extrapolation_warnings": 5, "min_pair_distance": 1.02}}
        steps = [{"run": 0, "temperature": 1250.0, "ew_per_atom_step": 0.001, "timesteps_per_s": 600.0},
                 {"run": 1, "temperature": None, "ew_per_atom_step": 0.004}]
        write_json(Path(out) / "quench.json", {"run_status": status, "steps": steps, "guard": {"min_distance": 1.83}})
        return out

    monkeypatch.setattr("toolkit.lammps.quench.quench", fake_quench)
    rec = mdcheck.check_model("m.pt", tmp_path / "c", "Al", 2.03, MDCheckSettings())
    assert seen["runs"] == 2
    assert rec["status"] == "FAILED" and rec["failed_step"] == "melt"
    assert rec["reason"] == "run_001 of 2: shortest pair distance 1.02 Angstrom"
    assert rec["runs"] == {"run_000": "PASSED", "run_001": "FAILED"}
    assert rec["min_pair_distance"] == 1.02 and rec["extrapolation_warnings"] == 15
    assert rec["ew_per_atom_step_hot"] == 0.001 and rec["timesteps_per_s"] == 600.0


@pytest.mark.slow
@pytest.mark.skipif(not (AL_NN / "input.nn").exists(), reason="shared n2p2 Al potential not available")
def test_md_check_rejects_a_bad_set_and_chooses_the_next(tmp_path):
    try:
        from toolkit.lammps_plugin.build import pair_style_preamble

        pair_style_preamble()
    except Exception as exc:
        pytest.skip(f"pair_style hdnnp not available: {exc}")
    from toolkit.lammps.guard import data_min_distance

    d_min = data_min_distance(AL_NN / "input.data")
    assert 2.0 < d_min < 2.4  # the shared potential's 40 liquid boxes at 2.70 g/cm^3, 1000 K
    bad = negated_output_copy(AL_NN, tmp_path / "bad")
    models = {0: bad, 1: AL_NN}
    records = [_rec(0, 4, 1.2), _rec(1, 22, 1.0)]  # the rule prefers the smaller, deliberately bad set
    settings = MDCheckSettings(candidates=3, temperature=1000.0, density=2.6978, melt=0.4, equilibration=0.2,
                               measurement=0.4)
    messages = []
    chosen, record = check_path(ranked_steps(records, 1.0, 30, 1.5, "energy", 3), lambda r: models[r["step"]], "Al", d_min,
                                tmp_path / "md_check", settings, seed=1, echo=messages.append)
    assert chosen["step"] == 1 and record["chosen_step"] == 1
    first, second = record["candidates"]
    assert first["step"] == 0 and first["status"] == "FAILED" and first["failed_step"] == "melt"
    assert "shortest pair distance" in first["reason"] or "exploded" in first["reason"]
    assert second["status"] == "PASSED" and second["min_pair_distance"] >= 0.9 * d_min
    assert second["runs"] == {"run_000": "PASSED", "run_001": "PASSED"}    # every set gets two velocity seeds
    assert second["extrapolation_warnings"] >= 0 and second["ew_per_atom_step_hot"] <= 0.01
    assert "data's shortest distance x (1 - 0.1)" in record["rule"]
    assert read_json(tmp_path / "md_check" / "md_check.json") == record
    assert "FAILED" in messages[0] and "PASSED" in messages[1]
    # only the bad set: nothing passes, nothing is chosen
    with pytest.raises(MDCheckFailed, match="no candidate set passed the MD check.*4 functions"):
        check_path(ranked_steps(records[:1], 1.0, 30, 1.5, "energy", 3), lambda r: models[r["step"]], "Al", d_min,
                   tmp_path / "md_check_bad", settings, seed=1, echo=messages.append)
    assert read_json(tmp_path / "md_check_bad" / "md_check.json")["chosen_step"] is None


@pytest.mark.slow
def test_select_rejects_sets_that_leave_the_data_in_md(tmp_path, capsys):
    """hdnnp select with the MD check on: potentials trained on almost nothing are rejected, none is chosen."""
    try:
        from toolkit.lammps_plugin.build import pair_style_preamble

        pair_style_preamble()
    except Exception as exc:
        pytest.skip(f"pair_style hdnnp not available: {exc}")
    from conftest import lj_boxes

    from toolkit.cli import main
    from toolkit.structures import write_n2p2

    write_n2p2(tmp_path / "input.data", lj_boxes(12, seed=0, max_rattle=0.08, forces=False))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("""
data: {structures: input.data}
symfuncs: {rc: 2.0, rc_angular: 1.4, n_centered: 2, n_shifted: 2}
model: {hidden: [3]}
training: {epochs: 2, batch_size: 4, lr: 0.01, progress: false, split: [0.5, 0.25, 0.25]}
selection: {lambdas: [0.5, 50.0], repeats: 0, rdf_structures: 4, max_features: 30, md_check: true,
            md_check_candidates: 2, md_check_measurement: 2.0}
""")
    assert main(["select", str(cfg), "-o", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: no candidate set passed the MD check" in err
    record = read_json(tmp_path / "run" / "md_check" / "md_check.json")
    assert record["chosen_step"] is None and record["system"] == "lj" and 1 <= len(record["candidates"]) <= 2
    assert all(c["status"] == "FAILED" and c["reason"] for c in record["candidates"])
    assert not (tmp_path / "run" / "selected.json").exists()  # nothing marked chosen


def test_drop_below_removes_radial_candidates_that_are_zero_on_the_data():
    """al329 on fcc Al (shortest distance a/sqrt(2)): the functions whose pair term is < 1e-3 everywhere
    from there to the cutoff, by the closed form fc(r) exp(-eta (r - rs)^2) (cosine cutoff, rc 6.8)."""
    import numpy as np

    from toolkit.settings import SymfuncSettings
    from toolkit.structures import Structure
    from toolkit.training.pipeline import candidate_symfuncs

    a = 4.05
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(3)])
    pos = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a
    fcc = Structure(positions=pos, elements=["Al"] * len(pos), cell=np.eye(3) * 3 * a)
    kept = candidate_symfuncs(SymfuncSettings(candidates="al329", drop_below=1e-3), "Al", [fcc], echo=lambda m: None)
    assert len(candidate_symfuncs(SymfuncSettings(candidates="al329"), "Al", [fcc])) == 329
    r = np.linspace(a / np.sqrt(2), 6.8, 20001)
    fc = 0.5 * (np.cos(np.pi * r / 6.8) + 1)
    etas = np.linspace(0, 2, 201)
    etas[0] = 0.0013
    n_centred = sum((fc * np.exp(-e * r ** 2)).max() >= 1e-3 for e in etas)
    n_shifted = sum((fc * np.exp(-1.85 * (r - rs) ** 2)).max() >= 1e-3 for rs in np.linspace(0.05, 6.8, 68))
    assert n_shifted == 58 and 70 < n_centred < 90  # 10 shifted centres below ~1 A, the narrowest centred ones
    assert len(kept) == n_centred + n_shifted + 60 and sum(sf.is_angular for sf in kept) == 60


def test_md_check_runs_alloys_at_the_data_composition():
    """Two-element potentials are MD-checked too (Cu-Zr): the built-in system at the data's composition."""
    from toolkit.lammps.mdcheck import md_check_available

    s = MDCheckSettings(composition=(("Cu", 150.0), ("Zr", 150.0)))  # atom counts of the data
    system = s.system(["Zr", "Cu"])
    assert system.name == "cuzr-eam" and system.elements == ("Cu", "Zr")
    assert system.fractions == pytest.approx((0.5, 0.5))
    assert MDCheckSettings().system(["Cu", "Zr"]).fractions == pytest.approx((0.64, 0.36))  # the default Cu64Zr36
    proto = s.protocol(system)
    assert proto["temperatures"] == [max(system.quench_temperatures)] and proto["melt_time"] == 3.0
    assert MDCheckSettings().system("Al").name == "al-eam"
    assert "no built-in system" in md_check_available(["Cu", "Zr", "Al"])
