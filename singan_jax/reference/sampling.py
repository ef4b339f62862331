"""Running frozen generators (eval mode, BatchNorm running stats): draw, sample, inject."""

import torch

from .resize import resize
from .train import zero_pad


def _chain(Gs, zs, noise_amps, shapes, x_prev, first, sf, pad, partial):
  """Run G_first..G_last from x_prev (at scale `first`); returns the last G's output.

  zs[k] is the noise of scale k (unpadded; a single channel is broadcast to 3).
  Between scales the output is resized by 1/sf and cropped to shapes[k + 1].
  """
  x = x_prev
  with torch.no_grad():
    for k in range(first, len(Gs)):
      if k > first:
        x_prev = resize(x, 1.0 / sf, out_hw=shapes[k])
      G = Gs[k].eval()
      z = zs[k].expand(-1, 3, -1, -1) if zs[k].shape[1] == 1 else zs[k]
      prev_p = zero_pad(x_prev, pad)
      mask = None
      if partial:  # frozen generators fill everywhere
        mask = zero_pad(torch.ones_like(x_prev[:, :1]), pad)
      x = G(noise_amps[k] * zero_pad(z, pad) + prev_p, prev_p, mask)
  return x


def _zeros(Gs, shape, dtype=None):
  if dtype is None:
    dtype = next(Gs[0].parameters()).dtype if len(Gs) else torch.get_default_dtype()
  return torch.zeros(1, 3, *shape, dtype=dtype)


def draw(
  Gs, z_opts, noise_amps, shapes, mode, noises=None, *, sf, pad=5, partial=False, dtype=None
):
  """prev ('rand', noises[k] given by the caller) or z_prev ('rec', z_opts[k]) for
  scale n = len(Gs): (1, 3, *shapes[n]); zeros at n = 0."""
  n = len(Gs)
  if n == 0:
    return _zeros(Gs, shapes[0], dtype)
  if mode == "rand":
    zs = noises
  elif mode == "rec":
    zs = z_opts
  else:
    raise ValueError(f"mode must be 'rand' or 'rec', got {mode!r}")
  x = _chain(Gs, zs, noise_amps, shapes, _zeros(Gs, shapes[0], dtype), 0, sf, pad, partial)
  return resize(x, 1.0 / sf, out_hw=shapes[n])


def sample(Gs, noise_amps, shapes, noises, *, sf, pad=5, partial=False):
  """A full random sample from scale 0 to the finest scale len(Gs) - 1."""
  return _chain(Gs, noises, noise_amps, shapes, _zeros(Gs, shapes[0]), 0, sf, pad, partial)


def inject(Gs, noise_amps, shapes, filled_finest, n, noises, sf, pad=5, partial=False):
  """Injection at scale n (1 <= n <= N = len(Gs) - 1) of the filled finest-scale image.

  in_s = resize(filled_finest, sf**(N-n+1)) cropped to shapes[n-1], then
  resized by 1/sf and cropped to shapes[n]; G_n..G_N run from in_s with noises[k].
  """
  N = len(Gs) - 1
  if not 1 <= n <= N:
    raise ValueError(f"injection scale must be in 1..{N}, got {n}")
  in_s = resize(filled_finest, sf ** (N - n + 1), out_hw=shapes[n - 1])
  in_s = resize(in_s, 1.0 / sf, out_hw=shapes[n])
  return _chain(Gs, noises, noise_amps, shapes, in_s, n, sf, pad, partial)
