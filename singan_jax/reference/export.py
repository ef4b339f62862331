"""Saving a pyramid the way the 2019 SinGAN code does, to test the converter.

Layout: ROOT/<scale>/netG.pth and netD.pth, and ROOT/Zs.pth (z_opt per scale, zero-padded by 5
as the 2019 code keeps it; scales >= 1 as int64 zeros, as that code saves them on torch >= 2),
ROOT/NoiseAmp.pth, ROOT/reals.pth. Two state_dict layouts (REFERENCE.md, last section):
'vanilla' (head.conv / head.norm, body.block<i>.conv / .norm, tail.0 in G, tail in D) and
'pc' (<layer>.conv.input_conv.*, an all-ones <layer>.conv.mask_conv.weight, <layer>.bn.*,
tail.input_conv.* and tail.mask_conv.weight).
"""

import collections
import os
import re

import torch
import torch.nn.functional as F

LAYOUTS = ("vanilla", "pc")


def _vanilla_key(k: str, generator: bool) -> str:
  k = re.sub(r"^body\.(\d+)\.", lambda m: f"body.block{int(m.group(1)) + 1}.", k)
  k = k.replace(".bn.", ".norm.")
  return re.sub(r"^tail\.conv\.", "tail.0." if generator else "tail.", k)


def to_2019_keys(state_dict, generator: bool, layout: str = "vanilla"):
  """The port's key names -> the 2019 code's, in its vanilla or partial-conv layout."""
  if layout not in LAYOUTS:
    raise ValueError(f"2019 layout {layout!r}: use one of {LAYOUTS}")
  out = collections.OrderedDict()
  for k, v in state_dict.items():
    v = v.detach().clone()
    if layout == "vanilla":
      out[_vanilla_key(k, generator)] = v
      continue
    m = re.fullmatch(r"(head|body\.\d+)\.conv\.(weight|bias)|tail\.conv\.(weight|bias)", k)
    if m is None:  # BatchNorm entries keep their names (<layer>.bn.*)
      out[k] = v
      continue
    conv = "tail.input_conv" if k.startswith("tail.") else f"{m.group(1)}.conv.input_conv"
    name = m.group(2) or m.group(3)
    out[f"{conv}.{name}"] = v
    if name == "bias":  # the mask kernel follows the conv, as in the 2019 module
      weight = state_dict[k.replace(".bias", ".weight")]
      out[f"{conv.replace('input_conv', 'mask_conv')}.weight"] = torch.ones_like(weight)
  return out


def save_2019_run(root, Gs, Ds, z_opts, noise_amps, reals, pad=5, layout="vanilla"):
  """Writes a finished 2019-style run of len(Gs) scales under root."""
  for n, (G, D) in enumerate(zip(Gs, Ds)):
    os.makedirs(os.path.join(root, str(n)), exist_ok=True)
    torch.save(to_2019_keys(G.state_dict(), True, layout), os.path.join(root, str(n), "netG.pth"))
    torch.save(to_2019_keys(D.state_dict(), False, layout), os.path.join(root, str(n), "netD.pth"))
  zs = [F.pad(z, [pad] * 4) for z in z_opts]
  zs = [z if n == 0 or torch.any(z != 0) else z.to(torch.int64) for n, z in enumerate(zs)]
  torch.save(zs, os.path.join(root, "Zs.pth"))
  torch.save([torch.tensor(float(a)) for a in noise_amps], os.path.join(root, "NoiseAmp.pth"))
  torch.save(list(reals), os.path.join(root, "reals.pth"))
