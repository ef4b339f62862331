"""Running frozen generators (eval mode, BatchNorm running stats): draw, sample, inject.

Frozen generators' masks (partial mode): ours, the all-known map zero-padded (padding =
hole); compat '2019': the all-ones map of the padded size (padding = known), as the 2019
code at inference; `masks` (one known map per scale) zero-padded: the 2019 training draws.
"""

import torch

from .resize import resize
from .train import zero_pad


def frozen_mask(x_prev, pad, known=None, compat=""):
  """The (N, 1, H + 2 pad, W + 2 pad) mask of a frozen generator (module docstring)."""
  if known is not None:
    return zero_pad(known.expand(x_prev.shape[0], 1, -1, -1).to(x_prev.dtype), pad)
  if compat == "2019":
    h, w = x_prev.shape[-2:]
    return torch.ones(x_prev.shape[0], 1, h + 2 * pad, w + 2 * pad, dtype=x_prev.dtype)
  return zero_pad(torch.ones_like(x_prev[:, :1]), pad)


def _chain(Gs, zs, noise_amps, shapes, x_prev, first, sf, pad, partial, masks=None, compat=""):
  """Run G_first..G_last from x_prev (at scale `first`); returns the last G's output.

  zs[k] is the noise of scale k (unpadded; a single channel is broadcast to 3).
  Between scales the output is resized by 1/sf and cropped to shapes[k + 1].
  """
  x = x_prev
  with torch.no_grad():
    for k in range(first, len(Gs)):
      if k > first:
        x_prev = resize(x, 1.0 / sf, out_hw=shapes[k], compat=compat)
      G = Gs[k].eval()
      z = zs[k].expand(-1, 3, -1, -1) if zs[k].shape[1] == 1 else zs[k]
      prev_p = zero_pad(x_prev, pad)
      mask = None
      if partial:
        mask = frozen_mask(x_prev, pad, None if masks is None else masks[k], compat)
      x = G(noise_amps[k] * zero_pad(z, pad) + prev_p, prev_p, mask)
  return x


def _zeros(Gs, shape, dtype=None):
  if dtype is None:
    dtype = next(Gs[0].parameters()).dtype if len(Gs) else torch.get_default_dtype()
  return torch.zeros(1, 3, *shape, dtype=dtype)


def draw(
  Gs,
  z_opts,
  noise_amps,
  shapes,
  mode,
  noises=None,
  *,
  sf,
  pad=5,
  partial=False,
  dtype=None,
  masks=None,
  compat="",
):
  """prev ('rand', noises[k] given by the caller) or z_prev ('rec', z_opts[k]) for
  scale n = len(Gs): (1, 3, *shapes[n]); zeros at n = 0. masks: known maps of scales
  0..n-1 for the frozen generators (the 2019 training draws), or None."""
  n = len(Gs)
  if n == 0:
    return _zeros(Gs, shapes[0], dtype)
  if mode == "rand":
    zs = noises
  elif mode == "rec":
    zs = z_opts
  else:
    raise ValueError(f"mode must be 'rand' or 'rec', got {mode!r}")
  x0 = _zeros(Gs, shapes[0], dtype)
  x = _chain(Gs, zs, noise_amps, shapes, x0, 0, sf, pad, partial, masks, compat)
  return resize(x, 1.0 / sf, out_hw=shapes[n], compat=compat)


def sample(Gs, noise_amps, shapes, noises, *, sf, pad=5, partial=False, masks=None, compat=""):
  """A full random sample from scale 0 to the finest scale len(Gs) - 1."""
  x0 = _zeros(Gs, shapes[0])
  return _chain(Gs, noises, noise_amps, shapes, x0, 0, sf, pad, partial, masks, compat)


def inject(Gs, noise_amps, shapes, filled_finest, n, noises, sf, pad=5, partial=False, compat=""):
  """Injection at scale n (1 <= n <= N = len(Gs) - 1) of the filled finest-scale image.

  in_s = resize(filled_finest, sf**(N-n+1)) cropped to shapes[n-1], then
  resized by 1/sf and cropped to shapes[n]; G_n..G_N run from in_s with noises[k].
  """
  N = len(Gs) - 1
  if not 1 <= n <= N:
    raise ValueError(f"injection scale must be in 1..{N}, got {n}")
  in_s = resize(filled_finest, sf ** (N - n + 1), out_hw=shapes[n - 1], compat=compat)
  in_s = resize(in_s, 1.0 / sf, out_hw=shapes[n], compat=compat)
  return _chain(Gs, noises, noise_amps, shapes, in_s, n, sf, pad, partial, None, compat)
