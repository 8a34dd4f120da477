"""No upward imports: each layer imports only what lies below it (lazy imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "toolkit"

# module (file or package folder, relative to toolkit/) -> toolkit modules (or dotted prefixes) it must never import
FORBIDDEN = {
    "training": ["selection", "lammps", "demo", "report", "datagen", "commands", "cli"],
    "settings.py": ["training.data", "training.trainer", "training.experiment", "training.pipeline", "selection",
                    "lammps", "demo", "report", "config"],
    "steps.py": ["training", "selection", "lammps", "demo", "report", "settings", "config"],
    "plotting.py": ["training", "selection", "lammps", "demo", "report"],
    "config.py": ["training", "selection", "lammps", "demo", "report"],
    "report": ["demo", "commands", "cli"],
    "selection": ["demo", "report", "commands", "cli"],
    "lammps": ["demo", "report", "training", "selection", "commands", "cli"],
}

# known exceptions, each with its reason
EXEMPT: set[tuple[str, str]] = set()


def _imports(path: Path) -> set[str]:
    """The toolkit modules a file imports (resolved to names relative to the package)."""
    rel = path.relative_to(PKG).with_suffix("")
    package = list(rel.parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [a.name] for a in node.names] if not node.module else [target]
            elif node.module and node.module.startswith("toolkit."):
                names = [node.module.split(".")[1:]]
            else:
                continue
            out.update(".".join(n) for n in names if n)
        elif isinstance(node, ast.Import):
            out.update(".".join(a.name.split(".")[1:]) for a in node.names if a.name.startswith("toolkit."))
    return out


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_no_upward_imports(module):
    target = PKG / module
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    bad = []
    for f in files:
        for imp in _imports(f):
            if (str(f.relative_to(PKG)), imp) in EXEMPT:
                continue
            for rule in FORBIDDEN[module]:
                rule = rule.removesuffix(".py")
                if imp == rule or imp.startswith(rule + "."):
                    bad.append(f"{f.relative_to(PKG)} imports toolkit.{imp}")
    assert not bad, "; ".join(bad)
