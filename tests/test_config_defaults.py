"""Library defaults equal the config's (singan_jax/config.py), so they cannot drift apart: a
caller that leaves an argument out gets what the CLI trains."""

import dataclasses
import inspect

from singan_jax import config as config_lib
from singan_jax.core import models
from singan_jax.core import partial_conv
from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.inpainting import fill
from singan_jax.inpainting import texture
from singan_jax.training import step


def _defaults(fn) -> dict:
  return {
    k: p.default
    for k, p in inspect.signature(fn).parameters.items()
    if p.default is not inspect.Parameter.empty
  }


def test_net_config_defaults_are_the_config_defaults():
  cfg = config_lib.get_config()
  assert sampling.NetConfig() == config_lib.net_settings(cfg, batch=2)
  assert dataclasses.replace(sampling.NetConfig(), conv_batching="grouped") == (
    config_lib.net_settings(cfg, batch=1)
  )


def test_train_config_defaults_are_the_config_defaults():
  assert step.TrainConfig() == config_lib.train_settings(config_lib.get_config())


def test_plan_defaults_are_the_config_defaults():
  cfg = config_lib.get_config()
  plan_kw = _defaults(pyramid.make_plan)
  assert plan_kw == {k: cfg[k] for k in plan_kw}
  assert pyramid.make_plan(300, 400) == config_lib.scale_plan(cfg, 300, 400)
  width = _defaults(pyramid.scale_width)
  assert (width["base"], width["cap"]) == (cfg.nfc, cfg.nfc_cap)
  masks = _defaults(pyramid.mask_pyramid)
  assert (masks["threshold"], masks["mode"]) == (cfg.mask_threshold, cfg.mask_mode)


def test_model_and_layer_defaults_are_the_config_defaults():
  cfg = config_lib.get_config()
  for module in (models.Generator, models.Discriminator):
    fields = {f.name: f.default for f in dataclasses.fields(module)}
    assert fields["nfc"] == cfg.nfc and fields["min_nfc"] == cfg.min_nfc, module
    assert fields["num_layer"] == cfg.num_layer and fields["partial"] == cfg.partial, module
    assert fields["normalization"] == cfg.pconv_norm, module
  for module in (models.Conv, models.ConvBlock):
    fields = {f.name: f.default for f in dataclasses.fields(module)}
    assert (fields["partial"], fields["normalization"]) == (cfg.partial, cfg.pconv_norm)
  assert _defaults(partial_conv.partial_conv)["normalization"] == cfg.pconv_norm
  assert _defaults(partial_conv.partial_conv)["batching"] == cfg.conv_batching


def test_fill_defaults_are_the_config_defaults():
  cfg = config_lib.get_config()
  kw = _defaults(fill.fill)
  assert (kw["radius"], kw["patch_size"], kw["iters"]) == (
    cfg.fill_radius,
    cfg.patch_size,
    cfg.patch_iters,
  )
  assert _defaults(fill.fill_local_means)["radius"] == cfg.fill_radius
  pm = _defaults(fill.fill_patchmatch)
  assert (pm["patch_size"], pm["iters"], pm["radius"]) == (
    cfg.patch_size,
    cfg.patch_iters,
    cfg.fill_radius,
  )


def test_conv_impl_defaults_are_the_config_defaults():
  cfg = config_lib.get_config()
  assert sampling.NetConfig().conv_impl == cfg.conv_impl
  assert _defaults(partial_conv.partial_conv)["impl"] == cfg.conv_impl
  assert _defaults(partial_conv.conv2d_valid)["impl"] == cfg.conv_impl
  for module in (models.Generator, models.Discriminator, models.Conv, models.ConvBlock):
    fields = {f.name: f.default for f in dataclasses.fields(module)}
    assert fields["conv_impl"] == cfg.conv_impl, module


def test_texture_pass_defaults_are_the_config_defaults():
  cfg = config_lib.get_config()
  kw = _defaults(texture.retexture)
  names = ("patch_size", "levels", "final", "seam", "locality", "guide")
  assert tuple(kw[n] for n in names) == (
    cfg.texture_patch,
    cfg.texture_levels,
    cfg.texture_final,
    cfg.seam,
    cfg.texture_locality,
    cfg.texture_guide,
  )
