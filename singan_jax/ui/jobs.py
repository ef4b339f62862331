"""The web page's worker: a photo and its hole become one command-line run in its own process.

Each (photo, hole, budget) gets a folder under the jobs folder, named by their hash, so the same
inputs again find their trained pyramid and only inpaint. The run is the command line itself
(`python -m singan_jax.main --mode=inpaint`), so the page shows its checks and messages word
for word, and the page stays live while it trains; its log lines give the progress.
"""

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
import threading

import numpy as np

from singan_jax import config as config_lib
from singan_jax import configs
from singan_jax.io import images as image_io

BUDGETS = ("demo", "default", "custom")  # custom: the demo's pyramid, iterations per scale given
_PROGRESS = re.compile(r"scale (\d+)/(\d+) it (\d+)/(\d+) .*ETA (\S+)")
_ERROR = "singan-jax: error: "


def budget_flags(budget: str, iterations: int | None = None) -> list:
  """--config flags over the paper's defaults (config.py) for a budget of BUDGETS."""
  if budget not in BUDGETS:
    raise ValueError(f"budget {budget!r} is not one of {', '.join(BUDGETS)}")
  if budget == "default":
    return []
  demo, paper = configs.demo(), configs.default()
  fields = {k: v for k, v in demo.items() if v != paper[k]}
  if budget == "custom":
    if not iterations or iterations < 1:
      raise ValueError("custom budget: give at least 1 iteration per scale")
    fields["niter"] = int(iterations)
    fields["checkpoint_every"] = min(demo.checkpoint_every, int(iterations))
    fields["log_every"] = min(demo.log_every, int(iterations))
  return [f"--config.{k}={v}" for k, v in fields.items()]


def hole_of(layers: list, shape) -> np.ndarray:
  """(H, W) bool: where any painted layer (RGBA, as the editor returns them) is not clear."""
  hole = np.zeros(shape[:2], bool)
  for layer in layers or []:
    layer = np.asarray(layer)
    if layer.ndim == 3 and layer.shape[2] == 4 and layer.shape[:2] == hole.shape:
      hole |= layer[..., 3] > 0
  return hole


@dataclasses.dataclass
class Job:
  """One page request's files: folder/photo.png, folder/mask.png, the workdir folder/run."""

  folder: str

  @property
  def photo(self):
    return os.path.join(self.folder, "photo.png")

  @property
  def mask(self):
    return os.path.join(self.folder, "mask.png")

  @property
  def workdir(self):
    return os.path.join(self.folder, "run")

  @property
  def output(self):
    return os.path.join(self.workdir, "inpainted.png")

  def newest_sheet(self) -> str | None:
    """The finest scale's sheet written so far (sheets/scale_N.png), or None."""
    folder = os.path.join(self.workdir, "sheets")
    found = (
      re.findall(r"scale_(\d+)\.png", " ".join(os.listdir(folder))) if os.path.isdir(folder) else []
    )
    return os.path.join(folder, f"scale_{max(map(int, found))}.png") if found else None


def prepare(jobs_dir: str, photo: np.ndarray, mask: np.ndarray, flags: list) -> Job:
  """Writes the photo (uint8 (H, W, 3)) and mask (uint8 or bool (h, w), white = hole) into the
  folder that their bytes and the run's flags name."""
  photo = np.ascontiguousarray(np.asarray(photo)[..., :3], np.uint8)
  mask = np.asarray(mask)
  mask = np.where(mask, 255, 0).astype(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
  digest = hashlib.sha256()
  for part in (photo.shape, photo.tobytes(), mask.shape, mask.tobytes(), flags):
    digest.update(repr(part).encode() if not isinstance(part, bytes) else part)
  job = Job(os.path.join(jobs_dir, digest.hexdigest()[:16]))
  if not os.path.exists(job.photo):
    image_io.write_image(job.photo, photo)
  image_io.write_image(job.mask, mask)
  return job


class Run:
  """The command line inpainting one job, in its own process; stderr collected by a thread."""

  def __init__(self, job: Job, flags: list):
    command = [
      sys.executable,
      "-m",
      "singan_jax.main",
      "--mode=inpaint",
      f"--config={config_lib.__file__}",
      f"--workdir={job.workdir}",
      f"--config.image={job.photo}",
      f"--config.mask={job.mask}",
      *flags,
    ]
    self.job, self.lines = job, []
    self.process = subprocess.Popen(
      command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.process.stderr:
      self.lines.append(line.rstrip("\n"))

  def running(self) -> bool:
    return self.process.poll() is None

  def wait(self) -> int:
    status = self.process.wait()
    self._reader.join()
    return status

  def stop(self) -> None:
    """SIGTERM: the command saves where it is; the same inputs again resume there."""
    if self.running():
      self.process.terminate()

  def progress(self) -> tuple[float, str]:
    return progress_of(self.lines)

  def error(self) -> str:
    return error_of(self.lines)


def progress_of(lines: list) -> tuple[float, str]:
  """(fraction of the run's iterations done, a line for the page) from the newest log line."""
  for line in reversed(lines):
    m = _PROGRESS.search(line)
    if m:
      n, stop, done, niter = map(int, m.groups()[:4])
      fraction = (n * niter + done) / ((stop + 1) * niter)
      return fraction, f"scale {n}/{stop}: iteration {done}/{niter}, this scale's ETA {m[5]}"
    if "already trained" in line:
      return 1.0, "trained pyramid found: inpainting only"
  return 0.0, "starting (compiling the first scale)"


def error_of(lines: list) -> str:
  """The command's one-line refusal, or the tail of its log when it failed otherwise."""
  for line in reversed(lines):
    if line.startswith(_ERROR):
      return line[len(_ERROR) :]
  return "the run failed: " + " | ".join(lines[-5:])
