"""glibc malloc as :mod:`toolkit.allocator` sets it up, against glibc's default (``HDNNP_MALLOC=system``).

Two measurements, each setting in its own process, alternated side by side:

* ``tensors``: allocate, fill and free a float64 tensor of ``--mb`` MB, 20 times;
  minor page faults and seconds per round.
* ``refit`` (with ``--demo DIR``, a finished ``hdnnp demo`` folder): the demo's final
  refit (``DIR/potentials/refit/config.yaml``: L-BFGS on energies and forces, float64,
  stored derivatives) for ``--epochs`` epochs on one thread; wall, user and system
  seconds, peak memory, and whether the learning curves are identical.

    .venv/bin/python benchmarks/bench_allocator.py [--demo demo_cuzr] [--epochs 8] [--repeats 2]

Writes ``benchmarks/results/allocator.csv`` and ``allocator.json`` (settings, versions).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

TENSORS = """
import resource, sys, time, torch, toolkit
n = int(float(sys.argv[1]) * 2**20 / 8)
x = torch.ones(n, dtype=torch.float64); del x
f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
for _ in range(20):
    x = torch.ones(n, dtype=torch.float64); del x
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 20, (time.perf_counter() - t0) / 20)
"""


def _env(setting: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("HDNNP_MALLOC", None)
    if setting == "system":
        env["HDNNP_MALLOC"] = "system"
    return env


def _timed(cmd: list[str], setting: str) -> tuple[str, dict]:
    """stdout and the resources of one child process (``wait4``: its own peak RSS, not the maximum of all)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=_env(setting), stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        wall = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        if proc.returncode:
            sys.exit(f"error: {' '.join(cmd)} failed:\n{err.read()[-2000:]}")
        return out.read(), {"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
                            "peak_rss_mb": usage.ru_maxrss / 1024}


def bench_tensors(mb: float, repeats: int) -> list[dict]:
    rows = []
    for rep in range(repeats):
        for setting in ("system", "toolkit"):
            out, _ = _timed([sys.executable, "-c", TENSORS, str(mb)], setting)
            faults, seconds = map(float, out.split())
            rows.append({"case": f"tensors {mb:g} MB", "setting": setting, "repeat": rep,
                         "minor_faults": faults, "seconds": seconds})
    return rows


def bench_refit(demo: Path, epochs: int, repeats: int, work: Path) -> list[dict]:
    src = demo / "potentials" / "refit" / "config.yaml"
    if not src.is_file():
        sys.exit(f"error: {src}: no final refit config (run 'hdnnp demo ... -o {demo}' to the end first)")
    cfg = yaml.safe_load(src.read_text())
    cfg["training"].update(epochs=epochs, restart_period=epochs, patience=epochs, threads=1, progress=False)
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    rows, curves = [], {}
    for rep in range(repeats):
        for setting in ("system", "toolkit"):
            out = work / f"{setting}_{rep}"
            _, usage = _timed([sys.executable, "-m", "toolkit", "train", str(config), "-o", str(out), "--quiet"],
                              setting)
            curves.setdefault(setting, (out / "learning_curve.csv").read_text())
            rows.append({"case": f"refit {epochs} epochs", "setting": setting, "repeat": rep, **usage})
    for r in rows:
        r["identical_results"] = curves["system"] == curves["toolkit"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, help="a finished 'hdnnp demo' folder (its final refit is timed)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mb", type=float, default=256.0)
    args = ap.parse_args()
    rows = bench_tensors(args.mb, args.repeats)
    if args.demo:
        with tempfile.TemporaryDirectory() as tmp:
            rows += bench_refit(args.demo, args.epochs, args.repeats, Path(tmp))
    RESULTS.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(RESULTS / "allocator.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        w.writerows(rows)
    import torch

    summary = {}
    for case in dict.fromkeys(r["case"] for r in rows):
        best = {s: min((r for r in rows if r["case"] == case and r["setting"] == s),
                       key=lambda r: r.get("wall_s", r.get("seconds"))) for s in ("system", "toolkit")}
        summary[case] = best
        line = "  ".join(f"{k} {best['system'][k]:.4g} -> {best['toolkit'][k]:.4g}"
                         for k in best["system"] if k not in ("case", "setting", "repeat", "identical_results"))
        print(f"{case} (best of {args.repeats}; glibc default -> toolkit): {line}")
    (RESULTS / "allocator.json").write_text(json.dumps(
        {"settings": vars(args) | {"demo": str(args.demo) if args.demo else None}, "torch": torch.__version__,
         "python": sys.version.split()[0], "load_average": os.getloadavg(), "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
