"""The house (DESIGN.md): imports only go downward, only training imports Lightning, and the
names the documentation gives exist.

Every ``import`` in every module of ``hart/`` (at the top or inside a function) is read with
``ast`` and checked against the rooms each room may use.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hart"

# What each room may import, besides itself. Training and tracking never import each other:
# both read model files through hart.model.checkpoint.
BELOW = {
    "errors": set(),
    "atomic": {"errors"},
    "boxes": {"errors"},
    "media": {"errors", "atomic", "boxes"},
    "model": {"errors", "atomic", "boxes"},
    "datasets": {"errors", "atomic", "boxes", "media"},
    "training": {"errors", "atomic", "boxes", "media", "model", "datasets"},
    "tracking": {"errors", "atomic", "boxes", "media", "model"},
    "evaluation": {"errors", "atomic", "boxes", "media", "model", "datasets", "tracking"},
    "bench": {"errors", "atomic", "boxes", "media", "model", "datasets"},
    "cli": {
        "errors",
        "atomic",
        "boxes",
        "media",
        "model",
        "datasets",
        "training",
        "tracking",
        "evaluation",
        "bench",
    },
    "hart": set(),  # hart/__init__.py
}


def room_of(module: str) -> str:
    """``hart.media.frames`` → ``media``; ``hart.cli`` → ``cli``; ``hart`` → ``hart``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hart"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``source``, the text of ``module``; ``from hart
    import x`` gives ``hart.x``, relative imports are resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, name] if name else base)
            if name == "hart":
                found.extend((node.lineno, f"hart.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, name))
    return found


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that reach a room it may not use, as ``line: name``."""
    room = room_of(module)
    return [
        f"{line}: {name}"
        for line, name in imported_modules(source, module, is_package)
        if name.split(".")[0] == "hart"
        and room_of(name) != room
        and room_of(name) not in BELOW[room]
    ]


MODULES = sorted(PACKAGE.rglob("*.py"))


def _read(path: Path) -> tuple[str, str, bool]:
    return path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"


def test_every_module_belongs_to_a_known_room():
    rooms = {room_of(module_name(path)) for path in MODULES}
    assert rooms <= set(BELOW), rooms - set(BELOW)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_only_go_downward(path):
    upward = upward_imports(*_read(path))
    assert not upward, f"{path.relative_to(PACKAGE.parent)} imports upward: {upward}"


def test_only_training_imports_lightning():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for path in MODULES
        if room_of(module_name(path)) != "training"
        for line, name in imported_modules(*_read(path))
        if name.split(".")[0] in ("lightning", "pytorch_lightning")
    ]
    assert not offenders, "\n".join(offenders)


def test_the_checker_finds_upward_imports_in_every_form():
    source = """
from hart.errors import InputError
from hart import boxes
from hart.training.module import HARTModule
from hart import tracking
from .. import evaluation
from ..media import frames


def later():
    import hart.datasets.layouts
"""
    assert upward_imports(source, "hart.media.writer") == [
        "4: hart.training.module",
        "5: hart.tracking",
        "6: hart.evaluation",
        "11: hart.datasets.layouts",
    ]
    assert upward_imports("from hart.model.checkpoint import load_model", "hart.tracking") == []
    assert upward_imports("from hart.tracking import Tracker", "hart.training.module") == [
        "1: hart.tracking"
    ]


DOCUMENTS = ["README.md", "data/README.md"]


def documented_names(text: str) -> set[str]:
    """``hart.x.Y`` in backquotes, and what ``from hart.x import A, B`` lines import."""
    names = set(re.findall(r"`(hart(?:\.\w+)+)`", text))
    for module, imported in re.findall(r"^from (hart[\w.]*) import (.+)$", text, re.M):
        names |= {f"{module}.{name.strip()}" for name in imported.split(",")}
    return names


def resolve(name: str):
    """The module or object ``name`` denotes (``hart.training.HARTModule``)."""
    module, _, attribute = name.rpartition(".")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_names_the_documentation_gives_exist(document):
    names = documented_names((PACKAGE.parent / document).read_text(encoding="utf-8"))
    assert names, f"{document} names nothing in hart: the pattern is wrong"
    for name in sorted(names):
        resolve(name)  # raises if the name is gone
    assert documented_names("`hart.training.HARTModule`\nfrom hart.tracking import Tracker") == {
        "hart.training.HARTModule",
        "hart.tracking.Tracker",
    }
