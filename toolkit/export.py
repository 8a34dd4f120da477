"""Export a potential to n2p2's files: ``input.nn``, ``scaling.data``, ``weights.NNN.data``.

The directory loads in n2p2 (``nnp-predict``, LAMMPS ``pair_style hdnnp``) and
in the toolkit's own LAMMPS plugin, and predicts the same energies and forces
as the exported model (weights written with ``%24.16E``, 17 significant digits).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .model import HDNNP
from .n2p2.files import weights_filename, write_scaling, write_weights
from .n2p2.settings import write_input_nn


def export_n2p2(model: HDNNP, out_dir: str | os.PathLike, comment: str | None = None) -> Path:
    """Write the potential into ``out_dir`` (created; existing n2p2 files replaced atomically per file)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    note = comment or "Written by hdnnp-toolkit export-n2p2."
    write_input_nn(out / "input.nn", model.settings, comment=note)
    write_scaling(out / "scaling.data", {e: model.scaling_stats(e).detach().cpu().numpy() for e in model.elements},
                  model.elements)
    for e in model.elements:
        write_weights(out / weights_filename(e), model.n2p2_layers(e))
    return out
