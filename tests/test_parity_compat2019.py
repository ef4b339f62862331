"""Parity with the 2019 code's conventions (compat='2019') on converted 2019-layout pyramids.

The port's 2019 mode (REFERENCE.md, last section: frozen-generator masks, the uint8 resize with
its border taps and clamp) is the reference; ours with compat='2019' must follow it per scale.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from singan_jax import config as defaults  # noqa: E402
from singan_jax import convert  # noqa: E402
from singan_jax.core import resize  # noqa: E402
from singan_jax.core import sampling  # noqa: E402
from singan_jax.io import images as image_io  # noqa: E402
from singan_jax.reference import export  # noqa: E402
from singan_jax.reference import legacy  # noqa: E402
from singan_jax.reference import parity  # noqa: E402
from singan_jax.reference import sampling as ref_sampling  # noqa: E402
from singan_jax import reference as ref  # noqa: E402
from singan_jax.training import checkpoint as ckpt_lib  # noqa: E402
from singan_jax.training import loop as trainer  # noqa: E402
from singan_jax.training import pyramids  # noqa: E402
from singan_jax.core import schema  # noqa: E402

pytestmark = pytest.mark.parity
NFC = 8
TOL = 1e-5
CHAIN_TOL = 2e-6  # issue 28's target for chains and training draws


def uint_tap_matrix(in_len, scale, out_len):
  """The 2019 tap arithmetic, written out: np.uint indices (negatives wrap), the kernel at
  those positions, renormalised, mirrored; as a dense (out_len, in_len) matrix."""
  antialias = scale < 1
  width = 4.0 / scale if antialias else 4.0
  kernel = (lambda t: scale * resize.cubic(scale * t)) if antialias else resize.cubic
  match = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
  left = np.floor(match - width / 2)
  with np.errstate(invalid="ignore"):
    fov = np.uint(left[:, None] + np.arange(np.ceil(width) + 2) - 1)
  weights = kernel(match[:, None] - fov.astype(np.float64) - 1)
  sums = weights.sum(axis=1, keepdims=True)
  weights = weights / np.where(sums == 0, 1.0, sums)
  mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)]).astype(np.uint)
  idx = mirror[np.mod(fov, np.uint(2 * in_len))]
  out = np.zeros((out_len, in_len))
  np.add.at(out, (np.repeat(np.arange(out_len), fov.shape[1]), idx.ravel()), weights.ravel())
  return out


@pytest.mark.parametrize(
  "in_len,scale,out_len", [(40, 0.75, 30), (30, 1 / 0.75, 40), (25, 0.24, 6)]
)
def test_2019_taps_drop_the_leading_border(in_len, scale, out_len):
  want = uint_tap_matrix(in_len, scale, out_len)
  ours = resize.resize_matrix(in_len, scale, out_len)
  np.testing.assert_allclose(resize.resize_matrix(in_len, scale, out_len, "2019"), want, atol=1e-12)
  np.testing.assert_allclose(ref.resize_matrix(in_len, scale, out_len, "2019"), want, atol=1e-12)
  changed = np.nonzero(np.abs(want - ours).max(axis=1) > 1e-12)[0]
  assert changed.size and changed.max() < 4, changed  # only the first output rows differ
  np.testing.assert_allclose(want[-out_len // 2 :], ours[-out_len // 2 :], atol=1e-12)


def test_2019_resize_truncates_levels_and_clamps():
  rng = np.random.default_rng(0)
  x = rng.uniform(-1.2, 1.2, (1, 30, 40, 3)).astype(np.float32)
  once = np.asarray(resize.resize(jnp.asarray(x), 1.0, compat="2019"))
  levels = np.trunc(np.clip((x + 1) / 2, 0, 1) * np.float32(255))
  np.testing.assert_allclose(once, np.clip((levels / 255 - 0.5) * 2, -1, 1), atol=1e-6)
  for scale in (0.75, 1 / 0.75):
    got = np.asarray(resize.resize(jnp.asarray(x), scale, compat="2019"))
    want = parity.nhwc(ref.resize(parity.nchw(x), scale, compat="2019"))
    assert got.min() >= -1 and got.max() <= 1
    assert np.abs(got - want).max() <= TOL


def _setup(tmp_path, partial: bool):
  """A converted 2019-layout pyramid: (cfg, plan, frozen, gens, port Gs, z_opts, amps, knowns)."""
  h, w = 45, 60
  cfg = defaults.get_config()
  cfg.max_size, cfg.min_size = 60, 25
  cfg.nfc = cfg.min_nfc = cfg.nfc_cap = NFC
  cfg.partial, cfg.pconv_norm = partial, "sum"
  rng = np.random.default_rng(1)
  pixels = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
  hole = np.zeros((h, w), bool)
  hole[12:27, 20:38] = True
  plan = defaults.scale_plan(cfg, h, w)
  g = torch.Generator().manual_seed(7)
  Gs, Ds, z_opts, amps = [], [], [], []
  for k, (hk, wk) in enumerate(plan.shapes):
    G = parity.perturb(ref.Generator(NFC, NFC, partial=partial, generator=g), g).eval()
    with torch.no_grad():  # weights large enough that each scale changes the image
      for m in G.modules():
        if isinstance(m, torch.nn.Conv2d):
          m.weight.mul_(15 if partial else 4)
    Gs.append(G)
    Ds.append(ref.Discriminator(NFC, NFC, partial=partial, generator=g))
    z = torch.randn(1, 1, hk, wk, generator=g).expand(1, 3, hk, wk) if k == 0 else None
    z_opts.append(z if k == 0 else torch.zeros(1, 3, hk, wk))
    amps.append(1.0 if k == 0 else 0.1 + 0.05 * k)
  src = tmp_path / "run"
  export.save_2019_run(
    str(src), Gs, Ds, z_opts, amps, z_opts, layout="pc" if partial else "vanilla"
  )
  images, holes = image_io.to_float(pixels)[None], hole[None]
  convert.convert(str(src), str(tmp_path / "wd"), cfg, images, holes)
  ckpts = ckpt_lib.PyramidCheckpoints(str(tmp_path / "wd"))
  frozen = [jax.tree.map(lambda x: x[0], ckpts.restore_scale(n)[0]) for n in range(plan.num_scales)]
  ckpts.close()
  net = defaults.net_settings(cfg)
  gens = [net.generator(plan.nfc[k], plan.min_nfc[k]) for k in range(plan.num_scales)]
  cfg.compat = "2019"  # the training draws' masks: the workdir's own, the 2019 ones exactly
  _, knowns = pyramids.build_pyramids(
    schema.Networks.from_config(defaults.with_compat_implied(cfg)), plan, images, holes
  )
  port_masks = legacy.mask_pyramid(hole, ref.scale_plan(h, w, 60, 25), threshold=0.01)
  for ours, theirs in zip(knowns, port_masks):
    np.testing.assert_array_equal(ours[0], parity.nhwc(theirs))
  return plan, frozen, gens, Gs, z_opts, amps, [k[0] for k in knowns]


DRAWS = ("rec", "rand", "train_rec", "train_rand")


def chain_errors(pyr, partial: bool, compat: str, draw: str, port_compat: str | None = None):
  """Per scale k (chain 0..k): (max |ours - port|, values off by more than TOL, values).

  draw: 'rec' / 'rand' (fixed noise) at inference, 'train_rec' / 'train_rand' as the training
  draws (frozen generators get their scale's known map under compat '2019'). port_compat
  (default: compat) measures ours against another port mode: how much the conventions matter.
  """
  plan, frozen, gens, Gs, z_opts, amps, knowns = pyr
  port_compat = compat if port_compat is None else port_compat
  mode = draw.replace("train_", "")
  train = draw.startswith("train_")
  key = jax.random.PRNGKey(3)
  noises = [
    sampling.noise(jax.random.fold_in(key, k), 1, h, w, single_channel=(k == 0))
    for k, (h, w) in enumerate(plan.shapes)
  ]
  zs = z_opts if mode == "rec" else [parity.nchw(z) for z in noises]
  x0 = jnp.zeros((1, *plan.shapes[0], 3))
  chain_of = sampling.Generators(tuple(gens), plan.shapes, plan.scale_factor, partial, compat)
  out = []
  for k in range(plan.num_scales):
    masks = knowns[: k + 1] if train and compat == "2019" else None
    ours = sampling.chain(chain_of, frozen[: k + 1], x0, 0, mode, key, masks)
    port_masks = [parity.nchw(m) for m in knowns[: k + 1]]
    theirs = ref_sampling.sample(
      Gs[: k + 1],
      amps,
      plan.shapes,
      zs,
      sf=plan.scale_factor,
      partial=partial,
      masks=port_masks if train and port_compat == "2019" else None,
      compat=port_compat,
    )
    d = np.abs(np.asarray(ours) - parity.nhwc(theirs))
    out.append((float(d.max()), int((d > TOL).sum()), d.size))
  return out


@pytest.mark.parametrize("partial", [True, False], ids=["partial", "vanilla"])
@pytest.mark.parametrize("compat", ["", "2019"], ids=["ours", "compat2019"])
def test_converted_chains_follow_the_port(tmp_path, partial, compat):
  """Every scale's chain, inference and training draws, within 2e-6 of the port in the same
  mode: under compat 2019 every uint8 truncation falls as in the 2019 code (host resize)."""
  pyr = _setup(tmp_path, partial)
  for draw in DRAWS:
    errs = chain_errors(pyr, partial, compat, draw)
    for k, (worst, _, _) in enumerate(errs):
      assert worst <= CHAIN_TOL, (draw, k, errs)


def test_compat_2019_trains_with_hole_masks_in_the_draws_and_keys_the_workdir(tmp_path):
  """A tiny compat='2019' run: the training draws give frozen generators their known maps,
  run.json records compat, and resuming the workdir with our conventions is refused."""
  from singan_jax.training import step  # pylint: disable=g-import-not-at-top

  cfg = defaults.get_config()
  cfg.max_size, cfg.min_size, cfg.niter = 36, 25, 2
  cfg.nfc = cfg.min_nfc = cfg.nfc_cap = NFC
  cfg.checkpoint_every, cfg.sheets, cfg.compat = 0, False, "2019"
  rng = np.random.default_rng(2)
  images = rng.uniform(-1, 1, (1, 32, 40, 3)).astype(np.float32)
  holes = np.zeros((1, 32, 40), bool)
  holes[0, 8:20, 10:24] = True
  pyr = trainer.train(defaults.settings(cfg), str(tmp_path / "wd"), images, holes)
  assert pyr.net.compat == "2019" and pyr.net.train_masks
  assert '"compat": "2019"' in (tmp_path / "wd" / "run.json").read_text()

  plan, n = pyr.plan, 1
  frozen = [jax.tree.map(lambda x: x[0], pyr.frozen[0])]
  known = [jnp.asarray(pyr.knowns[0][0])]
  draw = step.make_draws(plan, n, pyr.net, defaults.train_settings(cfg))
  key = jax.random.PRNGKey(0)
  got = draw(key, frozen, jnp.float32, known).prevs
  k_prev = jax.random.split(key, 3)[1]
  gens = sampling.Generators.of(plan, pyr.net, upto=1)
  assert gens.compat == "2019" and gens.partial
  args = (gens, frozen, "rand", k_prev, cfg.Dsteps)
  want = sampling.draw_prev(*args, masks=known)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  assert np.abs(np.asarray(want - sampling.draw_prev(*args))).max() > 1e-6

  cfg.compat = ""
  with pytest.raises(ckpt_lib.IncompatibleRunError, match="compat"):
    trainer.train(defaults.settings(cfg), str(tmp_path / "wd"), images, holes)


def main():
  """Prints the per-scale chain errors of docs/parity_2019.md as markdown rows."""
  import pathlib  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top

  pairs = (("", ""), ("2019", "2019"), ("", "2019"))
  print("| nets | ours | port | draw | max abs error per scale 0..N | values off > 1e-5 |")
  print("|---|---|---|---|---|---|")
  for partial in (True, False):
    with tempfile.TemporaryDirectory() as d:
      pyr = _setup(pathlib.Path(d), partial)
      for compat, port in pairs:
        for draw in DRAWS:
          errs = chain_errors(pyr, partial, compat, draw, port)
          worst = " / ".join(f"{e[0]:.1e}" for e in errs)
          off = " / ".join(f"{e[1]}" for e in errs)
          name = "partial" if partial else "vanilla"
          print(f"| {name} | {compat or 'none'} | {port or 'none'} | {draw} | {worst} | {off} |")


if __name__ == "__main__":
  main()
