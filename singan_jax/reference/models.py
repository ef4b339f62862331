"""SinGAN Generator / Discriminator (vanilla or partial-conv), NCHW, VALID 3x3 convs.

Parameter names are the same in both modes (head/body.i/tail, each with
.conv.weight/.conv.bias and .bn.*), so a state_dict can be loaded into either.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .partial_conv import partial_conv2d


class PConv(nn.Module):
  """A 3x3 VALID conv; in partial mode forward(x, mask) -> (y, new_mask)."""

  def __init__(self, cin, cout, partial=False, normalization="sum", faithful=False):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, 3, stride=1, padding=0)
    self.partial, self.normalization, self.faithful = partial, normalization, faithful

  def forward(self, x, mask=None):
    if not self.partial:
      return self.conv(x), mask
    return partial_conv2d(
      x, mask, self.conv.weight, self.conv.bias, self.normalization, self.faithful
    )


class ConvBlock(PConv):
  """conv -> BatchNorm2d(eps 1e-5, momentum 0.1) -> LeakyReLU(0.2); returns (x, mask)."""

  def __init__(self, cin, cout, **kw):
    super().__init__(cin, cout, **kw)
    self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

  def forward(self, x, mask=None):
    x, mask = super().forward(x, mask)
    return F.leaky_relu(self.bn(x), 0.2), mask


def weights_init(module, generator=None):
  """conv weight N(0, 0.02), conv bias 0; BN gamma N(1, 0.02), beta 0."""
  for m in module.modules():
    if isinstance(m, nn.Conv2d):
      with torch.no_grad():
        m.weight.normal_(0.0, 0.02, generator=generator)
        m.bias.zero_()
    elif isinstance(m, nn.BatchNorm2d):
      with torch.no_grad():
        m.weight.normal_(1.0, 0.02, generator=generator)
        m.bias.zero_()


class _Net(nn.Module):
  def __init__(
    self,
    nfc,
    min_nfc,
    out_ch,
    num_layer=5,
    nc_im=3,
    partial=False,
    normalization="sum",
    faithful=False,
    generator=None,
  ):
    super().__init__()
    kw = dict(partial=partial, normalization=normalization, faithful=faithful)
    self.partial = partial
    self.head = ConvBlock(nc_im, nfc, **kw)
    self.body = nn.ModuleList()
    n = nfc
    for i in range(num_layer - 2):
      n = nfc // 2 ** (i + 1)
      self.body.append(ConvBlock(max(2 * n, min_nfc), max(n, min_nfc), **kw))
    self.tail = PConv(max(n, min_nfc), out_ch, **kw)
    weights_init(self, generator)

  def _trunk(self, x, mask):
    if self.partial and mask is None:
      raise ValueError("partial mode needs a mask (N, 1, H, W), 1 = known")
    x, mask = self.head(x, mask)
    for block in self.body:
      x, mask = block(x, mask)
    x, _ = self.tail(x, mask)
    return x


class Generator(_Net):
  def __init__(self, nfc, min_nfc, num_layer=5, partial=False, normalization="sum", **kw):
    super().__init__(nfc, min_nfc, 3, num_layer, partial=partial, normalization=normalization, **kw)

  def forward(self, x, y, mask=None):
    """x: padded G input; y: padded previous image; mask: mask of x (partial mode)."""
    out = torch.tanh(self._trunk(x, mask))
    dh = (y.shape[2] - out.shape[2]) // 2
    dw = (y.shape[3] - out.shape[3]) // 2
    return out + y[:, :, dh : dh + out.shape[2], dw : dw + out.shape[3]]


class Discriminator(_Net):
  def __init__(self, nfc, min_nfc, num_layer=5, partial=False, normalization="sum", **kw):
    super().__init__(nfc, min_nfc, 1, num_layer, partial=partial, normalization=normalization, **kw)

  def forward(self, x, mask=None):
    return self._trunk(x, mask)
