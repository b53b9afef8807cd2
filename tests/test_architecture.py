"""The package's shape, checked from its source (docs/guide.md, "Code map"): layers that only point
down, no import cycles, short functions, a thin command line that answers --help without torch."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "classicnets"

# Floors, lowest first: a module may import its own floor and the ones below, never one above.
FLOORS = [
    {"data", "zoo", "inspect", "errors", "fileio", "testhooks", "blocks", "recurrent", "_lazy", "catalog",
     "config", "record", "terminal"},
    {"train"},
    {"transfer", "recipes", "studies", "detection", "export"},
    {"runs"},
    {"cli"},
]


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every import statement, at any depth (functions too), except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports(name: str, path: Path) -> set[str]:
    """The package's modules that module `name` imports (a `from package import submodule` names the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = package.split(".")[:len(package.split(".")) - (node.level - 1)] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: imports(name, path) for name, path in MODULES.items()}


def floor(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) == 1:
        return None  # the package itself: lazy names only
    return next(i for i, f in enumerate(FLOORS) if parts[1] in f)


def test_every_part_of_the_package_has_a_floor():
    top = {n.split(".")[1] for n in MODULES if "." in n}
    assert top <= set().union(*FLOORS), top - set().union(*FLOORS)


def test_imports_only_point_down():
    upward = [f"{a} -> {b}" for a, targets in GRAPH.items() for b in targets
              if floor(a) is not None and floor(b) is not None and floor(b) > floor(a)]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles():
    """Tarjan's strongly connected components: any with two modules or more is a cycle."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
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
                cycles.append(sorted(component))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_walk_sees_function_level_imports_and_skips_type_checking(tmp_path):
    assert "classicnets.train.engine" in GRAPH["classicnets.train.evaluation"] or \
        "classicnets.train.losses" in GRAPH["classicnets.train.evaluation"]
    assert "classicnets.detection.train" in GRAPH["classicnets.runs.tasks.detect"]  # imported inside a method
    assert "classicnets.train.engine" not in GRAPH["classicnets.train.callbacks"]  # only under TYPE_CHECKING


def test_functions_are_at_most_80_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, "\n".join(long)


def test_command_line_modules_are_at_most_250_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (PACKAGE / "cli").glob("*.py")}
    assert len(sizes) > 5 and max(sizes.values()) <= 250, sizes


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_imports_no_torch(argv):
    code = (f"import sys; from classicnets.cli import run_cli; code = run_cli({argv!r}); "
            f"assert code == 0, code; assert 'torch' not in sys.modules, 'torch was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: classicnets" in proc.stdout
