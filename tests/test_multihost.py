"""A 2-process run on localhost (jax.distributed, coordinator 127.0.0.1): one mesh over both
processes' devices; it completes and writes every output exactly once."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from helpers import tiny_flags, write_pair

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = tiny_flags(max_size=20, min_size=16, niter=2, log_every=None)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_share_a_mesh_and_write_each_output_once(tmp_path):
  data = tmp_path / "photos"
  data.mkdir()
  for i in range(3):  # 3 images on 2 devices: one pad; process i % 2 writes image i
    write_pair(data, f"im{i}", 16, 20, seed=i)
  work = tmp_path / "work"
  port = free_port()
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", XLA_FLAGS="")
  procs = [
    subprocess.Popen(
      [
        sys.executable,
        "-m",
        "singan_jax.main",
        "--mode=inpaint",
        "--config=configs/demo.py",
        f"--config.images={data}/*.png",
        f"--workdir={work}",
        "--multihost",
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        f"--process_id={p}",
        "--alsologtostderr",
        *TINY,
      ],
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for p in range(2)
  ]
  try:
    outs = [p.communicate(timeout=600) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-4000:]
  logs = outs[0][1] + outs[1][1]
  assert "process 0 of 2, 1 local / 2 global devices" in logs
  written = re.findall(r"process (\d) wrote (\S+)", logs)
  expected = {str(work / f"im{i}" / "inpainted.png"): str(i % 2) for i in range(3)}
  assert sorted(path for _, path in written) == sorted(expected)  # each once
  assert all(expected[path] == proc for proc, path in written)  # by its owner
  for path in expected:
    assert os.path.getsize(path) > 0
  status = json.loads((work / "status.json").read_text())
  assert [s["status"] for s in status] == ["done"] * 3
  assert "3 of 3 image(s) done, 0 failed" in outs[0][0] and "image(s) done" not in outs[1][0]
  buckets = [d for d in os.listdir(work) if d.startswith("bucket_")]
  assert len(buckets) == 1
  assert sorted(os.listdir(work / buckets[0] / "scales")) == ["0", "1"]
