r"""Results of launch/gpu_check.sh, written as it goes: one JSON line per step in
OUT/results.jsonl and the markdown table OUT/results.md rebuilt from it after every step.

  python -m singan_jax.bench.gpu_record env                      # one JSON line: versions
  python -m singan_jax.bench.gpu_record add OUT STEP RC SECONDS LOG

`add` reads a step's log: the last line that is a JSON object (what every bench prints
last), pytest's summary counts, and for a training run the per-scale lines of
`scale n/N done: ...` and where a stopped run stopped. Status: ok, failed (rc), timeout
(killed by `timeout`: rc 124 or 137), stopped (the trainer said where it stopped after
saving: its SIGTERM handling) or skipped (rc 125: no time was left for it).
"""

import json
import os
import re
import sys

DONE = re.compile(
  r"scale (\d+)/\d+ done: (\d+) iterations in (?:(\d+)m)?(\d+)s \(compile ([\d.]+)s, "
  r"([\d.]+) it/s(?:, peak device memory (\d+) MiB)?\)"
)
PROGRESS = re.compile(r"scale (\d+)/\d+ it (\d+)/(\d+)\s+([\d.]+) it/s")
STOPPED = re.compile(r"stopped on (.+?) at scale (\d+), iteration (\d+)/(\d+)")
PYTEST = re.compile(r"(\d+)(?:/\d+)? (passed|failed|skipped|errors?|deselected|tests? collected)")


def versions() -> dict:
  """Device and library versions of this machine, as seen by JAX and torch."""
  import platform  # pylint: disable=g-import-not-at-top
  from importlib import metadata  # pylint: disable=g-import-not-at-top

  import jax  # pylint: disable=g-import-not-at-top

  out = {"python": platform.python_version(), "backend": jax.default_backend()}
  out["devices"] = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
  for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "ml_collections", "torch"):
    try:
      out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      out[name] = None
  try:
    import torch  # pylint: disable=g-import-not-at-top

    out["torch_cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
  except ImportError:
    pass
  return out


def parse_log(text: str) -> dict:
  """What a step's log says: its last JSON object, pytest counts, training progress."""
  result = {}
  for line in reversed(text.splitlines()):
    line = line.strip()
    if line.startswith("{") and line.endswith("}"):
      try:
        result = json.loads(line)
        break
      except ValueError:
        continue
  counts = {}
  for line in text.splitlines()[-5:]:
    for count, what in PYTEST.findall(line):
      counts["collected" if "collected" in what else what.rstrip("s")] = int(count)
  if counts:
    result["pytest"] = counts
  scales = [
    {
      "scale": int(m[0]),
      "iterations": int(m[1]),
      "seconds": 60 * int(m[2] or 0) + int(m[3]),
      "compile_s": float(m[4]),
      "it_per_s": float(m[5]),
      **({"peak_mib": int(m[6])} if m[6] else {}),
    }
    for m in DONE.findall(text)
  ]
  if scales:
    result["scales"] = scales
  progress = PROGRESS.findall(text)
  if progress:
    n, it, niter, rate = progress[-1]
    result["last_progress"] = {"scale": int(n), "iteration": int(it), "niter": int(niter)}
    result["last_progress"]["it_per_s"] = float(rate)
  stopped = STOPPED.search(text)
  if stopped:
    result["stopped"] = {"on": stopped[1], "scale": int(stopped[2]), "iteration": int(stopped[3])}
  return result


def status_of(rc: int) -> str:
  if rc == 0:
    return "ok"
  if rc in (124, 137):
    return "timeout"
  return "stopped" if rc == 143 else "failed"


def summary(result: dict, width: int = 400) -> str:
  """One table cell: the result's figures, nested dicts flattened, cut at `width`."""
  parts = []
  for key, value in sorted(result.items()):
    if isinstance(value, list) and value and isinstance(value[0], dict):
      value = "; ".join(" ".join(f"{k} {v}" for k, v in item.items()) for item in value)
    elif isinstance(value, dict):
      value = ", ".join(f"{k} {v}" for k, v in value.items())
    parts.append(f"{key}: {value}")
  text = " / ".join(parts).replace("|", "/")
  return text if len(text) <= width else text[: width - 3] + "..."


def write_table(out: str) -> None:
  """OUT/results.md from OUT/results.jsonl."""
  with open(os.path.join(out, "results.jsonl"), encoding="utf-8") as f:
    rows = [json.loads(line) for line in f if line.strip()]
  lines = ["| step | status | seconds | result |", "|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['step']} | {r['status']} | {r['seconds']} | {summary(r['result'])} |")
  with open(os.path.join(out, "results.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")


def add(out: str, step: str, rc: int, seconds: float, log: str) -> dict:
  """Appends the step's record to OUT/results.jsonl and rebuilds OUT/results.md."""
  text = ""
  if os.path.exists(log):
    with open(log, encoding="utf-8", errors="replace") as f:
      text = f.read()
  result = parse_log(text)
  status = "stopped" if "stopped" in result else "skipped" if rc == 125 else status_of(rc)
  record = {"step": step, "status": status, "rc": rc, "seconds": round(seconds, 1)}
  record["result"] = result
  with open(os.path.join(out, "results.jsonl"), "a", encoding="utf-8") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")
  write_table(out)
  return record


def main(argv) -> None:
  if len(argv) == 2 and argv[1] == "env":
    print(json.dumps(versions(), sort_keys=True), flush=True)
  elif len(argv) == 7 and argv[1] == "add":
    record = add(argv[2], argv[3], int(argv[4]), float(argv[5]), argv[6])
    print(f"== {record['step']}: {record['status']} in {record['seconds']} s", flush=True)
  else:
    sys.exit(f"usage: {argv[0]} env | add OUT STEP RC SECONDS LOG")


if __name__ == "__main__":
  main(sys.argv)
