"""Force-aware selection at scale: time, peak memory and disk against the number of structures.

Liquid/solid Al from ``hdnnp generate al-eam`` (256 atoms, Mendelev EAM), the
reference study's 329 candidates (``n2p2_templates/al_329.input.nn``),
``force_weight > 0``. For every size N (a seeded random subset of N
structures), in a fresh process:

1. ``values_seconds``: the 329 functions' values of the N structures alone;
2. ``derivatives_seconds``: values plus the derivatives force training needs
   (``--force-atoms`` sampled atoms per structure), written to the feature file
   whose size is ``disk_gb``;
3. the force-aware AGL path (``hdnnp select`` with ``--lambdas`` lambdas,
   group lasso, adaptive group lasso and a refit per lambda; no baselines,
   repeats or fakes) under ``--memory``.

``seconds`` is steps 2 + 3 (the features a force-aware run needs, and the
path), ``peak_rss_gb`` the largest resident memory of the process and its
feature workers. ``*cpu_seconds``: the CPU time (user + system, the process
and its feature workers) of the same steps. The path runs one torch thread, so
on a quiet machine its wall time equals its CPU time; on a shared one (these
machines) the CPU time is the figure that does not depend on the other jobs. Writes ``benchmarks/results/force_selection_scale.csv`` (one
row per size, plus the settings and epochs in ``.json`` beside it) and a
log-log plot ``force_selection_scale.png``. Finished sizes are kept: rerun to
resume; the path itself resumes from its run folder.

    .venv/bin/python benchmarks/bench_force_selection_scale.py --sizes 250,500 --work /tmp/scale-bench

The path runs the Al case study's own selection settings (``hdnnp demo
--system al``: epochs, batch size, refit optimizer, force atoms; see
:func:`_config`); ``--gl-epochs`` ... override them, and the CSV's JSON sidecar
records what ran.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = ["structures", "seconds", "peak_rss_gb", "disk_gb", "values_seconds", "derivatives_seconds",
           "cpu_seconds", "values_cpu_seconds", "derivatives_cpu_seconds"]


def _peak_rss_gb() -> float:
    """Largest RSS of this process and of its (waited-for) children, GB (Linux ru_maxrss is in kB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) * 1024 / 1e9


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children (the feature workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _subset(structures: list, n: int, seed: int) -> list:
    import numpy as np

    if n > len(structures):
        raise SystemExit(f"error: {n} structures requested, the data have {len(structures)} (--configs)")
    idx = np.sort(np.random.default_rng(seed).choice(len(structures), n, replace=False))
    return [structures[i] for i in idx]


def _config(args, features: Path) -> dict:
    """The Al case study's own selection config (``hdnnp demo --system al``, :data:`toolkit.demo_al.AL_DEFAULT`:
    its epochs, batch size, learning rate, network, refit optimizer and force weight), with ``--lambdas``
    log-spaced lambdas and without the baselines, repeats, fakes and MD check (the path alone)."""
    from toolkit.demo import selection_config
    from toolkit.demo_al import AL_DEFAULT

    cfg = selection_config(AL_DEFAULT, args.seed, Path("input.data"), features)
    cfg["data"] = {"features": str(features), "derivatives": True}
    cfg["training"].update({"memory": args.memory, "progress": False, "checkpoint_every": 5,
                            "threads": args.threads})
    if args.epochs is not None:
        cfg["training"].update({"epochs": args.epochs, "patience": args.epochs})
    if args.train_force_atoms is not None:   # a pool: --force-atoms stored, this many drawn anew every epoch
        cfg["training"].update({"force_atoms": args.train_force_atoms, "force_resample": True})
    sel = cfg["selection"]
    grid = ({"lambdas": {"min": args.lambda_min, "max": args.lambda_max, "num": args.lambdas}}
            if args.lambda_min is not None else {"lambdas": None, "n_lambdas": args.lambdas,
                                                 "lambda_ratio": args.lambda_ratio})
    sel.update({**grid,
                "baselines": [], "repeats": 0, "fakes": 0, "md_check": False, "rdf_structures": 1,
                "max_features": 30, "stop_ratio": None})   # every lambda: the complete path of >= 8
    for key in ("gl_epochs", "agl_epochs", "refit_epochs", "refit_optimizer"):
        if getattr(args, key) is not None:
            sel[key] = getattr(args, key)
    return cfg


def _force_atoms(args):
    from toolkit.demo_al import AL_DEFAULT

    return args.force_atoms if args.force_atoms is not None else AL_DEFAULT.select_force_atoms


def run_one(args) -> dict:
    """One size in this process: features, then the path; returns the CSV row."""
    import torch
    import yaml

    from toolkit.config import load_config
    from toolkit.features import write_feature_file
    from toolkit.n2p2.settings import read_input_nn
    from toolkit.selection.pipeline import run_select
    from toolkit.structures import read_structures
    from toolkit.symfuncs import SymmetryFunctionSet

    torch.set_num_threads(args.threads)
    n = args.one
    work = Path(args.work) / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    structures = _subset(read_structures(Path(args.data) / "input.data"), n, args.seed)
    settings = read_input_nn(ROOT / "n2p2_templates" / "al_329.input.nn")
    sfset = SymmetryFunctionSet(settings.symfuncs, settings.elements)
    times = json.loads((work / "times.json").read_text()) if (work / "times.json").is_file() else {}
    if "values_seconds" not in times:
        t0, c0 = time.perf_counter(), _cpu()
        write_feature_file(work / "values.h5", structures, sfset, store_dtype="float32", show_progress=True,
                           workers=args.workers)
        times["values_seconds"], times["values_cpu_seconds"] = time.perf_counter() - t0, _cpu() - c0
        (work / "values.h5").unlink()
        (work / "times.json").write_text(json.dumps(times))
    features = work / "features.h5"
    if "derivatives_seconds" not in times:
        t0, c0 = time.perf_counter(), _cpu()
        write_feature_file(features, structures, sfset, derivatives=True, store_dtype="float32",
                           show_progress=True, workers=args.workers, force_atoms=_force_atoms(args),
                           force_seed=args.seed)
        times["derivatives_seconds"], times["derivatives_cpu_seconds"] = time.perf_counter() - t0, _cpu() - c0
        (work / "times.json").write_text(json.dumps(times))
    if "path_seconds" not in times:
        cfg_path = work / "select.yaml"
        cfg_path.write_text(yaml.safe_dump(_config(args, features)))
        t0, c0 = time.perf_counter(), _cpu()
        run_select(load_config(cfg_path), work / "run", echo=lambda m: print(f"[{n}] {m}", flush=True))
        times["path_seconds"] = time.perf_counter() - t0 + times.get("path_seconds_before", 0.0)
        times["path_cpu_seconds"] = _cpu() - c0
        (work / "times.json").write_text(json.dumps(times))
    return {"structures": n, "seconds": round(times["derivatives_seconds"] + times["path_seconds"], 1),
            "peak_rss_gb": round(_peak_rss_gb(), 3), "disk_gb": round(features.stat().st_size / 1e9, 3),
            "values_seconds": round(times["values_seconds"], 1),
            "derivatives_seconds": round(times["derivatives_seconds"], 1),
            "cpu_seconds": round(times["derivatives_cpu_seconds"] + times["path_cpu_seconds"], 1),
            "values_cpu_seconds": round(times["values_cpu_seconds"], 1),
            "derivatives_cpu_seconds": round(times["derivatives_cpu_seconds"], 1)}


def _write(rows: list[dict], out: Path, meta: dict) -> None:
    from toolkit.fileio import atomic_write

    with atomic_write(out, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: int(r["structures"])))
    with atomic_write(out.with_suffix(".json")) as fh:
        json.dump(meta, fh, indent=1)
    _plot(rows, out.with_suffix(".png"))


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = sorted(rows, key=lambda r: int(r["structures"]))
    n = np.array([float(r["structures"]) for r in rows])
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    cpu = all(r.get("cpu_seconds") not in (None, "") for r in rows)
    for key, label in (("seconds", "features + AGL path"), ("derivatives_seconds", "values + derivatives"),
                       ("values_seconds", "values")):
        if cpu:  # CPU time: what the other jobs of a shared machine do not change; wall time dotted
            ax[0].loglog(n, [float(r[key.replace("seconds", "cpu_seconds")]) for r in rows], "o-",
                         label=label + " (CPU)")
        ax[0].loglog(n, [float(r[key]) for r in rows], "o:" if cpu else "o-", alpha=0.5 if cpu else 1,
                     label=label + (" (wall)" if cpu else ""))
    first = float(rows[0]["cpu_seconds" if cpu else "seconds"])
    if len(n) > 1:
        ax[0].loglog(n, first * n / n[0], "k:", lw=1, label="linear")
    ax[0].set_xlabel("structures (256 atoms)")
    ax[0].set_ylabel("seconds")
    ax[0].legend(fontsize=8)
    for key, label in (("peak_rss_gb", "peak RSS"), ("disk_gb", "feature file")):
        ax[1].loglog(n, [float(r[key]) for r in rows], "o-", label=label)
    ax[1].set_xlabel("structures (256 atoms)")
    ax[1].set_ylabel("GB")
    ax[1].legend(fontsize=8)
    fig.suptitle("force-aware selection, Al, 329 candidates, the Al case study's settings (see .json)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="250,500", help="comma list of structure counts")
    p.add_argument("--work", required=True, help="folder for data, feature files and runs (large)")
    p.add_argument("--data", default=None, help="folder with input.data (default WORK/data, generated if missing)")
    p.add_argument("--configs", type=int, default=None, help="structures to generate (default: the largest size)")
    p.add_argument("--force-atoms", type=int, default=None,
                   help="force atoms per structure (default: the Al case study's select_force_atoms)")
    p.add_argument("--train-force-atoms", type=int, default=None,
                   help="draw this many of the stored force atoms per structure anew every epoch (a pool)")
    p.add_argument("--memory", default="8GB")
    p.add_argument("--lambdas", type=int, default=8)
    p.add_argument("--lambda-min", type=float, default=None,
                   help="explicit log-spaced grid (with --lambda-max); default: the grid from the data as the Al "
                        "case study (lambda_ratio x lambda_max to lambda_max)")
    p.add_argument("--lambda-max", type=float, default=None)
    p.add_argument("--lambda-ratio", type=float, default=0.01,
                   help="smallest / largest lambda of the grid from the data (8 lambdas from 0.01 lambda_max reach "
                        "sets of 2-15 functions on this data)")
    p.add_argument("--epochs", type=int, default=None, help="full model's epochs (default: the Al case study's)")
    p.add_argument("--gl-epochs", type=int, default=None, help="default: the Al case study's")
    p.add_argument("--agl-epochs", type=int, default=None, help="default: the Al case study's")
    p.add_argument("--refit-epochs", type=int, default=None, help="default: the Al case study's")
    p.add_argument("--refit-optimizer", default=None, choices=("adam", "lbfgs"), help="default: the Al case study's")
    p.add_argument("--workers", type=int, default=2, help="feature worker processes")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "force_selection_scale.csv"))
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one is not None:
        print("ROW " + json.dumps(run_one(args)), flush=True)
        return 0
    sizes = [int(x) for x in args.sizes.split(",")]
    work = Path(args.work)
    data = Path(args.data) if args.data else work / "data"
    if not (data / "input.data").is_file():
        subprocess.run([sys.executable, "-m", "toolkit", "generate", "al-eam", str(data), "--configs",
                        str(args.configs or max(sizes)), "--seed", str(args.seed), "--quiet"], check=True)
    out = Path(args.out)
    meta = {k: v for k, v in vars(args).items() if k not in ("one",)}
    meta["selection_config"] = _config(args, Path("FEATURES"))
    meta["note"] = "the path runs the Al case study's selection settings (selection_config above) unless overridden"
    rows = {}
    if out.is_file():
        rows = {int(r["structures"]): r for r in csv.DictReader(open(out))}
        if out.with_suffix(".json").is_file():
            meta["load_average_after"] = json.loads(out.with_suffix(".json").read_text()).get("load_average_after", {})
    for n in sizes:
        if n in rows:
            print(f"{n} structures: done before ({rows[n]})")
            continue
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--one", str(n), "--data", str(data)] + \
              [a for a in (argv if argv is not None else sys.argv[1:])]
        row = []
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) as proc:
            for line in proc.stdout:          # progress of the stages as they run
                if line.startswith("ROW "):
                    row.append(line)
                else:
                    print(line, end="", flush=True)
        if proc.returncode or not row:
            raise SystemExit(f"error: the run at {n} structures failed (exit {proc.returncode})")
        rows[n] = json.loads(row[-1][4:])
        meta.setdefault("load_average_after", {})[str(n)] = round(os.getloadavg()[1], 2)   # 5-minute mean
        print(f"{n} structures: {rows[n]} ({time.perf_counter() - t0:.0f} s)", flush=True)
        _write(list(rows.values()), out, meta)
    _write(list(rows.values()), out, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
