"""The package's import layers: lower layers never import higher ones, peers never import each
other, and no module imports itself through others (read from the source, lazy imports included)."""

import ast
from pathlib import Path

import recsys

PACKAGE = Path(recsys.__file__).parent
# Lowest first. A module may import its own unit and the units of lower layers only.
LAYERS = [
    ["errors", "_version"],
    ["_checks", "_files", "_spans", "_arrays"],
    ["documents"],
    ["analysis"],
    ["config"],
    ["weighting"],
    ["index"],
    ["build", "query"],
    ["live"],
    ["related_index"],
    ["feedback"],
    ["evaluation", "server"],
    ["cli"],
    ["__init__", "__main__"],
]
LAYER_OF = {unit: n for n, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The recsys modules a source file imports, anywhere in it, as dotted names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("recsys"):
                for alias in node.names:  # "from . import live": the module recsys.live
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if module_path(candidate) else target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("recsys")}
    return {m for m in found if m != name}


def module_path(dotted: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*dotted.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def unit_of(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    sources = [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]
    return {module_name(p): imports_of(p) for p in sources}


def test_every_unit_has_a_layer():
    assert {unit_of(m) for m in graph()} <= set(LAYER_OF)


def test_lower_layers_never_import_higher_ones_and_peers_never_import_each_other():
    wrong = []
    for module, imported in graph().items():
        unit = unit_of(module)
        for target in imported:
            other = unit_of(target)
            if other != unit and LAYER_OF[other] >= LAYER_OF[unit]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_there_are_no_import_cycles():
    edges = graph()
    edges = {m: {t for t in targets if t in edges} for m, targets in edges.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_checks_see_the_imports_they_are_about():
    edges = graph()
    assert "recsys.related_index" in edges["recsys"] and "recsys.live" in edges["recsys.related_index"]
    assert "recsys.index.data" in edges["recsys.index.persist"]  # an import inside the package
    assert "recsys.build.dask" in edges["recsys.related_index"]  # an import inside a function
    assert "recsys.analysis.embedding" in edges["recsys.query.vectors"]  # "from ..analysis import embedding"
