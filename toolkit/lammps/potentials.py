"""Which potential a LAMMPS run uses: the system's reference, an n2p2 directory, or a ``model.pt``.

:func:`resolve_potential` turns what the user typed into a :class:`PotentialSpec`
holding the LAMMPS pair commands. For HDNNPs the lines are::

    <preamble from toolkit.lammps_plugin.build.pair_style_preamble(lmp)>
    pair_style hdnnp <rc> dir <dir> showew no showewsum 0 resetew no maxew 1000000 cflength 1.0 cfenergy 1.0
    pair_coeff * * <elements>

where ``rc`` is the largest symmetry-function cutoff in ``input.nn``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import LammpsError, ToolkitError
from ..n2p2.settings import read_input_nn
from ..symfuncs.definitions import max_cutoff
from .systems import System, system_for_elements

N2P2_FILES = ("input.nn", "scaling.data")


@dataclass
class PotentialSpec:
    """A potential ready for LAMMPS: its pair commands and a label for tables and plots."""

    kind: str  # "reference" or "hdnnp"
    label: str
    pair_lines: list[str]
    elements: list[str] = field(default_factory=list)
    path: str | None = None  # n2p2 directory (hdnnp) or None
    cutoff: float | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "path": self.path, "elements": self.elements,
                "cutoff": self.cutoff, "pair_lines": self.pair_lines}


def hdnnp_pair_lines(n2p2_dir: str | os.PathLike, lmp: str | Sequence[str] | None = None) -> tuple[list[str], list[str], float]:
    """LAMMPS commands for an exported n2p2 potential: ``(lines, elements, rc)``.

    The preamble (``plugin load ...`` or nothing) comes from
    :func:`toolkit.lammps_plugin.build.pair_style_preamble`.
    """
    d = Path(n2p2_dir).resolve()
    missing = [f for f in N2P2_FILES if not (d / f).exists()]
    if missing or not list(d.glob("weights.*.data")):
        missing += [] if list(d.glob("weights.*.data")) else ["weights.NNN.data"]
        raise ToolkitError(f"{d}: not an n2p2 potential directory (missing {', '.join(missing)})")
    settings = read_input_nn(d / "input.nn")
    elements, rc = settings.elements, max_cutoff(settings.symfuncs)
    try:
        from ..lammps_plugin.build import pair_style_preamble
    except ImportError as exc:
        raise LammpsError(
            "running an HDNNP in LAMMPS needs toolkit.lammps_plugin (pair_style hdnnp); "
            f"it is not available in this installation ({exc})"
        ) from exc
    from .runner import lammps_executable

    try:
        preamble = list(pair_style_preamble([lammps_executable(lmp)]))
    except LammpsError:
        raise
    except Exception as exc:  # PluginBuildError, RuntimeError from probing LAMMPS
        raise LammpsError(f"{d}: cannot prepare LAMMPS for pair_style hdnnp: {exc}") from exc
    lines = preamble + [
        f"pair_style hdnnp {rc!r} dir \"{str(d).rstrip('/')}/\" showew no showewsum 0 resetew no maxew 1000000 cflength 1.0 cfenergy 1.0",
        "pair_coeff * * " + " ".join(elements),
    ]
    return lines, elements, rc


def resolve_potential(potential: str | os.PathLike, system: System | None = None, work_dir: str | os.PathLike | None = None,
                      lmp: str | Sequence[str] | None = None, label: str | None = None) -> tuple[PotentialSpec, System | None]:
    """Turn ``'reference'``, an n2p2 directory or a ``model.pt`` into LAMMPS pair commands.

    A ``model.pt`` is exported to ``work_dir/potential/`` with
    :func:`toolkit.export.export_n2p2`. Returns the spec and the system (guessed
    from the potential's element if ``system`` is ``None``).
    """
    text = str(potential)
    if text.lower() == "reference":
        if system is None:
            raise ToolkitError("potential 'reference' needs a system (--system lj|al|si|cuzr)")
        return PotentialSpec("reference", label or "reference", system.pair_lines(), list(system.elements)), system
    path = Path(potential)
    if not path.exists():
        raise ToolkitError(f"potential {text!r}: no such file or directory (expected an n2p2 directory, a model.pt or 'reference')")
    if path.is_file() and path.suffix in (".pt", ".pth"):
        if work_dir is None:
            raise ToolkitError(f"{path}: exporting a model needs a work directory")
        out = Path(work_dir) / "potential"
        try:
            from ..export import export_n2p2
            from ..potential import load_potential
        except ImportError as exc:
            raise ToolkitError(f"{path}: cannot export the model to n2p2 ({exc})") from exc
        export_n2p2(load_potential(path), out)
        label = label or path.stem
        path = out
    elif path.is_file() and path.name == "input.nn":
        path = path.parent
    lines, elements, rc = hdnnp_pair_lines(path, lmp)
    if system is None:
        system = system_for_elements(elements)
    if sorted(elements) != sorted(system.elements):
        raise ToolkitError(f"{path}: potential for {elements}, but system {system.name} has "
                           f"element{'s' if len(system.elements) > 1 else ''} {', '.join(system.elements)}")
    lines[-1] = "pair_coeff * * " + " ".join(system.elements)  # LAMMPS types follow the system's element order
    return PotentialSpec("hdnnp", label or Path(potential).name, lines, list(system.elements), str(path.resolve()), rc), system
