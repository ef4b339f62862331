"""The layers import downward: the library (core, io, inpainting, training) never imports the
commands above it (api, ui, evaluate, bench, main, convert, the modes, the orchestration)."""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "singan_jax")
LIBRARY = ("core", "io", "inpainting", "training")
ABOVE = (
  "api",
  "ui",
  "evaluate",
  "bench",
  "main",
  "convert",
  "modes",
  "pipeline",
  "jobs",
  "workdir",
  "inputs",
)


def _imported(path: str) -> set:
  """The singan_jax modules (first component under singan_jax) that a file imports."""
  tree = ast.parse(open(path, encoding="utf-8").read())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("singan_jax"):
      parts = node.module.split(".")[1:]
      out |= {parts[0]} if parts else {a.name for a in node.names}
    elif isinstance(node, ast.Import):
      out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("singan_jax.")}
  return out


def _library_files():
  for layer in LIBRARY:
    for root, _, files in os.walk(os.path.join(PACKAGE, layer)):
      for name in sorted(files):
        if name.endswith(".py"):
          yield os.path.relpath(os.path.join(root, name), PACKAGE)


def test_the_library_does_not_import_the_layers_above_it():
  found = {
    (rel, m)
    for rel in _library_files()
    for m in _imported(os.path.join(PACKAGE, rel))
    if m in ABOVE
  }
  assert not found, f"upward imports: {sorted(found)}"
  assert len(list(_library_files())) > 30  # the walk found the library


def test_the_check_sees_an_upward_import(tmp_path):
  path = tmp_path / "x.py"
  path.write_text("from singan_jax.evaluate import metrics\nimport singan_jax.pipeline\n")
  assert _imported(str(path)) == {"evaluate", "pipeline"}
