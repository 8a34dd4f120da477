"""Reference data for a config's ``data.generate``: LAMMPS runs before any training.

Kept apart from :mod:`toolkit.training` (training never runs LAMMPS): the
commands ``hdnnp train`` and ``hdnnp select`` call :func:`generate_data` first.
"""

from __future__ import annotations

from pathlib import Path

from .settings import Config


def generate_data(cfg: Config, out_dir: str | Path, echo=print) -> Path | None:
    """Run ``hdnnp generate`` for ``data.generate`` unless its ``input.data`` exists; returns that file.

    Without ``data.generate`` nothing is run and ``data.structures`` is returned.
    """
    g = cfg.data.generate
    target = cfg.data.structures_file(out_dir)
    if g is None or target.is_file():
        return target
    from .lammps.generate import generate

    echo(f"generating reference data in {target.parent}")
    generate(g.system, target.parent, n_configs=g.configs, seed=g.seed, temperatures=g.temperatures,
             densities=g.densities, starts=g.starts, jobs=g.jobs, show_progress=cfg.training.progress,
             composition=g.composition, rattled=g.rattled, rattle_sigma=g.rattle_sigma)
    return target
