"""launch/*.sh: valid bash, loud failure on every unset variable, and the commands they run
(checked with stand-in `python` and `gcloud` programs that record their arguments);
gpu_check.sh run for real in its dry-run mode (tiny shapes on the CPU)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = {
  "local.sh": {"IMAGES": "photos/*.png", "WORKDIR": "runs/x", "CONFIG": "configs/demo.py"},
  "gpu.sh": {
    "VENV": "VENV_DIR",
    "IMAGES": "photos/*.png",
    "WORKDIR": "runs/x",
    "CONFIG": "configs/default.py",
  },
  "gpu_check.sh": {"OUT": "RESULTS"},
  "tpu_vm.sh": {
    "PROJECT": "proj",
    "ZONE": "us-central2-b",
    "TPU_NAME": "singan",
    "ACCELERATOR": "v4-16",
    "RUNTIME": "tpu-ubuntu2204-base",
    "IMAGES_DIR": "photos",
    "RESULTS_DIR": "RESULTS",
    "WORKDIR": "/mnt/shared/w",
    "CONFIG": "configs/tpu.py",
  },
}


def stub_bin(tmp_path):
  """A bin/ with python and gcloud stand-ins that append their argv (one line) to calls.log."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for name in ("python", "gcloud"):
    (bin_dir / name).write_text(
      f'#!/bin/bash\necho "{name} $*" | tr "\\n" " " >> "{tmp_path}/calls.log"\n'
      f'echo >> "{tmp_path}/calls.log"\n'
      '[[ "$*" == *" describe "* ]] && exit 1\nexit 0\n'
    )
    (bin_dir / name).chmod(0o755)
  return bin_dir


def run(script, env_vars, tmp_path, unset=()):
  env = {"PATH": f"{stub_bin(tmp_path)}:/usr/bin:/bin", "HOME": str(tmp_path)}
  env.update(
    {
      k: v.replace("VENV_DIR", str(tmp_path / "venv")).replace("RESULTS", str(tmp_path / "results"))
      for k, v in env_vars.items()
      if k not in unset
    }
  )
  return subprocess.run(
    ["bash", os.path.join(ROOT, "launch", script)],
    env=env,
    capture_output=True,
    text=True,
    timeout=60,
  )


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_scripts_parse_and_are_strict(script):
  path = os.path.join(ROOT, "launch", script)
  assert subprocess.run(["bash", "-n", path]).returncode == 0
  text = open(path).read()
  assert "set -euo pipefail" in text
  for var in SCRIPTS[script]:
    assert f'"${{{var}?' in text, f"{script} must require {var} with ${{{var}?message}}"


@pytest.mark.parametrize("script,var", [(s, v) for s in sorted(SCRIPTS) for v in SCRIPTS[s]])
def test_an_unset_variable_fails_loudly_before_anything_runs(script, var, tmp_path):
  proc = run(script, SCRIPTS[script], tmp_path, unset=(var,))
  assert proc.returncode != 0
  assert var in proc.stderr and "set " in proc.stderr
  assert not (tmp_path / "calls.log").exists()  # nothing was created, copied or started


def test_local_runs_the_batched_cli(tmp_path):
  proc = run("local.sh", SCRIPTS["local.sh"], tmp_path)
  assert proc.returncode == 0, proc.stderr
  calls = (tmp_path / "calls.log").read_text()
  assert (
    "python -m singan_jax.main --mode=inpaint --config=configs/demo.py "
    "--config.images=photos/*.png --workdir=runs/x"
  ) in calls


def test_tpu_vm_creates_copies_installs_runs_everywhere_and_collects(tmp_path):
  proc = run("tpu_vm.sh", SCRIPTS["tpu_vm.sh"], tmp_path)
  assert proc.returncode == 0, proc.stderr
  calls = (tmp_path / "calls.log").read_text().splitlines()
  steps = [c.split()[4] for c in calls]
  assert steps == ["describe", "create", "scp", "scp", "ssh", "ssh", "scp"], calls
  assert "--accelerator-type v4-16 --version tpu-ubuntu2204-base" in calls[1]
  assert all("--worker=all" in c for c in calls[2:6])
  run_cmd = calls[5]
  assert "--multihost" in run_cmd and "--config=configs/tpu.py" in run_cmd
  assert "--workdir='/mnt/shared/w'" in run_cmd
  assert "--worker=0" in calls[6] and "singan:/mnt/shared/w" in calls[6]


def test_gpu_check_records_every_step_even_with_no_time_left(tmp_path):
  bin_dir = stub_bin(tmp_path)
  (bin_dir / "pypath").write_text(f'#!/bin/bash\necho "$PYTHONPATH" >> "{tmp_path}/pypath.log"\n')
  (bin_dir / "pypath").chmod(0o755)
  (tmp_path / "wheels").mkdir()
  (tmp_path / "wheels" / "carried-1.0-py3-none-any.whl").write_bytes(b"")
  env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": "python"}
  env.update(OUT="out", BUDGET_S="0", WHEELS=str(tmp_path / "wheels"))
  pypath = subprocess.run(
    ["bash", os.path.join(ROOT, "launch", "gpu_check.sh")],
    env={**env, "PYTHON": "pypath"},
    capture_output=True,
    text=True,
    timeout=60,
    cwd=tmp_path,
  )
  assert pypath.returncode == 0, pypath.stderr
  first = (tmp_path / "pypath.log").read_text().splitlines()[0].split(":")
  assert first == [ROOT, str(tmp_path / "wheels" / "carried-1.0-py3-none-any.whl")]
  proc = subprocess.run(
    ["bash", os.path.join(ROOT, "launch", "gpu_check.sh")],
    env=env,  # no time: every step skipped, each recorded
    capture_output=True,
    text=True,
    timeout=60,
    cwd=tmp_path,
  )
  assert (tmp_path / "out").is_dir()  # a relative OUT is the caller's, not the repo's
  assert proc.returncode == 0, proc.stderr
  calls = (tmp_path / "calls.log").read_text().splitlines()
  steps = [c.split()[5] for c in calls if "gpu_record add" in c]
  assert steps[:2] == ["env", "parity"] and steps[-2:] == ["bf16_tolerance", "full"], calls
  assert {"train_coarsest", "train_middle", "train_finest", "batch_finest"} <= set(steps)
  assert {"memory", "steploop_unrolled"} <= set(steps)
  assert all(c.split()[6] == "125" for c in calls if "gpu_record add" in c)  # skipped


@pytest.mark.slow
def test_gpu_check_dry_run_writes_a_record_per_step(tmp_path):
  out = tmp_path / "out"
  env = dict(os.environ, OUT=str(out), DRY_RUN="1", PYTHON=sys.executable, WHEELS=str(tmp_path))
  # Idle it needs well under a minute; on a loaded machine no step may time out or be skipped.
  env.update(BUDGET_S="1700", STEP_TIME_FACTOR="20")
  proc = subprocess.run(
    ["bash", os.path.join(ROOT, "launch", "gpu_check.sh")],
    env=env,
    capture_output=True,
    text=True,
    timeout=1800,
  )
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  with open(out / "results.jsonl", encoding="utf-8") as f:
    records = {r["step"]: r for r in map(json.loads, f)}
  assert list(records) == [
    "env",
    "parity",
    "train_coarsest",
    "memory",
    "batch_coarse",
    "steploop_unrolled",
    "dtype_bfloat16",
    "bf16_tolerance",
    "full",
  ]
  assert all(r["status"] == "ok" for r in records.values()), records
  assert records["env"]["result"]["backend"] == "cpu"
  assert records["parity"]["result"]["pytest"]["collected"] > 0  # collected, not run
  bf16 = records["bf16_tolerance"]["result"]["pytest"]  # the one tolerance test, passed
  assert bf16["passed"] == 1 and set(bf16) <= {"passed", "deselected"}, bf16
  train = records["train_coarsest"]["result"]
  assert set(train["jax_ms"]) == {"0"} and train["lean_ms"]["0"] > 0 and "faithful_ms" in train
  assert records["batch_coarse"]["result"]["ratio_b2_coarse"] > 0
  assert records["dtype_bfloat16"]["result"]["dtype"] == "bfloat16"
  assert records["steploop_unrolled"]["result"]["step_loop"] == "unrolled"
  memory = records["memory"]["result"]["cases"]
  assert [(c["size"], c["step_loop"]) for c in memory] == [(40, "unrolled"), (40, "scan")]
  assert all(c["xla_mib"] > 0 for c in memory)
  full = records["full"]["result"]["scales"]
  assert len(full) >= 2 and [s["scale"] for s in full] == list(range(len(full)))
  assert all(s["iterations"] == 5 and s["seconds"] >= s["compile_s"] - 1 for s in full)
  table = (out / "results.md").read_text()
  assert table.count("\n") == 2 + len(records) and "| full | ok |" in table
  assert "== full" in (out / "log.txt").read_text()


def test_gpu_record_reads_the_trainers_own_lines(tmp_path, caplog):
  from singan_jax.bench import gpu_record
  from singan_jax.training import monitor
  from singan_jax.training import preemption

  caplog.set_level("INFO")
  record = {"scale": 2, "seconds": 75.4, "compile_s": 12.5, "peak_device_bytes": 3 * 2**20}
  monitor.log_scale_done(record, 7, 2000)
  stopped = preemption.Preempted("SIGTERM", "w", 3, 1234, 2000)
  text = "\n".join(caplog.messages + [f"singan-jax: {stopped}", "1 passed, 3 deselected in 2s"])
  log = tmp_path / "full.log"
  log.write_text(text + '\n{"jax_ms": {"0": 1.5}}\n')
  got = gpu_record.add(str(tmp_path), "full", 124, 300.0, str(log))
  assert got["status"] == "stopped"  # timeout's SIGTERM, saved by the trainer
  result = got["result"]
  assert result["scales"] == [
    {
      "scale": 2,
      "iterations": 2000,
      "seconds": 75,
      "compile_s": 12.5,
      "it_per_s": 31.8,
      "peak_mib": 3,
    }
  ]
  assert result["stopped"] == {"on": "SIGTERM", "scale": 3, "iteration": 1234}
  assert result["pytest"] == {"passed": 1, "deselected": 3} and result["jax_ms"] == {"0": 1.5}
  assert "| full | stopped | 300.0 |" in (tmp_path / "results.md").read_text()
