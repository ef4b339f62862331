"""One path from files to outputs, for one image or many: jobs -> checks -> workdir -> buckets
-> train -> inpaint / sample / an application mode -> outputs -> status.

A single --config.image is a batch of one that keeps its own layout (jobs.py): it trains in
the workdir itself, exactly as it always has, so existing workdirs resume. Its problems are
errors (exit status 2); a batch's are per image, reported as a status table (exit status 3
when any image failed), so that one bad image never sinks the others.
"""

import dataclasses
import json
import os

from absl import logging
import jax
import numpy as np

from singan_jax import config as config_lib
from singan_jax import distributed
from singan_jax import inputs
from singan_jax import rng
from singan_jax import jobs as jobs_lib
from singan_jax import workdir as workdir_lib
from singan_jax.core import resize as resize_lib
from singan_jax.core import schema
from singan_jax.core import sampling
from singan_jax.inpainting import blend as blend_lib
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.io import images as image_io
from singan_jax import modes as modes_lib
from singan_jax.training import loop as trainer
from singan_jax.training import monitor

MODES = ("train", "inpaint", "sample", *modes_lib.NAMES)


def run(cfg, workdir: str, mode: str, explicit=()) -> int:
  """Runs `mode` on the config's image(s); returns the exit status: 0 when every image is
  done, 3 when some batch image failed. Bad input of a single image raises UsageError.

  explicit: the config fields the user gave (--config.FIELD=...). A workdir that already
  holds a pyramid (a batch's: its buckets, when they agree) lends the run its recorded training
  settings (workdir.adopt_record); an explicit flag that contradicts them is refused before
  anything is written."""
  inputs.validate_config(cfg)
  cfg = config_lib.with_compat_implied(cfg, explicit)
  cfg = workdir_lib.adopt_record(cfg, workdir, explicit)
  if cfg.images and mode == "sample":
    raise inputs.UsageError(
      "--mode=sample draws from one pyramid: give --config.image, not --config.images"
    )
  if cfg.images and cfg.image:
    raise inputs.UsageError(
      f"both --config.image={cfg.image} and --config.images={cfg.images} are "
      "set: give one image, or a glob/manifest of many"
    )
  jobs = run_jobs(cfg, workdir, mode)
  if cfg.images and distributed.is_lead():
    print(report(jobs), flush=True)
  return 0 if all(j.status == "done" for j in jobs) else 3


def run_jobs(cfg, workdir: str, mode: str = "inpaint", mesh=None) -> list[jobs_lib.Job]:
  """Checks, trains and inpaints (or runs the application mode on) every job of the config;
  returns the jobs with their status. Every input check runs before the workdir is touched."""
  single = not cfg.images
  jobs = jobs_lib.from_config(cfg, workdir, mode)
  size = inputs.common_size(cfg)
  if mode in modes_lib.NAMES:
    modes_lib.check_batch(cfg, mode, size)
  jobs_lib.load_jobs(jobs, cfg, mode, size)
  if mode in modes_lib.NAMES:
    check_modes(cfg, mode, jobs)
  _settle(jobs, single)
  with workdir_lib.claimed(workdir, distributed.is_lead()):
    for job in jobs:
      problems = [p for p in map(workdir_lib.output_problem, job.outputs(mode)) if p]
      if job.status == "pending" and problems:
        job.fail(problems[0])
    _settle(jobs, single)
    for job in jobs:
      if job.status == "pending" and job.plan is None:
        copy_unchanged(job, mode, strict=single)
    buckets = jobs_lib.make_buckets(jobs, size)
    mesh = None if single else (distributed.make_mesh() if mesh is None else mesh)
    for bucket in buckets:
      run_bucket(cfg, workdir, mode, bucket, mesh)
    if single:
      return jobs
    return gather_status(jobs, workdir)


def check_modes(cfg, mode: str, jobs) -> None:
  """Fails each loaded job whose application-mode inputs (its references, the mode's scale)
  are bad, before any training."""
  for job in jobs:
    if job.status == "pending":
      problem = modes_lib.check(modes_lib.job_config(cfg, job), mode, job.plan)
      if problem:
        job.fail(problem)


def _settle(jobs, single: bool) -> None:
  """A single image's failure is the run's error (exit status 2); a batch goes on."""
  if single and jobs[0].status == "failed":
    raise inputs.UsageError(jobs[0].reason)


def copy_unchanged(job, mode: str, strict: bool) -> None:
  """A job without a hole needs no pyramid: in inpaint mode its output is its input.
  strict: raise a failed write (a single image); else fail the job alone."""
  if mode == "inpaint" and distributed.owner(job.index) == jax.process_index():
    logging.warning(
      "mask %s has no hole: nothing to inpaint, writing the input unchanged to %s",
      job.mask,
      job.output,
    )
    try:
      image_io.write_image(job.output, job.pixels)
    except image_io.ImageError as e:
      if strict:
        raise
      job.fail(str(e))
      return
  job.status, job.reason = "done", "no hole: input copied unchanged"


def run_bucket(cfg, workdir: str, mode: str, bucket, mesh) -> None:
  """Trains one bucket (mesh None: a single image, trained in the workdir itself), then
  inpaints, samples or runs the application mode; a batch records failures per job, a single
  image raises them."""
  try:
    pyr = train_bucket(cfg, workdir, bucket, mesh)
  except Exception as e:  # reported per job; the other buckets go on
    if mesh is None:
      raise
    logging.exception("%s failed", bucket.name)
    for job in bucket.jobs:
      job.fail(f"training {bucket.name} failed: {type(e).__name__}: {e}")
    return
  for slot, job in enumerate(bucket.jobs):
    if mode == "train":
      job.status = "done"
      job.output = workdir if mesh is None else os.path.join(workdir, bucket.name)
    elif mode == "sample":
      write_samples(cfg, workdir, pyr)
      job.status, job.output = "done", os.path.join(workdir, "samples")
    elif distributed.owner(job.index) != jax.process_index():
      job.status = "done"  # written by its owner; the owner's status file is authoritative
    elif mode in modes_lib.NAMES:
      run_mode_job(cfg, mode, pyr, slot, job, strict=mesh is None)
    else:
      inpaint_and_write(cfg, pyr, bucket, slot, job, strict=mesh is None)


def train_bucket(cfg, workdir: str, bucket, mesh):
  """Trains a bucket; returns its pyramid. A single image trains in the workdir on the
  default devices; a batch in workdir/bucket_* sharded over the mesh (padded to a multiple
  of its size; the host copy returned drops the pad). run.json's config record is written
  (or checked) with the identity the trainer computes, before its resume guard."""
  settings = config_lib.settings(cfg)
  inputs_ = [inputs.train_inputs(job.pixels, job.hole, bucket.size) for job in bucket.jobs]
  if mesh is None:
    ((x, hole),) = inputs_
    return trainer.train(settings, workdir, x[None], hole[None], record=recorder(cfg, workdir))
  ids = [job.index for job in bucket.jobs]
  b = len(inputs_)
  pad = distributed.padded_size(b, mesh.size) - b
  inputs_ += [inputs_[-1]] * pad  # the pad repeats the last image (and its id): dropped after
  ids += [ids[-1]] * pad
  images, holes = [x for x, _ in inputs_], [hole for _, hole in inputs_]
  logging.info("%s: %d image(s) + %d pad on %d device(s)", bucket.name, b, pad, mesh.size)
  bucket_dir = os.path.join(workdir, bucket.name)
  pyr = trainer.train(
    settings,
    bucket_dir,
    images,
    holes,
    image_ids=ids,
    devices=distributed.MeshDevices(mesh),
    record=recorder(cfg, bucket_dir),
  )
  frozen = jax.tree.map(lambda x: monitor.to_host(x)[:b], pyr.frozen)
  return dataclasses.replace(
    pyr, frozen=frozen, reals=[r[:b] for r in pyr.reals], knowns=[k[:b] for k in pyr.knowns]
  )


def recorder(cfg, workdir: str):
  """The trainer's record hook: run.json written (or checked) with cfg's record and the run
  identity the trainer computed."""
  return lambda identity: workdir_lib.record_run(workdir, cfg, identity)


def run_mode_job(cfg, mode: str, pyr, slot: int, job, strict: bool) -> None:
  """Runs the application mode on the job at position slot of its bucket (its references,
  its own plan) and writes job.output. strict: raise failures (a single image); else fail the
  job alone."""
  try:
    modes_lib.run(modes_lib.job_config(cfg, job), mode, pyr, job.output, slot, job.plan, job.index)
  except Exception as e:  # one image's failure never sinks the batch
    if strict:
      raise
    logging.exception("--mode=%s on %s failed", mode, job.image)
    job.fail(f"--mode={mode} failed: {type(e).__name__}: {e}")
    return
  logging.info("--mode=%s wrote %s", mode, job.output)
  job.status = "done"


def inpaint_job(cfg, pyr, bucket, slot: int, job) -> inpaint_lib.Inpainted:
  """The inpainting of the job at position slot of its bucket, at the job's own resolution:
  its output there; filled, generated and soft at the training size of a bucket."""
  opts = schema.Inpainting.from_config(cfg)
  if bucket.size is None:
    plan = config_lib.scale_plan(cfg, *job.pixels.shape[:2])  # own input size, bucket's shapes
    own = dataclasses.replace(pyr, plan=plan)
    return inpaint_lib.inpaint(own, job.pixels, job.hole, opts, slot, job.index, seed=cfg.seed)
  x, hole = inputs.train_inputs(job.pixels, job.hole, bucket.size)
  small = image_io.from_float(x, job.pixels.dtype)
  result = inpaint_lib.inpaint(pyr, small, hole, opts, slot, job.index, seed=cfg.seed)
  full = np.asarray(resize_lib.resize_to(result.generated, job.pixels.shape[:2]))
  # the blend again at the job's own size: the result's is the training size's
  ratio = max(job.pixels.shape[:2]) / max(pyr.plan.shapes[-1])
  alpha = blend_lib.blend_alpha(job.hole, opts, ratio)
  return dataclasses.replace(result, output=blend_lib.composite(job.pixels, full, alpha))


def inpaint_and_write(cfg, pyr, bucket, slot: int, job, strict: bool) -> None:
  """Inpaints a job and writes its output(s) (side outputs first: the output comes last).
  strict: raise failures (a single image); else fail the job alone."""
  try:
    result = inpaint_job(cfg, pyr, bucket, slot, job)
    if job.side_outputs:
      folder, dtype = os.path.dirname(job.output), job.pixels.dtype
      write_float_image(os.path.join(folder, "filled.png"), result.filled, dtype)
      write_float_image(os.path.join(folder, "generated.png"), result.generated, dtype)
      soft = np.round(result.soft * 255).astype(np.uint8)
      image_io.write_image(os.path.join(folder, "soft_mask.png"), soft)
    image_io.write_image(job.output, result.output)
  except Exception as e:  # one image's failure never sinks the batch
    if strict:
      raise
    logging.exception("inpainting %s failed", job.image)
    job.fail(f"inpainting failed: {type(e).__name__}: {e}")
    return
  logging.info("process %d wrote %s", jax.process_index(), job.output)
  logging.info(
    "inpainted (fill %s, injection at scale %d of 0..%d): %s",
    cfg.fill,
    result.n,
    pyr.plan.stop_scale,
    job.output,
  )
  job.status = "done"


def write_float_image(path, x, dtype=np.uint8):
  """Writes a float image in [-1, 1] as `dtype` pixels (the input's: 8 or 16 bit)."""
  image_io.write_image(path, image_io.from_float(np.asarray(x), dtype))


def write_samples(cfg, workdir: str, pyr) -> None:
  """cfg.num_samples random samples of a single image's pyramid, as workdir/samples/*.png."""
  frozen = inpaint_lib.select_image(pyr.frozen, 0)
  key = rng.sample_key(cfg.seed)
  # The nets are fully convolutional: any output size is a rescaled plan (SinGAN's
  # scale_v / scale_h), e.g. --config.sample_scale_w=2 for a panorama twice as wide.
  shapes = sampling.scaled_shapes(pyr.plan.shapes, cfg.sample_scale_h, cfg.sample_scale_w)
  gens = sampling.Generators.of(pyr.plan, pyr.net, shapes=shapes)
  x = sampling.sample(gens, frozen, key, cfg.num_samples)
  for i in range(cfg.num_samples):
    write_float_image(os.path.join(workdir, "samples", f"sample_{i}.png"), x[i])
  logging.info("wrote %d samples to %s", cfg.num_samples, os.path.join(workdir, "samples"))


def gather_status(jobs: list, workdir: str) -> list:
  """Merges every process's view (the owner's word counts) into workdir/status.json."""
  me = jax.process_index()
  mine = [j.record() for j in jobs if distributed.owner(j.index) == me]
  for rec in distributed.gather_records(mine, os.path.join(workdir, "status")):
    jobs[rec["index"]].status, jobs[rec["index"]].reason = rec["status"], rec["reason"]
  if distributed.is_lead():
    with open(os.path.join(workdir, "status.json"), "w", encoding="utf-8") as f:
      json.dump([j.record() for j in jobs], f, indent=1)
  return jobs


def report(jobs: list) -> str:
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
