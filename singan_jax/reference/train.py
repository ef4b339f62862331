"""One SinGAN training iteration at scale n, with every random quantity passed in."""

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F


def zero_pad(t, p=5):
  """Zero-pad the last two dims by p on every side."""
  return F.pad(t, [p, p, p, p])


def gradient_penalty(D, real, fake, a, mask=None, lambda_grad=0.1):
  """lambda * mean_{N,H,W} (||d sum D(x_hat) / d x_hat||_2 over C - 1)^2.

  x_hat = a*real + (1-a)*fake is a fresh leaf (the GP only trains D); in
  partial mode real and fake are multiplied by mask first and D gets the mask.
  """
  if mask is not None:
    real, fake = real * mask, fake * mask
  a = torch.as_tensor(a, dtype=real.dtype, device=real.device)
  x_hat = (a * real + (1 - a) * fake).detach().requires_grad_(True)
  out = D(x_hat, mask)
  (g,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
  return lambda_grad * ((g.norm(2, dim=1) - 1) ** 2).mean()


def reconstruction_loss(rec, real, known=None):
  """Mean of (rec - real)^2 over known entries: sum(d^2 * known) / (sum(known) * C)."""
  d2 = (rec - real) ** 2
  if known is None:
    return d2.mean()
  return (d2 * known).sum() / (known.sum() * real.shape[1])


def compute_noise_amp(real, z_prev, known=None, noise_amp_init=0.1):
  """noise_amp_n = noise_amp_init * RMSE(real, z_prev) (over known pixels if given)."""
  return noise_amp_init * float(torch.sqrt(reconstruction_loss(z_prev, real, known)))


def make_optimizers(G, D, lr_g=5e-4, lr_d=5e-4, beta1=0.5):
  """(optG, optD): Adam(lr, betas (beta1, 0.999), eps 1e-8)."""
  optG = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(beta1, 0.999), eps=1e-8)
  optD = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(beta1, 0.999), eps=1e-8)
  return optG, optD


def lr_at(base_lr, iteration, niter, gamma=0.1):
  """Learning rate of (0-based) `iteration`: base_lr * gamma from int(0.8*niter) on."""
  return base_lr * gamma if iteration >= int(0.8 * niter) else base_lr


def set_learning_rate(opt, base_lr, iteration, niter, gamma=0.1):
  for group in opt.param_groups:
    group["lr"] = lr_at(base_lr, iteration, niter, gamma)


class Masking(NamedTuple):
  """How partial mode masks one scale's inputs; all None / identity without it."""

  g: object  # G's mask: known zero-padded (padding = hole)
  d: object  # D's mask: the unpadded known
  apply: Callable  # D's inputs multiplied by known
  rec: object  # the reconstruction loss's known


def masking(known, partial: bool, pad: int) -> Masking:
  """The Masking of partial mode (known (1, 1, H, W)), or no masking."""
  if not partial:
    return Masking(None, None, lambda t: t, None)
  return Masking(zero_pad(known, pad), known, lambda t: t * known, known)


def d_step(G, D, optD, real, noise_p, prev_p, noise_amp, a, m: Masking, lambda_grad):
  """One D update on real vs G's fake from the padded prev_p; returns (errD, d_real, d_fake,
  gp). G runs without gradients; its BatchNorm running stats still update."""
  optD.zero_grad()
  d_real = -D(m.apply(real), m.d).mean()
  with torch.no_grad():
    fake = G(noise_amp * noise_p + prev_p, prev_p, m.g)
  d_fake = D(m.apply(fake), m.d).mean()
  gp = gradient_penalty(D, real, fake, a, m.d, lambda_grad)
  errD = d_real + d_fake + gp
  errD.backward()
  optD.step()
  return errD, d_real, d_fake, gp


def g_step(G, D, optG, real, noise_p, prev_p, z_opt_p, z_prev_p, noise_amp, alpha, m: Masking):
  """One G update: adversarial loss on a fake from prev_p plus alpha * the reconstruction loss
  of z_opt on z_prev (all padded); returns (errG, rec_loss)."""
  optG.zero_grad()
  fake = G(noise_amp * noise_p + prev_p, prev_p, m.g)
  errG = -D(m.apply(fake), m.d).mean()
  rec = G(noise_amp * z_opt_p + z_prev_p, z_prev_p, m.g)
  rec_loss = reconstruction_loss(rec, real, m.rec)
  (errG + alpha * rec_loss).backward()
  optG.step()
  return errG, rec_loss


def train_iteration(
  G,
  D,
  optG,
  optD,
  real,
  known,
  noise,
  z_opt,
  z_prev,
  prevs,
  alphas,
  noise_amp,
  alpha=10,
  partial=False,
  pad=5,
  Gsteps=3,
  lambda_grad=0.1,
):
  """len(prevs) D steps then Gsteps G steps; returns the last losses as floats.

  noise, z_opt, z_prev and every prevs[j] are UNPADDED (1, 3, H, W); they are
  zero-padded by `pad` here. Partial mode: G gets `known` zero-padded (padding =
  hole), D gets the unpadded `known`, and D's inputs are multiplied by `known`.
  """
  P = lambda t: zero_pad(t, pad)
  noise_p, z_opt_p, z_prev_p = P(noise), P(z_opt), P(z_prev)
  m = masking(known, partial, pad)
  G.train()
  D.train()
  if len(prevs) != len(alphas) or not prevs:
    raise ValueError("need one prev and one GP scalar per D step")

  for prev, a in zip(prevs, alphas):  # D steps
    prev_p = P(prev)
    errD, d_real, d_fake, gp = d_step(
      G, D, optD, real, noise_p, prev_p, noise_amp, a, m, lambda_grad
    )

  for _ in range(Gsteps):  # G steps (last D step's noise/prev)
    errG, rec_loss = g_step(
      G, D, optG, real, noise_p, prev_p, z_opt_p, z_prev_p, noise_amp, alpha, m
    )

  f = lambda t: float(t.detach())
  return dict(
    errD=f(errD), errG=f(errG), rec=f(rec_loss), gp=f(gp), d_real=f(d_real), d_fake=f(d_fake)
  )
