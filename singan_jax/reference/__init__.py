"""PyTorch port of the reference SinGAN / PC-SinGAN algorithm (shared/REFERENCE.md).

Used only by parity tests. NCHW; dtype follows inputs and parameters (float32 or
float64). No hidden RNG in the algorithm: every noise map, GP scalar and
per-D-step prev draw is an argument.
"""

from .resize import cubic, resize, resize_matrix
from .scale_plan import bbox_mask_pyramid, mask_pyramid, reals_pyramid, scale_plan
from .partial_conv import partial_conv2d
from .models import ConvBlock, Discriminator, Generator, PConv, weights_init
from .train import (
  compute_noise_amp,
  gradient_penalty,
  lr_at,
  make_optimizers,
  reconstruction_loss,
  set_learning_rate,
  train_iteration,
  zero_pad,
)
from .sampling import draw, inject, sample
from .inpaint import blend, local_means, mean_fill, soft_mask
