"""The demo report's PASS/FAIL rules and path figure on a hand-made set of results (the full demo is slow)."""

from __future__ import annotations

import pytest

from toolkit.report import evaluate_criteria, plot_path

CRITERIA = {"max_selected": 8, "max_fakes": 0, "d_ratio_tol": 0.10, "rdf_peak_tol": 0.05, "min_speedup": 1.5}


def _info(d_ratio=1.04, g_dev=0.01, r_dev=-0.002, fakes_kept=0, n=7, speed=(3000.0, 1500.0), temps=(1.5, 1.0)):
    comp = [{"temperature": t, "D_ratio": d_ratio, "D": 0.1 * d_ratio, "D_reference": 0.1, "g_peak_rel_dev": g_dev,
             "r_peak_rel_dev": r_dev} for t in temps[:1]]
    path = [{"lambda": 10.0, "n_selected": 12, "val_rmse_penalized": 0.02, "val_rmse_refit": 0.011},
            {"lambda": 30.0, "n_selected": n, "val_rmse_penalized": 0.03, "val_rmse_refit": 0.0115},
            {"lambda": 90.0, "n_selected": 0, "val_rmse_penalized": 0.3, "val_rmse_refit": float("nan")}]
    return {"selected": {"sets": {"AGL": {"n": n, "functions": [f"G{i}" for i in range(n)]},
                                  "full": {"functions": [f"G{i}" for i in range(22)]}},
                         "lambda": 30.0, "full_val_rmse": 0.0105, "metric": "energy"},
            "fakes": {"n_fakes": 10, "AGL": {"fakes_kept": fakes_kept, "n": n}},
            "quench": {"selected": {"protocol": {"temperatures": list(temps)}}}, "demo": {},
            "md": {"selected": {"comparison": comp}}, "md_failed": {},
            "speed": {"selected": {"median": speed[0]}, "full": {"median": speed[1]}},
            "path": path, "config": {"selection": {"tolerance": 1.1, "max_features": 8}}}


def test_criteria_pass_and_fail_on_the_numbers():
    rows = evaluate_criteria(_info(), CRITERIA)
    by = {r["criterion"]: r for r in rows}
    assert by["selected set has at most 8 functions"]["pass"] and by["selected set has at most 8 functions"]["number"] == 7
    assert by["D within 10% of lj/cut at T = 1.5"]["pass"]
    assert by["RDF first-peak height within 5% at T = 1.5"]["number"] == pytest.approx(0.01)
    assert by["selected potential at least 1.5x as fast as the full one"]["number"] == pytest.approx(2.0)
    # the second quench temperature has no MD: its three criteria fail and say why
    missing = [r for r in rows if r.get("temperature") == 1.0]
    assert len(missing) == 3 and not any(r["pass"] for r in missing)
    assert all("no finished MD" in r["value"] for r in missing)

    bad = {r["criterion"]: r for r in evaluate_criteria(_info(d_ratio=1.12, g_dev=-0.06, fakes_kept=1, n=9,
                                                              speed=(2000.0, 1500.0)), CRITERIA)}
    assert not bad["selected set has at most 8 functions"]["pass"]
    assert not bad["D within 10% of lj/cut at T = 1.5"]["pass"]
    assert not bad["RDF first-peak height within 5% at T = 1.5"]["pass"]
    assert bad["RDF first-peak position within 5% at T = 1.5"]["pass"]
    assert not bad["selected potential at least 1.5x as fast as the full one"]["pass"]
    assert not next(r for r in bad.values() if r["criterion"].startswith("none of the 10 fake"))["pass"]


def test_path_figure_is_written(tmp_path):
    out = plot_path(_info(), tmp_path / "path.png")
    assert out.stat().st_size > 10_000
