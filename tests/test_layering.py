"""The walls between the layers, as a reviewer would grep for them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rnognoise"
MODEL_CLASSES = re.compile(r"\b(ConditionalModel|WGANGPModel|VAEModel|BaselineModel)\b")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.update(f"{base}.{alias.name}" if not node.module else base
                         for alias in node.names)
    return names


def test_nothing_outside_the_command_line_imports_it():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts or path.name == "__main__.py":
            continue
        for name in _imports(path):
            if re.search(r"(^|\.)cli(\.|$)", name):
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert offenders == []


def test_fitting_and_sampling_name_no_concrete_model_class():
    for name in ("train.py", "generator.py", "fitting/parts.py", "fitting/data.py",
                 "fitting/stream.py", "fitting/options.py"):
        text = (PACKAGE / name).read_text()
        assert not MODEL_CLASSES.search(text), name
        assert not re.search(r"(from|import)\s+\S*models\.conditional", text), name


def test_the_fitting_files_stay_small():
    paths = [PACKAGE / "train.py", PACKAGE / "conditions.py", *PACKAGE.glob("fitting/*.py"),
             *PACKAGE.glob("models/conditional*.py"), *PACKAGE.glob("cli/*.py"),
             PACKAGE / "core" / "distributed.py"]
    long = {str(p.relative_to(PACKAGE)): n for p in paths
            if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def test_the_fit_command_lists_every_kind():
    from rnognoise.cli.fit import FIT_KINDS
    from rnognoise.models import model_kinds

    assert FIT_KINDS == model_kinds()
