"""WGAN-GP losses of SinGAN: gradient penalty, critic losses, masked reconstruction loss."""

import jax
import jax.numpy as jnp


def safe_norm(g, axis: int = -1):
  """L2 norm over `axis` whose gradient at 0 is 0 (as torch's), not NaN."""
  sq = jnp.sum(jnp.square(g), axis=axis)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def gradient_penalty(critic, x_real, x_fake, a, lambda_grad: float):
  """lambda * mean over pixels of (||d critic(x_hat) / d x_hat||_2 over channels - 1)^2.

  critic(x) -> (scores, aux); x_hat = a * real + (1 - a) * fake with one scalar a.
  Returns (penalty, aux of the critic call). Differentiable w.r.t. the critic's parameters
  (second order).
  """
  x_hat = a * x_real + (1.0 - a) * x_fake

  def total(x):
    scores, aux = critic(x)
    return jnp.sum(scores), aux

  grads, aux = jax.grad(total, has_aux=True)(x_hat)
  return lambda_grad * jnp.mean(jnp.square(safe_norm(grads, -1) - 1.0)), aux


def masked_mse(x, target, known=None):
  """Mean of (x - target)^2 over known entries; known (N, H, W, 1), None = every pixel."""
  sq = jnp.square(x - target)
  if known is None:
    return jnp.mean(sq)
  return jnp.sum(sq * known) / (jnp.sum(known) * x.shape[-1])


def masked_rmse(x, target, known=None):
  """Root of masked_mse: the basis of a scale's noise amplitude."""
  return jnp.sqrt(masked_mse(x, target, known))
