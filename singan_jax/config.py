"""Every config field with its paper default (SinGAN 2019 + the PC-SinGAN report).

configs/*.py start from `get_config()` here and override a few fields. Field names follow
the 2019 code's options where one exists.
"""

from absl import logging
import ml_collections

from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.training import step


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Inputs (empty: the bundled example).
  c.image = ""
  c.mask = ""
  c.seed = 0
  # Batched runs (singan_jax/pipeline.py): a glob of images (mask beside each as
  # NAME_mask.png) or a manifest (.csv / .jsonl: image, mask, output). Empty: one image.
  c.images = ""
  c.common_size = ""  # "HxW": resize every image to it (one bucket); "": own size
  # Scale plan.
  c.max_size = 250
  c.min_size = 25
  c.scale_factor = 0.75
  # Networks.
  c.nfc = 32
  c.min_nfc = 32
  c.nfc_cap = 128
  c.num_layer = 5
  c.partial = True  # PC-SinGAN: every conv is a partial conv
  c.pconv_norm = "ratio"  # 'ratio' (window/sum(M), NVIDIA) or 'sum' (report eq. 2:
  # 1/sum(M), shrinks every layer by 1/(9 Cin) below BatchNorm's
  # eps: the nets barely train; docs/quality.md)
  c.mask_mode = "threshold"  # mask pyramid: 'threshold' or 'bbox'
  c.mask_threshold = 0.5  # a downsampled pixel is hole when its hole share exceeds this
  # (2019 code: 0.01, every touched pixel; 0.5 measured better,
  # docs/quality.md)
  # Conventions: "2019" reproduces the 2019 code's (frozen-generator masks, its uint8 resize
  # with top/left border taps dropped, its image read and mask pyramids bit for bit; implies
  # COMPAT_2019_IMPLIES below); "" or "none": ours (docs/parity_2019.md).
  c.compat = ""
  # Training (per scale).
  c.niter = 2000
  c.lr_g = 5e-4
  c.lr_d = 5e-4
  c.beta1 = 0.5
  c.gamma = 0.1
  c.lr_drop = 0.8  # learning rate x gamma from iteration lr_drop * niter
  c.Gsteps = 3
  c.Dsteps = 3
  c.lambda_grad = 0.1
  c.alpha = 10.0
  c.noise_amp = 0.1  # noise_amp_n = noise_amp * RMSE(real, reconstruction)
  # Schedule: "singan" trains one scale at a time, the coarser ones frozen; "concurrent"
  # (ConSinGAN-style, training/concurrent.py) trains the train_depth finest scales so far
  # together, the older ones at lr x lr_scale per scale below the newest.
  c.schedule = "singan"
  c.train_depth = 3
  c.lr_scale = 0.1
  # Inpainting.
  c.fill = "local_means"  # none | mean | local_means | patchmatch
  c.fill_radius = 4
  c.patch_size = 7
  c.patch_iters = 5
  c.inject_scale = -1  # 1..N; -1: round(inject_fraction * N)
  c.inject_fraction = 0.4  # 3 of 0..7 for the report's 8-scale example
  c.coherence = True  # re-impose the known pixels after every scale of the injection
  c.upscale = "resize"  # past the finest scale: "resize" (bicubic) or "sr" (the finest
  # generator at steps of 1/scale_factor, known pixels re-imposed: more detail, but striped
  # holes on the demo; docs/quality.md)
  c.texture = "patchmatch"  # after generation, at the input's size: "patchmatch" rebuilds the
  # hole from the photo's own patches, seeded by the generated image; "none": the generator's
  c.texture_patch = 7  # the texture pass's patch side (odd)
  c.texture_levels = 3  # its coarse-to-fine depth (the coarsest level starts from the generator)
  c.texture_final = "centre"  # "centre": each hole pixel copied from its patch's source;
  # "vote": the mean of the overlapping patches' sources (smoother)
  c.texture_locality = 0.5  # the texture pass's preference for sources near their target
  # (the mean squared per-value error a source one image side away must beat; 0: none;
  # +1.1 dB in the hole, docs/quality.md)
  c.texture_guide = 0.0  # the weight of a guide in the texture pass's patch distance: the
  # generated image blurred over a patch (sources must also match its layout; 0: none;
  # measured at 1: mixed on tune, docs/quality.md)
  c.texture_diversity = 0.0  # the weight of a cost on sources that many hole patches already
  # copy (no patch pasted over and over into a large hole; 0: none; docs/quality.md)
  c.texture_structure = 0.5  # in [0, 1]: how far the fill's coarse layer moves to the
  # harmonic (membrane) fill's: patch texture, brightness and colour from the hole's edge
  # (+0.3 dB in the hole on both halves, patch SWD a little worse; docs/quality.md)
  c.texture_structure_radius = 2  # that coarse layer's blur (3 box passes of this radius)
  c.seam = "poisson"  # "poisson": a gradient-domain correction of the hole that meets the
  # known pixels at its edge, keeping the fill's own texture (inpainting/seam.py); "fusion": the
  # same, and the steps between pasted patches inside the hole smoothed too; "none"
  c.blend = "feather"  # "feather": known pixels beyond blend_feather px stay the input's;
  # "soft": the report's blend (dilate by blend_radius, blur by blend_sigma)
  c.blend_feather = 2.0  # in input pixels; 0: only the hole changes
  c.blend_radius = 7.0  # soft blend, in finest-scale pixels (scaled to the input's resolution)
  c.blend_sigma = 5.0
  c.num_candidates = 1  # K > 1: K draws in one vmap, keep the best by seam + patch
  # statistics (no ground truth; singan_jax/inpainting/candidates.py)
  c.progressive_rings = 1  # > 1: fill a large hole ring by ring, boundary inwards
  c.progressive_share = 0.2  # ... when the hole covers more than this share of the image
  # Sampling mode.
  c.num_samples = 4
  c.sample_scale_h = 1.0  # sample height / trained height (any size: fully convolutional)
  c.sample_scale_w = 1.0  # sample width / trained width
  # Applications on a trained pyramid (singan_jax/modes/, docs/applications.md).
  c.ref_image = ""  # harmonize / edit: the composite / edited image; paint2image: the painting
  c.ref_mask = ""  # harmonize / edit: white = the pasted object / edited region
  c.ref_scale = -1  # injection scale 1..N; -1: the mode's default (harmonize, edit: round(N / 2);
  # paint2image: 1). The 2019 code has no default: --harmonization_start_scale etc.
  c.quantize = False  # paint2image: the painting mapped to the training image's k-means palette
  c.quantize_colors = 5  # the palette's size (2019: 5)
  c.animate_frames = 30  # frames of the animated GIF
  c.animate_alpha = 0.1  # pull of the noise walk towards the reconstruction noise (2019: 0.1)
  c.animate_beta = 0.9  # momentum of the walk (2019: 0.9; tried 0.80..0.95)
  c.animate_start_scale = 0  # coarser scales keep their reconstruction noise (2019: 0..2)
  c.animate_fps = 10
  c.sr_factor = 4.0  # super_resolve: output size / the training image's size
  # Bookkeeping.
  c.checkpoint_every = 500  # in-scale checkpoint every K iterations (0: only per scale)
  c.log_every = 100
  c.sheets = True  # PNG sheet per scale (real | random sample | reconstruction), curves.png
  # Performance (docs/performance.md).
  c.compilation_cache_dir = ""  # persistent XLA compilation cache: a second run compiles
  # nothing; "" = $SINGAN_JAX_CACHE_DIR, else ~/.cache/singan_jax/xla; "off": none
  c.compute_dtype = "float32"  # "bfloat16": convolutions in bf16 (TPU/GPU opt-in; slower
  # on most CPUs), params, BatchNorm and losses stay float32
  c.conv_batching = "auto"  # B images' convs under vmap: "unrolled" (B single convs; the
  # fast one on XLA:CPU), "grouped" (one grouped conv), "auto"
  # = unrolled on CPU, grouped on TPU/GPU
  c.conv_impl = "platform"  # convolution formulation: "platform" (oneDNN's on a CPU where
  # it builds, else XLA's), "native" (XLA's), "im2col", "shifted", "chunked", "onednn"
  # (oneDNN's, CPU float32, built at first use from the oneDNN wheels that x86-64 Linux
  # installs; XLA's when unavailable, one warning), or
  # "auto": measure each per shape and processor once, cache beside the compilation cache
  # (docs/performance.md)
  c.compile_ahead = True  # compile scale n + 1's iteration in a worker thread while scale n
  # trains (single-device runs; hides most of XLA's compile time on a CPU)
  c.step_loop = "auto"  # an iteration's D and G steps: "scan" (compiled once each),
  # "unrolled", "auto" (= scan on a GPU / TPU, where it halves the device memory, and with
  # oneDNN's convolutions; unrolled with XLA's on a CPU)
  return c


# What compat '2019' sets where the user gave nothing: the 2019 code's mask threshold and, for
# partial convs, its 1/sum(M) normalisation (a 2019 PC checkpoint always means 'sum').
COMPAT_2019_IMPLIES = {"mask_threshold": 0.01, "pconv_norm": "sum"}


def with_compat_implied(cfg, explicit=()):
  """cfg with the fields compat '2019' implies (COMPAT_2019_IMPLIES; pconv_norm only for
  partial convs), except those given explicitly: each of those that departs gets one warning."""
  if cfg.compat != "2019":
    return cfg
  implied = {f: v for f, v in COMPAT_2019_IMPLIES.items() if f != "pconv_norm" or cfg.partial}
  for field in sorted(set(implied) & set(explicit)):
    if cfg[field] != implied[field]:
      logging.warning(
        "--config.%s=%r with compat '2019': the 2019 code uses %r, so this pyramid departs "
        "from it there",
        field,
        cfg[field],
        implied[field],
      )
  changes = {f: v for f, v in implied.items() if f not in explicit and cfg[f] != v}
  if not changes:
    return cfg
  cfg = cfg.copy_and_resolve_references()
  for field, value in changes.items():
    cfg[field] = value
  return cfg


def typed_value(cfg, field: str, text: str):
  """text read as cfg's `field`'s type (bools from 1 / true / yes), for FIELD=VALUE flags
  outside absl's (bench --set, evaluate --extra); KeyError when cfg has no such field."""
  if field not in cfg:
    raise KeyError(field)
  old = cfg[field]
  return text.lower() in ("1", "true", "yes") if isinstance(old, bool) else type(old)(text)


# -- settings built from a config: the one place that maps fields to library objects -------


def scale_plan(cfg, h: int, w: int) -> pyramid.ScalePlan:
  """The scale plan of an h x w training image."""
  return pyramid.make_plan(
    h,
    w,
    max_size=cfg.max_size,
    min_size=cfg.min_size,
    scale_factor=cfg.scale_factor,
    nfc=cfg.nfc,
    min_nfc=cfg.min_nfc,
    nfc_cap=cfg.nfc_cap,
  )


def net_settings(cfg, batch: int = 1) -> sampling.NetConfig:
  """The networks' static settings for a batch of `batch` images. conv_batching 'auto' is
  JAX's own rule for one image (a plain convolution: nothing to unroll)."""
  batching = cfg.conv_batching
  if batching == "auto" and batch == 1:
    batching = "grouped"
  return sampling.NetConfig(
    num_layer=cfg.num_layer,
    partial=bool(cfg.partial),
    normalization=cfg.pconv_norm,
    compute_dtype=cfg.compute_dtype,
    conv_batching=batching,
    conv_impl=cfg.conv_impl,
    compat=cfg.compat,
  )


def train_settings(cfg) -> step.TrainConfig:
  """One scale's training hyper-parameters."""
  return step.TrainConfig(
    niter=cfg.niter,
    lr_g=cfg.lr_g,
    lr_d=cfg.lr_d,
    beta1=cfg.beta1,
    gamma=cfg.gamma,
    lr_drop=cfg.lr_drop,
    Gsteps=cfg.Gsteps,
    Dsteps=cfg.Dsteps,
    lambda_grad=cfg.lambda_grad,
    alpha=cfg.alpha,
    step_loop=cfg.step_loop,
    schedule=cfg.schedule,
    train_depth=cfg.train_depth,
    lr_scale=cfg.lr_scale,
  )
