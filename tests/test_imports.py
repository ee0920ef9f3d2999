"""The import graph of hand3d_tf has no cycles (docs/development.md: data flows one way), and
the framework-free floors stay free: hand3d_tf.spec imports neither TensorFlow nor JAX,
hand3d_tf.jax no TensorFlow (the last tests import them in a fresh Python).

The graph is read from the source (ast), not by importing: every ``import`` and ``from ...
import`` of a hand3d_tf module counts, at module level or inside a function (a lazy import
only hides a cycle until the function runs). ``from package import name`` points at the
submodule ``package.name`` when there is one, else at the package's ``__init__``.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

from tests.helpers import TENSORFLOW_PACKAGES

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "hand3d_tf"


def package_modules(root: pathlib.Path = REPO, package: str = PACKAGE) -> dict[str, pathlib.Path]:
    """{dotted module name: file}; a package is named by its folder (its ``__init__``)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """{module: the package modules it imports anywhere in its source}."""

    def known(name: str) -> str | None:  # a name inside a module resolves to that module
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    root = next(iter(modules)).split(".")[0]
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..a import b
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                if base.split(".")[0] != root:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else known(base))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_checker_finds_a_lazy_cycle_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from pkg.sub.b import g\n")
    (pkg / "sub" / "b.py").write_text("from .a import f\nfrom pkg import sub\n")
    (pkg / "c.py").write_text("import pkg.sub.a\nimport numpy\n")
    graph = import_graph(package_modules(tmp_path, "pkg"))
    assert graph["pkg.sub.b"] == {"pkg.sub.a", "pkg.sub"}
    assert graph["pkg.c"] == {"pkg.sub.a"}
    assert cycles(graph) == [["pkg.sub", "pkg.sub.a", "pkg.sub.b"]]


def test_no_import_cycles_in_the_package():
    assert cycles(import_graph(package_modules())) == []


def floor_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph with each subpackage collapsed into one node (a "floor": hand3d_tf.lite,
    hand3d_tf.evaluation, ...; a top-level module is a floor of its own)."""

    def floor(name: str) -> str:
        return ".".join(name.split(".")[:2])

    floors: dict[str, set[str]] = {}
    for name, targets in graph.items():
        edges = floors.setdefault(floor(name), set())
        edges.update(floor(t) for t in targets if floor(t) != floor(name))
    for targets in list(floors.values()):
        for target in targets:
            floors.setdefault(target, set())
    return floors


def test_the_floor_checker_finds_a_loop_through_three_floors(tmp_path):
    """Issue 29's loop, lite -> evaluation -> pipeline -> lite, has no cycle between modules
    (lite.accuracy -> evaluation.metrics, evaluation.predictors -> pipeline -> lite.backend)
    but one between floors."""
    pkg = tmp_path / "pkg"
    for folder in ("lite", "evaluation"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "lite" / "accuracy.py").write_text("from pkg.evaluation import metrics\n")
    (pkg / "lite" / "backend.py").write_text("import numpy\n")
    (pkg / "evaluation" / "metrics.py").write_text("")
    (pkg / "evaluation" / "predictors.py").write_text("def f():\n    from pkg import pipeline\n")
    (pkg / "pipeline.py").write_text("from pkg.lite import backend\n")
    graph = import_graph(package_modules(tmp_path, "pkg"))
    assert cycles(graph) == []
    assert cycles(floor_graph(graph)) == [["pkg.evaluation", "pkg.lite", "pkg.pipeline"]]


def test_no_loops_between_floors():
    """Data flows one way between floors too (docs/development.md): no subpackage or
    top-level module reaches itself through another floor, lazily or not."""
    assert cycles(floor_graph(import_graph(package_modules()))) == []


def test_lite_holds_only_interpreters_and_the_sidecar_schema():
    """hand3d_tf.lite sits below the inference runtime and the evaluation: it imports no
    pipeline, runtime, evaluation or benchmark module."""
    floors = floor_graph(import_graph(package_modules()))
    assert floors["hand3d_tf.lite"] <= {"hand3d_tf.constants", "hand3d_tf.files"}


def loaded_after(statements: str, packages: tuple[str, ...]) -> list[str]:
    """The modules of ``packages`` (top-level names) loaded after ``statements`` in a fresh
    Python; the statements' errors fail the calling test."""
    code = (
        f"import sys\n{statements}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def submodules(package: str) -> str:
    """``import a, a.b, ...`` of the package and every module in it."""
    return "import " + ", ".join(
        m for m in package_modules() if m.split(".")[:2] == package.split(".")
    )


def test_spec_imports_neither_tensorflow_nor_jax():
    """hand3d_tf.spec is what the tf_keras and the JAX nets both read."""
    assert loaded_after(submodules("hand3d_tf.spec"), TENSORFLOW_PACKAGES + ("jax", "jaxlib")) == []


def test_the_jax_nets_import_no_tensorflow():
    """hand3d_tf.jax runs on the lent GPU machines, which have JAX but no TensorFlow."""
    statements = submodules("hand3d_tf.jax")
    assert "hand3d_tf.jax.nets" in statements and "hand3d_tf.jax.losses" in statements
    assert loaded_after(statements, TENSORFLOW_PACKAGES) == []


def test_the_sample_preparation_imports_no_jax():
    """The trainer's render workers are forked before JAX starts and must not start it."""
    packages = TENSORFLOW_PACKAGES + ("jax", "jaxlib")
    assert loaded_after("import hand3d_tf.jax.samples", packages) == []
