"""Helpers of the parity tests: layouts, precision, and the error measure and its log.

Error of one tensor: max|jax - torch| / max|torch| (norm-relative, so tiny entries do not
blow it up); 0 / 0 counts as 0. Tolerances: 1e-10 in float64, 1e-5 (forwards) and 1e-4
(gradients, training) in float32. Every check is logged; with PARITY_REPORT=FILE set, one
JSON line per check is appended to FILE (summarise with `python -m
singan_jax.reference.report FILE`).
"""

import contextlib
import json
import os

import numpy as np
import torch

TOL = {
  ("float64", "forward"): 1e-10,
  ("float64", "grad"): 1e-10,
  ("float32", "forward"): 1e-5,
  ("float32", "grad"): 1e-4,
  # After 5 Adam iterations in float32 (see test_parity_training): Adam's eps turns
  # rounding-level gradient differences of near-zero entries into ~lr-sized steps.
  ("float64", "train"): 1e-10,
  ("float32", "train"): 1e-3,
}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@contextlib.contextmanager
def precision(dtype: str):
  """float64 runs JAX with jax_enable_x64 inside this block only (restored after)."""
  import jax

  if dtype == "float64":
    with jax.enable_x64(True):
      yield
  else:
    yield


def to_np(x) -> np.ndarray:
  if isinstance(x, torch.Tensor):
    return x.detach().cpu().numpy()
  return np.asarray(x)


def nchw(x_nhwc) -> torch.Tensor:
  """(N, H, W, C) array -> (N, C, H, W) torch tensor of the same dtype."""
  return torch.from_numpy(np.ascontiguousarray(to_np(x_nhwc).transpose(0, 3, 1, 2)))


def nhwc(x_nchw) -> np.ndarray:
  """(N, C, H, W) tensor -> (N, H, W, C) array."""
  return to_np(x_nchw).transpose(0, 2, 3, 1)


def rel_err(a, b, scale: float | None = None) -> float:
  """max|a - b| / max|b| (0 when both are 0); `scale` replaces max|b| when given."""
  a, b = np.asarray(to_np(a), np.float64), np.asarray(to_np(b), np.float64)
  if a.shape != b.shape:
    raise AssertionError(f"shape {a.shape} (jax) != {b.shape} (torch)")
  diff = float(np.max(np.abs(a - b))) if a.size else 0.0
  if scale is None:
    scale = float(np.max(np.abs(b))) if b.size else 0.0
  return diff / scale if scale > 0 else diff


def _test_name() -> str:
  return os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]


def check(
  name: str, jax_value, torch_value, dtype: str, kind: str = "forward", scale: float | None = None
) -> float:
  """Asserts rel_err(jax, torch, scale) <= TOL[dtype, kind], logs it, returns it."""
  tol = TOL[(dtype, kind)]
  err = rel_err(jax_value, torch_value, scale)
  path = os.environ.get("PARITY_REPORT")
  if path:
    with open(path, "a", encoding="utf-8") as f:
      f.write(
        json.dumps(
          {"test": _test_name(), "name": name, "dtype": dtype, "kind": kind, "err": err, "tol": tol}
        )
        + "\n"
      )
  assert err <= tol, f"{name}: relative error {err:.3e} > {tol:.0e} ({dtype}, {kind})"
  return err


def check_exact(name: str, jax_value, torch_value) -> None:
  """Discrete results (masks, shapes) must agree bit for bit."""
  a, b = to_np(jax_value), to_np(torch_value)
  assert a.shape == b.shape, f"{name}: shape {a.shape} != {b.shape}"
  bad = int(np.sum(a != b))
  assert bad == 0, f"{name}: {bad} of {a.size} entries differ"


def flatten(tree, prefix: str = "") -> dict:
  """Nested dicts -> {'a/b/c': leaf}."""
  if not isinstance(tree, dict):
    return {prefix: tree}
  out = {}
  for k, v in tree.items():
    out.update(flatten(v, f"{prefix}/{k}" if prefix else str(k)))
  return out


def check_tree(
  prefix: str,
  jax_items: dict,
  torch_items: dict,
  dtype: str,
  kind: str = "grad",
  zero_keys=(),
  tree_relative: bool = False,
) -> float:
  """check() over two (nested) dicts with the same keys; returns the worst error.

  zero_keys: entries that are 0, or a cancellation remainder, by construction (see
  bn_fed_biases): their error is taken relative to the largest entry of the whole tree.
  tree_relative: every entry is measured that way (see test_parity_training).
  """
  jax_items, torch_items = flatten(dict(jax_items)), flatten(dict(torch_items))
  assert set(jax_items) == set(torch_items), (
    f"{prefix}: keys differ: {sorted(set(jax_items) ^ set(torch_items))}"
  )
  tree_scale = max(float(np.max(np.abs(to_np(v)))) for v in torch_items.values())
  return max(
    [
      check(
        f"{prefix}{k}",
        jax_items[k],
        torch_items[k],
        dtype,
        kind,
        scale=tree_scale if tree_relative or k in zero_keys else None,
      )
      for k in sorted(torch_items)
    ]
    or [0.0]
  )


def bn_fed_biases(num_layer: int = 5) -> tuple:
  """Port names of the conv biases that feed train-mode BatchNorm (head and body blocks).

  Their gradient is exactly 0 over a hole-free map (BatchNorm subtracts the mean the bias
  adds) and otherwise the small remainder of that cancellation (only the hole's zeros break
  it): both sides then hold mostly rounding noise, so check_tree measures them against the
  network's largest gradient (zero_keys).
  """
  return ("head.conv.bias",) + tuple(f"body.{i}.conv.bias" for i in range(num_layer - 2))


def perturb(module: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
  """Random conv biases, BatchNorm betas and running statistics (the init leaves them 0 / 1),
  so that every parameter and eval-mode BatchNorm is exercised by a parity check."""
  with torch.no_grad():
    for m in module.modules():
      if isinstance(m, torch.nn.Conv2d):
        m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
      elif isinstance(m, torch.nn.BatchNorm2d):
        m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
        m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=generator))
        m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=generator))
  return module


def random_known(h: int, w: int, generator: torch.Generator, batch: int = 1) -> torch.Tensor:
  """(batch, 1, h, w) float64 known mask: a random rectangle hole plus scattered hole pixels."""
  known = torch.rand(batch, 1, h, w, generator=generator, dtype=torch.float64) > 0.15
  for i in range(batch):
    hh = int(torch.randint(3, max(4, h // 2), (1,), generator=generator))
    ww = int(torch.randint(3, max(4, w // 2), (1,), generator=generator))
    y = int(torch.randint(0, h - hh, (1,), generator=generator))
    x = int(torch.randint(0, w - ww, (1,), generator=generator))
    known[i, :, y : y + hh, x : x + ww] = False
  return known.to(torch.float64)
