"""The package's shape: dependencies run one way (data and modeling -> training -> checkpoints -> inference ->
export and serve), with no import cycle, function-level imports included; no module over 350 lines; the
trainer is the epoch loop. Read from the source with `ast`, so nothing is imported."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "emodraw"
MAX_MODULE_LINES = 350
MAX_TRAINER_LINES = 200

# Lower layers never import higher ones. Inside one layer, only the pairs in CROSS_LAYER_ALLOWED below may
# import each other (training and inference are independent: both build on checkpoints).
LAYERS = [
    {"errors"},  # what every layer raises, files' disk_errors included
    {"files", "console", "version"},
    {"hardware", "config"},
    {"data", "modeling", "metrics", "multi_label_metrics", "plots", "model_card", "checkpoint_integrity", "hub"},
    {"checkpoints", "results"},
    {"training", "inference"},
    {"export", "average", "serve", "compare", "publish"},
    {"cli", "__main__", "__init__", "pooling"},
]
# compare trains, then scores, and with --int8 exports (export never imports compare); `python -m emodraw` is the CLI
CROSS_LAYER_ALLOWED = {
    ("metrics", "multi_label_metrics"),
    ("compare", "training"),
    ("compare", "inference"),
    ("compare", "export"),
    ("__main__", "cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every emodraw module `path` imports, at any depth of the file (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "emodraw"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "emodraw":
                continue
            for alias in node.names:  # `from emodraw.modeling import fused_albert` imports a module
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
    return {name for name in found if name in MODULES and name != here}


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer_of(name: str) -> tuple[int, str]:
    top = name.split(".")[1] if "." in name else "__init__"
    for rank, members in enumerate(LAYERS):
        if top in members:
            return rank, top
    raise AssertionError(f"{name}: not placed in a layer of tests/test_layout.py")


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_point_down_the_layers(name):
    rank, top = layer_of(name)
    for target in sorted(GRAPH[name]):
        target_rank, target_top = layer_of(target)
        if target_top == top or (top, target_top) in CROSS_LAYER_ALLOWED:
            continue
        assert target_rank < rank, f"{name} imports {target}: a layer that may not depend on it"


def test_no_import_cycle():
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                cycle = trail[trail.index(target) :] + [target] if target in trail else [node, target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_the_graph_holds_the_real_imports():
    """The checks above would pass on an empty graph: make sure it is read from the real imports."""
    assert "emodraw.checkpoints" in GRAPH["emodraw.inference.classifier"]
    assert GRAPH["emodraw.training.trainer"], "the trainer imports nothing?"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{MODULES[name]}: {lines} lines (at most {MAX_MODULE_LINES})"


def test_the_trainer_class_is_the_epoch_loop():
    tree = ast.parse(MODULES["emodraw.training.trainer"].read_text(encoding="utf-8"))
    (trainer,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer"]
    lines = trainer.end_lineno - trainer.lineno + 1
    assert lines <= MAX_TRAINER_LINES, f"Trainer: {lines} lines"


def test_nothing_compares_class_names():
    """Backends and model types are told apart by attributes and isinstance, never by a class's name."""
    compares_a_name = re.compile(r"__name__\s*[!=]=\s*['\"](?!__main__)|['\"]\s*[!=]=\s*type\(")
    for name, path in MODULES.items():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert not compares_a_name.search(line), f"{path}:{number}: {line.strip()}"
