"""The images a run works on: one job per image (a single --config.image is a list of one), from
a glob or a manifest, and the buckets of jobs whose pyramids share their shapes.

The single image keeps its workdir layout: it trains in the workdir itself and writes
inpainted.png with filled.png, generated.png and soft_mask.png beside it (an application mode:
its file, e.g. harmonized.png). A batch trains each bucket in workdir/bucket_* and writes each
image's output (default workdir/NAME/inpainted.png, or workdir/NAME/harmonized.png etc.).
"""

import csv
import dataclasses
import glob
import hashlib
import json
import os

import numpy as np

from singan_jax import cli
from singan_jax import inputs
from singan_jax.core import applications
from singan_jax.core import errors
from singan_jax.core import pyramid
from singan_jax.io import images as image_io

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")
PATH_COLUMNS = ("image", "mask", "ref_image", "ref_mask")  # relative to the manifest's folder
SIDE_OUTPUTS = ("filled.png", "generated.png", "soft_mask.png")  # beside a single inpainted.png


@dataclasses.dataclass
class Job:
  """One image of a run and what became of it."""

  index: int  # position in the job list: keys the image's random draws
  image: str
  mask: str
  output: str  # the output's path: the inpainted image, or the application mode's file
  status: str = "pending"  # pending | done | failed
  reason: str = ""
  side_outputs: bool = False  # also write SIDE_OUTPUTS beside output (the single-image layout)
  pixels: np.ndarray | None = dataclasses.field(default=None, repr=False)  # (H, W, 3) uint
  hole: np.ndarray | None = dataclasses.field(default=None, repr=False)  # (H, W) bool
  plan: pyramid.ScalePlan | None = dataclasses.field(default=None, repr=False)  # None: no pyramid
  ref_image: str = ""  # the application modes' reference (a manifest row's, else the config's)
  ref_mask: str = ""

  def fail(self, reason: str) -> None:
    self.status, self.reason = "failed", reason
    self.pixels = self.hole = self.plan = None

  def outputs(self, mode: str) -> list[str]:
    """Paths this job writes in `mode` (train and sample write the workdir)."""
    if mode in applications.BY_NAME:
      return [self.output]
    if mode != "inpaint":
      return []
    folder = os.path.dirname(self.output)
    side = [os.path.join(folder, n) for n in SIDE_OUTPUTS] if self.side_outputs else []
    return [*side, self.output]

  def record(self) -> dict:
    return {
      "index": self.index,
      "image": self.image,
      "mask": self.mask,
      "output": self.output,
      "status": self.status,
      "reason": self.reason,
    }


@dataclasses.dataclass
class Bucket:
  """Jobs whose pyramids have the same shapes: they train as one batch."""

  plan: pyramid.ScalePlan  # the first job's plan (shapes shared by all)
  jobs: list
  size: tuple | None = None  # (H, W) every image was resized to (common_size), or None

  @property
  def name(self) -> str:
    """Directory name: finest shape + a hash of the members, so another batch never resumes it."""
    h, w = self.plan.shapes[-1]
    digest = hashlib.sha256(
      json.dumps([[j.index, j.image, j.mask] for j in self.jobs]).encode()
    ).hexdigest()[:10]
    return f"bucket_{h}x{w}_{self.plan.num_scales}s_{digest}"


# -- job lists -----------------------------------------------------------------------------


def output_name(mode: str) -> str:
  """A job's output file name in `mode`: inpainted.png, or the application mode's file."""
  return applications.BY_NAME[mode].output if mode in applications.BY_NAME else "inpainted.png"


def from_config(cfg, workdir: str, mode: str = "inpaint") -> list[Job]:
  """The jobs of a run: --config.images, else --config.image (or the bundled example). A
  job's references are its manifest row's ref_image / ref_mask, else --config.ref_image /
  --config.ref_mask."""
  if cfg.images:
    jobs = list_jobs(cfg.images, workdir, mode)
  else:
    image, mask = (cfg.image, cfg.mask) if cfg.image else image_io.example_paths()
    side = mode == "inpaint"
    jobs = [Job(0, image, mask, os.path.join(workdir, output_name(mode)), side_outputs=side)]
  for job in jobs:
    job.ref_image, job.ref_mask = job.ref_image or cfg.ref_image, job.ref_mask or cfg.ref_mask
  return jobs


def _mask_beside(image_path: str) -> str:
  """NAME_mask.png (or NAME_mask.<image's extension>) beside NAME.<ext>; '' if none."""
  stem, ext = os.path.splitext(image_path)
  for candidate in (f"{stem}_mask.png", f"{stem}_mask{ext}"):
    if os.path.exists(candidate):
      return candidate
  return ""


def _manifest_line(path: str, line_no: int, line: str) -> dict:
  """One JSON-lines row, or a UsageError naming the line."""
  example = 'write one object per line, e.g. {"image": "a.png", "mask": "a_mask.png"}'
  try:
    row = json.loads(line)
  except json.JSONDecodeError as e:
    raise inputs.UsageError(
      f"manifest {path} line {line_no} is not JSON ({e.msg}): {example}"
    ) from e
  if not isinstance(row, dict) or "image" not in row:
    raise inputs.UsageError(f"manifest {path} line {line_no} has no 'image' field: {example}")
  return row


def read_manifest(path: str) -> list[dict]:
  """Rows {image, mask, output, ref_image, ref_mask} of a CSV (with a header) or JSON-lines
  manifest; every column but image may be missing or empty.

  Relative paths (PATH_COLUMNS) are relative to the manifest's directory; output is kept as
  given (relative outputs are under the workdir, list_jobs).
  """
  base = os.path.dirname(os.path.abspath(path))
  with open(path, encoding="utf-8") as f:
    if path.endswith(".csv"):
      reader = csv.DictReader(f)
      if "image" not in (reader.fieldnames or ()):
        raise inputs.UsageError(
          f"manifest {path} has no column 'image': its first line must be the header "
          "image,mask,output (mask and output optional; ref_image, ref_mask for the "
          "application modes)"
        )
      rows = [dict(r) for r in reader]
    else:
      rows = [_manifest_line(path, i, ln) for i, ln in enumerate(f, 1) if ln.strip()]
  resolve = lambda p: p if not p or os.path.isabs(p) else os.path.join(base, p)
  field = lambda r, k: str(r.get(k) or "").strip()
  return [
    {**{k: resolve(field(r, k)) for k in PATH_COLUMNS}, "output": field(r, "output")} for r in rows
  ]


def _rows(spec: str) -> list[dict]:
  """The rows of a manifest (.csv, .jsonl) or of a glob (masks NAME_mask.png beside)."""
  if spec.endswith(MANIFEST_SUFFIXES):
    if not os.path.isfile(spec):
      raise inputs.UsageError(
        f"manifest {spec} does not exist: give an existing .csv/.jsonl file "
        "or a glob such as 'photos/*.png'"
      )
    return read_manifest(spec)
  paths = sorted(
    p
    for p in glob.glob(os.path.expanduser(spec))
    if os.path.isfile(p) and not os.path.splitext(os.path.basename(p))[0].endswith("_mask")
  )
  return [{"image": p, "mask": _mask_beside(p), "output": ""} for p in paths]


def list_jobs(spec: str, workdir: str, mode: str = "inpaint") -> list[Job]:
  """Jobs of --config.images: a manifest (.csv, .jsonl) or a glob (masks NAME_mask.png).

  Outputs default to workdir/<image name>/inpainted.png (an application mode: its file,
  output_name); relative outputs are under workdir.
  A job whose output path is taken by an earlier job fails (never overwrite silently).
  """
  rows = _rows(spec)
  if not rows:
    raise inputs.UsageError(
      f"--config.images={spec!r} matches no image: give a glob such as "
      "'photos/*.png' (masks beside them as NAME_mask.png) or a manifest"
    )
  jobs, taken = [], {}
  for i, r in enumerate(rows):
    name = os.path.splitext(os.path.basename(r["image"]))[0] or f"image_{i}"
    out = r["output"] or os.path.join(name, output_name(mode))
    out = out if os.path.isabs(out) else os.path.join(workdir, out)
    job = Job(i, r["image"], r["mask"], out)
    job.ref_image, job.ref_mask = r.get("ref_image", ""), r.get("ref_mask", "")
    key = os.path.abspath(out)
    if key in taken:
      job.fail(
        f"output {out} is also job {taken[key]}'s output: give distinct outputs "
        "(manifest column 'output')"
      )
    else:
      taken[key] = i
    jobs.append(job)
  return jobs


# -- loading and buckets -------------------------------------------------------------------


def load_job(job: Job, cfg, mode: str = "inpaint", size=None) -> pyramid.ScalePlan | None:
  """Reads and checks a job's image and mask (inputs.check_image); returns its scale plan
  (None when it needs no pyramid), or fails the job with the check's message."""
  try:
    job.pixels, job.hole, job.plan = inputs.check_image(cfg, mode, job.image, job.mask, size)
  except (errors.Error, OSError) as e:  # usage and image errors among the refusals
    job.fail(cli.message(e))
  return job.plan


def load_jobs(jobs: list[Job], cfg, mode: str = "inpaint", size=None) -> None:
  """Loads and checks every pending job, resized to size (common_size) if given."""
  for job in jobs:
    if job.status == "pending":
      load_job(job, cfg, mode, size)


def make_buckets(jobs: list[Job], size=None) -> list[Bucket]:
  """Groups the loaded pending jobs that need a pyramid by pyramid shape, in job order."""
  buckets = {}
  for job in jobs:
    if job.status == "pending" and job.plan is not None:
      key = (job.plan.shapes, job.plan.nfc, job.plan.min_nfc)
      buckets.setdefault(key, Bucket(job.plan, [], size)).jobs.append(job)
  return list(buckets.values())
