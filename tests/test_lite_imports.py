"""hand3d_tf.lite runs where only a TFLite runtime is installed, and the package does not
lean on the benchmark tools: data flows hand3d_tf.lite -> benchmarks, never back."""

from __future__ import annotations

import ast
import pathlib

from tests.helpers import tensorflow_after

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "hand3d_tf"
LITE_MODULES = sorted(p.stem for p in (PACKAGE / "lite").glob("*.py") if p.stem != "__init__")


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # "from hand3d_tf import glue" imports hand3d_tf.glue: keep both candidates.
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_every_lite_module_imports_no_tensorflow():
    assert {"sidecar", "runner", "nets", "evalset", "backend", "ort"} <= set(LITE_MODULES)
    modules = ", ".join(f"hand3d_tf.lite.{m}" for m in LITE_MODULES)
    assert tensorflow_after(f"import hand3d_tf.lite, {modules}") == []


def test_the_runtime_and_the_tflite_accuracy_import_no_tensorflow():
    """What moved out of lite/ (issue 29) stays TensorFlow-free: the inference runtime and
    the TFLite accuracy protocols (hand3d_tf.evaluation.tflite_accuracy)."""
    runtime = sorted(p.stem for p in (PACKAGE / "runtime").glob("*.py") if p.stem != "__init__")
    assert {"stages", "backends", "loader"} <= set(runtime)
    modules = ", ".join(f"hand3d_tf.runtime.{m}" for m in runtime)
    statements = f"import hand3d_tf.runtime, {modules}, hand3d_tf.evaluation.tflite_accuracy"
    assert tensorflow_after(statements) == []


def test_nothing_in_the_package_imports_benchmarks():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in sorted(_imported_modules(path))
        if name.split(".")[0] == "benchmarks"
    ]
    assert offenders == []


def test_lite_imports_only_the_tensorflow_free_core():
    """Within hand3d_tf, lite/ may import only modules that are TensorFlow-free by design."""
    allowed = ("hand3d_tf.lite", "hand3d_tf.constants", "hand3d_tf.files", "hand3d_tf.glue",
               "hand3d_tf.keypoints", "hand3d_tf.geometry", "hand3d_tf.atomic",
               "hand3d_tf.quiet")  # fmt: skip
    imported = {
        name for path in (PACKAGE / "lite").glob("*.py") for name in _imported_modules(path)
    }
    parents = {a.rsplit(".", 1)[0] for a in allowed}  # e.g. hand3d_tf.evaluation itself
    bad = sorted(
        n
        for n in imported
        if n.startswith("hand3d_tf.") and not n.startswith(allowed) and n not in parents
    )
    assert bad == []
