r"""The converter of pyramids trained by the 2019 PyTorch code: its run folder -> a workdir.

  python -m singan_jax.convert --src=TrainedModels/NAME/scale_factor=0.750000,alpha=10 \
      --workdir=OUT --config=configs/default.py --config.image=IMG.png --config.mask=MASK.png
  python -m singan_jax.main --mode=inpaint --workdir=OUT --config=configs/default.py \
      --config.image=IMG.png --config.mask=MASK.png

SRC holds what the 2019 code saves: one folder per scale (0 = coarsest) with netG.pth and
netD.pth (state_dicts), and Zs.pth, NoiseAmp.pth, reals.pth beside them. The workdir gets the
run.json identity of (--config, image, mask) and its config record, so `--mode=inpaint` on it
finds every scale finished, adopts the recorded settings (any --config works) and only
inpaints. `partial` is read off the weights' key layout (2019 partial-conv or vanilla), and
a 2019 layout converts to the 2019 behaviour unless a flag says otherwise: compat '2019' and
what it implies (config.COMPAT_2019_IMPLIES). torch is imported lazily: it is needed only to
read .pth files. The weight bridge itself is singan_jax/io/torch_weights.py.
"""

import os
import re
import shutil
import sys

from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np

from singan_jax import cli
from singan_jax import config as config_lib
from singan_jax import inputs
from singan_jax import workdir as workdir_lib
from singan_jax.core import errors
from singan_jax.core import sampling
from singan_jax.io import images as image_io
from singan_jax.io.torch_weights import (  # noqa: F401  (re-exported: the converter's API)
  STYLES,
  ConversionError,
  canonical_key,
  check_shapes,
  flax_to_torch,
  torch_to_flax,
)
from singan_jax.training import checkpoint as ckpt_lib
from singan_jax.training import loop as trainer


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


def _widths(state_dict) -> tuple[int, int]:
  """(head width, tail input width) of a G state_dict: its scale's nfc and min_nfc bound."""
  shapes = {canonical_key(k): tuple(v.shape) for k, v in state_dict.items()}
  return shapes["head.conv.weight"][0], shapes["tail.conv.weight"][1]


def implied_by_files(pyr: dict, src: str, hw: tuple[int, int]) -> dict:
  """{field: (value, where it is read)} that the 2019 files fix: `partial` from G's key
  layout and, for a 2019 layout, compat '2019'; the widths from the weights; the scale plan
  (max_size, min_size, scale_factor) from reals.pth's shapes and the folder's name."""
  out = {}
  partial = layout_partial(pyr["g"][0])
  if partial is not None:
    kind = "partial-conv (input_conv / mask_conv keys)" if partial else "vanilla (plain conv keys)"
    out["partial"] = (partial, f"{src} holds 2019 {kind} weights")
    out["compat"] = ("2019", f"{src} holds a pyramid trained by the 2019 code")
  heads = [_widths(g)[0] for g in pyr["g"]]
  out["nfc"] = (heads[0], f"its coarsest generator is {heads[0]} channels wide")
  out["min_nfc"] = (_widths(pyr["g"][0])[1], "its coarsest generator's tail input width")
  if any(width < heads[0] * 2 ** (k // 4) for k, width in enumerate(heads)):
    out["nfc_cap"] = (max(heads), f"its widths stop at {max(heads)}")
  finest, coarsest = pyr["shapes"][-1], pyr["shapes"][0]
  if max(finest) < max(hw):
    out["max_size"] = (max(finest), f"reals.pth's finest scale is {finest[0]}x{finest[1]}")
  out["min_size"] = (min(coarsest), f"reals.pth's coarsest scale is {coarsest[0]}x{coarsest[1]}")
  named = re.search(r"scale_factor=([0-9.]+)", os.path.basename(os.path.normpath(src)))
  if named:
    out["scale_factor"] = (float(named.group(1)), f"the folder is named {named.group(0)}")
  return out


def settings_from_files(cfg, pyr: dict, src: str, hw: tuple[int, int], explicit=()):
  """cfg with what the 2019 files fix (implied_by_files) and what compat '2019' implies
  (config.COMPAT_2019_IMPLIES). An explicit --config flag that contradicts the files is
  refused naming both values, except compat, which wins (converting to our conventions)."""
  cfg = cfg.copy_and_resolve_references()
  for field, (value, why) in implied_by_files(pyr, src, hw).items():
    if field not in explicit:
      cfg[field] = value
    elif cfg[field] != value and field != "compat":
      raise ConversionError(
        f"{why}, so {field} is {value!r}, but --config.{field}={cfg[field]!r} was given: drop "
        f"--config.{field} (the converter reads it from the files)"
      )
  if "min_size" not in explicit and _plan_shapes(cfg, hw) != tuple(pyr["shapes"]):
    cfg.min_size -= 1  # the coarsest side may round one above min_size
    if _plan_shapes(cfg, hw) != tuple(pyr["shapes"]):
      cfg.min_size += 1
  return config_lib.with_compat_implied(cfg, explicit)


def _plan_shapes(cfg, hw) -> tuple:
  try:
    return config_lib.scale_plan(cfg, *hw).shapes
  except errors.Error:
    return ()


def _checked_variables(pyr: dict, plan, net) -> list:
  """[(g_vars, d_vars)] per scale, each checked against this config's networks (no writes)."""
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
  if created_dir:
    shutil.rmtree(workdir, ignore_errors=True)
    return
  for name in set(os.listdir(workdir)) - before if os.path.isdir(workdir) else ():
    path = os.path.join(workdir, name)
    shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)


def convert(src: str, workdir: str, cfg, images: np.ndarray, holes: np.ndarray, explicit=()):
  """Writes the 2019 pyramid in `src` as a finished pyramid of `workdir`; returns the config
  it recorded (cfg with what the files fix, settings_from_files) and the scale plan.

  images (1, H, W, 3) float32 in [-1, 1] and holes (1, H, W) bool are the inputs the
  workdir's run.json identity is computed from (those `--mode=inpaint` will read); explicit:
  the fields the user gave. Everything is checked before the first write; a failure removes
  what this call created.
  """
  pyr = read_pyramid(src)
  cfg = settings_from_files(cfg, pyr, src, images.shape[1:3], explicit)
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
  if any(os.path.exists(os.path.join(workdir, d)) for d in ("scales", "inscale")):
    raise ConversionError(
      f"workdir {workdir} already holds trained scales: convert into a new --workdir"
    )
  os.makedirs(workdir, exist_ok=True)
  ckpts = ckpt_lib.PyramidCheckpoints(workdir)
  batched = lambda t: jax.tree.map(lambda x: np.asarray(x)[None], t)
  record = dict(workdir_lib.record_of(cfg), converted_from=os.path.abspath(src))
  try:
    ckpts.check_or_write_identity(
      ckpt_lib.run_identity(config_lib.settings(cfg), plan, images, holes), record
    )
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
  return cfg, plan


SUMMARY_FIELDS = ("partial", "pconv_norm", "compat", "mask_mode", "mask_threshold", "nfc")


def summary(src: str, workdir: str, cfg, plan) -> str:
  """The converter's report: scales, shapes, widths, the settings recorded, the next step."""
  shapes = " ".join(f"{h}x{w}" for h, w in plan.shapes)
  settings = ", ".join(f"{f}={cfg[f]!r}" for f in SUMMARY_FIELDS)
  return (
    f"converted {plan.num_scales} scales ({shapes}; widths {list(plan.nfc)}) from {src} into "
    f"{workdir}, recording {settings}\ninpaint with: python -m singan_jax.main --mode=inpaint "
    f"--workdir={workdir} (any --config: the workdir's settings are used)"
  )


def main(argv):
  if len(argv) > 1:
    raise SystemExit(f"singan-jax convert: unexpected arguments: {' '.join(argv[1:])}")
  logging.get_absl_handler().addFilter(cli.QuietLibraries())
  fl = flags.FLAGS
  if not fl.src or not fl.workdir:
    raise SystemExit(
      "singan-jax convert: error: give --src=<2019 run folder> and --workdir=<new directory>"
    )
  cfg = fl.config if fl.config is not None else config_lib.get_config()
  try:
    inputs.validate_config(cfg)
    pixels, hole, _, _ = inputs.load_inputs(cfg)
    explicit = set(config_flags.get_override_values(fl["config"]))
    x = image_io.to_float(pixels)[None]
    cfg, plan = convert(fl.src, fl.workdir, cfg, x, hole[None], explicit)
  except errors.Error as e:  # conversion, image and usage errors among them
    print(f"singan-jax convert: error: {cli.message(e)}", file=sys.stderr)
    raise SystemExit(2) from e
  print(summary(fl.src, fl.workdir, cfg, plan))


if __name__ == "__main__":
  config_flags.DEFINE_config_file("config", None, "A configs/*.py file (its get_config()).")
  flags.DEFINE_string("workdir", None, "The new workdir the converted pyramid goes to.")
  flags.DEFINE_string("src", None, "Folder of a run trained by the 2019 PyTorch code.")
  cli.run(main)
