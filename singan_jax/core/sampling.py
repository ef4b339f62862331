"""Drawing from a trained pyramid: random samples, reconstructions, injection at scale n.

A trained scale is a `FrozenScale`; its generator runs with BatchNorm running averages.
In partial mode frozen generators get an all-known mask (zero-padded like their input):
generation fills everywhere, holes included. compat '2019' (NetConfig.compat) follows the 2019
code instead: the all-ones mask of the padded size at inference, each scale's own known mask
(zero-padded) in training draws (`masks`), and its resize (core/resize.py) between scales.
"""

import dataclasses
import functools
from typing import Any, Sequence

import flax
import jax
import jax.numpy as jnp

from singan_jax.core import errors
from singan_jax.core import models
from singan_jax.core import partial_conv as pconv_lib
from singan_jax.core import resize as resize_lib
from singan_jax.core import schema

PAD = 5  # ((kernel 3 - 1) * 5 layers) / 2: the VALID nets shrink the input by this per side


@flax.struct.dataclass
class FrozenScale:
  """A finished scale: generator variables, fixed reconstruction noise, noise amplitude."""

  g_vars: Any  # {'params': ..., 'batch_stats': ...}
  z_opt: jax.Array  # (1, h, w, 3)
  noise_amp: jax.Array  # ()


@dataclasses.dataclass(frozen=True)
class NetConfig:
  """Static network settings shared by every scale."""

  num_layer: int = schema.Networks.num_layer
  partial: bool = schema.Networks.partial
  normalization: str = schema.Networks.pconv_norm
  compute_dtype: str = schema.Networks.compute_dtype  # 'bfloat16': convolutions in bf16
  conv_batching: str = schema.Networks.conv_batching  # conv form under vmap (partial_conv)
  conv_impl: str = schema.Networks.conv_impl  # convolution formulation (partial_conv)
  compat: str = schema.Networks.compat  # '2019': the 2019 code's masks, resize (docstring)

  def __post_init__(self):
    resize_lib.check_compat(self.compat)  # a bad value fails here, naming the flag

  @classmethod
  def of(cls, networks: schema.Networks, batch: int = 1) -> "NetConfig":
    """The settings of the config's Networks section for a batch of `batch` images.
    conv_batching 'auto' is JAX's own rule for one image (a plain convolution: nothing to
    unroll)."""
    batching = networks.conv_batching
    if batching == "auto" and batch == 1:
      batching = "grouped"
    return cls(
      num_layer=networks.num_layer,
      partial=bool(networks.partial),
      normalization=networks.pconv_norm,
      compute_dtype=networks.compute_dtype,
      conv_batching=batching,
      conv_impl=networks.conv_impl,
      compat=networks.compat,
    )

  @property
  def train_masks(self) -> bool:
    """Whether training draws give frozen generators their scale's known mask (2019)."""
    return self.compat in ("2019", "2019-draws")

  def generator(self, nfc: int, min_nfc: int) -> models.Generator:
    return models.Generator(
      nfc,
      min_nfc,
      self.num_layer,
      self.partial,
      self.normalization,
      self._conv_dtype(),
      self._batching(),
      pconv_lib.resolve_impl(self.conv_impl),
    )

  def discriminator(self, nfc: int, min_nfc: int) -> models.Discriminator:
    return models.Discriminator(
      nfc,
      min_nfc,
      self.num_layer,
      self.partial,
      self.normalization,
      self._conv_dtype(),
      self._batching(),
      pconv_lib.resolve_impl(self.conv_impl),
    )

  def _batching(self):
    pconv_lib.resolve_batching(self.conv_batching)  # validates: a bad value fails here
    return self.conv_batching

  def _conv_dtype(self):
    schema.check(schema.Networks, "compute_dtype", self.compute_dtype)
    return None if self.compute_dtype == "float32" else self.compute_dtype


def pad(x, p: int = PAD):
  """Zero-pads the two spatial axes of (N, H, W, C) by p pixels."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def noise(key, batch: int, h: int, w: int, single_channel: bool, dtype=jnp.float32):
  """Gaussian noise (batch, h, w, 3); one channel broadcast to 3 at the coarsest scale."""
  if single_channel:
    return jnp.broadcast_to(jax.random.normal(key, (batch, h, w, 1), dtype), (batch, h, w, 3))
  return jax.random.normal(key, (batch, h, w, 3), dtype)


def frozen_mask(prev, known=None, compat: str = ""):
  """A frozen generator's (B, h + 2 PAD, w + 2 PAD, 1) mask for its input `prev`.

  known (1 or B, h, w, 1) given: that map zero-padded (the 2019 training draws). Else ours,
  all known zero-padded (the padding counts as hole, as in training), or with compat '2019'
  all ones (the 2019 inference convention: the padding counts as known).
  """
  shape = prev.shape[:-1] + (1,)
  if known is not None:
    return pad(jnp.broadcast_to(known, shape).astype(prev.dtype))
  if resize_lib.check_compat(compat):
    return jnp.ones((shape[0], shape[1] + 2 * PAD, shape[2] + 2 * PAD, 1), prev.dtype)
  return pad(jnp.ones(shape, prev.dtype))


@dataclasses.dataclass(frozen=True)
class Generators:
  """The static half of drawing from a pyramid, hashable (a jit's static argument): one
  generator module per trained scale, every scale's (h, w) (one more than the modules when
  drawing a coarser scales' image for the next), the step between scales, partial convs or
  plain, the 2019 compat switch. The variables (FrozenScale per scale) travel beside it."""

  modules: tuple
  shapes: tuple
  scale_factor: float
  partial: bool = True
  compat: str = ""

  @classmethod
  def of(cls, plan, net: NetConfig, upto: int | None = None, shapes=None) -> "Generators":
    """The generators of scales 0..upto-1 (all when None) of a ScalePlan built with net;
    shapes: the plan's, or others for a sample of another size (scaled_shapes)."""
    upto = plan.num_scales if upto is None else upto
    modules = tuple(net.generator(plan.nfc[k], plan.min_nfc[k]) for k in range(upto))
    shapes = plan.shapes if shapes is None else shapes
    return cls(
      modules,
      tuple((int(h), int(w)) for h, w in shapes),
      float(plan.scale_factor),
      bool(net.partial),
      net.compat,
    )

  def first(self, n: int) -> "Generators":
    """Scales 0..n-1's generators, every shape kept: what draws the previous image of n."""
    return dataclasses.replace(self, modules=self.modules[:n])


def run_frozen(
  gen: models.Generator, g_vars, z, prev, noise_amp, partial: bool, known=None, compat: str = ""
):
  """One frozen scale: G(noise_amp * pad(z) + pad(prev), pad(prev)) in eval mode."""
  prev_p = pad(prev)
  mask = frozen_mask(prev, known, compat) if partial else None
  return gen.apply(g_vars, noise_amp * pad(z) + prev_p, prev_p, mask, train=False)


def chain(
  gens: Generators,
  frozen: Sequence[FrozenScale],
  x0,
  start: int,
  mode: str,
  key=None,
  masks=None,
  anchors=None,
):
  """Runs scales start..len(frozen)-1 from x0 (B, h_start, w_start, 3).

  mode 'rand' draws fresh noise (key required), 'rec' uses each scale's z_opt. masks: a known
  map per scale for the frozen generators (2019 training draws), or None (frozen_mask).
  anchors: per scale (image, weight) re-imposed after that scale, weight * image + (1 -
  weight) * x (the known pixels during inpainting); None: free generation. Returns the image
  at the last scale (B, h, w, 3), not upsampled.
  """
  x = x0
  batch = x0.shape[0]
  for k in range(start, len(frozen)):
    if k > start:
      x = resize_lib.resize(x, 1.0 / gens.scale_factor, gens.shapes[k], gens.compat)
    h, w = gens.shapes[k]
    if mode == "rec":
      z = jnp.broadcast_to(frozen[k].z_opt, (batch, h, w, 3))
    elif mode == "rand":
      z = noise(jax.random.fold_in(key, k), batch, h, w, single_channel=(k == 0), dtype=x0.dtype)
    else:
      raise ValueError(f"draw mode {mode!r}: use 'rand' or 'rec'")
    known = None if masks is None else masks[k]
    fr = frozen[k]
    x = run_frozen(gens.modules[k], fr.g_vars, z, x, fr.noise_amp, gens.partial, known, gens.compat)
    if anchors is not None:
      image, weight = anchors[k]
      x = weight * image + (1.0 - weight) * x
  return x


def draw_prev(
  gens: Generators, frozen, mode, key=None, batch: int = 1, dtype=jnp.float32, masks=None
):
  """The 'previous image' for scale n = len(frozen): the coarser scales' draw, upsampled.

  Zeros at scale 0. Returns (batch, h_n, w_n, 3). masks: as in `chain`.
  """
  n = len(frozen)
  h0, w0 = gens.shapes[0]
  x0 = jnp.zeros((batch, h0, w0, 3), dtype)
  if n == 0:
    return x0
  x = chain(gens, frozen, x0, 0, mode, key, masks)
  return resize_lib.resize(x, 1.0 / gens.scale_factor, gens.shapes[n], gens.compat)


def scaled_shapes(shapes, scale_h: float = 1.0, scale_w: float = 1.0):
  """Per-scale shapes for a sample of another size (the nets are fully convolutional)."""
  return tuple(
    (max(int(round(h * scale_h)), 1), max(int(round(w * scale_w)), 1)) for h, w in shapes
  )


def sample(gens: Generators, frozen, key, batch: int = 1):
  """Random samples from the whole pyramid: (batch, h_N, w_N, 3)."""
  h0, w0 = gens.shapes[0]
  x0 = jnp.zeros((batch, h0, w0, 3), jnp.float32)
  return chain(gens, frozen, x0, 0, "rand", key)


def check_inject_scale(n: int, shapes) -> None:
  """Refuses an injection scale outside 1..N, naming the flag."""
  stop = len(shapes) - 1
  if not 1 <= n <= stop:
    raise errors.SettingError(
      f"injection scale {n} is out of range: use inject_scale in 1..{stop} for this "
      f"{len(shapes)}-scale pyramid",
      "inject_scale",
    )


def injection_input(finest_image, shapes, scale_factor: float, n: int, compat: str = ""):
  """in_s for injection at scale n: the finest-resolution image taken down to scale n-1's
  grid and back up by one step (as the 2019 harmonisation code), (B, h_n, w_n, 3)."""
  check_inject_scale(n, shapes)
  stop = len(shapes) - 1
  x = resize_lib.resize(finest_image, scale_factor ** (stop - n + 1), shapes[n - 1], compat)
  return resize_lib.resize(x, 1.0 / scale_factor, shapes[n], compat)


def inject(gens: Generators, frozen, finest_image, n: int, key, anchors=None):
  """Injects finest_image (B, h_N, w_N, 3) at scale n and regenerates n..N with fresh noise
  (anchors: see chain). One jit-compiled program per pyramid and scale, so a re-run loads it
  from the compilation cache instead of dispatching (and caching) each op of the nets."""
  check_inject_scale(n, gens.shapes)  # before tracing: the error names the flag
  return _inject(gens, frozen, finest_image, n, key, anchors)


@functools.partial(jax.jit, static_argnames=("gens", "n"))
def _inject(gens, frozen, finest_image, n, key, anchors):
  x0 = injection_input(finest_image, gens.shapes, gens.scale_factor, n, gens.compat)
  return chain(gens, frozen, x0, n, "rand", key, anchors=anchors)
