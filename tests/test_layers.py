"""The layers import downward: each top-level module or package of singan_jax sits in one
layer of LAYERS and imports only its own layer and those below; the two library packages
(inpainting, training) do not import each other."""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "singan_jax")
LAYERS = (
  # the bottom: the model, its primitives and the config schema (core), image files (io), the
  # named PRNG streams, the PyTorch port, the turning of refusals into flags (cli), the bundled
  # example (data)
  ("core", "io", "rng", "reference", "cli", "data"),
  # the library: training a pyramid, inpainting with one; siblings that never meet
  ("inpainting", "training"),
  # the orchestration: the flat config, inputs and jobs, workdirs, the application modes
  ("config", "configs", "inputs", "workdir", "jobs", "modes", "pipeline", "distributed"),
  # the commands and the Python API
  ("__init__", "main", "convert", "evaluate", "bench", "api", "ui"),
)
SIBLINGS = ("inpainting", "training")


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


def _files():
  """(top-level name, path) of every .py file in the package."""
  for root, _, files in os.walk(PACKAGE):
    for name in sorted(files):
      if name.endswith(".py"):
        rel = os.path.relpath(os.path.join(root, name), PACKAGE)
        yield rel.split(os.sep)[0].removesuffix(".py"), os.path.join(root, name)


def _layer(name: str) -> int:
  return next(i for i, layer in enumerate(LAYERS) if name in layer)


def test_every_module_has_a_layer():
  names = {name for name, _ in _files()}
  placed = {name for layer in LAYERS for name in layer}
  assert names - placed == set(), "place these in LAYERS"
  assert len(names) > 20  # the walk found the package


def test_no_module_imports_a_layer_above_its_own():
  upward = {
    (os.path.relpath(path, PACKAGE), m)
    for name, path in _files()
    for m in _imported(path)
    if m != name and _layer(m) > _layer(name)
  }
  assert not upward, f"upward imports: {sorted(upward)}"


def test_the_library_packages_do_not_import_each_other():
  crossing = {
    (os.path.relpath(path, PACKAGE), m)
    for name, path in _files()
    if name in SIBLINGS
    for m in _imported(path) & set(SIBLINGS) - {name}
  }
  assert not crossing, f"inpainting and training import each other: {sorted(crossing)}"


def test_the_check_sees_an_upward_import(tmp_path):
  path = tmp_path / "x.py"
  path.write_text("from singan_jax.evaluate import metrics\nimport singan_jax.pipeline\n")
  assert _imported(str(path)) == {"evaluate", "pipeline"}
  assert _layer("evaluate") > _layer("pipeline") > _layer("training") > _layer("core")
