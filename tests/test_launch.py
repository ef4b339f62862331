"""launch/*.sh: valid bash, loud failure on every unset variable, and the commands they run
(checked with stand-in `python` and `gcloud` programs that record their arguments)."""

import os
import subprocess

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
