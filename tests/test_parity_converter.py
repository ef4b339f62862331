"""The weight bridge (state_dict <-> params / batch_stats) and the 2019-pyramid converter."""

import dataclasses
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from singan_jax import config as defaults  # noqa: E402
from singan_jax.io import images as image_io  # noqa: E402
from singan_jax.inpainting import inpaint as inpaint_lib  # noqa: E402
from singan_jax.core import sampling  # noqa: E402
from singan_jax import convert as torch_convert  # noqa: E402
from singan_jax.training import loop as trainer  # noqa: E402

from singan_jax import reference as ref
from singan_jax.reference import export
from singan_jax.reference import parity
from singan_jax.core import schema

pytestmark = pytest.mark.parity
NFC = 8


@pytest.mark.parametrize("style", torch_convert.STYLES)
@pytest.mark.parametrize("net", ["G", "D"])
def test_bridge_round_trip_is_exact(style, net):
  g = torch.Generator().manual_seed(3)
  cls = ref.Generator if net == "G" else ref.Discriminator
  module = parity.perturb(cls(16, 4, partial=True, generator=g), g).double()
  sd = module.state_dict()
  if style != "port":
    sd = export.to_2019_keys(sd, net == "G", "pc" if style == "2019-pc" else "vanilla")
  variables = torch_convert.torch_to_flax(sd, np.float64)
  assert variables["params"]["net"]["head"]["conv"]["kernel"].shape == (3, 3, 3, 16)  # HWIO
  back = torch_convert.flax_to_torch(variables, style, generator=net == "G")
  assert list(back) == list(sd)
  for k, v in sd.items():
    if "num_batches" not in k:
      assert torch.equal(back[k], v), k
  # and the flax tree fits our models exactly
  ours = (
    sampling.NetConfig(5, True).generator(16, 4)
    if net == "G"
    else sampling.NetConfig(5, True).discriminator(16, 4)
  )
  x = jnp.zeros((1, 20, 20, 3))
  m = jnp.ones((1, 20, 20, 1))
  shapes = jax.eval_shape(
    lambda: (
      ours.init(jax.random.PRNGKey(0), x, x, m)
      if net == "G"
      else ours.init(jax.random.PRNGKey(0), x, m)
    )
  )
  torch_convert.check_shapes(variables, shapes)


def test_bridge_rejects_foreign_state_dicts():
  with pytest.raises(torch_convert.ConversionError, match="unexpected state_dict entry"):
    torch_convert.torch_to_flax({"features.0.weight": np.zeros((3, 3, 3, 3))})
  sd = ref.Generator(16, 16).state_dict()
  v = torch_convert.torch_to_flax(sd)
  want = jax.eval_shape(
    lambda: (
      sampling.NetConfig(5, False)
      .generator(32, 32)
      .init(jax.random.PRNGKey(0), jnp.zeros((1, 20, 20, 3)), jnp.zeros((1, 20, 20, 3)))
    )
  )
  with pytest.raises(torch_convert.ConversionError, match="--config.nfc"):
    torch_convert.check_shapes(v, want)


def test_bridge_refuses_a_mask_kernel_that_is_not_all_ones():
  sd = export.to_2019_keys(ref.Generator(16, 4, partial=True).state_dict(), True, "pc")
  assert torch.all(sd["body.1.conv.mask_conv.weight"] == 1)
  torch_convert.torch_to_flax(sd)  # the fixed all-ones kernels are accepted and dropped
  sd["body.1.conv.mask_conv.weight"][0, 0, 1, 1] = 0.5
  with pytest.raises(torch_convert.ConversionError, match="'body.1.conv.mask_conv.weight'"):
    torch_convert.torch_to_flax(sd)


def _config(tmp_path, h, w):
  cfg = defaults.get_config()
  cfg.max_size, cfg.min_size = 40, 25
  cfg.nfc = cfg.min_nfc = cfg.nfc_cap = NFC
  cfg.partial, cfg.pconv_norm = True, "sum"
  cfg.inject_scale, cfg.fill = 1, "local_means"
  rng = np.random.default_rng(0)
  pixels = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
  hole = np.zeros((h, w), bool)
  hole[10:18, 12:24] = True
  cfg.image, cfg.mask = str(tmp_path / "img.png"), str(tmp_path / "mask.png")
  image_io.write_image(cfg.image, pixels)
  image_io.write_image(cfg.mask, (hole * 255).astype(np.uint8))
  return cfg, pixels, hole


@pytest.mark.parametrize("layout", export.LAYOUTS)
def test_converted_2019_pyramid_restores_and_inpaints(tmp_path, layout):
  h, w = 30, 40
  cfg, pixels, hole = _config(tmp_path, h, w)
  partial = cfg.partial = layout == "pc"  # the 2019 code's partial-conv or vanilla networks
  plan = defaults.scale_plan(cfg, h, w)
  assert plan.num_scales == 3
  g = torch.Generator().manual_seed(5)
  Gs, Ds, z_opts, amps = [], [], [], []
  for k, (hk, wk) in enumerate(plan.shapes):
    Gs.append(parity.perturb(ref.Generator(NFC, NFC, partial=partial, generator=g), g).eval())
    Ds.append(parity.perturb(ref.Discriminator(NFC, NFC, partial=partial, generator=g), g))
    z_opts.append(
      torch.randn(1, 1, hk, wk, generator=g).expand(1, 3, hk, wk)
      if k == 0
      else torch.zeros(1, 3, hk, wk)
    )
    amps.append(1.0 if k == 0 else 0.1 * (k + 1))
  x = torch.from_numpy(image_io.to_float(pixels).transpose(2, 0, 1)[None].copy())
  reals = ref.reals_pyramid(x, ref.scale_plan(h, w, 40, 25, 0.75))
  src = tmp_path / "TrainedModels" / "img" / "scale_factor=0.750000,alpha=10"
  export.save_2019_run(str(src), Gs, Ds, z_opts, amps, reals, layout=layout)
  zs = torch.load(src / "Zs.pth", weights_only=True)
  assert [z.dtype for z in zs] == [torch.float32] + [torch.int64] * (len(zs) - 1)

  images, holes = image_io.to_float(pixels)[None], hole[None]
  workdir = str(tmp_path / "converted")
  recorded, got = torch_convert.convert(str(src), workdir, cfg, images, holes)
  assert got.shapes == plan.shapes and recorded.compat == "2019"  # a 2019 layout: its conventions
  with pytest.raises(torch_convert.ConversionError, match="already holds trained scales"):
    torch_convert.convert(str(src), workdir, cfg, images, holes)

  pyr = trainer.train(
    defaults.settings(recorded), workdir, images, holes
  )  # every scale restored, none trained
  frozen = inpaint_lib.select_image(pyr.frozen, 0)
  for k, G in enumerate(Gs):  # the weights land where the port's own names put them
    want_vars = torch_convert.torch_to_flax(G.state_dict())
    got = jax.tree.map(np.asarray, frozen[k].g_vars)
    jax.tree.map(np.testing.assert_array_equal, got, want_vars)
  x0 = jnp.zeros((1, *plan.shapes[0], 3))
  ours = sampling.Generators.of(plan, dataclasses.replace(pyr.net, compat=""))  # the port's
  rec = sampling.chain(ours, frozen, x0, 0, "rec")
  want = ref.sample(Gs, amps, plan.shapes, z_opts, sf=plan.scale_factor, partial=partial)
  parity.check("converted pyramid reconstruction", rec, parity.nhwc(want), "float32")

  result = inpaint_lib.inpaint(
    pyr, pixels, hole, schema.Inpainting.from_config(recorded), seed=recorded.seed
  )
  assert result.output.shape == pixels.shape and result.n == 1
  far = result.soft == 0
  np.testing.assert_array_equal(result.output[far], pixels[far])


def test_converter_refuses_a_pyramid_of_another_image(tmp_path):
  cfg, pixels, hole = _config(tmp_path, 30, 40)
  src = tmp_path / "run"
  G = ref.Generator(NFC, NFC, partial=True)
  D = ref.Discriminator(NFC, NFC, partial=True)
  export.save_2019_run(
    str(src),
    [G, G],
    [D, D],
    [torch.zeros(1, 3, 25, 25), torch.zeros(1, 3, 30, 30)],
    [1.0, 0.1],
    [torch.zeros(1, 3, 25, 25), torch.zeros(1, 3, 30, 30)],
  )
  with pytest.raises(torch_convert.ConversionError, match="use the image the PyTorch run"):
    torch_convert.convert(
      str(src), str(tmp_path / "out"), cfg, image_io.to_float(pixels)[None], hole[None]
    )
  with pytest.raises(torch_convert.ConversionError, match="is missing"):
    torch_convert.read_pyramid(str(tmp_path / "nowhere"))


def test_a_failed_conversion_leaves_nothing_and_the_retry_succeeds(tmp_path):
  h, w = 30, 40
  cfg, pixels, hole = _config(tmp_path, h, w)
  plan = defaults.scale_plan(cfg, h, w)
  Gs = [ref.Generator(NFC, NFC, partial=True) for _ in plan.shapes]
  Ds = [ref.Discriminator(NFC, NFC, partial=True) for _ in plan.shapes]
  zs = [torch.zeros(1, 3, *s) for s in plan.shapes]
  src = tmp_path / "run"
  export.save_2019_run(str(src), Gs, Ds, zs, [1.0] * len(Gs), zs, layout="pc")
  images, holes = image_io.to_float(pixels)[None], hole[None]
  for workdir in (tmp_path / "fresh", tmp_path / "existing"):
    if workdir.name == "existing":
      workdir.mkdir()
      (workdir / "notes.txt").write_text("kept")
    cfg.nfc = cfg.min_nfc = NFC // 2  # the run used NFC
    with pytest.raises(torch_convert.ConversionError, match="so nfc is 8, but --config.nfc=4"):
      torch_convert.convert(str(src), str(workdir), cfg, images, holes, {"nfc"})
    assert not (workdir / "run.json").exists()
    assert workdir.exists() == (workdir.name == "existing")
    cfg.nfc = cfg.min_nfc = NFC
    cfg.nfc = cfg.min_nfc = NFC // 2  # not given: read from the weights
    assert torch_convert.convert(str(src), str(workdir), cfg, images, holes)[1] == plan
    assert (workdir / "run.json").exists()
  assert (tmp_path / "existing" / "notes.txt").read_text() == "kept"


def test_a_failed_write_removes_what_the_conversion_created(tmp_path, monkeypatch):
  h, w = 30, 40
  cfg, pixels, hole = _config(tmp_path, h, w)
  plan = defaults.scale_plan(cfg, h, w)
  Gs = [ref.Generator(NFC, NFC, partial=True) for _ in plan.shapes]
  Ds = [ref.Discriminator(NFC, NFC, partial=True) for _ in plan.shapes]
  zs = [torch.zeros(1, 3, *s) for s in plan.shapes]
  export.save_2019_run(str(tmp_path / "run"), Gs, Ds, zs, [1.0] * len(Gs), zs)

  def fail(self, n, *args):
    raise OSError(f"disk full at scale {n}")

  monkeypatch.setattr(trainer.ckpt_lib.PyramidCheckpoints, "save_scale", fail)
  workdir = tmp_path / "out"
  with pytest.raises(OSError, match="disk full"):
    torch_convert.convert(
      str(tmp_path / "run"), str(workdir), cfg, image_io.to_float(pixels)[None], hole[None]
    )
  assert not workdir.exists()
