"""The Python scripts that tests hand to a fresh interpreter (multi-device runs) are not seen by
ruff, and the slow tests that run them run only in CI: this fast test checks that each one
parses and binds every global name it uses (an unimported module is a NameError 20 minutes in)."""

import ast
import builtins
import glob
import os
import symtable
import textwrap

TESTS = os.path.dirname(os.path.abspath(__file__))


def _scripts():
  """(file, line, source) of every module-level string constant named *_SCRIPT in tests/."""
  for path in sorted(glob.glob(os.path.join(TESTS, "*.py"))):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in tree.body:
      if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
        continue
      names = [t.id for t in node.targets if isinstance(t, ast.Name)]
      if any(n.endswith("_SCRIPT") for n in names) and isinstance(node.value.value, str):
        yield os.path.basename(path), node.lineno, textwrap.dedent(node.value.value)


def _unbound(source: str) -> set:
  """Global names the script reads but never binds (assignment, import, def) and that are no
  builtins, in the module body and in every function or comprehension it contains."""
  top = symtable.symtable(source, "<script>", "exec")
  bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
  bound |= {c.get_name() for c in top.get_children() if c.get_type() in ("function", "class")}
  used, stack = set(), [top]
  while stack:
    table = stack.pop()
    stack.extend(table.get_children())
    for sym in table.get_symbols():
      if sym.is_referenced() and (table is top or sym.is_global()):
        used.add(sym.get_name())
  return used - bound - set(dir(builtins))


def test_there_are_scripts_to_check():
  assert len(list(_scripts())) >= 2


def test_every_embedded_script_binds_the_names_it_uses():
  problems = [
    f"{f}:{line}: {sorted(names)}" for f, line, src in _scripts() if (names := _unbound(src))
  ]
  assert not problems, "scripts using names they never import or define: " + "; ".join(problems)


def test_the_check_finds_an_unimported_module():
  assert _unbound("import os\nx = os.getcwd()\nprint(defaults.settings(x))\n") == {"defaults"}
  assert _unbound("def f():\n  return np.zeros(3)\nf()\n") == {"np"}
  assert not _unbound("import numpy as np\ndef f():\n  return np.zeros(3)\n[i for i in f()]\n")
