"""A workdir knows its pyramid: run.json records the config fields it was trained with, runs on
it adopt them (refusing only explicit contradicting flags), converted 2019 pyramids get the
same record, and the README's conversion example runs as written."""

import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from singan_jax import config as defaults
from singan_jax import inputs
from singan_jax import pipeline
from singan_jax import workdir as workdir_lib
from singan_jax.io import images as image_io
from singan_jax.training import checkpoint as ckpt_lib
from singan_jax.training import pyramids as pyramids_lib
from singan_jax.training import run as run_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 30, 40  # 3 scales (25x34, 28x37, 30x40) under the default and the demo configs
# Not recorded: how the networks run, not what they are.
HOW_NETS_RUN = {"compute_dtype", "conv_batching", "conv_impl", "step_loop"}


class _Reads:
  """A config that remembers which fields were read."""

  def __init__(self, cfg):
    self.__dict__["cfg"], self.__dict__["seen"] = cfg, set()

  def __getattr__(self, name):
    self.seen.add(name)
    return getattr(self.cfg, name)

  __getitem__ = __getattr__


def test_recorded_fields_are_what_the_settings_and_the_identity_read():
  reads = _Reads(defaults.get_config())
  plan = defaults.scale_plan(reads, H, W)
  defaults.net_settings(reads)
  defaults.train_settings(reads)
  recorded = set(workdir_lib.RECORDED_FIELDS)
  assert reads.seen - HOW_NETS_RUN <= recorded, reads.seen - recorded
  # A run departing from the defaults wherever the identity has a condition (compat, the
  # concurrent schedule) compares every fixed field: exactly what a flag may not contradict.
  cfg = defaults.get_config()
  cfg.compat, cfg.schedule = "2019", "concurrent"
  zeros = np.zeros((1, H, W, 3)), np.zeros((1, H, W), bool)
  identity = ckpt_lib.run_identity(defaults.settings(cfg), plan, *zeros)
  fixed = {f for f, kind in workdir_lib.RECORDED_FIELDS.items() if kind == "fixed"}
  plan_fields = {"max_size", "min_size", "scale_factor", "nfc", "min_nfc", "nfc_cap"}
  assert fixed == set(identity) - {"inputs", "plan"} | plan_fields
  # at the defaults, compat and the schedule's fields stay out (older workdirs resume)
  default_identity = ckpt_lib.run_identity(defaults.settings(defaults.get_config()), plan, *zeros)
  assert set(identity) - set(default_identity) == {"compat", "schedule", "train_depth"}


def _trained_cfg(tmp_path):
  cfg = defaults.get_config()
  cfg.max_size, cfg.niter, cfg.nfc, cfg.min_nfc, cfg.pconv_norm = 40, 5, 8, 8, "sum"
  cfg.lr_g, cfg.image, cfg.mask = 1e-4, str(tmp_path / "i.png"), str(tmp_path / "m.png")
  return cfg


def _write_record(workdir, cfg):
  os.makedirs(workdir, exist_ok=True)
  workdir_lib.record_run(str(workdir), cfg, {"inputs": "x", "seed": cfg.seed})


def test_adopt_record_takes_the_pyramids_settings_and_refuses_contradicting_flags(tmp_path):
  trained = _trained_cfg(tmp_path)
  _write_record(tmp_path / "wd", trained)
  saved = json.loads((tmp_path / "wd" / "run.json").read_text())
  assert saved[ckpt_lib.RECORD_KEY] == workdir_lib.record_of(trained)
  assert saved[ckpt_lib.RECORD_KEY]["image"] == os.path.abspath(trained.image)

  cfg = defaults.get_config()
  got = workdir_lib.adopt_record(cfg, str(tmp_path / "wd"))
  for field in [*workdir_lib.RECORDED_FIELDS, "image", "mask"]:
    assert got[field] == trained[field], field
  assert cfg.niter == 2000 and cfg.image == ""  # the caller's config is left as it was
  assert got.fill == cfg.fill  # inpainting fields stay the flags'

  cfg.niter = 7
  with pytest.raises(inputs.UsageError) as e:
    workdir_lib.adopt_record(cfg, str(tmp_path / "wd"), explicit={"niter"})
  msg = str(e.value)
  assert "different niter (5 there, --config.niter=7 given)" in msg
  assert "drop --config.niter" in msg and "new --workdir" in msg
  cfg.niter = 5  # the same value given explicitly: fine
  assert workdir_lib.adopt_record(cfg, str(tmp_path / "wd"), explicit={"niter"}).niter == 5

  cfg.lr_g = 3e-5  # tunable: an explicit value trains the remaining scales
  assert workdir_lib.adopt_record(cfg, str(tmp_path / "wd"), explicit={"lr_g"}).lr_g == 3e-5
  assert workdir_lib.adopt_record(cfg, str(tmp_path / "wd")).lr_g == 1e-4

  cfg.image, cfg.mask = "other.png", "other_mask.png"  # given: never paired with the record's
  got = workdir_lib.adopt_record(cfg, str(tmp_path / "wd"), explicit={"image", "mask"})
  assert (got.image, got.mask) == ("other.png", "other_mask.png")


def test_identity_check_leaves_the_record_out_and_old_workdirs_stay_as_they_were(tmp_path):
  trained = _trained_cfg(tmp_path)
  _write_record(tmp_path / "wd", trained)
  ckpts = ckpt_lib.PyramidCheckpoints(str(tmp_path / "wd"))
  ckpts.check_or_write_identity({"inputs": "x", "seed": 0})  # the record is not compared
  with pytest.raises(ckpt_lib.IncompatibleRunError, match="different seed"):
    ckpts.check_or_write_identity({"inputs": "x", "seed": 1})
  old = tmp_path / "old"
  old.mkdir()
  ckpt_lib.write_json_atomic(str(old / "run.json"), {"inputs": "x", "seed": 0})
  cfg = defaults.get_config()
  assert workdir_lib.read_record(str(old)) is None
  assert workdir_lib.adopt_record(cfg, str(old), explicit={"niter"}) is cfg
  assert workdir_lib.adopt_record(cfg, str(tmp_path / "nowhere")) is cfg
  workdir_lib.record_run(str(old), trained, {"inputs": "x", "seed": 0})  # not upgraded
  assert ckpt_lib.RECORD_KEY not in json.loads((old / "run.json").read_text())


@pytest.mark.parametrize("batch", [False, True], ids=["single", "bucket"])
def test_the_pipelines_record_carries_the_identity_training_checks(tmp_path, batch):
  cfg = _trained_cfg(tmp_path)
  rng = np.random.default_rng(0)
  if batch:  # a bucket: a list of images sharing one plan, with their image ids
    images = [rng.uniform(-1, 1, (h, w, 3)).astype(np.float32) for h, w in ((H, W), (H, W))]
    holes = [np.zeros(x.shape[:2], bool) for x in images]
    ids = [3, 5]
  else:
    images, holes, ids = rng.uniform(-1, 1, (1, H, W, 3)).astype(np.float32), None, None
    holes = np.zeros((1, H, W), bool)
  for x in holes:
    x[10:18, 12:24] = True
  wd = str(tmp_path / "wd")
  settings = defaults.settings(cfg)
  plan = pyramids_lib.batch_pyramids(settings, images, holes)[0]
  run = run_lib.open_run(
    settings, wd, plan, images, holes, ids, None, None, pipeline.recorder(cfg, wd)
  )
  run.ckpts.close()
  assert workdir_lib.read_record(wd) == workdir_lib.record_of(cfg)
  run = run_lib.open_run(settings, wd, plan, images, holes, ids, None, None, None)  # no raise
  run.ckpts.close()
  cfg.seed = 1
  with pytest.raises(ckpt_lib.IncompatibleRunError, match="different seed"):
    run_lib.open_run(defaults.settings(cfg), wd, plan, images, holes, ids, None, None, None)


def test_a_batch_workdir_adopts_its_buckets_record_when_they_agree(tmp_path):
  trained = _trained_cfg(tmp_path)
  trained.images, trained.image, trained.mask = str(tmp_path / "*.png"), "", ""
  for name in ("bucket_30x40_3s_a", "bucket_25x25_1s_b"):
    _write_record(tmp_path / name, trained)
  assert "image" not in workdir_lib.read_record(str(tmp_path))
  cfg = defaults.get_config()
  cfg.images = trained.images
  got = workdir_lib.adopt_record(cfg, str(tmp_path))
  assert (got.niter, got.nfc, got.image) == (5, 8, "")
  trained.seed = 1  # a bucket trained with other settings: nothing is adopted
  _write_record(tmp_path / "bucket_32x32_2s_c", trained)
  assert workdir_lib.read_record(str(tmp_path)) is None
  assert workdir_lib.adopt_record(cfg, str(tmp_path)) is cfg


# -- converted 2019 pyramids ---------------------------------------------------------------


def _inputs(folder, img="img.png", mask="mask.png"):
  rng = np.random.default_rng(0)
  pixels = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
  hole = np.zeros((H, W), bool)
  hole[10:18, 12:24] = True
  image_io.write_image(str(folder / img), pixels)
  image_io.write_image(str(folder / mask), (hole * 255).astype(np.uint8))
  return pixels, hole


def _save_2019(src, nfc: int, layout: str):
  """A finished 2019-style run of the 3-scale plan of an H x W image, exported by the port."""
  torch = pytest.importorskip("torch")
  from singan_jax import reference as ref  # pylint: disable=g-import-not-at-top
  from singan_jax.reference import export  # pylint: disable=g-import-not-at-top
  from singan_jax.reference import parity  # pylint: disable=g-import-not-at-top

  partial = layout == "pc"
  g = torch.Generator().manual_seed(5)
  shapes = defaults.scale_plan(defaults.get_config(), H, W).shapes
  Gs = [
    parity.perturb(ref.Generator(nfc, nfc, partial=partial, generator=g), g).eval() for _ in shapes
  ]
  Ds = [ref.Discriminator(nfc, nfc, partial=partial, generator=g) for _ in shapes]
  zs = [torch.randn(1, 3, h, w, generator=g) * (k == 0) for k, (h, w) in enumerate(shapes)]
  export.save_2019_run(str(src), Gs, Ds, zs, [1.0, 0.1, 0.1], zs, layout=layout)


@pytest.mark.parity
def test_converted_pyramid_records_its_settings_and_runs_with_any_config(tmp_path):
  from singan_jax import convert  # pylint: disable=g-import-not-at-top

  pixels, hole = _inputs(tmp_path)
  _save_2019(tmp_path / "run", 8, "vanilla")
  cfg = defaults.get_config()  # partial=True by default: the vanilla keys say otherwise
  cfg.nfc, cfg.min_nfc = 8, 8
  cfg.image, cfg.mask = str(tmp_path / "img.png"), str(tmp_path / "mask.png")
  x = (image_io.to_float(pixels)[None], hole[None])
  with pytest.raises(convert.ConversionError, match="vanilla .* --config.partial=True was given"):
    convert.convert(str(tmp_path / "run"), str(tmp_path / "refused"), cfg, *x, {"partial"})
  assert not (tmp_path / "refused").exists()
  wd = tmp_path / "wd"
  convert.convert(str(tmp_path / "run"), str(wd), cfg, *x)
  record = workdir_lib.read_record(str(wd))
  assert record["partial"] is False and record["nfc"] == 8 and record["image"] == cfg.image
  assert record["compat"] == "2019" and record["mask_threshold"] == 0.01  # the 2019 pieces

  demo = defaults.get_config()  # another config, no image given: all from the record
  demo.max_size, demo.niter, demo.nfc_cap, demo.mask_threshold = 128, 100, 32, 0.01
  assert pipeline.run(demo, str(wd), "train") == 0  # every scale restored, none trained
  assert not (wd / "inscale").exists()

  before = sorted(os.listdir(wd))
  demo.mask_threshold = 0.3
  with pytest.raises(inputs.UsageError, match=r"converted with a different mask_threshold \(0.01"):
    pipeline.run(demo, str(wd), "inpaint", explicit={"mask_threshold"})
  assert sorted(os.listdir(wd)) == before  # refused before anything was written

  saved = json.loads((wd / "run.json").read_text())  # a workdir from before the record:
  del saved[ckpt_lib.RECORD_KEY]
  ckpt_lib.write_json_atomic(str(wd / "run.json"), saved)
  with pytest.raises(ckpt_lib.IncompatibleRunError, match="different"):
    pipeline.run(demo, str(wd), "train")  # ... as before: the flags must match the pyramid
  cfg.partial, cfg.compat = False, "2019"  # and what compat 2019 implies
  assert pipeline.run(cfg, str(wd), "train") == 0


# -- the README's conversion example, as written --------------------------------------------


def readme_commands(program: str) -> list[list[str]]:
  """The README's shell commands (backslash continuations joined) that start with `program`."""
  text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read().replace("\\\n", " ")
  return [shlex.split(ln) for ln in text.splitlines() if ln.strip().startswith(program)]


def _run(argv, cwd):
  assert argv[0] == "python"
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  cmd = [sys.executable, *argv[1:]]
  return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.parity
def test_readme_conversion_example_runs_as_written(tmp_path):
  """The README's convert command on a 2019 partial-conv pyramid, then its inpaint command
  right after it (another config): the converted plan runs, nothing trains; an explicit
  contradicting flag is refused with one line, exit status 2, nothing written."""
  (convert_cmd,) = readme_commands("python -m singan_jax.convert")
  inpaint_cmd = next(
    c for c in readme_commands("python -m singan_jax.main") if "--workdir=OUT" in c
  )
  src = next(a.split("=", 1)[1] for a in convert_cmd if a.startswith("--src="))
  _save_2019(tmp_path / src, 32, "pc")
  _inputs(tmp_path, "IMG.png", "MASK.png")
  os.symlink(os.path.join(REPO, "configs"), tmp_path / "configs")

  p = _run(convert_cmd, tmp_path)
  assert p.returncode == 0, p.stderr[-3000:]
  assert len(p.stdout.splitlines()) == 2 and "converted 3 scales" in p.stdout, p.stdout
  assert "orbax" not in p.stderr and len(p.stderr.splitlines()) < 10, p.stderr[-3000:]
  record = workdir_lib.read_record(str(tmp_path / "OUT"))
  assert record["partial"] is True and record["pconv_norm"] == "sum"  # the 2019 pieces,
  assert record["compat"] == "2019" and record["mask_threshold"] == 0.01  # no flag given
  assert record["max_size"] == 250 and record["niter"] == 2000  # configs/default.py

  p = _run(inpaint_cmd, tmp_path)
  assert p.returncode == 0, p.stderr[-3000:]
  assert "using its pyramid's settings" in p.stderr and "max_size=250" in p.stderr
  assert len(re.findall(r"scale \d/2: already trained", p.stderr)) == 3, p.stderr[-3000:]
  assert "injection at scale 1 of 0..2" in p.stderr
  out = image_io.read_image(str(tmp_path / "OUT" / "inpainted.png"))
  assert out.shape == (H, W, 3)

  state = {n: os.stat(tmp_path / "OUT" / n).st_mtime_ns for n in os.listdir(tmp_path / "OUT")}
  p = _run([*inpaint_cmd, "--config.pconv_norm=ratio"], tmp_path)
  assert p.returncode == 2, p.stderr[-3000:]
  errors = [ln for ln in p.stderr.splitlines() if ln.startswith("singan-jax: error:")]
  assert len(errors) == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
  assert (
    "converted with a different pconv_norm ('sum' there, --config.pconv_norm='ratio' given)"
    in errors[0]
  )
  assert (
    "drop --config.pconv_norm" in errors[0] and "convert again into a new workdir: " in errors[0]
  )
  assert f"python -m singan_jax.convert --src={os.path.join(tmp_path, src)}" in errors[0]
  now = {n: os.stat(tmp_path / "OUT" / n).st_mtime_ns for n in os.listdir(tmp_path / "OUT")}
  assert now == state
