"""The layering that docs/architecture.md describes, checked on the source: packages around
the engine use only its public names, and imports point one way (widget -> metrics/attr,
metrics -> attr, never back)."""

from __future__ import annotations

import ast
import pathlib

import insight_widget.attr.core as core

PACKAGE = pathlib.Path(core.__file__).resolve().parents[1]


def imported_modules(path: pathlib.Path) -> list:
    """Absolute dotted names of the insight_widget modules ``path`` imports."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            name = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append(name)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name.startswith("insight_widget")]


def modules_of(subpackage: str) -> list:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


def test_packages_around_the_engine_import_only_its_public_names():
    outside = [p for p in PACKAGE.rglob("*.py") if "attr" not in p.relative_to(PACKAGE).parts]
    private = [(str(p.relative_to(PACKAGE)), name) for p in outside
               for name in imported_modules(p) if "._utils" in name]
    assert private == [], "import these from insight_widget.attr.core instead"


def test_the_engine_never_imports_the_visualiser_or_the_metrics():
    upward = [(str(p.relative_to(PACKAGE)), name) for p in modules_of("attr")
              for name in imported_modules(p)
              if name.startswith(("insight_widget.widget", "insight_widget.metrics"))]
    assert upward == []


def test_the_metrics_never_import_the_visualiser():
    upward = [(str(p.relative_to(PACKAGE)), name) for p in modules_of("metrics")
              for name in imported_modules(p) if name.startswith("insight_widget.widget")]
    assert upward == []


def test_every_name_of_the_shared_core_resolves():
    missing = [name for name in core.__all__ if not hasattr(core, name)]
    assert missing == []
