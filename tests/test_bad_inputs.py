"""A catalogue of bad, hostile and edge-case inputs through the real command line (subprocesses).

Every bad case must end with exit status 1, exactly one ``error:`` line that names
the file, key or item at fault, no Python traceback, and nothing new at the output
path (no result, no temporary file). Valid edge cases (byte-order mark, tabs, CRLF,
one-atom structures, ``!`` comments) must give the same numbers as clean input.

Most cases fail before the heavy imports and take a fraction of a second; the
ones that load torch take about two. The whole catalogue is marked slow; the
``FAST`` subset runs in the default tier.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD = ("begin\ncomment two Ne atoms\natom 0 0 0 Ne 0 0 0 0 0\natom 1.1 0 0 Ne 0 0 0 0 0\nenergy -0.98\n"
        "charge 0\nend\n")


def hdnnp(*args, cwd=None, env=None, timeout=300, preexec_fn=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HDNNP_DEBUG="")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=e, timeout=timeout, preexec_fn=preexec_fn)


@pytest.fixture(scope="session")
def base(shared, tmp_path_factory):
    """Read-only inputs shared by every case: the LJ potential (dir and model.pt), good data, an input.nn."""
    from toolkit.potential import load_potential, save_model

    d = tmp_path_factory.mktemp("bad_inputs_base")
    shutil.copytree(shared / "lj", d / "pot", ignore=shutil.ignore_patterns("*.comp", "*.out", "input.data"))
    save_model(load_potential(d / "pot"), d / "model.pt")
    (d / "good.data").write_text(GOOD)
    (d / "config.yaml").write_text("data:\n  structures: good.data\n")
    return d


def snapshot(path: Path):
    """What is at ``path`` (and temporary siblings): compared before and after a failing command."""
    parent = path.parent
    temps = sorted(p.name for p in parent.glob(".*tmp*")) if parent.is_dir() else []
    if path.is_dir():
        return ("dir", sorted(str(p.relative_to(path)) for p in path.rglob("*")), temps)
    if path.exists():
        return ("file", path.stat().st_size, path.stat().st_mtime_ns, temps)
    return ("absent", temps)


@dataclass
class Case:
    id: str
    argv: list  # strings; {b} = shared base dir, {w} = this case's work dir
    expect: tuple  # substrings of the one error line (the file/key/item and what is wrong)
    setup: Callable[[Path, Path], None] | None = None  # (work dir, base dir)
    out: str | None = None  # output path that must stay unchanged
    fast: bool = False


def w(name, text, mode="w"):
    """Setup helper: write ``text`` (str or bytes) to work-dir file ``name``."""
    def setup(wd, b):
        p = wd / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)
    return setup


def pot_with(edit):
    """Setup helper: copy the potential to work dir ``pot`` and apply ``edit(pot_dir)``."""
    def setup(wd, b):
        shutil.copytree(b / "pot", wd / "pot")
        edit(wd / "pot")
    return setup


def nn_replace(old, new, count=1):
    def edit(d):
        text = (d / "input.nn").read_text()
        assert old in text, old
        (d / "input.nn").write_text(text.replace(old, new, count))
    return edit


def nn_set(key, line):
    """Replace the line of keyword ``key`` by ``line``."""
    def edit(d):
        lines = (d / "input.nn").read_text().splitlines()
        k = next(i for i, l in enumerate(lines) if l.split() and l.split()[0] == key)
        lines[k] = line
        (d / "input.nn").write_text("\n".join(lines) + "\n")
    return edit


def nn_append(line):
    def edit(d):
        (d / "input.nn").write_text((d / "input.nn").read_text() + line + "\n")
    return edit


def chain(*fs):
    def setup(wd, b):
        for f in fs:
            f(wd, b)
    return setup


def data_case(id, text, expect, fast=False):
    """``hdnnp predict`` on a bad data file."""
    return Case(f"data-{id}", ["predict", "{b}/pot", "{w}/x.data", "-o", "{w}/out"], expect,
                w("x.data", text), out="{w}/out", fast=fast)


def nn_case(id, edit, expect, fast=False):
    """``hdnnp symfuncs`` with a bad input.nn."""
    return Case(f"input.nn-{id}", ["symfuncs", "{w}/pot/input.nn", "{b}/good.data", "-o", "{w}/f.h5"], expect,
                pot_with(edit), out="{w}/f.h5", fast=fast)


ATOM = "atom 0 0 0 Ne 0 0 0 0 0\n"
ATOM2 = "atom 1.1 0 0 Ne 0 0 0 0 0\n"
PRED = ["predict", "{b}/pot", "{b}/good.data", "-o"]

CASES = [
    # --- input.data content -------------------------------------------------------------------
    data_case("unknown-element", "begin\natom 0 0 0 Xx 0 0 0 0 0\nend\n", ("x.data, line 2", "unknown element 'Xx'"), fast=True),
    data_case("element-not-in-potential", "begin\n" + ATOM + "atom 1.1 0 0 O 0 0 0 0 0\nenergy 0\nend\n",
              ("x.data", "structure 0", "element O", "Ne")),
    data_case("element-not-in-potential-later", GOOD * 3 + "begin\natom 0 0 0 Ar 0 0 0 0 0\nend\n",
              ("x.data", "structure 3", "element Ar")),
    data_case("nan-coordinate", "begin\natom 0 0 nan Ne 0 0 0 0 0\nend\n", ("x.data, line 2", "z is 'nan'")),
    data_case("inf-force", "begin\natom 0 0 0 Ne 0 0 inf 0 0\nend\n", ("x.data, line 2", "fx is 'inf'")),
    data_case("8-fields", "begin\natom 0 0 0 Ne 0 0 0 0\nend\n", ("x.data, line 2", "needs 9 fields")),
    data_case("10-fields", "begin\natom 0 0 0 Ne 0 0 0 0 0 0\nend\n", ("x.data, line 2", "needs 9 fields")),
    data_case("text-coordinate", "begin\natom 0 0 x Ne 0 0 0 0 0\nend\n", ("x.data, line 2", "cannot read z")),
    data_case("missing-end", "begin\n" + ATOM, ("x.data, line 1", "no 'end'"), fast=True),
    data_case("begin-twice", "begin\n" + ATOM + "begin\n" + ATOM + "end\n", ("x.data, line 3", "missing 'end'")),
    data_case("atom-outside", ATOM, ("x.data, line 1", "outside a begin/end block")),
    data_case("unknown-keyword", "begin\n" + ATOM + "atm 1 1 1 Ne 0 0 0 0 0\nend\n", ("x.data, line 3", "unknown keyword 'atm'")),
    data_case("two-lattice-lines", "begin\nlattice 5 0 0\nlattice 0 5 0\n" + ATOM + "end\n", ("x.data", "2 'lattice' lines")),
    data_case("four-lattice-lines", "begin\n" + "lattice 5 0 0\n" * 4 + ATOM + "end\n", ("x.data, line 5", "more than 3")),
    data_case("singular-lattice", "begin\nlattice 5 0 0\nlattice 0 5 0\nlattice 5 5 0\n" + ATOM + "end\n",
              ("x.data, line 1", "linearly dependent")),
    data_case("lattice-2-numbers", "begin\nlattice 5 0\n" + ATOM + "end\n", ("x.data, line 2", "needs 3 numbers")),
    data_case("energy-text", "begin\n" + ATOM + "energy abc\nend\n", ("x.data, line 3", "cannot read energy")),
    data_case("energy-two-numbers", "begin\n" + ATOM + "energy 1 2\nend\n", ("x.data, line 3", "exactly one number")),
    data_case("charge-text", "begin\n" + ATOM + "charge q\nend\n", ("x.data, line 3", "cannot read charge")),
    data_case("no-atoms", "begin\nenergy 0\nend\n", ("x.data, line 3", "no atoms")),
    data_case("empty-file", "", ("x.data", "empty"), fast=True),
    data_case("only-comments", "# nothing\n\n", ("x.data",), fast=True),
    data_case("invalid-utf8", b"begin\n" + ATOM.encode() + b"comment caf\xe9\nend\n", ("x.data, line 3", "not UTF-8"), fast=True),
    data_case("binary-garbage", bytes(range(256)) * 8, ("x.data",), fast=True),
    data_case("utf16-file", GOOD.encode("utf-16"), ("x.data",), fast=True),
    data_case("overlapping-atoms", "begin\n" + ATOM + "atom 0.01 0 0 Ne 0 0 0 0 0\nend\n",
              ("x.data", "structure 0", "atoms 0 (Ne) and 1 (Ne)", "0.01 apart")),
    data_case("identical-atoms-later", GOOD * 2 + "begin\n" + ATOM + ATOM + "end\n",
              ("x.data", "structure 2", "atoms 0 (Ne) and 1 (Ne)", "0 apart")),
    data_case("overlap-periodic-image", "begin\nlattice 0.3 0 0\nlattice 0 5 0\nlattice 0 0 5\n" + ATOM + "end\n",
              ("x.data", "structure 0", "atoms 0 (Ne) and 0 (Ne)")),
    data_case("truncated-mid-line", GOOD + "begin\natom 0 0 0 Ne 0", ("x.data, line 9", "9 fields")),
    data_case("ase-unknown-format", "hello world\n", ("x.data", "neither n2p2")),
    data_case("xyz-without-atoms", "0\n\n", ("x.data",)),
    Case("data-ase-partial-pbc", ["predict", "{b}/pot", "{w}/a.extxyz", "-o", "{w}/out"], ("a.extxyz", "periodic in some directions"),
         w("a.extxyz", '2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T F"\n'
                       "Ne 0 0 0\nNe 1.1 0 0\n"), out="{w}/out"),
    Case("data-missing", ["predict", "{b}/pot", "{w}/nope.data", "-o", "{w}/out"], ("nope.data", "not found"),
         out="{w}/out", fast=True),
    Case("data-is-folder", ["predict", "{b}/pot", "{w}/dd", "-o", "{w}/out"], ("dd", "is a folder"),
         lambda wd, b: (wd / "dd").mkdir(), out="{w}/out", fast=True),
    # --- potential ----------------------------------------------------------------------------
    Case("pot-missing", ["predict", "{w}/nope", "{b}/good.data", "-o", "{w}/out"], ("nope", "no such file"),
         out="{w}/out", fast=True),
    Case("pot-folder-without-input.nn", ["predict", "{w}/empty", "{b}/good.data", "-o", "{w}/out"],
         ("empty", "without input.nn"), lambda wd, b: (wd / "empty").mkdir(), out="{w}/out", fast=True),
    Case("pot-empty-model.pt", ["predict", "{w}/m.pt", "{b}/good.data", "-o", "{w}/out"],
         ("m.pt", "not a readable model.pt"), w("m.pt", ""), out="{w}/out"),
    Case("pot-text-as-model", ["predict", "{w}/m.pt", "{b}/good.data", "-o", "{w}/out"],
         ("m.pt", "not a readable model.pt"), w("m.pt", "hello"), out="{w}/out"),
    Case("pot-damaged-model.pt", ["predict", "{w}/m.pt", "{b}/good.data", "-o", "{w}/out"],
         ("m.pt", "damaged model file"),
         lambda wd, b: __import__("torch").save({"format": "hdnnp-toolkit/model/1"}, wd / "m.pt"), out="{w}/out"),
    Case("pot-truncated-model.pt", ["predict", "{w}/m.pt", "{b}/good.data", "-o", "{w}/out"],
         ("m.pt", "not a readable model.pt"),
         lambda wd, b: (wd / "m.pt").write_bytes((b / "model.pt").read_bytes()[:500]), out="{w}/out"),
    Case("pot-scaling-missing-row", ["predict", "{w}/pot", "{b}/good.data", "-o", "{w}/out"],
         ("scaling.data", "scaling rows for Ne"),
         pot_with(lambda d: (d / "scaling.data").write_text(
             "\n".join((d / "scaling.data").read_text().rstrip().splitlines()[:-1]) + "\n")),
         out="{w}/out"),
    Case("pot-scaling-garbage", ["predict", "{w}/pot", "{b}/good.data", "-o", "{w}/out"],
         ("scaling.data, line 1", "columns"), pot_with(lambda d: (d / "scaling.data").write_text("a b c\n")), out="{w}/out"),
    Case("pot-weights-missing", ["predict", "{w}/pot", "{b}/good.data", "-o", "{w}/out"],
         ("weights.010.data", "not found"), pot_with(lambda d: (d / "weights.010.data").unlink()), out="{w}/out"),
    Case("pot-weights-truncated", ["predict", "{w}/pot", "{b}/good.data", "-o", "{w}/out"],
         ("weights.010.data", "connections"),
         pot_with(lambda d: (d / "weights.010.data").write_text(
             "\n".join((d / "weights.010.data").read_text().splitlines()[:-3]))), out="{w}/out"),
    Case("pot-weights-nan", ["predict", "{w}/pot", "{b}/good.data", "-o", "{w}/out"],
         ("weights.010.data", "non-finite"),
         pot_with(lambda d: _replace_first_number(d / "weights.010.data", "nan")), out="{w}/out"),
    Case("pot-input.nn-is-folder", ["predict", "{w}/pot", "{b}/good.data", "-o", "{w}/out"],
         ("input.nn", "is a folder"),
         pot_with(lambda d: ((d / "input.nn").unlink(), (d / "input.nn").mkdir())), out="{w}/out"),
    # --- input.nn (through symfuncs) ----------------------------------------------------------
    nn_case("misspelt-scale-keyword", nn_replace("scale_symmetry_functions ", "scale_symmetry_function "),
            ("input.nn, line", "'scale_symmetry_function'", "did you mean 'scale_symmetry_functions'")),
    nn_case("wrong-case-keyword", nn_replace("center_symmetry_functions", "Center_symmetry_functions"),
            ("input.nn, line", "'Center_symmetry_functions'", "case-sensitive")),
    nn_case("misspelt-nodes", nn_replace("global_nodes_short", "global_node_short"),
            ("input.nn", "'global_node_short'", "did you mean 'global_nodes_short'")),
    nn_case("misspelt-normalize", nn_append("normalise_nodes"), ("input.nn, line", "'normalise_nodes'", "normalize_nodes")),
    nn_case("misspelt-atom-energy", nn_append("atom_energies Ne -1.0"), ("input.nn, line", "'atom_energies'", "atom_energy")),
    nn_case("4g-generation", nn_append("nnp_generation 4"), ("input.nn, line", "nnp_generation 4", "4G")),
    nn_case("4g-electrostatics", nn_append("use_electrostatics"), ("input.nn, line", "use_electrostatics", "4G")),
    nn_case("duplicate-keyword", nn_append("scale_min_short 0.0"), ("input.nn, line", "'scale_min_short' appears twice")),
    nn_case("no-elements", nn_set("elements", "# no elements"), ("input.nn", "'elements' is missing")),
    nn_case("unknown-element", nn_set("elements", "elements Qq"), ("input.nn, line", "unknown element 'Qq'")),
    nn_case("number-of-elements", nn_set("number_of_elements", "number_of_elements 2"),
            ("input.nn, line", "number_of_elements is 2")),
    nn_case("nodes-vs-layers", nn_set("global_hidden_layers_short", "global_hidden_layers_short 2"),
            ("input.nn, line", "global_nodes_short lists 1 layers")),
    nn_case("unknown-activation", nn_set("global_activation_short", "global_activation_short q l"),
            ("input.nn, line", "unknown activation 'q'")),
    nn_case("bad-cutoff-type", nn_set("cutoff_type", "cutoff_type 12"), ("input.nn, line", "unknown cutoff_type 12")),
    nn_case("symfunction-4-values", lambda d: _replace_symfunction(d, "symfunction_short Ne 2 Ne 0.1 0"),
            ("input.nn, line", "4 values")),
    nn_case("symfunction-type-7", lambda d: _replace_symfunction(d, "symfunction_short Ne 7 Ne 1 2 3"),
            ("input.nn, line", "not supported")),
    nn_case("symfunction-foreign-element", lambda d: _replace_symfunction(d, "symfunction_short Ne 2 Ar 0.1 0 3"),
            ("input.nn, line", "not listed in 'elements'")),
    nn_case("no-symfunctions", lambda d: (d / "input.nn").write_text(
        "\n".join(l for l in (d / "input.nn").read_text().splitlines() if not l.startswith("symfunction_short"))),
        ("input.nn", "no symfunction_short lines")),
    nn_case("invalid-utf8", lambda d: (d / "input.nn").write_bytes(b"# \xff\xfe\n" + (d / "input.nn").read_bytes()),
            ("input.nn, line 1", "not UTF-8"), fast=True),
    nn_case("binary", lambda d: (d / "input.nn").write_bytes(bytes(range(256)) * 4), ("input.nn",)),
    nn_case("empty", lambda d: (d / "input.nn").write_text(""), ("input.nn", "missing")),
    Case("symfuncs-input.nn-missing", ["symfuncs", "{w}/nope.nn", "{b}/good.data", "-o", "{w}/f.h5"],
         ("nope.nn", "not found"), out="{w}/f.h5"),
    Case("symfuncs-element-not-in-input.nn", ["symfuncs", "{b}/pot/input.nn", "{w}/x.data", "-o", "{w}/f.h5"],
         ("x.data", "structure 0", "element O"), w("x.data", "begin\natom 0 0 0 O 0 0 0 0 0\nend\n"), out="{w}/f.h5"),
    Case("symfuncs-overlap", ["symfuncs", "{b}/pot/input.nn", "{w}/x.data", "-o", "{w}/f.h5"],
         ("x.data", "structure 1", "atoms 0 (Ne) and 1 (Ne)"), w("x.data", GOOD + "begin\n" + ATOM + ATOM + "end\n"),
         out="{w}/f.h5"),
    # --- output paths -------------------------------------------------------------------------
    Case("predict-out-is-file", PRED + ["{w}/o.txt"], ("o.txt", "is a file"), w("o.txt", "keep"), out="{w}/o.txt", fast=True),
    Case("predict-out-has-results", PRED + ["{w}/o"], ("o", "already holds energies.csv", "--force"),
         w("o/energies.csv", "structure,n_atoms,energy\n"), out="{w}/o", fast=True),
    Case("predict-out-under-file", PRED + ["{w}/o.txt/sub"], ("o.txt", "is a file"), w("o.txt", "keep"),
         out="{w}/o.txt", fast=True),
    Case("predict-out-unwritable", PRED + ["/proc/hdnnp-test-out"], ("/proc", "not writable"), fast=True),
    Case("predict-out-csv-is-folder", PRED + ["{w}/o", "--force"], ("energies.csv", "is a folder"),
         lambda wd, b: (wd / "o" / "energies.csv").mkdir(parents=True), out="{w}/o", fast=True),
    Case("symfuncs-out-exists", ["symfuncs", "{b}/pot/input.nn", "{b}/good.data", "-o", "{w}/f.h5"],
         ("f.h5", "exists", "--force"), w("f.h5", "old"), out="{w}/f.h5", fast=True),
    Case("symfuncs-out-is-folder", ["symfuncs", "{b}/pot/input.nn", "{b}/good.data", "-o", "{w}/f.h5"],
         ("f.h5", "is a folder"), lambda wd, b: (wd / "f.h5").mkdir(), out="{w}/f.h5", fast=True),
    Case("symfuncs-out-under-file", ["symfuncs", "{b}/pot/input.nn", "{b}/good.data", "-o", "{w}/x/y/f.h5"],
         ("x", "is a file"), w("x", "keep"), out="{w}/x", fast=True),
    Case("symfuncs-out-unwritable", ["symfuncs", "{b}/pot/input.nn", "{b}/good.data", "-o", "/proc/f.h5"],
         ("/proc", "not writable"), fast=True),
    Case("export-out-has-input.nn", ["export-n2p2", "{b}/model.pt", "{w}/n2p2"], ("n2p2", "already holds input.nn"),
         w("n2p2/input.nn", "old"), out="{w}/n2p2", fast=True),
    Case("export-out-is-file", ["export-n2p2", "{b}/model.pt", "{w}/n2p2"], ("n2p2", "is a file"),
         w("n2p2", "old"), out="{w}/n2p2", fast=True),
    Case("export-model-missing", ["export-n2p2", "{w}/nope.pt", "{w}/n2p2"], ("nope.pt", "no such file"),
         out="{w}/n2p2", fast=True),
    Case("export-model-corrupt", ["export-n2p2", "{w}/m.pt", "{w}/n2p2"], ("m.pt", "not a readable model.pt"),
         w("m.pt", b"\x00" * 64), out="{w}/n2p2"),
    Case("export-out-unwritable", ["export-n2p2", "{b}/model.pt", "/proc/n2p2"], ("/proc", "not writable"), fast=True),
    Case("import-model-exists", ["import-n2p2", "{b}/pot", "{w}/m.pt"], ("m.pt", "exists", "--force"),
         w("m.pt", "old"), out="{w}/m.pt", fast=True),
    Case("import-model-is-folder", ["import-n2p2", "{b}/pot", "{w}/m.pt"], ("m.pt", "is a folder"),
         lambda wd, b: (wd / "m.pt").mkdir(), out="{w}/m.pt", fast=True),
    Case("import-dir-missing", ["import-n2p2", "{w}/nope", "{w}/m.pt"], ("nope", "no such file"),
         out="{w}/m.pt", fast=True),
    Case("import-dir-misspelt-keyword", ["import-n2p2", "{w}/pot", "{w}/m.pt"], ("input.nn", "did you mean"),
         pot_with(nn_replace("scale_symmetry_functions ", "scale_symetry_functions ")), out="{w}/m.pt"),
    Case("train-out-is-file", ["train", "{b}/config.yaml", "-o", "{w}/run"], ("run", "is a file"),
         w("run", "x"), out="{w}/run", fast=True),
    Case("train-out-unwritable", ["train", "{b}/config.yaml", "-o", "/proc/run"], ("/proc", "not writable"), fast=True),
    Case("train-config-missing", ["train", "{w}/nope.yaml", "-o", "{w}/run"], ("nope.yaml", "not found"),
         out="{w}/run", fast=True),
    Case("train-config-bad-yaml", ["train", "{w}/c.yaml", "-o", "{w}/run"], ("c.yaml", "not valid YAML"),
         w("c.yaml", "data: [\n"), out="{w}/run", fast=True),
    Case("train-config-binary", ["train", "{w}/c.yaml", "-o", "{w}/run"], ("c.yaml",),
         w("c.yaml", b"\xff\xfe\x00garbage\x80"), out="{w}/run", fast=True),
    Case("train-data-overlap", ["train", "{w}/c.yaml", "-o", "{w}/run"], ("x.data", "structure 1", "atoms 0 (Ne) and 1 (Ne)"),
         chain(w("c.yaml", "data:\n  structures: x.data\n"), w("x.data", GOOD + "begin\n" + ATOM + ATOM + "end\n")),
         out="{w}/run"),
    Case("train-data-invalid-utf8", ["train", "{w}/c.yaml", "-o", "{w}/run"], ("x.data, line 3", "not UTF-8"),
         chain(w("c.yaml", "data:\n  structures: x.data\n"), w("x.data", b"begin\n" + ATOM.encode() + b"\xff\nend\n")),
         out="{w}/run"),
    Case("select-out-is-file", ["select", "{b}/config.yaml", "-o", "{w}/run"], ("run", "is a file"),
         w("run", "x"), out="{w}/run", fast=True),
    Case("select-config-missing", ["select", "{w}/nope.yaml", "-o", "{w}/run"], ("nope.yaml", "not found"),
         out="{w}/run", fast=True),
    Case("quench-out-is-file", ["quench", "reference", "--system", "lj", "-o", "{w}/md"], ("md", "is a file"),
         w("md", "x"), out="{w}/md", fast=True),
    Case("quench-potential-missing", ["quench", "{w}/nope", "-o", "{w}/md"], ("nope", "no such file"), out="{w}/md"),
    Case("quench-corrupt-marker", ["quench", "reference", "--system", "lj", "-o", "{w}/md"],
         ("quench.json", "line 1: not valid JSON"), w("md/quench.json", '{"protocol": {"temp'), out="{w}/md"),
    Case("generate-out-is-file", ["generate", "lj", "{w}/gen"], ("gen", "is a file"), w("gen", "x"), out="{w}/gen", fast=True),
    Case("generate-out-unwritable", ["generate", "lj", "/proc/gen"], ("/proc", "not writable"), fast=True),
    Case("bench-out-is-folder", ["bench", "reference", "--system", "lj", "-o", "{w}/b.csv"], ("b.csv", "is a folder"),
         lambda wd, b: (wd / "b.csv").mkdir(), out="{w}/b.csv", fast=True),
    Case("analyze-out-is-file", ["analyze", "{w}/md", "-o", "{w}/rep"], ("rep", "is a file"),
         chain(w("rep", "x"), lambda wd, b: (wd / "md").mkdir()), out="{w}/rep", fast=True),
]


def _replace_first_number(path: Path, token: str) -> None:
    lines = path.read_text().splitlines()
    k = next(i for i, l in enumerate(lines) if l.strip() and not l.startswith("#"))
    lines[k] = token + " " + lines[k].split(None, 1)[1]
    path.write_text("\n".join(lines) + "\n")


def _replace_symfunction(d: Path, line: str) -> None:
    lines = (d / "input.nn").read_text().splitlines()
    k = next(i for i, l in enumerate(lines) if l.startswith("symfunction_short"))
    lines[k] = line
    (d / "input.nn").write_text("\n".join(lines) + "\n")


def _fmt(s: str, wd: Path, b: Path) -> str:
    return s.replace("{w}", str(wd)).replace("{b}", str(b))


def run_case(case: Case, wd: Path, b: Path):
    if case.setup:
        case.setup(wd, b)
    out = Path(_fmt(case.out, wd, b)) if case.out else None
    before = snapshot(out) if out else None
    r = hdnnp(*[_fmt(a, wd, b) for a in case.argv], cwd=wd)
    return r, out, before


def check_bad(case: Case, r, out, before):
    msg = f"{case.id}: rc={r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-3000:]}"
    assert r.returncode == 1, msg
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, msg
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, msg
    for part in case.expect:
        assert part in errors[0], f"{part!r} not in the error line\n{msg}"
    assert "unexpected" not in errors[0], msg
    if out is not None:
        assert snapshot(out) == before, f"{case.id}: something new at {out}\n{msg}"


# The default tier runs one case per error class (each case is a fresh Python + torch start, ~2 s);
# the cases flagged ``fast`` are quick but the rest of them run with the whole suite only.
FAST_TIER = {"data-unknown-element", "data-invalid-utf8", "input.nn-invalid-utf8", "pot-missing",
             "predict-out-is-file", "symfuncs-out-unwritable", "export-out-is-file", "train-config-bad-yaml"}


def _params(cases):
    return [pytest.param(c, id=c.id, marks=() if c.id in FAST_TIER else pytest.mark.slow) for c in cases]


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_gives_one_error_line(case, base, tmp_path):
    r, out, before = run_case(case, tmp_path, base)
    check_bad(case, r, out, before)


def test_catalogue_is_broad():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 80
    assert sum(c.fast for c in CASES) >= 25 and FAST_TIER <= {c.id for c in CASES if c.fast}


# --- valid edge cases: the same numbers as clean input ------------------------------------------

def _energies(r, out: Path) -> pd.DataFrame:
    assert r.returncode == 0, r.stderr
    return pd.read_csv(out / "energies.csv")


@pytest.mark.slow  # several CLI subprocesses: > 3 s
def test_bom_crlf_tabs_and_other_name_give_the_same_numbers(base, tmp_path):
    """An n2p2 file with a byte-order mark, CRLF ends, tabs and a non-n2p2 name is read as n2p2."""
    clean = GOOD + "begin\ncomment café\nlattice 4 0 0\nlattice 0 4 0\nlattice 0 0 4\n" + ATOM + ATOM2 + "energy 1\nend\n"
    (tmp_path / "clean.data").write_text(clean)
    messy = "\ufeff" + clean.replace(" ", "\t  ").replace("\n", "\r\n")
    (tmp_path / "messy.txt").write_bytes(messy.encode("utf-8"))
    e1 = _energies(hdnnp("predict", base / "pot", tmp_path / "clean.data", "-o", tmp_path / "a"), tmp_path / "a")
    e2 = _energies(hdnnp("predict", base / "pot", tmp_path / "messy.txt", "-o", tmp_path / "b"), tmp_path / "b")
    assert len(e1) == 2 and e1.equals(e2)
    f1, f2 = pd.read_csv(tmp_path / "a" / "forces.csv"), pd.read_csv(tmp_path / "b" / "forces.csv")
    assert f1.equals(f2)
    # the two-atom LJ dimer at r = 1.1 sigma: 4 (r^-12 - r^-6) within the fit's error (reference data energy.comp)
    assert e1["energy"][0] == pytest.approx(4 * (1.1 ** -12 - 1.1 ** -6), abs=2e-3)


def test_one_atom_structures_predict_like_the_library(base, tmp_path):
    from toolkit.potential import load_potential
    from toolkit.structures import read_structures

    text = ("begin\natom 0 0 0 Ne 0 0 0 0 0\nenergy 0\nend\n"
            "begin\nlattice 2.5 0 0\nlattice 0 2.5 0\nlattice 0 0 2.5\natom 0 0 0 Ne 0 0 0 0 0\nenergy 0\nend\n")
    (tmp_path / "one.data").write_text(text)
    e = _energies(hdnnp("predict", base / "pot", tmp_path / "one.data", "-o", tmp_path / "o"), tmp_path / "o")
    model = load_potential(base / "pot")
    ref = [model.predict(s).energy for s in read_structures(tmp_path / "one.data")]
    assert np.array_equal(e["energy"].to_numpy(), np.array(ref))
    f = pd.read_csv(tmp_path / "o" / "forces.csv")
    assert np.all(f[["fx", "fy", "fz"]].to_numpy()[0] == 0.0)  # an isolated atom feels no force
    assert e["energy"][0] != e["energy"][1]  # the periodic atom sees its images at 2.5 sigma


@pytest.mark.slow
def test_force_replaces_and_existing_output_is_refused_otherwise(base, tmp_path):
    out = tmp_path / "o"
    assert hdnnp("predict", base / "pot", base / "good.data", "-o", out).returncode == 0
    r = hdnnp("predict", base / "pot", base / "good.data", "-o", out)
    assert r.returncode == 1 and "--force" in r.stderr
    r = hdnnp("predict", base / "pot", base / "good.data", "-o", out, "--force")
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_unknown_input_nn_keyword_warns_by_name_and_bang_comments(base, tmp_path):
    shutil.copytree(base / "pot", tmp_path / "pot")
    nn = tmp_path / "pot" / "input.nn"
    nn.write_text(nn.read_text() + "my_private_note 42\nrandom_seed 5 ! n2p2 comment\n")
    r = hdnnp("predict", tmp_path / "pot", base / "good.data", "-o", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    warn = [l for l in r.stderr.splitlines() if l.startswith("warning:")]
    assert any("unknown keyword 'my_private_note'" in l and "input.nn, line" in l for l in warn), r.stderr
    assert not any("random_seed" in l for l in warn)
    ref = _energies(hdnnp("predict", base / "pot", base / "good.data", "-o", tmp_path / "r"), tmp_path / "r")
    assert pd.read_csv(tmp_path / "o" / "energies.csv").equals(ref)


@pytest.mark.slow
def test_min_distance_can_be_lowered_or_switched_off(base, tmp_path):
    (tmp_path / "x.data").write_text("begin\n" + ATOM + "atom 0.3 0 0 Ne 0 0 0 0 0\nend\n")
    r = hdnnp("predict", base / "pot", tmp_path / "x.data", "-o", tmp_path / "o")
    assert r.returncode == 1 and "0.3 apart" in r.stderr
    r = hdnnp("predict", base / "pot", tmp_path / "x.data", "-o", tmp_path / "o", "--min-distance", "0")
    assert r.returncode == 0, r.stderr


def test_extrapolation_is_reported_per_structure(base, tmp_path):
    """Atoms closer than any training pair lie outside the scaling.data range: counted, worst function named."""
    from toolkit.n2p2.files import read_scaling

    (tmp_path / "x.data").write_text(GOOD + "begin\n" + ATOM + "atom 0.8 0 0 Ne 0 0 0 0 0\nend\n")
    r = hdnnp("predict", base / "pot", tmp_path / "x.data", "-o", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    ew = pd.read_csv(tmp_path / "o" / "extrapolation.csv")
    assert list(ew["structure"]) == [1] and list(ew["atoms_outside"]) == [2]
    assert "structure 1: 2 atom(s) outside the scaling.data range" in r.stderr
    scaling = read_scaling(base / "pot" / "scaling.data", {"Ne": 5}, ["Ne"])["Ne"]
    k = int(ew["function"][0]) - 1
    assert ew["min"][0] == scaling[k, 0] and ew["max"][0] == scaling[k, 1]
    assert not scaling[k, 0] <= ew["value"][0] <= scaling[k, 1]


def test_calculator_reports_extrapolation(base):
    from ase import Atoms

    from toolkit.calculator import HDNNPCalculator
    from toolkit.errors import InputWarning

    calc = HDNNPCalculator(base / "pot")
    atoms = Atoms("Ne2", positions=[[0, 0, 0], [1.1, 0, 0]])
    atoms.calc = calc
    atoms.get_potential_energy()
    assert calc.results["extrapolation"] is None
    atoms.positions[1, 0] = 0.8
    with pytest.warns(InputWarning, match="2 atom\\(s\\) outside the scaling.data range"):
        atoms.get_potential_energy()
    assert calc.results["extrapolation"]["atoms_outside"] == 2


@pytest.mark.slow  # a CLI subprocess under a file-size limit; the default tier has other OS-error cases
def test_disk_full_gives_one_error_and_no_temporary_file(base, tmp_path):
    """A file-size limit (like a full disk) while writing: one error line, the temporary file removed."""
    import resource
    import signal

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    (tmp_path / "x.data").write_text(GOOD * 200)
    r = hdnnp("predict", base / "pot", tmp_path / "x.data", "-o", tmp_path / "o", preexec_fn=limit)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "energies.csv" in errors[0] and "file too large" in errors[0], r.stderr
    assert list((tmp_path / "o").iterdir()) == []  # no half-written result, no temporary file


def test_unexpected_error_is_short_and_debug_shows_the_traceback(monkeypatch, capsys):
    from toolkit import cli

    def boom(args):
        raise RuntimeError("internal inconsistency")

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices["predict"].set_defaults(func=boom)
    assert cli._run(parser, ["predict", "p", "d", "-o", "o"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected RuntimeError: internal inconsistency") and "--debug" in err
    assert "Traceback" not in err
    with pytest.raises(RuntimeError):
        cli._run(parser, ["--debug", "predict", "p", "d", "-o", "o"])


@pytest.mark.slow
def test_written_files_follow_the_umask(base, tmp_path):
    r = hdnnp("predict", base / "pot", base / "good.data", "-o", tmp_path / "o", preexec_fn=lambda: os.umask(0o002))
    assert r.returncode == 0, r.stderr
    for f in (tmp_path / "o").iterdir():
        assert f.stat().st_mode & 0o777 == 0o664, f
    r = hdnnp("symfuncs", base / "pot" / "input.nn", base / "good.data", "-o", tmp_path / "f.h5",
              preexec_fn=lambda: os.umask(0o027))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f.h5").stat().st_mode & 0o777 == 0o640


# --- interruption: no orphan workers, no temporary files ---------------------------------------

def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc: pid -> parent pid)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for child, pp in parent.items():
            if pp == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie holds no memory and runs no code


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "Ctrl-C"])
def test_killed_symfuncs_leaves_no_worker_and_no_temporary_file(shared, tmp_path, how):
    """Kill ``hdnnp symfuncs`` while its worker processes compute: 10 s later nothing of it survives."""
    import signal
    import time

    text = (shared / "al_eam_22" / "input.data").read_text()
    (tmp_path / "big.data").write_text(text * 2)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "toolkit", "symfuncs", shared / "al_eam_22" / "input.nn",
                          tmp_path / "big.data", "-o", out / "f.h5", "--derivatives", "--workers", "3"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, text=True)
    deadline = time.time() + 180
    kids: set[int] = set()
    while time.time() < deadline and p.poll() is None:
        kids |= _descendants(p.pid)
        workers = [k for k in kids if _running(k) and "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()
                   ] if kids else []
        if len(workers) >= 2 and list(out.glob(".f.h5.tmp-*")):
            time.sleep(1.0)  # let them start computing
            kids |= _descendants(p.pid)
            break
        time.sleep(0.2)
    assert p.poll() is None, f"finished before it could be killed: {p.stderr.read()[-2000:]}"
    assert len(kids) >= 3  # two helpers and the temporary file's guardian (and multiprocessing's tracker)
    if how == "SIGKILL":
        os.kill(p.pid, signal.SIGKILL)
    elif how == "SIGTERM":
        os.kill(p.pid, signal.SIGTERM)
    else:
        os.killpg(p.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    p.wait(timeout=60)
    end = time.time() + 10
    while time.time() < end and (any(_running(k) for k in kids) or list(out.iterdir())):
        time.sleep(0.2)
    assert [k for k in kids if _running(k)] == []
    assert list(out.iterdir()) == []
    err = p.stderr.read()
    assert "Traceback" not in err, err
    if how != "SIGKILL":
        assert p.returncode == {"SIGTERM": 143, "Ctrl-C": 130}[how], err


_LONG_LJ_RUN = """
import sys
from pathlib import Path
from toolkit.lammps.runner import run_lammps
d = Path(sys.argv[1])
(d / "in.lammps").write_text(
    "units lj\\nlattice fcc 0.8\\nregion b block 0 6 0 6 0 6\\ncreate_box 1 b\\ncreate_atoms 1 box\\n"
    "mass 1 1\\npair_style lj/cut 2.5\\npair_coeff * * 1 1\\nvelocity all create 1.0 1\\nfix 1 all nve\\n"
    "thermo 100\\nrun 100000000\\n")
run_lammps(d / "in.lammps", d)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_killed_python_leaves_no_lammps_running(tmp_path, how):
    """Kill the Python process that runs LAMMPS (even with SIGKILL): 10 s later no LAMMPS survives it."""
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-c", _LONG_LJ_RUN, tmp_path], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    def lammps_processes() -> set[int]:  # the lmp wrapper script and the binary, not the watchdog
        found = set()
        for k in _descendants(p.pid):
            try:
                argv = Path(f"/proc/{k}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if "in.lammps" in " ".join(argv) and "-c" not in argv:
                found.add(k)
        return found

    lmp: set[int] = set()
    deadline = time.time() + 120
    try:
        while time.time() < deadline and p.poll() is None and not (tmp_path / "log.lammps").exists():
            time.sleep(0.2)
        time.sleep(0.5)
        lmp = lammps_processes()
        assert p.poll() is None and lmp, "LAMMPS did not start"
        os.kill(p.pid, getattr(signal, how))
        p.wait(timeout=60)
        end = time.time() + 10
        while time.time() < end and any(_running(k) for k in lmp):
            time.sleep(0.2)
        assert [k for k in lmp if _running(k)] == []
    finally:
        for k in lmp:
            if _running(k):
                os.kill(k, signal.SIGKILL)
        if p.poll() is None:
            p.kill()


def test_rerun_removes_temporary_files_of_a_killed_run(base, tmp_path):
    """A temporary file whose process is gone (killed by SIGKILL) is removed by the next write to that target."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from toolkit.fileio import _host

    stale = tmp_path / f".f.h5.tmp-{_host()}-{int(dead.stdout)}-abcd1234.h5"
    stale.write_text("half-written")
    r = hdnnp("symfuncs", base / "pot" / "input.nn", base / "good.data", "-o", tmp_path / "f.h5")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5"]


# --- property-based corruption (in-process: the readers either succeed or name file and line) ----

def _mutations():
    from hypothesis import strategies as st

    junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    return st.lists(st.one_of(
        st.tuples(st.just("delete"), st.integers(0, 10 ** 6)),
        st.tuples(st.just("duplicate"), st.integers(0, 10 ** 6)),
        st.tuples(st.just("swap"), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6)),
        st.tuples(st.just("token"), st.integers(0, 10 ** 6), st.integers(0, 20), junk),
        st.tuples(st.just("truncate"), st.integers(0, 10 ** 6)),
        st.tuples(st.just("bytes"), st.integers(0, 10 ** 6), st.binary(min_size=1, max_size=6)),
        st.tuples(st.just("tabs"), st.integers(0, 10 ** 6)),
    ), min_size=1, max_size=4)


def _mutate(data: bytes, ops) -> bytes:
    for op in ops:
        lines = data.split(b"\n")
        k = op[1] % max(len(lines), 1)
        if op[0] == "delete":
            del lines[k]
        elif op[0] == "duplicate":
            lines.insert(k, lines[k])
        elif op[0] == "swap":
            j = op[2] % len(lines)
            lines[k], lines[j] = lines[j], lines[k]
        elif op[0] == "token":
            tok = lines[k].split()
            if tok:
                tok[op[2] % len(tok)] = op[3].encode("utf-8")
                lines[k] = b" ".join(tok)
        elif op[0] == "tabs":
            lines[k] = lines[k].replace(b" ", b"\t")
        data = b"\n".join(lines)
        if op[0] == "truncate":
            data = data[:op[1] % (len(data) + 1)]
        elif op[0] == "bytes":
            pos = op[1] % (len(data) + 1)
            data = data[:pos] + op[2] + data[pos:]
    return data


def test_corrupted_input_data_is_read_or_refused_naming_the_file():
    pytest.importorskip("hypothesis")
    import tempfile

    from hypothesis import HealthCheck, given, settings

    from toolkit.errors import InputFileError, StructureError
    from toolkit.structures import read_structures

    clean = (GOOD + "begin\nlattice 4 0 0\nlattice 0 4 0\nlattice 0 0 4\n" + ATOM + ATOM2 + "energy 1\nend\n").encode()

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_mutations())
    def check(ops):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.data"
            path.write_bytes(_mutate(clean, ops))
            try:
                structures = read_structures(path)
            except (InputFileError, StructureError) as exc:
                assert str(path) in str(exc)
                return
            for s in structures:  # accepted: then it is sound
                assert len(s) > 0 and np.all(np.isfinite(s.positions))
                s.validate()

    check()


def test_corrupted_input_nn_is_read_or_refused_naming_file_and_line(shared):
    pytest.importorskip("hypothesis")
    import tempfile
    import warnings

    from hypothesis import HealthCheck, given, settings

    from toolkit.errors import InputFileError
    from toolkit.n2p2 import read_input_nn

    clean = (shared / "lj" / "input.nn").read_bytes()

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_mutations())
    def check(ops):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "input.nn"
            path.write_bytes(_mutate(clean, ops))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    settings_ = read_input_nn(path)
            except InputFileError as exc:
                assert str(exc).startswith(str(path))
                return
            assert settings_.symfuncs and settings_.elements

    check()


def test_writers_refuse_nan_and_leave_nothing(tmp_path):
    from toolkit.errors import StructureError
    from toolkit.n2p2.files import write_scaling, write_weights
    from toolkit.structures import Structure, write_n2p2

    with pytest.raises(StructureError, match="structure 1 has a non-finite"):
        write_n2p2(tmp_path / "input.data", [Structure([[0, 0, 0]], ["Ne"], energy=1.0),
                                              Structure([[0, 0, 0]], ["Ne"], energy=float("nan"))])
    with pytest.raises(StructureError, match="weights are not finite"):
        write_weights(tmp_path / "weights.010.data", [(np.array([[np.nan]]), np.zeros(1))])
    with pytest.raises(StructureError, match="scaling statistics of Ne"):
        write_scaling(tmp_path / "scaling.data", {"Ne": np.array([[0, np.inf, 0, 1.0]])}, ["Ne"])
    assert list(tmp_path.iterdir()) == []
