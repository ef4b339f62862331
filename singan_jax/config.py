"""The config users override: a flat ConfigDict of every field (core/schema.py holds each
field's default, check and pyramid kind), and the settings the library receives from it.

configs/*.py start from `get_config()` here and override a few fields (`--config.FIELD=VALUE`
on the command line). Field names follow the 2019 code's options where one exists.
"""

from absl import logging
import ml_collections

from singan_jax.core import pyramid
from singan_jax.core import sampling
from singan_jax.core import schema


def get_config() -> ml_collections.ConfigDict:
  """Every field at its default (core/schema.py's sections, flattened)."""
  return ml_collections.ConfigDict(schema.defaults())


# What compat '2019' sets where the user gave nothing: the 2019 code's mask threshold and, for
# partial convs, its 1/sum(M) normalisation (a 2019 PC checkpoint always means 'sum').
COMPAT_2019_IMPLIES = {"mask_threshold": 0.01, "pconv_norm": "sum"}


def with_compat_implied(cfg, explicit=()):
  """cfg with the fields compat '2019' implies (COMPAT_2019_IMPLIES; pconv_norm only for
  partial convs), except those given explicitly: each of those that departs gets one warning."""
  if cfg.compat != "2019":
    return cfg
  implied = {f: v for f, v in COMPAT_2019_IMPLIES.items() if f != "pconv_norm" or cfg.partial}
  for field in sorted(set(implied) & set(explicit)):
    if cfg[field] != implied[field]:
      logging.warning(
        "--config.%s=%r with compat '2019': the 2019 code uses %r, so this pyramid departs "
        "from it there",
        field,
        cfg[field],
        implied[field],
      )
  changes = {f: v for f, v in implied.items() if f not in explicit and cfg[f] != v}
  if not changes:
    return cfg
  cfg = cfg.copy_and_resolve_references()
  for field, value in changes.items():
    cfg[field] = value
  return cfg


def typed_value(cfg, field: str, text: str):
  """text read as cfg's `field`'s type (bools from 1 / true / yes), for FIELD=VALUE flags
  outside absl's (bench --set, evaluate --extra); KeyError when cfg has no such field."""
  if field not in cfg:
    raise KeyError(field)
  old = cfg[field]
  return text.lower() in ("1", "true", "yes") if isinstance(old, bool) else type(old)(text)


# -- settings built from a config: the orchestration's edge, where the flat config becomes the
# typed sections the library receives (core/schema.py) ---------------------------------------


def settings(cfg) -> schema.Settings:
  """cfg's checked sections: what training receives (the inpainter gets .inpainting alone)."""
  return schema.Settings.from_config(cfg)


def scale_plan(cfg, h: int, w: int) -> pyramid.ScalePlan:
  """The scale plan of an h x w training image (core/pyramid.plan_of)."""
  return pyramid.plan_of(schema.Plan.from_config(cfg), h, w)


def net_settings(cfg, batch: int = 1) -> sampling.NetConfig:
  """The networks' static settings for a batch of `batch` images (sampling.NetConfig.of)."""
  return sampling.NetConfig.of(schema.Networks.from_config(cfg), batch)


def train_settings(cfg) -> schema.Training:
  """One scale's training hyper-parameters (training/step.TrainConfig)."""
  return schema.Training.from_config(cfg)
