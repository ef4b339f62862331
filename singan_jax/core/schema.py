"""Every config field, written once: its default, its check, and what it means for a pyramid.

One frozen dataclass per section (Inputs, Plan, Networks, Training, Inpainting, Modes,
Runtime). A field's metadata holds its rule (`ok(value)`, the problem, the fix) and its
`pyramid` kind: FIXED fields make the pyramid (recorded in run.json, compared by the resume
guard), TUNABLE ones are recorded and adopted but may change on a resume, None ones say how a
run goes, not what it learns. config.get_config, the input checks, the record, the run
identity and the settings objects the library receives are all derived from here. This module
sits at the bottom: it imports nothing of singan_jax but the refusals.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Callable, Iterator

from singan_jax.core import errors

FIXED, TUNABLE = "fixed", "tunable"

# The values a choice field accepts (the library's guards check against the same tuples).
FILL_METHODS = ("none", "mean", "local_means", "patchmatch", "exemplar")
MASK_MODES = ("threshold", "bbox")
NORMALIZATIONS = ("sum", "ratio")
COMPATS = ("", "none", "2019", "2019-draws")  # '2019-draws': only the training draws' masks
COMPUTE_DTYPES = ("float32", "bfloat16")
CONV_BATCHINGS = ("auto", "unrolled", "grouped")
CONV_FORMS = ("native", "im2col", "shifted", "chunked", "onednn")  # core/conv_forms.py
CONV_IMPLS = ("platform", "auto", *CONV_FORMS)
SCHEDULES = ("singan", "concurrent")  # SinGAN's one scale at a time, or ConSinGAN-style
STEP_LOOPS = ("auto", "scan", "unrolled")
UPSCALES = ("sr", "resize")
TEXTURES = ("none", "patchmatch", "exemplar")
FINALS = ("centre", "vote")
SEAMS = ("none", "poisson", "fusion")
BLENDS = ("feather", "soft")


def setting(
  default,
  ok: Callable[[Any], bool] | None = None,
  problem: str = "",
  fix: str = "",
  pyramid: str | None = None,
  identity: Callable[[Any], bool] | None = None,
):
  """A section field: its default, its rule (ok(value) False -> `problem: fix`), its pyramid
  kind, and for a FIXED field when it enters the run identity (identity(config); always when
  None: a condition keeps workdirs written before the field existed resumable)."""
  meta = {"ok": ok, "problem": problem, "fix": fix, "pyramid": pyramid, "identity": identity}
  return dataclasses.field(default=default, metadata=meta)


def choice(default, choices: tuple, pyramid: str | None = None, identity=None):
  """A field whose value must be one of `choices`."""
  return setting(
    default, lambda v: v in choices, "is unknown", f"use one of {choices}", pyramid, identity
  )


def _odd_patch(v) -> bool:
  return v >= 3 and v % 2 == 1


class _Section:
  """Checks a section's fields when it is built: a value a rule refuses raises SettingError."""

  def __post_init__(self):
    broken = next(problems(self, type(self)), None)
    if broken:
      field, problem, fix = broken
      raise _refusal(field, getattr(self, field), problem, fix)

  @classmethod
  def from_config(cls, cfg):
    """The section of a flat config (a ConfigDict or anything with these attributes)."""
    return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Inputs(_Section):
  """What to learn from (empty image: the bundled example)."""

  image: str = ""
  mask: str = ""
  seed: int = setting(0, pyramid=FIXED)
  # Batched runs (pipeline.py): a glob of images (NAME_mask.png beside each) or a manifest
  # (.csv / .jsonl: image, mask, output). "": one image.
  images: str = ""
  common_size: str = ""  # "HxW": every image resized to it (one bucket); "": its own size


@dataclasses.dataclass(frozen=True)
class Plan(_Section):
  """The scale plan: sizes and widths of the pyramid (core/pyramid.make_plan)."""

  max_size: int = setting(250, pyramid=FIXED)
  min_size: int = setting(
    25,
    lambda v: v >= 11,
    "is too small for five 3x3 layers",
    "use at least 11 (default 25)",
    pyramid=FIXED,
  )
  scale_factor: float = setting(
    0.75, lambda v: 0 < v < 1, "must lie in (0, 1)", "use e.g. 0.75", pyramid=FIXED
  )
  nfc: int = setting(32, lambda v: v >= 1, "must be positive", "use 32", pyramid=FIXED)
  min_nfc: int = setting(32, lambda v: v >= 1, "must be positive", "use 32", pyramid=FIXED)
  nfc_cap: int = setting(128, pyramid=FIXED)


def _not_singan(c) -> bool:
  return c.schedule != "singan"


@dataclasses.dataclass(frozen=True)
class Networks(_Section):
  """What the networks are (FIXED) and how they run (not recorded)."""

  num_layer: int = setting(
    5,
    lambda v: v == 5,
    "is not supported (inputs are padded by a fixed 5 px, which five 3x3 layers consume)",
    "use 5",
    pyramid=FIXED,
  )
  partial: bool = setting(True, pyramid=FIXED)  # PC-SinGAN: every conv is a partial conv
  # 'ratio': window / sum(M) (NVIDIA); 'sum': the report's 1 / sum(M), which shrinks every
  # layer by 1 / (9 Cin) below BatchNorm's eps, so the nets barely train (docs/quality.md).
  pconv_norm: str = choice("ratio", NORMALIZATIONS, pyramid=FIXED)
  mask_mode: str = choice("threshold", MASK_MODES, pyramid=FIXED)  # the mask pyramid's rule
  # A downsampled pixel is hole when its hole share exceeds this (2019 code: 0.01).
  mask_threshold: float = setting(
    0.5,
    lambda v: 0 < v < 1,
    "must lie in (0, 1)",
    "use 0.5 (the default) or 0.01 (the 2019 code)",
    pyramid=FIXED,
  )
  # "2019": the 2019 code's conventions (frozen-generator masks, its uint8 resize, its image
  # read and mask pyramids; implies config.COMPAT_2019_IMPLIES); "" or "none": ours.
  compat: str = setting(
    "",
    lambda v: v in COMPATS,
    "is not a known convention",
    "use '' (or 'none': ours), '2019' (the 2019 code's) or '2019-draws' (only its "
    "training-draw masks)",
    pyramid=FIXED,
    identity=lambda c: c.compat not in ("", "none"),
  )
  # "bfloat16": convolutions in bf16 (TPU/GPU opt-in); params, BatchNorm, losses stay float32.
  compute_dtype: str = choice("float32", COMPUTE_DTYPES)
  # B images' convs under vmap: "unrolled" (B single convs: fast on XLA:CPU), "grouped" (one
  # grouped conv), "auto": unrolled on CPU, grouped on TPU/GPU.
  conv_batching: str = choice("auto", CONV_BATCHINGS)
  # "platform": oneDNN's on a CPU where it builds, else XLA's; "native": XLA's; "onednn";
  # the matmul forms; "auto": measured per shape and processor once (docs/performance.md).
  conv_impl: str = choice("platform", CONV_IMPLS)


@dataclasses.dataclass(frozen=True)
class Training(_Section):
  """One scale's training (training/step.py receives this section as its TrainConfig)."""

  niter: int = setting(
    2000, lambda v: v >= 1, "is not a positive iteration count", "use e.g. 2000", pyramid=FIXED
  )
  lr_g: float = setting(5e-4, lambda v: v > 0, "must be positive", "use 5e-4", pyramid=TUNABLE)
  lr_d: float = setting(5e-4, lambda v: v > 0, "must be positive", "use 5e-4", pyramid=TUNABLE)
  beta1: float = setting(0.5, pyramid=TUNABLE)
  gamma: float = setting(0.1, pyramid=TUNABLE)
  lr_drop: float = setting(0.8, pyramid=TUNABLE)  # lr x gamma from iteration lr_drop * niter
  Gsteps: int = setting(3, lambda v: v >= 1, "must be at least 1", "use 3", pyramid=FIXED)
  Dsteps: int = setting(3, lambda v: v >= 1, "must be at least 1", "use 3", pyramid=FIXED)
  lambda_grad: float = setting(0.1, pyramid=TUNABLE)
  alpha: float = setting(10.0, pyramid=TUNABLE)
  noise_amp: float = setting(0.1, pyramid=TUNABLE)  # x RMSE(real, reconstruction) per scale
  # "singan": one scale at a time, the coarser ones frozen; "concurrent" (ConSinGAN-style,
  # training/concurrent.py): the train_depth finest scales so far train together, the older
  # ones at lr x lr_scale per scale below the newest.
  schedule: str = choice("singan", SCHEDULES, pyramid=FIXED, identity=_not_singan)
  train_depth: int = setting(
    3, lambda v: v >= 1, "must be at least 1", "use 3 (1 is SinGAN's schedule)",
    pyramid=FIXED, identity=_not_singan,
  )  # fmt: skip
  lr_scale: float = setting(
    0.1, lambda v: 0 < v <= 1, "must lie in (0, 1]", "use 0.1", pyramid=TUNABLE
  )
  # An iteration's D and G steps: "scan" (compiled once each), "unrolled", "auto" (scan on a
  # GPU / TPU and with oneDNN's convolutions; unrolled with XLA's on a CPU).
  step_loop: str = choice("auto", STEP_LOOPS)


@dataclasses.dataclass(frozen=True)
class Inpainting(_Section):
  """The hole's fill, its regeneration from scale n, the texture pass, the seam and blend."""

  fill: str = choice("local_means", FILL_METHODS)
  fill_radius: int = setting(4, lambda v: v >= 1, "must be at least 1", "use 4")
  patch_size: int = setting(7, _odd_patch, "must be an odd size >= 3", "use 7")
  patch_iters: int = 5
  inject_scale: int = setting(
    -1,
    lambda v: v == -1 or v >= 1,
    "is out of range",
    "use 1..N (N = number of scales - 1) or -1 for automatic",
  )  # -1: round(inject_fraction * N)
  inject_fraction: float = setting(0.4, lambda v: 0 <= v <= 1, "must lie in [0, 1]", "use 0.4")
  coherence: bool = True  # re-impose the known pixels after every scale of the injection
  # Past the finest scale: "resize" (bicubic) or "sr" (SinGAN's steps; docs/quality.md).
  upscale: str = choice("resize", UPSCALES)
  # "patchmatch": the hole rebuilt from the photo's patches, seeded by the generated image.
  texture: str = choice("patchmatch", TEXTURES)
  texture_patch: int = setting(7, _odd_patch, "must be an odd number >= 3", "use 7")
  # The texture pass's coarse-to-fine depth (the coarsest level starts from the generator).
  texture_levels: int = setting(3, lambda v: v >= 1, "must be at least 1", "use 3")
  # "centre": each hole pixel from its patch's source; "vote": the overlapping sources' mean.
  texture_final: str = choice("centre", FINALS)
  # Preference for sources near their target: the mean squared error a source one image side
  # away must beat (0: none; docs/quality.md).
  texture_locality: float = setting(0.5, lambda v: v >= 0, "must be >= 0", "use 0.5 (0: off)")
  # Weight of the generated image (blurred over a patch) in the patch distance (0: none).
  texture_guide: float = setting(0.0, lambda v: v >= 0, "must be >= 0", "use 0 (off) or e.g. 1")
  # Weight of a cost on sources many hole patches already copy (0: none).
  texture_diversity: float = setting(
    0.0, lambda v: v >= 0, "must be >= 0", "use 0 (off) or e.g. 0.1"
  )
  # How far the fill's coarse layer moves to the harmonic (membrane) fill's (docs/quality.md).
  texture_structure: float = setting(
    0.5, lambda v: 0 <= v <= 1, "must be in [0, 1]", "use 0 (off) or e.g. 0.5"
  )
  # That coarse layer's blur (3 box passes of this radius).
  texture_structure_radius: int = setting(2, lambda v: v >= 1, "must be at least 1", "use 2")
  # "poisson": a gradient-domain correction meeting the known pixels at the hole's edge;
  # "fusion": also the steps between pasted patches smoothed (inpainting/seam.py); "none".
  seam: str = choice("poisson", SEAMS)
  # > 0: how far an edge mismatch may depart from the edge's mean (seam.limited; 0: off).
  seam_limit: float = setting(0.0, lambda v: v >= 0, "must be >= 0", "use 0 (off) or e.g. 0.2")
  # "feather": known pixels beyond blend_feather px stay the input's; "soft": the report's
  # blend (dilate by blend_radius, blur by blend_sigma, in finest-scale pixels).
  blend: str = choice("feather", BLENDS)
  blend_feather: float = setting(2.0, lambda v: v >= 0, "must be >= 0", "use 2 (px) or 0")
  blend_radius: float = setting(7.0, lambda v: v >= 0, "must be >= 0", "use 7")
  blend_sigma: float = setting(5.0, lambda v: v >= 0, "must be >= 0", "use 5")
  # K > 1: K draws in one vmap, the best kept by seam + patch statistics (candidates.py).
  num_candidates: int = setting(
    1, lambda v: v >= 1, "must be at least 1", "use 1 (one draw) or e.g. 4 (best of 4)"
  )
  # > 1: a large hole (over progressive_share of the image) filled ring by ring, inwards.
  progressive_rings: int = setting(
    1, lambda v: v >= 1, "must be at least 1", "use 1 (off) or e.g. 3"
  )
  progressive_share: float = setting(
    0.2, lambda v: 0 <= v <= 1, "must lie in [0, 1]", "use e.g. 0.2"
  )


def _within(lo, hi):
  return lambda v: lo < v <= hi


@dataclasses.dataclass(frozen=True)
class Modes(_Section):
  """Sampling and the applications on a trained pyramid (singan_jax/modes/)."""

  num_samples: int = setting(4, lambda v: v >= 1, "must be >= 1", "use 4")
  # A sample's height / width over the trained one's (any size: fully convolutional).
  sample_scale_h: float = setting(1.0, _within(0, 8), "must lie in (0, 8]", "use 1.0")
  sample_scale_w: float = setting(1.0, _within(0, 8), "must lie in (0, 8]", "use 1.0")
  # harmonize / edit: the composite / edited image; paint2image: the painting.
  ref_image: str = ""
  ref_mask: str = ""  # harmonize / edit: white = the pasted object / edited region
  # Injection scale 1..N; -1: the mode's default (harmonize, edit: round(N / 2); paint2image:
  # 1). The 2019 code has no default: --harmonization_start_scale etc.
  ref_scale: int = setting(
    -1,
    lambda v: v == -1 or v >= 1,
    "is out of range",
    "use 1..N (N = number of scales - 1) or -1 for the mode's default",
  )
  quantize: bool = False  # paint2image: the painting mapped to the image's k-means palette
  quantize_colors: int = setting(5, lambda v: 2 <= v <= 64, "must lie in 2..64", "use 5")
  animate_frames: int = setting(30, lambda v: 2 <= v <= 1000, "must lie in 2..1000", "use 30")
  # The noise walk's pull towards the reconstruction noise, and its momentum (2019: 0.1, 0.9).
  animate_alpha: float = setting(0.1, lambda v: 0 <= v <= 1, "must lie in [0, 1]", "use 0.1")
  animate_beta: float = setting(0.9, lambda v: 0 <= v < 1, "must lie in [0, 1)", "use 0.9")
  # Coarser scales keep their reconstruction noise (2019: 0..2).
  animate_start_scale: int = setting(0, lambda v: v >= 0, "must be >= 0", "use 0")
  animate_fps: int = setting(10, _within(0, 100), "must lie in (0, 100]", "use 10")
  sr_factor: float = setting(4.0, _within(1, 16), "must lie in (1, 16]", "use 4")


@dataclasses.dataclass(frozen=True)
class Runtime(_Section):
  """Bookkeeping and performance: nothing here changes what is learnt."""

  checkpoint_every: int = setting(500, lambda v: v >= 0, "must be >= 0", "use 500 or 0")
  log_every: int = setting(100, lambda v: v >= 1, "must be >= 1", "use 100")
  sheets: bool = True  # a PNG sheet per scale (real | sample | reconstruction), curves.png
  # The persistent XLA compilation cache: "" = $SINGAN_JAX_CACHE_DIR, else
  # ~/.cache/singan_jax/xla; "off": none.
  compilation_cache_dir: str = ""
  # Compile scale n + 1's iteration in a worker thread while scale n trains (one device).
  compile_ahead: bool = True


SECTIONS = (Inputs, Plan, Networks, Training, Inpainting, Modes, Runtime)
# Rules between two fields of a section: (section, field named, ok(section or config),
# problem, fix).
CROSS_RULES = (
  (Plan, "max_size", lambda c: c.max_size >= c.min_size, "is below min_size", "raise max_size"),
  (
    Inputs,
    "mask",
    lambda c: bool(c.image) or not c.mask,
    "is set without --config.image",
    "give both, or neither for the bundled example",
  ),  # fmt: skip
)


@dataclasses.dataclass(frozen=True)
class Settings:
  """One run's config as its checked sections, built from the flat config at the orchestration's
  edge: the trainer reads its plan, networks, training, runtime and seed (the inpainter is
  given its Inpainting section alone)."""

  inputs: Inputs
  plan: Plan
  networks: Networks
  training: Training
  inpainting: Inpainting
  modes: Modes
  runtime: Runtime

  @classmethod
  def from_config(cls, cfg) -> Settings:
    """Every section of a flat config (a ConfigDict or anything with the fields as attributes)."""
    return cls(*(section.from_config(cfg) for section in SECTIONS))

  def values(self) -> dict:
    """{field: value} of every section, flat as in the config."""
    return {k: v for s in dataclasses.fields(self) for k, v in vars(getattr(self, s.name)).items()}


def fields() -> Iterator[dataclasses.Field]:
  """Every field of every section, in the sections' order."""
  for section in SECTIONS:
    yield from dataclasses.fields(section)


def defaults() -> dict:
  """{field: default} of every field."""
  return {f.name: f.default for f in fields()}


def problems(cfg, section=None) -> Iterator[tuple[str, str, str]]:
  """(field, problem, fix) for each rule cfg breaks, in the fields' order: every section's
  rules, or one section's (cfg then holds only its fields)."""
  for f in dataclasses.fields(section) if section else fields():
    ok = f.metadata.get("ok")
    if ok is not None and not ok(getattr(cfg, f.name)):
      yield f.name, f.metadata["problem"], f.metadata["fix"]
  for rule_section, field, ok, problem, fix in CROSS_RULES:
    if section in (None, rule_section) and not ok(cfg):
      yield field, problem, fix


def _refusal(field: str, value, problem: str, fix: str) -> errors.SettingError:
  return errors.SettingError(f"{field}={value!r} {problem}: {fix}", field)


def check(section, field: str, value) -> None:
  """Raises SettingError if `value` breaks the rule of `section`'s `field`: the library's
  guards for Python callers refuse with the same rule and words as the config's check."""
  meta = section.__dataclass_fields__[field].metadata
  if meta.get("ok") is not None and not meta["ok"](value):
    raise _refusal(field, value, meta["problem"], meta["fix"])


def recorded_fields() -> dict:
  """{field: FIXED or TUNABLE} of the fields a pyramid is trained with (run.json's record)."""
  return {f.name: f.metadata["pyramid"] for f in fields() if f.metadata.get("pyramid")}


def identity_fields(settings: Settings) -> dict:
  """The FIXED fields' values that enter the run identity beside the plan (which holds the
  Plan section's), each where its condition holds."""
  cfg = types.SimpleNamespace(**settings.values())
  plan = {f.name for f in dataclasses.fields(Plan)}
  out = {}
  for f in fields():
    enters = f.metadata.get("identity") or (lambda c: True)
    if f.metadata.get("pyramid") == FIXED and f.name not in plan and enters(cfg):
      value = getattr(cfg, f.name)
      out[f.name] = bool(value) if isinstance(f.default, bool) else value
  return out
