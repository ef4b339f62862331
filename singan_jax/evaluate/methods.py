"""What the quality evaluation runs: its options, the methods it scores and each method's
config (the classical baselines, our switches and sweeps, --extra combinations)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax import config as defaults
from singan_jax import configs
from singan_jax import rng
from singan_jax.core import partial_conv
from singan_jax.core import schema
from singan_jax.evaluate import cases as cases_lib
from singan_jax.inpainting import blend as blend_lib
from singan_jax.inpainting import fill as fill_lib
from singan_jax.inpainting import inpaint as inpaint_lib
from singan_jax.inpainting import texture
from singan_jax.io import images as image_io

CLASSICAL = (
  "mean",
  "local_means",
  "patchmatch",
  "exemplar",
  "telea",
  "navier_stokes",
  "biharmonic",
  "harmonic",
)
# Our pipeline without the GAN: the initialiser, then the texture pass and seam correction.
NO_GAN = "ours:nogan"
# Reference points that read the truth: its own pixels moved d px down and right into the
# hole, a fill with exactly the right texture and colours, misplaced by d px. What they score
# bounds what any fill with the truth's detail but not its exact phase can score.
ORACLES = {"truth:shift1": 1, "truth:shift2": 2}

# The inpainting switches flipped alone (sr: on), and the report's pipeline (all of ours off).
SWITCHES = {
  "ours:notex": {"texture": "none"},
  "ours:noseam": {"seam": "none"},
  "ours:notex:noseam": {"texture": "none", "seam": "none"},
  "ours:vote": {"texture_final": "vote"},
  "ours:free": {"coherence": False},
  "ours:sr": {"upscale": "sr"},
  "ours:soft": {"blend": "soft"},
  "ours:noloc": {"texture_locality": 0.0},
  "ours:inject0.75": {"inject_fraction": 0.75},
  "report": {
    "coherence": False,
    "upscale": "resize",
    "blend": "soft",
    "texture": "none",
    "seam": "none",
  },
}


_DEMO = configs.demo()  # the evaluation's size and budget are the demo's


@dataclasses.dataclass
class Options:
  """What to evaluate; the absl flags of this module fill it."""

  out: str
  images: tuple = cases_lib.TUNE  # of the development set (cases.SPLITS: tune, test)
  holes: tuple = cases_lib.HOLES
  size: int = _DEMO.max_size  # the pyramid's max_size (finest scale's longer side)
  input_size: int = 0  # the images' longer side (0: size); above size, the hole is carried
  # from the finest scale up to the input's size (cfg.upscale)
  min_size: int = _DEMO.min_size
  niter: int = _DEMO.niter
  nfc: int = _DEMO.nfc  # every scale's width (demo: nfc_cap = nfc)
  seed: int = _DEMO.seed
  candidates: int = 4  # K of the '+cand' methods
  rings: int = 3  # rings of the '+prog' methods
  sweeps: bool = False  # inpainting-side sweeps (fill, injection, texture pass, blend)
  train_variants: tuple = ()  # extra pyramids: threshold_<t>, sum, ratio,
  # compat_<c>, concurrent_<train_depth>[_<niter>] (the concurrent schedule)
  train_only: tuple = ()  # train just these pyramids and stop (a second process can
  # train 'vanilla' while the first trains the others)
  vanilla: bool = False  # train a vanilla pyramid too and score it ('vanilla' methods)
  methods: tuple = ()  # score only these SinGAN methods ('ours' always; baselines always run)
  extra: tuple = ()  # more methods on the PC pyramid: "NAME:field=value[,field=value...]"
  gan: bool = True  # False: no pyramid is trained; only the baselines and NO_GAN are scored
  batch: int = -1  # at most this many cases per vmapped batch (0: all cases of one shape;
  # -1: batch_size's choice)


def composite(pixels, hole, filled_float) -> np.ndarray:
  """The known pixels of `pixels` with the hole taken from a [-1, 1] fill, uint8."""
  return np.where(hole[..., None], image_io.from_float(np.asarray(filled_float)), pixels)


def classical(method: str, case: cases_lib.Case, seed: int, key_id: int):
  """A baseline's output (uint8), or None when OpenCV is missing for telea/navier_stokes.
  biharmonic: scikit-image's inpaint_biharmonic (per channel); harmonic: the membrane fill
  the texture pass takes its coarse layer from (texture.harmonic_fill)."""
  if method == "harmonic":
    x = jnp.asarray(image_io.to_float(case.damaged))
    return composite(case.damaged, case.hole, texture.harmonic_fill(x, jnp.asarray(case.hole)))
  if method == "biharmonic":
    from skimage import restoration  # pylint: disable=g-import-not-at-top

    filled = restoration.inpaint_biharmonic(case.damaged, case.hole, channel_axis=-1)
    return composite(case.damaged, case.hole, np.asarray(filled) * 2.0 - 1.0)
  if method in ("telea", "navier_stokes"):
    try:
      import cv2  # pylint: disable=g-import-not-at-top
    except ImportError:
      return None
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    return cv2.inpaint(case.damaged, case.hole.astype(np.uint8) * 255, 3, flag)
  opts = schema.Inpainting()
  x = image_io.to_float(case.damaged)
  filled = inpaint_lib.initial_fill(x, ~case.hole, opts, rng.baseline_key(seed, key_id), method)
  return composite(case.damaged, case.hole, filled)


def shifted_truth(case: cases_lib.Case, shift: int) -> np.ndarray:
  """The hole of case filled by its truth moved `shift` px down and right (edges repeated),
  uint8: an oracle (ORACLES), not a method a user has."""
  h, w = case.truth.shape[:2]
  padded = np.pad(case.truth, ((shift, 0), (shift, 0), (0, 0)), mode="edge")
  return np.where(case.hole[..., None], padded[:h, :w], case.damaged)


def texture_only(case: cases_lib.Case, cfg, key_id: int) -> np.ndarray:
  """Our pipeline with the GAN left out (NO_GAN, uint8): cfg.fill's initialiser at the input's
  size seeds the texture pass (with its seam correction), then the feathered composite: what
  the texture pass does without a generated layout."""
  x, opts = image_io.to_float(case.damaged), schema.Inpainting.from_config(cfg)
  filled = inpaint_lib.initial_fill(x, ~case.hole, opts, rng.inpaint_keys(cfg.seed, key_id)[0])
  full = inpaint_lib.finish_hole(
    x, case.hole, np.asarray(filled), rng.texture_key(cfg.seed, key_id), opts
  )
  return blend_lib.composite(case.damaged, full, blend_lib.blend_alpha(case.hole, opts, 1.0))


def batch_size(opts: Options) -> int:
  """Cases per vmapped batch (0: no limit); -1 means 1 on a CPU (batching gains <= 1.2x there,
  docs/batching.md, and compiles B convolutions per program), else no limit."""
  if opts.batch >= 0:
    return opts.batch
  return 1 if jax.default_backend() == "cpu" else 0


def base_config(opts: Options):
  """The chosen defaults at the evaluation's (small) size and budget."""
  cfg = defaults.get_config()
  cfg.update(
    max_size=opts.size,
    min_size=opts.min_size,
    niter=opts.niter,
    nfc=opts.nfc,
    min_nfc=opts.nfc,
    nfc_cap=opts.nfc,
    seed=opts.seed,
    checkpoint_every=0,
    log_every=max(opts.niter // 2, 1),
    sheets=False,
  )
  # The blend is in finest-scale pixels; the defaults are for the paper's 250 px finest scale.
  scale = opts.size / schema.Plan.max_size
  cfg.blend_radius = schema.Inpainting.blend_radius * scale
  cfg.blend_sigma = schema.Inpainting.blend_sigma * scale
  return cfg


def training_variants(opts: Options) -> dict:
  """name -> config overrides of every pyramid to train ('pc' always, 'vanilla' unless
  opts.vanilla is False)."""
  out = {"pc": {}, "vanilla": {"partial": False}} if opts.vanilla else {"pc": {}}
  for v in opts.train_variants:
    if v.startswith("threshold_"):
      out[v] = {"mask_threshold": float(v.split("_", 1)[1])}
    elif v in partial_conv.NORMALIZATIONS:
      out[v] = {"pconv_norm": v}
    elif v.startswith("compat_"):
      out[v] = {"compat": v.split("_", 1)[1]}
    elif v.startswith("concurrent_"):  # concurrent_<train_depth>[_<niter>]
      depth, *niter = map(int, v.split("_")[1:])
      out[v] = {"schedule": "concurrent", "train_depth": depth}
      if niter:
        out[v] |= {"niter": niter[0], "log_every": max(niter[0] // 2, 1)}
    elif v:
      raise ValueError(
        f"training variant {v!r}: use threshold_<t>, sum, ratio, compat_<c> or "
        "concurrent_<depth>[_<niter>]"
      )
  return out


def inpainting_variants(opts: Options, num_scales: int) -> dict:
  """name -> (pyramid, config overrides) of every SinGAN method of the run."""
  k, r = (
    {"num_candidates": opts.candidates},
    {"progressive_rings": opts.rings, "progressive_share": 0.0},
  )
  out = {
    "ours": ("pc", {}),
    **{name: ("pc", overrides) for name, overrides in SWITCHES.items()},
    "ours+cand": ("pc", k),
    "ours+prog": ("pc", r),
    "ours+cand+prog": ("pc", {**k, **r}),
  }
  if opts.vanilla:
    out |= {"vanilla": ("vanilla", {}), "vanilla+cand": ("vanilla", k)}
  for v in training_variants(opts):
    if v not in ("pc", "vanilla"):
      out[f"train:{v}"] = (v, {})
      out[f"train:{v}:notex"] = (v, SWITCHES["ours:notex"])  # what its GAN alone paints
  if opts.sweeps:
    for fill in fill_lib.VALID_METHODS:
      out[f"fill:{fill}"] = ("pc", {"fill": fill})
    for n in range(1, num_scales):
      out[f"inject:{n}/{num_scales - 1}"] = ("pc", {"inject_scale": n})
    for levels in (2, 4):
      out[f"tex:levels{levels}"] = ("pc", {"texture_levels": levels})
    for loc in (0.02, 0.1, 0.5):
      out[f"tex:loc{loc:g}"] = ("pc", {"texture_locality": loc})
    scale = opts.size / 250.0
    for rad, sig in ((3.0, 2.0), (7.0, 5.0), (11.0, 8.0)):
      out[f"blend:{rad:g}/{sig:g}"] = (
        "pc",
        {"blend_radius": rad * scale, "blend_sigma": sig * scale},
      )
  out |= {name: ("pc", overrides) for name, overrides in map(parse_extra, opts.extra)}
  if opts.methods:
    unknown = sorted(set(opts.methods) - set(out))
    if unknown:
      raise ValueError(f"--methods {unknown} unknown: use some of {sorted(out)}")
    out = {m: v for m, v in out.items() if m == "ours" or m in opts.methods}
  return out


def parse_extra(spec: str) -> tuple[str, dict]:
  """'NAME:field=value,field=value' -> (NAME, overrides), each value parsed as the config
  field's type (a field the config lacks, or a malformed spec, is refused)."""
  name, sep, body = spec.partition(":")
  cfg, overrides = defaults.get_config(), {}
  for item in body.split(",") if sep and body else ():
    field, eq, value = item.partition("=")
    if not eq or field not in cfg:
      raise ValueError(f"--extra {spec!r}: {item!r} is not FIELD=VALUE of a config field")
    overrides[field] = defaults.typed_value(cfg, field, value)
  if not name or not overrides:
    raise ValueError(f"--extra {spec!r}: use NAME:FIELD=VALUE[,FIELD=VALUE...]")
  return name, overrides
