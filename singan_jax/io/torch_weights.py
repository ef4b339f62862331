"""PyTorch SinGAN state_dicts <-> our Flax variables (conv weights OIHW <-> HWIO, BatchNorm
weight/bias/running_mean/running_var <-> params scale/bias and batch_stats mean/var).

Both the 2019 module names (head.norm, body.block1, tail.0 / tail; the PC code's input_conv /
mask_conv) and the parity port's (head.bn, body.0, tail.conv) are read; `flax_to_torch` writes
either. numpy only: the .pth files are read by singan_jax/convert.py.
"""

import collections
import re

import numpy as np

from singan_jax.core import errors

STYLES = ("port", "2019", "2019-pc")
_BN_TORCH = {
  "weight": ("params", "scale"),
  "bias": ("params", "bias"),
  "running_mean": ("batch_stats", "mean"),
  "running_var": ("batch_stats", "var"),
}


class ConversionError(errors.InputError):
  """A state_dict or pyramid folder that does not fit the networks it should fill."""


def canonical_key(key: str) -> str:
  """A torch state_dict key in the port's naming: head.bn.*, body.<i>.*, tail.conv.*.

  Reads the 2019 vanilla layout (head.norm, body.block<i>, tail.0 / tail), the 2019
  partial-conv layout (<layer>.conv.input_conv, tail.input_conv; mask_conv keys stay as
  <layer>.mask_conv.weight for `torch_to_flax` to check) and the port's own.
  """
  key = re.sub(r"^module\.", "", key)  # saved from nn.DataParallel
  key = re.sub(r"^body\.block(\d+)\.", lambda m: f"body.{int(m.group(1)) - 1}.", key)
  key = re.sub(r"\.norm\.", ".bn.", key)
  key = re.sub(r"^(head|body\.\d+)\.conv\.(input_conv|mask_conv)\.", r"\1.\2.", key)
  key = re.sub(r"\.input_conv\.", ".conv.", key)
  key = re.sub(r"^tail\.0\.", "tail.conv.", key)
  return re.sub(r"^tail\.(weight|bias)$", r"tail.conv.\1", key)


def _flax_layer(torch_layer: str) -> str:
  """'head' | 'body.<i>' | 'tail' -> our module name."""
  return torch_layer.replace("body.", "body_")


def _array(value, dtype=None) -> np.ndarray:
  arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
  return arr if dtype is None else arr.astype(dtype)


def _check_mask_conv(original_key: str, value) -> None:
  """The 2019 PC code's mask_conv is a fixed all-ones (Cout, Cin, 3, 3) kernel: anything else
  would be a different partial convolution, which our models cannot represent."""
  arr = _array(value)
  if arr.ndim != 4 or not np.all(arr == 1):
    raise ConversionError(
      f"{original_key!r} (shape {arr.shape}) is not the all-ones 4-D mask kernel of the 2019 "
      "partial-conv code: this checkpoint's partial convolution is not the one singan_jax "
      "implements; convert only pyramids trained by the 2019 SinGAN / PC-SinGAN code"
    )


def torch_to_flax(state_dict, dtype=np.float32) -> dict:
  """A G or D state_dict -> {'params': ..., 'batch_stats': ...} as our models name them.

  Tensors may be torch tensors or arrays; num_batches_tracked is dropped (momentum 0.1 never
  reads it) and the 2019 PC layout's all-ones mask_conv kernels are checked, then dropped.
  """
  params, stats = {}, {}
  for original, value in state_dict.items():
    key = canonical_key(original)
    m = re.fullmatch(r"(head|body\.\d+|tail)\.(conv|bn|mask_conv)\.(\w+)", key)
    if m is None:
      raise ConversionError(
        f"unexpected state_dict entry {original!r}: expected head / body.<i> / tail with "
        "conv.* (or conv.input_conv.*, input_conv.*) and bn.* (or norm.*) entries of a "
        "SinGAN G or D"
      )
    layer, kind, name = _flax_layer(m.group(1)), m.group(2), m.group(3)
    if kind == "mask_conv":
      if name != "weight":
        raise ConversionError(f"unexpected mask_conv entry {original!r}: it has no bias")
      _check_mask_conv(original, value)
      continue
    if name == "num_batches_tracked":
      continue
    arr = _array(value, dtype)
    if kind == "conv":
      _put_conv(params, layer, name, arr, original)
    else:
      if name not in _BN_TORCH:
        raise ConversionError(f"unexpected BatchNorm entry {original!r}")
      collection, ours = _BN_TORCH[name]
      target = params if collection == "params" else stats
      target.setdefault(layer, {}).setdefault("bn", {})[ours] = arr
  if "head" not in params or "tail" not in params:
    raise ConversionError("state_dict has no head or no tail: not a SinGAN G or D")
  return {"params": {"net": params}, "batch_stats": {"net": stats}}


def _put_conv(params: dict, layer: str, name: str, arr: np.ndarray, original: str) -> None:
  """Stores a conv weight (OIHW -> HWIO) or bias under our module names."""
  if name not in ("weight", "bias"):
    raise ConversionError(f"unexpected conv entry {original!r}")
  conv = params.setdefault(layer, {})
  if layer != "tail":
    conv = conv.setdefault("conv", {})
  if name == "weight":
    if arr.ndim != 4:
      raise ConversionError(f"{original!r} has shape {arr.shape}: expected OIHW (4-D)")
    conv["kernel"] = arr.transpose(2, 3, 1, 0)
  else:
    conv["bias"] = arr


def _torch_names(layer: str, style: str, generator: bool) -> tuple[str, str | None, str | None]:
  """(conv prefix, BatchNorm prefix, mask_conv key or None) of one layer in `style`."""
  i = int(layer.split("_")[1]) if layer.startswith("body_") else None
  base = layer if i is None else (f"body.block{i + 1}" if style == "2019" else f"body.{i}")
  if layer == "tail":
    if style == "2019-pc":
      return "tail.input_conv", None, "tail.mask_conv.weight"
    return ("tail.0" if generator else "tail") if style == "2019" else "tail.conv", None, None
  if style == "2019-pc":
    return f"{base}.conv.input_conv", f"{base}.bn", f"{base}.conv.mask_conv.weight"
  return f"{base}.conv", f"{base}.norm" if style == "2019" else f"{base}.bn", None


def flax_to_torch(variables, style: str = "port", generator: bool = True):
  """{'params', 'batch_stats'} -> an OrderedDict of torch tensors (inverse of torch_to_flax).

  style 'port' names modules as singan_jax/reference; '2019' as the original vanilla code
  (G's tail is tail.0, D's tail); '2019-pc' as the original partial-conv code.
  """
  import torch  # pylint: disable=g-import-not-at-top

  if style not in STYLES:
    raise ValueError(f"state_dict style {style!r}: use one of {STYLES}")
  params = variables["params"]["net"]
  stats = variables.get("batch_stats", {}).get("net", {})
  out = collections.OrderedDict()
  t = lambda a: torch.from_numpy(np.array(a))
  body = sorted((k for k in params if k.startswith("body_")), key=lambda k: int(k.split("_")[1]))
  for layer in ["head", *body, "tail"]:
    cp, bp, mask_key = _torch_names(layer, style, generator)
    conv = params["tail"] if layer == "tail" else params[layer]["conv"]
    weight = np.asarray(conv["kernel"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
    out[f"{cp}.weight"] = t(weight)
    out[f"{cp}.bias"] = t(conv["bias"])
    if mask_key is not None:
      out[mask_key] = torch.ones(weight.shape, dtype=out[f"{cp}.weight"].dtype)
    if bp is None:
      continue
    out[f"{bp}.weight"] = t(params[layer]["bn"]["scale"])
    out[f"{bp}.bias"] = t(params[layer]["bn"]["bias"])
    out[f"{bp}.running_mean"] = t(stats[layer]["bn"]["mean"])
    out[f"{bp}.running_var"] = t(stats[layer]["bn"]["var"])
    out[f"{bp}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
  return out


def check_shapes(variables, reference) -> None:
  """Raises ConversionError naming the first leaf whose shape differs from `reference`'s."""
  import jax  # pylint: disable=g-import-not-at-top

  got = {
    jax.tree_util.keystr(p): np.shape(v) for p, v in jax.tree_util.tree_leaves_with_path(variables)
  }
  want = {
    jax.tree_util.keystr(p): np.shape(v) for p, v in jax.tree_util.tree_leaves_with_path(reference)
  }
  for name in sorted(set(got) | set(want)):
    if got.get(name) != want.get(name):
      raise ConversionError(
        f"{name}: the PyTorch weights have shape {got.get(name)}, this config's network "
        f"{want.get(name)}: set --config.nfc / --config.min_nfc / --config.num_layer to the "
        "values the PyTorch run used"
      )
