"""Masked partial convolution (report eq. 2), 3x3, VALID padding."""

import torch
import torch.nn.functional as F


def partial_conv2d(x, mask, weight, bias, normalization="sum", faithful=False):
  """x (N, Cin, H, W), mask (N, 1, H, W) with 1 = known -> (y, new_mask).

  sumM = number of known inputs in the window over all Cin channels.
  'sum':   y = W(x*M) / sumM + b              (report eq. 2)
  'ratio': y = W(x*M) * (k*k*Cin) / sumM + b  (NVIDIA variant)
  y = 0 exactly where sumM == 0; new_mask = (sumM > 0).
  """
  cout, cin, kh, kw = weight.shape
  mask = mask.detach()
  if faithful:  # 2019 way: mask expanded to Cin channels, conv with ones(Cout, Cin, k, k)
    ones = torch.ones(cout, cin, kh, kw, dtype=x.dtype, device=x.device)
    sum_m = F.conv2d(mask.expand(-1, cin, -1, -1), ones)  # (N, Cout, H', W')
    valid = sum_m[:, :1] > 0
  else:  # lean: single-channel window sum
    ones = torch.ones(1, 1, kh, kw, dtype=x.dtype, device=x.device)
    window = F.conv2d(mask, ones)  # (N, 1, H', W')
    sum_m = cin * window
    valid = window > 0
  safe = torch.where(valid, sum_m, torch.ones_like(sum_m))
  if normalization == "sum":
    scale = 1.0 / safe
  elif normalization == "ratio":
    scale = (kh * kw * cin) / safe
  else:
    raise ValueError(f"normalization must be 'sum' or 'ratio', got {normalization!r}")
  raw = F.conv2d(x * mask, weight)
  y = torch.where(valid, raw * scale + bias.view(1, -1, 1, 1), torch.zeros_like(raw))
  return y, valid.to(x.dtype)
