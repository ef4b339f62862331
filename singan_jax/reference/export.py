"""Saving a pyramid the way the 2019 SinGAN code does, to test the converter.

Layout: ROOT/<scale>/netG.pth and netD.pth (state_dicts with the 2019 module names:
head.conv / head.norm, body.block<i>.conv / .norm, tail.0 in G, tail in D), and ROOT/Zs.pth
(z_opt per scale, zero-padded by 5 as the 2019 code keeps it), ROOT/NoiseAmp.pth, ROOT/reals.pth.
"""

import collections
import os
import re

import torch
import torch.nn.functional as F


def to_2019_keys(state_dict, generator: bool):
  """The port's key names -> the 2019 code's."""
  out = collections.OrderedDict()
  for k, v in state_dict.items():
    k = re.sub(r"^body\.(\d+)\.", lambda m: f"body.block{int(m.group(1)) + 1}.", k)
    k = k.replace(".bn.", ".norm.")
    k = re.sub(r"^tail\.conv\.", "tail.0." if generator else "tail.", k)
    out[k] = v.detach().clone()
  return out


def save_2019_run(root, Gs, Ds, z_opts, noise_amps, reals, pad=5):
  """Writes a finished 2019-style run of len(Gs) scales under root."""
  for n, (G, D) in enumerate(zip(Gs, Ds)):
    os.makedirs(os.path.join(root, str(n)), exist_ok=True)
    torch.save(to_2019_keys(G.state_dict(), True), os.path.join(root, str(n), "netG.pth"))
    torch.save(to_2019_keys(D.state_dict(), False), os.path.join(root, str(n), "netD.pth"))
  torch.save([F.pad(z, [pad] * 4) for z in z_opts], os.path.join(root, "Zs.pth"))
  torch.save([torch.tensor(float(a)) for a in noise_amps], os.path.join(root, "NoiseAmp.pth"))
  torch.save(list(reals), os.path.join(root, "reals.pth"))
