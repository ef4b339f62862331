"""Many images in one program: jobs, buckets, a device mesh over every host, per-image outputs.

Jobs come from a glob or a manifest. Images whose scale plans share their shapes form a bucket
that trains as ONE vmapped batch (trainer.train) with its image axis sharded over a Mesh of all
devices of all hosts (padded to a multiple of the device count; the pad is dropped). Each image
is then inpainted at its own input resolution by the one process that owns it.
"""

import csv
import dataclasses
import glob
import hashlib
import json
import os

from absl import logging
import jax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np

from singan_jax import config as config_lib
from singan_jax.io import images as image_io
from singan_jax.inpaint import blend as blend_lib
from singan_jax.inpaint import inpaint as inpaint_lib
from singan_jax.core import pyramid
from singan_jax.core import resize as resize_lib
from singan_jax.train import loop as trainer

MESH_AXIS = "images"
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")
MIN_KNOWN_SHARE = 0.05  # as the single-image CLI: keep at least 5% of an image known


@dataclasses.dataclass
class Job:
  """One image of a batched run and what became of it."""

  index: int  # position in the job list: keys the image's random draws
  image: str
  mask: str
  output: str  # the inpainted image's path
  status: str = "pending"  # pending | done | failed
  reason: str = ""
  pixels: np.ndarray | None = dataclasses.field(default=None, repr=False)  # (H, W, 3) uint
  hole: np.ndarray | None = dataclasses.field(default=None, repr=False)  # (H, W) bool

  def fail(self, reason: str) -> None:
    self.status, self.reason = "failed", reason
    self.pixels = self.hole = None

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


# -- jobs ----------------------------------------------------------------------------------


def _mask_beside(image_path: str) -> str:
  """NAME_mask.png (or NAME_mask.<image's extension>) beside NAME.<ext>; '' if none."""
  stem, ext = os.path.splitext(image_path)
  for candidate in (f"{stem}_mask.png", f"{stem}_mask{ext}"):
    if os.path.exists(candidate):
      return candidate
  return ""


def read_manifest(path: str) -> list[dict]:
  """Rows {image, mask, output} of a CSV (with a header) or JSON-lines manifest.

  Relative image and mask paths are relative to the manifest's directory; output may be empty.
  """
  base = os.path.dirname(os.path.abspath(path))
  with open(path, encoding="utf-8") as f:
    if path.endswith(".csv"):
      reader = csv.DictReader(f)
      missing = {"image", "mask"} - set(reader.fieldnames or ())
      if missing:
        raise ValueError(
          f"manifest {path} has no column {sorted(missing)}: its first line "
          "must be the header image,mask,output (output optional)"
        )
      rows = [dict(r) for r in reader]
    else:
      rows = []
      for line_no, line in enumerate(f, 1):
        if not line.strip():
          continue
        try:
          row = json.loads(line)
        except json.JSONDecodeError as e:
          raise ValueError(
            f"manifest {path} line {line_no} is not JSON ({e.msg}): write one "
            'object per line, e.g. {"image": "a.png", "mask": "a_mask.png"}'
          ) from e
        if not isinstance(row, dict) or "image" not in row:
          raise ValueError(
            f"manifest {path} line {line_no} has no 'image' field: write one "
            'object per line, e.g. {"image": "a.png", "mask": "a_mask.png"}'
          )
        rows.append(row)
  resolve = lambda p: p if not p or os.path.isabs(p) else os.path.join(base, p)
  return [
    {
      "image": resolve((r.get("image") or "").strip()),
      "mask": resolve((r.get("mask") or "").strip()),
      "output": (r.get("output") or "").strip(),
    }
    for r in rows
  ]


def list_jobs(spec: str, workdir: str) -> list[Job]:
  """Jobs of --config.images: a manifest (.csv, .jsonl) or a glob (masks NAME_mask.png).

  Outputs default to workdir/<image name>/inpainted.png; relative outputs are under workdir.
  A job whose output path is taken by an earlier job fails (never overwrite silently).
  """
  if spec.endswith(MANIFEST_SUFFIXES):
    if not os.path.isfile(spec):
      raise ValueError(
        f"manifest {spec} does not exist: give an existing .csv/.jsonl file "
        "or a glob such as 'photos/*.png'"
      )
    rows = read_manifest(spec)
  else:
    paths = sorted(
      p
      for p in glob.glob(os.path.expanduser(spec))
      if os.path.isfile(p) and not os.path.splitext(os.path.basename(p))[0].endswith("_mask")
    )
    rows = [{"image": p, "mask": _mask_beside(p), "output": ""} for p in paths]
  if not rows:
    raise ValueError(
      f"--config.images={spec!r} matches no image: give a glob such as "
      "'photos/*.png' (masks beside them as NAME_mask.png) or a manifest"
    )
  jobs, taken = [], {}
  for i, r in enumerate(rows):
    name = os.path.splitext(os.path.basename(r["image"]))[0] or f"image_{i}"
    out = r["output"] or os.path.join(name, "inpainted.png")
    out = out if os.path.isabs(out) else os.path.join(workdir, out)
    job = Job(i, r["image"], r["mask"], out)
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


def resize_to(x, hw: tuple[int, int]):
  """Resizes (..., H, W, C) to exactly hw (MATLAB bicubic, antialiased when shrinking)."""
  h, w = x.shape[-3], x.shape[-2]
  mh = resize_lib.resize_matrix(h, hw[0] / h, hw[0]).astype(np.float32)
  mw = resize_lib.resize_matrix(w, hw[1] / w, hw[1]).astype(np.float32)
  return np.einsum("pw,...owc->...opc", mw, np.einsum("oh,...hwc->...owc", mh, np.asarray(x)))


def parse_size(text: str) -> tuple[int, int] | None:
  """'HxW' -> (H, W); '' -> None."""
  if not text:
    return None
  try:
    h, w = (int(v) for v in text.lower().split("x"))
  except ValueError:
    h = w = 0
  if h < 1 or w < 1:
    raise ValueError(
      f"--config.common_size={text!r} is not a size: use HxW, e.g. 192x256, "
      "or '' to keep each image's size"
    )
  return h, w


def train_inputs(job: Job, size) -> tuple[np.ndarray, np.ndarray]:
  """(image (h, w, 3) float32 in [-1, 1], hole (h, w) bool) that the pyramid learns from:
  the job's own, or resized to size (a resized hole covers every pixel it touches)."""
  x = image_io.to_float(job.pixels)
  if size is None:
    return x, job.hole
  hole = resize_to(job.hole[..., None].astype(np.float32), size)[..., 0] > 1e-3
  return np.clip(resize_to(x, size), -1.0, 1.0).astype(np.float32), hole


def load_job(job: Job, cfg, size=None):
  """Reads and checks a job's image and mask; returns its scale plan, or fails the job."""
  if not job.mask:
    job.fail(
      f"no mask for {job.image}: put NAME_mask.png beside it (white = hole) or "
      "list it in a manifest"
    )
    return None
  try:
    job.pixels = image_io.read_image(job.image)
    job.hole = image_io.read_mask(job.mask, job.pixels.shape[:2], job.image)
    if job.hole.any() and 1.0 - job.hole.mean() < MIN_KNOWN_SHARE:
      raise ValueError(
        f"mask {job.mask} marks {100 * job.hole.mean():.1f}% of the image as "
        "hole: keep at least 5% of the image known"
      )
    x, hole = train_inputs(job, size)
    plan = config_lib.scale_plan(cfg, *x.shape[:2])
    coarse = pyramid.mask_pyramid(hole, plan, cfg.mask_threshold, cfg.mask_mode)[0]
    if coarse.sum() == 0:
      raise ValueError(
        f"the hole covers the whole coarsest scale {plan.shapes[0]}: use a "
        "smaller hole, a larger mask_threshold, or mask_mode=bbox"
      )
    return plan
  except (ValueError, OSError) as e:  # image_io.ImageError is a ValueError
    job.fail(str(e))
    return None


def make_buckets(jobs: list[Job], cfg) -> list[Bucket]:
  """Loads the pending jobs and groups those with equal pyramid shapes, in job order."""
  size = parse_size(cfg.common_size)
  buckets = {}
  for job in jobs:
    if job.status != "pending":
      continue
    plan = load_job(job, cfg, size)
    if plan is None:
      continue
    if not job.hole.any():  # nothing to inpaint: the job needs no pyramid
      continue
    key = (plan.shapes, plan.nfc, plan.min_nfc)
    buckets.setdefault(key, Bucket(plan, [], size)).jobs.append(job)
  return list(buckets.values())


# -- devices -------------------------------------------------------------------------------


def initialize_distributed(coordinator_address=None, num_processes=None, process_id=None):
  """jax.distributed.initialize, called only when --multihost asks for it (a TPU pod slice
  detects every argument; elsewhere give all three). Must run before any other jax call."""
  jax.distributed.initialize(coordinator_address or None, num_processes, process_id)
  logging.info(
    "multi-host: process %d of %d, %d local / %d global devices",
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
  )


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over every device of every host (or the given ones), axis 'images'."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (MESH_AXIS,))


def make_place(mesh: Mesh):
  """place(tree): every leaf (leading image axis) sharded over the mesh along that axis.

  Host data (identical on every process) becomes a global array; arrays that already span
  the mesh are resharded if needed.
  """
  sharding = NamedSharding(mesh, PartitionSpec(MESH_AXIS))

  def put(x):
    if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, x.ndim):
      return x
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

  return lambda tree: jax.tree.map(put, tree)


class MeshDevices:
  """The image axis over a 1-D mesh (trainer.train's `devices`): place(tree) shards per-image
  pytrees, map(fn) runs a batched function as a shard_map, each device on its own images.

  shard_map, not jit's automatic partitioning: with jax 0.10.2 on CPU the SPMD partitioner
  returns wrong kernel gradients of a vmapped per-image conv on every shard but the first.
  """

  def __init__(self, mesh: Mesh):
    self.mesh = mesh
    self.place = make_place(mesh)

  def map(self, fn):
    spec = PartitionSpec(MESH_AXIS)
    return jax.shard_map(fn, mesh=self.mesh, in_specs=spec, out_specs=spec)


def padded_size(b: int, multiple: int) -> int:
  """The smallest multiple of `multiple` that is >= b."""
  return -(-b // multiple) * multiple


def owner(job: Job) -> int:
  """The process that writes a job's outputs."""
  return job.index % jax.process_count()


# -- running -------------------------------------------------------------------------------


def train_bucket(cfg, workdir: str, bucket: Bucket, mesh: Mesh):
  """Trains a bucket as one batch sharded over the mesh; returns the pyramid (host copy)
  of the bucket's images, pad dropped."""
  inputs = [train_inputs(job, bucket.size) for job in bucket.jobs]
  ids = [job.index for job in bucket.jobs]
  b = len(inputs)
  pad = padded_size(b, mesh.size) - b
  inputs += [inputs[-1]] * pad  # the pad repeats the last image (and its id): dropped after
  ids += [ids[-1]] * pad
  images, holes = [x for x, _ in inputs], [hole for _, hole in inputs]
  logging.info("%s: %d image(s) + %d pad on %d device(s)", bucket.name, b, pad, mesh.size)
  pyr = trainer.train(
    cfg, os.path.join(workdir, bucket.name), images, holes, image_ids=ids, devices=MeshDevices(mesh)
  )
  frozen = jax.tree.map(lambda x: trainer.to_host(x)[:b], pyr.frozen)
  return dataclasses.replace(
    pyr, frozen=frozen, reals=[r[:b] for r in pyr.reals], knowns=[k[:b] for k in pyr.knowns]
  )


def inpaint_job(cfg, pyr, bucket: Bucket, slot: int, job: Job) -> np.ndarray:
  """The inpainted image (H, W, 3) of the job at position slot of its bucket."""
  if bucket.size is None:
    plan = config_lib.scale_plan(cfg, *job.pixels.shape[:2])  # own input size, bucket's shapes
    own = dataclasses.replace(pyr, plan=plan)
    return inpaint_lib.inpaint(own, job.pixels, job.hole, cfg, slot, key_id=job.index)["output"]
  x, hole = train_inputs(job, bucket.size)
  small = image_io.from_float(x, job.pixels.dtype)
  result = inpaint_lib.inpaint(pyr, small, hole, cfg, slot, key_id=job.index)
  full = resize_to(result["generated"], job.pixels.shape[:2])
  ratio = max(job.pixels.shape[:2]) / max(pyr.plan.shapes[-1])
  alpha = blend_lib.blend_alpha(job.hole, cfg, ratio)
  return blend_lib.composite(job.pixels, full, alpha)


def run(cfg, workdir: str, mode: str = "inpaint", mesh: Mesh | None = None) -> list[Job]:
  """Trains (and in inpaint mode inpaints) every job of --config.images; returns the jobs
  with their status. A bad image fails alone; a failing bucket fails its own jobs only."""
  jobs = list_jobs(cfg.images, workdir)
  mesh = make_mesh() if mesh is None else mesh
  me = jax.process_index()
  buckets = make_buckets(jobs, cfg)
  for job in jobs:  # images without a hole: the output is the input
    if job.status == "pending" and not job.hole.any():
      if mode == "inpaint" and owner(job) == me:
        image_io.write_image(job.output, job.pixels)
        logging.info("process %d wrote %s", me, job.output)
      job.status, job.reason = "done", "no hole: input copied unchanged"
  for bucket in buckets:
    try:
      pyr = train_bucket(cfg, workdir, bucket, mesh)
    except Exception as e:  # reported per job; the other buckets go on
      logging.exception("%s failed", bucket.name)
      for job in bucket.jobs:
        job.fail(f"training {bucket.name} failed: {type(e).__name__}: {e}")
      continue
    for slot, job in enumerate(bucket.jobs):
      if mode != "inpaint":
        job.status, job.output = "done", os.path.join(workdir, bucket.name)
        continue
      if owner(job) != me:
        job.status = "done"  # written by its owner; the owner's status file is authoritative
        continue
      try:
        image_io.write_image(job.output, inpaint_job(cfg, pyr, bucket, slot, job))
        logging.info("process %d wrote %s", me, job.output)
        job.status = "done"
      except Exception as e:  # one image's failure never sinks the batch
        logging.exception("inpainting %s failed", job.image)
        job.fail(f"inpainting failed: {type(e).__name__}: {e}")
  return gather_status(jobs, workdir)


def gather_status(jobs: list[Job], workdir: str) -> list[Job]:
  """Merges every process's view (the owner's word counts) into workdir/status.json."""
  if jax.process_count() > 1:
    part = os.path.join(workdir, "status", f"process_{jax.process_index()}.json")
    os.makedirs(os.path.dirname(part), exist_ok=True)
    with open(part, "w", encoding="utf-8") as f:
      json.dump([j.record() for j in jobs if owner(j) == jax.process_index()], f)
    multihost_utils.sync_global_devices("singan_jax.parallel: status written")
    for p in range(jax.process_count()):
      with open(os.path.join(workdir, "status", f"process_{p}.json"), encoding="utf-8") as f:
        for rec in json.load(f):
          jobs[rec["index"]].status, jobs[rec["index"]].reason = rec["status"], rec["reason"]
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "status.json"), "w", encoding="utf-8") as f:
      json.dump([j.record() for j in jobs], f, indent=1)
  return jobs


def report(jobs: list[Job]) -> str:
  """One line per image (done -> output, or failed: reason) and a count."""
  lines = []
  for j in jobs:
    if j.status == "done":
      lines.append(f"done    {j.image} -> {j.output}" + (f" ({j.reason})" if j.reason else ""))
    else:
      lines.append(f"{j.status:7} {j.image}: {j.reason}")
  failed = sum(j.status != "done" for j in jobs)
  lines.append(f"{len(jobs) - failed} of {len(jobs)} image(s) done, {failed} failed")
  return "\n".join(lines)
