"""The Python entry point (singan_jax/api.py): arrays in and out, the command line's checks and
messages as exceptions, and the README's snippet run as written."""

import os
import re

import ml_collections
import numpy as np
import pytest

import singan_jax
from singan_jax import api
from singan_jax import configs
from singan_jax import inputs

from helpers import REPO, TINY, tiny_config


def test_the_package_exports_the_api_and_the_shipped_configs():
  assert singan_jax.inpaint is api.inpaint and singan_jax.train is api.train
  assert singan_jax.configs.demo().max_size == 128 and singan_jax.configs.default().niter == 2000
  for name in configs.NAMES:  # configs/*.py, which --config= names, return the same
    scope = {}
    with open(os.path.join(REPO, "configs", f"{name}.py"), encoding="utf-8") as f:
      exec(compile(f.read(), f.name, "exec"), scope)  # pylint: disable=exec-used
    assert scope["get_config"]().to_dict() == configs.named(name).to_dict()
  with pytest.raises(ValueError, match="use one of default, demo, tpu"):
    configs.named("fast")


def test_image_arrays_become_pixels_and_floats_are_kept_at_16_bits():
  rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
  assert api.image_pixels(rgb) == (pytest.approx(rgb), False)
  grey, _ = api.image_pixels(rgb[..., 0])
  assert grey.shape == (2, 3, 3) and (grey[..., 2] == rgb[..., 0]).all()
  rgba = np.concatenate([rgb, np.zeros((2, 3, 1), np.uint8)], axis=2)
  assert (api.image_pixels(rgba)[0] == rgb).all()
  unit = np.linspace(0, 1, 18).reshape(2, 3, 3)
  pixels, is_float = api.image_pixels(unit)
  assert is_float and pixels.dtype == np.uint16
  np.testing.assert_allclose(pixels / 65535, unit, atol=1 / 65535)


@pytest.mark.parametrize(
  "image,message",
  [
    (np.full((4, 5, 3), 1.5), "values from 1.5 to 1.5: give floats in \\[0, 1\\]"),
    (np.full((4, 5, 3), np.nan), "NaN or infinite values"),
    (np.zeros((4, 5, 3), np.int32), "dtype int32: give uint8, uint16 or floats"),
    (np.zeros((4, 5, 2), np.uint8), "shape \\(4, 5, 2\\): give an \\(H, W, 3\\) array"),
  ],
)
def test_bad_image_arrays_are_refused_naming_the_fix(image, message):
  with pytest.raises(inputs.UsageError, match=message):
    api.image_pixels(image)


def test_mask_arrays_become_mask_file_levels():
  hole = np.zeros((3, 4), bool)
  hole[1, 2] = True
  assert (api.mask_levels(hole) == np.where(hole, 255, 0)).all()
  assert (api.mask_levels(hole.astype(np.float32)) == np.where(hole, 255, 0)).all()
  assert (api.mask_levels(np.repeat(np.where(hole, 255, 0)[..., None], 3, 2).astype(np.uint8))
          == np.where(hole, 255, 0)).all()  # fmt: skip
  with pytest.raises(inputs.UsageError, match="give an \\(H, W\\) bool array"):
    api.mask_levels(hole.astype(np.int64))
  with pytest.raises(inputs.UsageError, match="give an \\(H, W\\) array"):
    api.mask_levels(np.zeros(5, bool))


def test_configs_given_as_dicts_names_or_configdicts():
  cfg, given = api._config({"niter": 7, "fill": "mean"}, configs.demo())
  assert (cfg.niter, cfg.max_size, given) == (7, 128, {"niter", "fill"})
  cfg, given = api._config(configs.demo(), configs.default())
  assert cfg.max_size == 128 and given == {"max_size", "niter", "nfc_cap", "checkpoint_every",
                                           "log_every"}  # fmt: skip
  assert api._config("demo", configs.default())[0].max_size == 128
  base = configs.demo()
  api._config(None, base)[0].niter = 1
  assert base.niter == 100  # every call works on a copy
  with pytest.raises(inputs.UsageError, match="config has no field 'nitre'"):
    api._config({"nitre": 7}, configs.default())
  with pytest.raises(TypeError, match="give a ConfigDict, a name or a dict"):
    api._config(7, configs.default())
  assert isinstance(api._config(None, base)[0], ml_collections.ConfigDict)


def test_train_raises_the_command_lines_messages_before_training(tmp_path):
  image = np.zeros((32, 40, 3), np.uint8)
  with pytest.raises(inputs.UsageError, match="is 30x40 but image .* is 32x40: give a mask"):
    api.train(image, np.zeros((30, 40), bool), tiny_config(), str(tmp_path / "a"))
  with pytest.raises(inputs.UsageError, match="keep at least"):
    api.train(image, np.ones((32, 40), bool), dict(TINY), str(tmp_path / "b"))
  assert not os.path.exists(tmp_path / "b" / "run.json")  # refused before the workdir's record


def test_load_apply_and_inputs_refuse_what_they_cannot_use(tmp_path):
  with pytest.raises(inputs.UsageError, match="holds no pyramid record"):
    api.load(str(tmp_path))
  pyramid = api.Pyramid(str(tmp_path), tiny_config())
  with pytest.raises(inputs.UsageError, match="is not an application: use one of harmonize"):
    api.apply(pyramid, "inpaint")


def _python_snippet(heading: str) -> str:
  """The first ```python block after the README heading."""
  with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
    text = f.read()
  return re.search(r"```python\n(.*?)```", text[text.index(heading) :], re.S).group(1)


@pytest.mark.slow
def test_readme_python_snippet_runs_as_written(monkeypatch):
  """The README's snippet verbatim, with configs.demo() shrunk to the tests' tiny budget: the
  fill keeps the known pixels, a re-run inpaints without training, load() reopens the workdir
  and returns floats for a float-input pyramid."""
  monkeypatch.chdir(REPO)
  monkeypatch.setattr(
    configs, "demo", lambda: tiny_config(inject_scale=-1, fill="local_means", sheets=True)
  )
  scope = {}
  exec(_python_snippet("## From Python"), scope)  # pylint: disable=exec-used
  image, hole, pyramid = scope["image"], scope["hole"], scope["pyramid"]
  for key in ("filled", "flat"):
    out = scope[key]
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out[~_grown(hole, 3)] == image[~_grown(hole, 3)]).all()  # beyond the 2 px feather
    assert np.abs(out[hole].astype(int) - image[hole]).mean() > 1  # the hole was regenerated
  assert not np.array_equal(scope["filled"], scope["flat"])  # the other fill took effect
  assert scope["samples"].shape == (4, *pyramid.plan.shapes[-1], 3)
  assert os.path.exists(os.path.join(pyramid.workdir, "inputs", "image.png"))

  resumed = api.train(image, hole, workdir=pyramid.workdir)  # a finished pyramid: nothing to do
  assert resumed.config.max_size == pyramid.config.max_size  # the record's, not the defaults'
  assert resumed.plan.shapes == pyramid.plan.shapes

  again = api.inpaint(api.load(pyramid.workdir, float_pixels=True))
  assert again.dtype == np.float32 and 0 <= again.min() and again.max() <= 1
  np.testing.assert_array_equal(np.round(again * 255).astype(np.uint8), scope["filled"])


def _grown(hole: np.ndarray, radius: int) -> np.ndarray:
  """hole dilated by a (2 radius + 1) square."""
  out = hole.copy()
  padded = np.pad(hole, radius)
  h, w = hole.shape
  for dy in range(2 * radius + 1):
    for dx in range(2 * radius + 1):
      out |= padded[dy : dy + h, dx : dx + w]
  return out
