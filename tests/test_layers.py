"""Data flows one way: every module imports only from its own layer or the layers below it,
and no modules import each other in a cycle (imports inside functions count too).

`LAYERS` is the one list of the layers, bottom first (docs/ARCHITECTURE.md draws it). A module
belongs to the layer of the longest prefix that names it; a prefix ending in `=` names only
that module (the bare `prover` package, not everything under it). `tests/` may import
anything. Relative imports are refused (they would hide a module's layer), and
`importlib.import_module("...")` / `__import__("...")` with a literal name count as imports.

Run: pytest tests/test_layers.py
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kernels", "prover", "eval", "bench")

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("kernels", ("kernels",)),
    ("utilities", ("prover=", "prover.overrides")),  # the package marker, dotted overrides
    ("proof environments", ("prover.envs",)),  # the only place that knows a prover's syntax
    ("data", ("prover.data",)),  # traced steps and trace splits, read back
    ("model", ("prover.model", "prover.tokenizer")),
    ("policies", ("prover.policies",)),
    ("search", ("prover.search",)),
    ("episodes", ("prover.episodes",)),
    ("pool", ("prover.pool",)),  # the episodes on Ray workers; the driver's recorder writes
    ("replay", ("prover.replay",)),
    ("introspection", ("prover.introspect",)),  # mines verified proofs into a library
    ("training", ("prover.trainer", "prover.train", "prover.csp")),
    ("loop", ("prover.loop",)),
    ("applications", ("prover.cli", "prover.doctor", "eval", "bench")),
]


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int:
    """Index of the layer whose longest prefix names `module`."""
    best, best_len = -1, -1
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            exact = p.endswith("=")
            p = p.rstrip("=")
            named = module == p or (not exact and module.startswith(p + "."))
            if named and len(p) > best_len:
                best, best_len = i, len(p)
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if ".venv" not in p.parts
    }


def imports_of(path: Path, modules: Iterable[str]) -> set[str]:
    """The project modules `path` imports anywhere in its body (`from a import b` is a.b when
    a.b is a module, else a)."""
    known = set(modules)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: a relative import; name the module")
            module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names]
            names = [n if n in known else module for n in names]
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            names = [str(getattr(node.args[0], "value", ""))]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _dynamic_import(call: ast.Call) -> bool:
    """`importlib.import_module("x")` or `__import__("x")` with a literal module name."""
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    literal = bool(call.args) and isinstance(call.args[0], ast.Constant)
    return name in ("import_module", "__import__") and literal


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {m: imports_of(p, modules) - {m} for m, p in modules.items()}


def upward_imports(
    graph: Mapping[str, set[str]], layers: list[tuple[str, tuple[str, ...]]] = LAYERS
) -> list[str]:
    """Each import of a module from a layer above its own, as 'a (layer) imports b (layer)'."""
    out = []
    for mod, deps in sorted(graph.items()):
        here = layer_of(mod, layers)
        for dep in sorted(deps):
            there = layer_of(dep, layers)
            if there > here:
                out.append(
                    f"{mod} ({layers[here][0]}) imports {dep} ({layers[there][0]}), a layer above"
                )
    return out


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_is_in_a_layer_and_imports_only_downward() -> None:
    graph = import_graph()
    assert len(graph) > 40 and "prover.episodes" in graph  # the walk found the tree
    assert upward_imports(graph) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle() -> None:
    graph = {
        "prover.envs.coq": {"prover.envs.base"},
        "prover.envs.base": set(),
        "prover.search": {"prover.policies.base", "prover.envs.base"},
        "prover.policies.base": {"prover.envs.base"},
    }
    assert upward_imports(graph) == [] and cycles(graph) == []
    graph["prover.policies.base"].add("prover.episodes")  # a policy reaching up
    graph["prover.episodes"] = {"prover.search"}
    assert upward_imports(graph) == [
        "prover.policies.base (policies) imports prover.episodes (episodes), a layer above"
    ]
    assert cycles(graph) == [["prover.episodes", "prover.policies.base", "prover.search"]]
    # a cycle inside one layer is caught too, though no import goes up
    same = {"prover.model.encoder": {"prover.model.recurrence"}}
    same["prover.model.recurrence"] = {"prover.model.encoder"}
    assert upward_imports(same) == []
    assert cycles(same) == [["prover.model.encoder", "prover.model.recurrence"]]


def test_imports_inside_functions_and_dynamic_ones_count(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "import importlib\n"
        "def f():\n    from prover.cli import main\n    import prover.loop as loop\n"
        "    importlib.import_module('prover.train')\n    __import__('eval.demo')\n"
    )
    known = ["prover.cli", "prover.loop", "prover.train", "eval.demo", "prover"]
    assert imports_of(src, known) == {"prover.cli", "prover.loop", "prover.train", "eval.demo"}
    src.write_text("from .loop import run_loop\n")
    with pytest.raises(AssertionError, match="relative import"):
        imports_of(src, known)


def test_a_module_outside_every_layer_is_reported() -> None:
    assert layer_of("prover") == 1 and layer_of("prover.overrides") == 1
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("prover.brand_new")
