"""Worst parity error per test and dtype from a PARITY_REPORT log.

PARITY_REPORT=/tmp/parity.jsonl python -m pytest -q -m parity
python -m singan_jax.reference.report /tmp/parity.jsonl
"""

import collections
import json
import sys


def summarise(path: str) -> str:
  """One line per (test file, test) with its worst error / tolerance, then per dtype x kind."""
  worst = collections.defaultdict(lambda: (0.0, 0.0, ""))
  overall = collections.defaultdict(lambda: (0.0, ""))
  with open(path, encoding="utf-8") as f:
    for line in f:
      r = json.loads(line)
      test = r["test"].split("[")[0]
      key = (test, r["dtype"], r["kind"])
      if r["err"] >= worst[key][0]:
        worst[key] = (r["err"], r["tol"], f"{r['test']} {r['name']}")
      if r["err"] >= overall[(r["dtype"], r["kind"])][0]:
        overall[(r["dtype"], r["kind"])] = (r["err"], f"{r['test']} {r['name']}")
  lines = [f"{'test':60s} {'dtype':8s} {'kind':8s} {'worst':>9s} {'tol':>7s}"]
  for (test, dtype, kind), (err, tol, _) in sorted(worst.items()):
    lines.append(f"{test:60s} {dtype:8s} {kind:8s} {err:9.2e} {tol:7.0e}")
  lines.append("")
  for (dtype, kind), (err, where) in sorted(overall.items()):
    lines.append(f"worst {dtype} {kind}: {err:.2e} at {where}")
  return "\n".join(lines)


if __name__ == "__main__":
  print(summarise(sys.argv[1]))
