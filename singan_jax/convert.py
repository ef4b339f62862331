r"""PyTorch SinGAN weights <-> our Flax variables, and a converter for 2019-trained pyramids.

  python -m singan_jax.convert --src=TrainedModels/NAME/scale_factor=0.750000,alpha=10 \
      --workdir=OUT --config=configs/default.py --config.image=IMG.png --config.mask=MASK.png
  python -m singan_jax.main --mode=inpaint --workdir=OUT --config=configs/default.py \
      --config.image=IMG.png --config.mask=MASK.png

SRC holds what the 2019 code saves: one folder per scale (0 = coarsest) with netG.pth and
netD.pth (state_dicts), and Zs.pth, NoiseAmp.pth, reals.pth beside them. The workdir gets the
run.json identity of (--config, image, mask) and its config record, so `--mode=inpaint` on it
finds every scale finished, adopts the recorded settings (any --config works) and only
inpaints. `partial` is read off the weights' key layout (2019 partial-conv or vanilla).
torch is imported lazily: it is needed only to read .pth files.

Bridge: conv weights OIHW <-> HWIO, BatchNorm weight/bias/running_mean/running_var <->
params scale/bias and batch_stats mean/var. Both the 2019 module names
(head.norm, body.block1, tail.0 / tail) and the parity port's (head.bn, body.0, tail.conv)
are read; `flax_to_torch` writes either.
"""

import collections
import os
import re
import sys

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


# -------------------------------------------------------------------- 2019 pyramid folders
def _load(path: str):
  import torch  # pylint: disable=g-import-not-at-top

  if not os.path.exists(path):
    raise ConversionError(
      f"{path} is missing: --src must be the 2019 run's folder "
      "(TrainedModels/<name>/scale_factor=...) holding 0/, 1/, ... and "
      "Zs.pth, NoiseAmp.pth, reals.pth"
    )
  return torch.load(path, map_location="cpu", weights_only=True)


def _nhwc(t) -> np.ndarray:
  """(1, C, H, W) torch tensor -> (1, H, W, C) float32 array."""
  a = np.asarray(t.detach().cpu().numpy(), np.float32)
  if a.ndim != 4:
    raise ConversionError(f"expected a (1, C, H, W) tensor, got shape {a.shape}")
  return a.transpose(0, 2, 3, 1)


def _centre_crop(x: np.ndarray, h: int, w: int) -> np.ndarray:
  """(1, H, W, C) -> (1, h, w, C): the 2019 code saves z_opt zero-padded."""
  dy, dx = (x.shape[1] - h) // 2, (x.shape[2] - w) // 2
  if dy < 0 or dx < 0 or x.shape[1] - h != 2 * dy or x.shape[2] - w != 2 * dx:
    raise ConversionError(f"z_opt of shape {x.shape[1:3]} does not fit a {h}x{w} scale")
  return x[:, dy : dy + h, dx : dx + w]


def read_pyramid(src: str) -> dict:
  """The 2019 run folder -> {'g': [state_dict], 'd': [...], 'z_opt': [(1, h, w, 3)],
  'noise_amp': [float], 'shapes': [(h, w)]} per scale, coarsest first."""
  reals = _load(os.path.join(src, "reals.pth"))
  zs = _load(os.path.join(src, "Zs.pth"))
  amps = _load(os.path.join(src, "NoiseAmp.pth"))
  shapes = [tuple(int(s) for s in r.shape[-2:]) for r in reals]
  if not len(zs) == len(amps) == len(shapes):
    raise ConversionError(
      f"{src}: reals.pth has {len(shapes)} scales, Zs.pth {len(zs)} and "
      f"NoiseAmp.pth {len(amps)}: the run did not finish; convert a "
      "finished run"
    )
  out = {"g": [], "d": [], "z_opt": [], "noise_amp": [], "shapes": shapes}
  for n, (h, w) in enumerate(shapes):
    out["g"].append(_load(os.path.join(src, str(n), "netG.pth")))
    out["d"].append(_load(os.path.join(src, str(n), "netD.pth")))
    out["z_opt"].append(_centre_crop(_nhwc(zs[n]), h, w))
    out["noise_amp"].append(float(amps[n]))
  return out


def layout_partial(state_dict) -> bool | None:
  """Whether a state_dict's key layout says partial convs (the 2019 PC code's input_conv /
  mask_conv), plain ones (the 2019 vanilla names), or nothing (the port's names): None."""
  keys = [re.sub(r"^module\.", "", k) for k in state_dict]
  if any(".input_conv." in k or ".mask_conv." in k for k in keys):
    return True
  if any(re.match(r"(body\.block\d+\.|tail\.0\.|head\.norm\.)", k) for k in keys):
    return False
  return None


def settings_from_files(cfg, pyr: dict, src: str, explicit=()):
  """cfg with what the 2019 files tell: `partial` from G's key layout. A --config.partial
  given explicitly that contradicts the files is refused."""
  partial = layout_partial(pyr["g"][0])
  if partial is None or partial == bool(cfg.partial):
    return cfg
  kind = "partial-conv (input_conv / mask_conv keys)" if partial else "vanilla (plain conv keys)"
  if "partial" in explicit:
    raise ConversionError(
      f"{src} holds 2019 {kind} weights, but --config.partial={cfg.partial} was given: "
      "drop --config.partial (the converter reads it from the weights)"
    )
  cfg = cfg.copy_and_resolve_references()
  cfg.partial = partial
  return cfg


def _checked_variables(pyr: dict, plan, net) -> list:
  """[(g_vars, d_vars)] per scale, each checked against this config's networks (no writes)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  from singan_jax.train import loop as trainer  # pylint: disable=g-import-not-at-top

  unbatched = lambda t: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), t)
  out = []
  for n, (h, w) in enumerate(plan.shapes):
    g_vars, d_vars = torch_to_flax(pyr["g"][n]), torch_to_flax(pyr["d"][n])
    ref_g, ref_d = jax.eval_shape(
      lambda n=n, h=h, w=w: trainer.init_networks(plan, n, net, jnp.zeros((1, 2), jnp.uint32), h, w)
    )
    check_shapes(g_vars, unbatched(ref_g))
    check_shapes(d_vars, unbatched(ref_d))
    out.append((g_vars, d_vars))
  return out


def _remove_created(workdir: str, created_dir: bool, before: set) -> None:
  """Undoes a failed conversion: the workdir if it made it, else the entries it added."""
  import shutil  # pylint: disable=g-import-not-at-top

  if created_dir:
    shutil.rmtree(workdir, ignore_errors=True)
    return
  for name in set(os.listdir(workdir)) - before if os.path.isdir(workdir) else ():
    path = os.path.join(workdir, name)
    shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)


def convert(
  src: str, workdir: str, cfg, images: np.ndarray, holes: np.ndarray, explicit=()
) -> list:
  """Writes the 2019 pyramid in `src` as a finished pyramid of `workdir` for `cfg`.

  images (1, H, W, 3) float32 in [-1, 1] and holes (1, H, W) bool are the inputs the
  workdir's run.json identity is computed from (those `--mode=inpaint` will read); its
  config record is cfg with `partial` as the weights say (explicit: the fields the user gave,
  see settings_from_files). Everything is checked before the first write; a failure removes
  what this call created. Returns the per-scale shapes.
  """
  import jax  # pylint: disable=g-import-not-at-top

  from singan_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from singan_jax import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from singan_jax.core import sampling  # pylint: disable=g-import-not-at-top
  from singan_jax.train import checkpoint as ckpt_lib  # pylint: disable=g-import-not-at-top

  pyr = read_pyramid(src)
  cfg = settings_from_files(cfg, pyr, src, explicit)
  plan = config_lib.scale_plan(cfg, images.shape[1], images.shape[2])
  if tuple(pyr["shapes"]) != tuple(plan.shapes):
    raise ConversionError(
      f"the PyTorch pyramid in {src} has scales {pyr['shapes']} but this image and config "
      f"give {list(plan.shapes)}: use the image the PyTorch run was trained on and its "
      "--config.max_size / min_size / scale_factor"
    )
  variables = _checked_variables(pyr, plan, config_lib.net_settings(cfg))
  created_dir = not os.path.exists(workdir)
  before = set() if created_dir else set(os.listdir(workdir))
  if os.path.exists(os.path.join(workdir, "scales")) or os.path.exists(
    os.path.join(workdir, "inscale")
  ):
    raise ConversionError(
      f"workdir {workdir} already holds trained scales: convert into a new --workdir"
    )
  os.makedirs(workdir, exist_ok=True)
  ckpts = ckpt_lib.PyramidCheckpoints(workdir)
  batched = lambda t: jax.tree.map(lambda x: np.asarray(x)[None], t)
  try:
    identity = ckpt_lib.run_identity(cfg, plan, images, holes)
    ckpts.check_or_write_identity(identity, workdir_lib.record_of(cfg))
    for n, (g_vars, d_vars) in enumerate(variables):
      amp = np.asarray([pyr["noise_amp"][n]], np.float32)
      fs = sampling.FrozenScale(batched(g_vars), pyr["z_opt"][n][None], amp)
      meta = {"scale": n, "shape": list(plan.shapes[n]), "converted_from": os.path.abspath(src)}
      ckpts.save_scale(n, fs, batched(d_vars), meta)
  except BaseException:
    ckpts.close()
    _remove_created(workdir, created_dir, before)
    raise
  ckpts.close()
  return list(plan.shapes)


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top

  from singan_jax import cli  # pylint: disable=g-import-not-at-top
  from singan_jax import config as defaults  # pylint: disable=g-import-not-at-top
  from singan_jax.io import images as image_io  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top

  from singan_jax import inputs  # pylint: disable=g-import-not-at-top

  if len(argv) > 1:
    raise SystemExit(f"singan-jax convert: unexpected arguments: {' '.join(argv[1:])}")
  fl = flags.FLAGS
  if not fl.src or not fl.workdir:
    raise SystemExit(
      "singan-jax convert: error: give --src=<2019 run folder> and --workdir=<new directory>"
    )
  cfg = fl.config if fl.config is not None else defaults.get_config()
  try:
    inputs.validate_config(cfg)
    pixels, hole, _, _ = inputs.load_inputs(cfg)
    explicit = set(config_flags.get_override_values(fl["config"]))
    x = image_io.to_float(pixels)[None]
    shapes = convert(fl.src, fl.workdir, cfg, x, hole[None], explicit)
  except errors.Error as e:  # conversion, image and usage errors among them
    print(f"singan-jax convert: error: {cli.message(e)}", file=sys.stderr)
    raise SystemExit(2) from e
  print(
    f"converted {len(shapes)} scales {shapes} from {fl.src} into {fl.workdir}, which records "
    f"its image, mask and settings: inpaint with python -m singan_jax.main --mode=inpaint "
    f"--workdir={fl.workdir} (any --config; inpainting fields from the flags)"
  )


if __name__ == "__main__":
  from absl import flags  # pylint: disable=g-import-not-at-top

  from singan_jax import cli  # pylint: disable=g-import-not-at-top
  from singan_jax import main as _main_flags  # noqa: F401  (defines --config, --workdir)

  flags.DEFINE_string("src", None, "Folder of a run trained by the 2019 PyTorch code.")
  cli.run(main)
