"""argparse value types shared by several subcommands (a bad value: argparse's one-line ``error:``)."""

from __future__ import annotations

import argparse


def floats(text: str) -> list[float]:
    """``"0.5,1.0,1.5"`` or ``"0.5:1.5:5"`` (start:stop:count, inclusive)."""
    if ":" in text:
        import numpy as np

        parts = text.split(":")
        if len(parts) != 3 or not parts[2].isdigit() or int(parts[2]) < 1:
            raise argparse.ArgumentTypeError(f"expected start:stop:count, got {text!r}")
        return [float(x) for x in np.linspace(float(parts[0]), float(parts[1]), int(parts[2]))]
    values = [float(x) for x in text.split(",") if x.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected a comma list of numbers, got {text!r}")
    return values


def cells(text: str) -> list[int]:
    """Unit cells of a crystal: ``"4"`` (4 x 4 x 4) or ``"NX,NY,NZ"``, each a whole number >= 1."""
    parts = [x.strip() for x in text.split(",")]
    if len(parts) not in (1, 3) or not all(x.isdigit() and int(x) >= 1 for x in parts):
        raise argparse.ArgumentTypeError(f"expected N or NX,NY,NZ (whole numbers >= 1), got {text!r}")
    return [int(x) for x in parts] * (3 if len(parts) == 1 else 1)
