"""The public API: ``import toolkit`` is light, every exported name resolves, and docs/api.md runs as written."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# docs/api.md's first cell, tiny: the same names, a few seconds of LAMMPS and training. A potential
# trained for seconds on 24 small boxes is not physical: the MD guard rails (which rightly stop its
# runs) are relaxed here; this test checks that the page's code runs, not the physics.
TINY_SIZES = """
GENERATE = dict(n_configs=24, temperatures=[0.5, 1.5], densities=[0.9, 1.1], starts=["fcc", "liquid"],
                equilibration=1, melt_time=1, cells=(2, 2, 2))
HIDDEN = [8]
EPOCHS, STAGE_EPOCHS = 150, 20
QUENCH = dict(temperatures=[1.5], melt_time=1.0, equilibration=1.0, measurement=4.0, msd_every=0.05, traj_every=0.5,
              cells=(3, 3, 3), guard=dict(min_distance=0.3, max_ew_rate=1.0, max_drift_kT=1e3))
"""


def notebook_cells(path: Path = ROOT / "docs" / "api.md") -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def assigned_names(code: str) -> set[str]:
    """Names a cell of plain assignments binds (anything else in it is an error)."""
    names = set()
    for node in ast.parse(code).body:
        assert isinstance(node, ast.Assign), f"the sizes cell may only assign: {ast.unparse(node)}"
        for t in node.targets:
            names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def test_import_is_light_and_every_name_resolves():
    code = "import sys, toolkit; print('torch' in sys.modules, 'toolkit.selection' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out == ["False", "False"]
    import toolkit

    for name in toolkit.__all__:
        assert getattr(toolkit, name) is not None, name
    from toolkit.selection import AdaptiveGroupLasso
    assert toolkit.AdaptiveGroupLasso is AdaptiveGroupLasso
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        toolkit.nope  # noqa: B018


def test_docs_sizes_cell_is_replaced_by_the_same_names():
    cells = notebook_cells()
    assert len(cells) >= 4
    assert assigned_names(cells[0]) == assigned_names(TINY_SIZES)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*MSD log-log slope:UserWarning")
@pytest.mark.filterwarnings("ignore:.*no Arrhenius fit:UserWarning")
def test_docs_notebook_runs(tmp_path, monkeypatch, capsys):
    """Every cell of docs/api.md, with tiny sizes: selection, comparison, export, ASE, quench, analysis."""
    cells = notebook_cells()
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for code in [TINY_SIZES] + cells[1:]:
        exec(compile(code, "docs/api.md", "exec"), ns)
    agl, experiment = ns["agl"], ns["experiment"]
    assert experiment.data.n_features == {"Ar": 22}
    assert 0 < agl.get_support().sum() <= 8 and agl.lambda_ in agl.lambdas_
    assert agl.lambda_max_ == pytest.approx(agl.lambdas_[-1])           # the grid came from the data
    assert (tmp_path / "work" / "potential" / "input.nn").is_file()
    assert np.isfinite(ns["atoms"].get_potential_energy())
    comp = ns["results"]["comparison"]
    assert list(comp["temperature"]) == [1.5] and np.isfinite(comp["D_ratio"]).all()
    out = capsys.readouterr().out
    assert "chosen lambda" in out and out.count("test force RMSE") == 3
