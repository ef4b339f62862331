"""Tests for singan_jax.inpainting.fill: hole initialisers (mean, local means, PatchMatch,
exemplar)."""

import jax
import numpy as np
import pytest

from singan_jax.inpainting import fill as F

H, W, C = 24, 32, 3


def _image(seed: int, h: int = H, w: int = W) -> np.ndarray:
  """Random float32 (h, w, 3) image in [-1, 1]."""
  return np.random.default_rng(seed).uniform(-1, 1, (h, w, C)).astype(np.float32)


def _rect_known(
  h: int = H, w: int = W, y0: int = 6, y1: int = 16, x0: int = 9, x1: int = 22
) -> np.ndarray:
  """(h, w) bool mask, False (hole) inside the rectangle."""
  k = np.ones((h, w), bool)
  k[y0:y1, x0:x1] = False
  return k


def _blob_known(n: int = 64) -> np.ndarray:
  """(n, n) bool mask with a blob hole made of two overlapping discs."""
  yy, xx = np.mgrid[:n, :n]
  hole = ((yy - 30) ** 2 + (xx - 28) ** 2 < 12**2) | ((yy - 38) ** 2 + (xx - 40) ** 2 < 8**2)
  return ~hole


def _poisoned(x: np.ndarray, known: np.ndarray, value=np.nan) -> np.ndarray:
  """Copy of x with its hole overwritten (NaN by default) so fills must not read it."""
  out = x.copy()
  out[~known] = value
  return out


def _np_onion_peel(x: np.ndarray, known: np.ndarray, r: int) -> np.ndarray:
  """Direct float64 onion peeling: per pass, every hole pixel with known pixels in its window
  takes their mean; all such pixels become known at the end of the pass."""
  h, w = known.shape
  k = known.copy()
  vals = np.where(k[..., None], x.astype(np.float64), 0.0)
  while not k.all():
    new_vals, new_k = vals.copy(), k.copy()
    for y in range(h):
      for xx in range(w):
        if k[y, xx]:
          continue
        ys, xs = slice(max(y - r, 0), y + r + 1), slice(max(xx - r, 0), xx + r + 1)
        m = k[ys, xs]
        if m.any():
          new_vals[y, xx] = vals[ys, xs][m].mean(axis=0)
          new_k[y, xx] = True
    if (new_k == k).all():
      break
    vals, k = new_vals, new_k
  return np.where(known[..., None], x, vals)


def _run(method: str, x, known, seed: int = 0, **kw):
  """Call fill() with a key for patchmatch (small iteration counts keep tests fast)."""
  if method == "patchmatch":
    return F.fill(x, known, method, key=jax.random.PRNGKey(seed), iters=3, **kw)
  return F.fill(x, known, method, **kw)


# ----------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("method", F.VALID_METHODS)
def test_known_pixels_bit_identical_and_hole_finite(method):
  x, known = _image(0), _rect_known()
  xp = _poisoned(x, known, 7.5)
  out = np.asarray(_run(method, xp, known))
  assert out.shape == x.shape and out.dtype == np.float32
  np.testing.assert_array_equal(out[known], xp[known])
  if method == "none":
    np.testing.assert_array_equal(out, xp)
  else:
    assert np.isfinite(out).all()
    assert (out[~known] != 7.5).all()  # every hole pixel was rewritten


@pytest.mark.parametrize("method", ["mean", "local_means", "patchmatch"])
def test_nan_hole_is_never_read(method):
  x, known = _image(1), _rect_known()
  out = np.asarray(_run(method, _poisoned(x, known), known))
  assert np.isfinite(out).all()
  np.testing.assert_array_equal(out[known], x[known])


@pytest.mark.parametrize(
  "method", ["mean", "local_means", pytest.param("patchmatch", marks=pytest.mark.slow)]
)
def test_blob_hole_64(method):
  x, known = _image(2, 64, 64), _blob_known()
  out = np.asarray(_run(method, _poisoned(x, known), known))
  assert np.isfinite(out).all()
  np.testing.assert_array_equal(out[known], x[known])
  assert np.abs(out[~known]).max() <= 1.0 + 1e-6  # convex combinations of [-1, 1] pixels


@pytest.mark.parametrize("mask_form", ["bool", "float_hw", "float_hw1"])
def test_mask_forms_agree(mask_form):
  x, known = _image(3), _rect_known()
  k = {
    "bool": known,
    "float_hw": known.astype(np.float32),
    "float_hw1": known[..., None].astype(np.float32),
  }
  ref = np.asarray(F.fill_local_means(x, known))
  np.testing.assert_array_equal(np.asarray(F.fill_local_means(x, k[mask_form])), ref)


# ----------------------------------------------------------------------------- mean / local means


def test_fill_mean_matches_numpy():
  x, known = _image(4), _rect_known()
  out = np.asarray(F.fill_mean(_poisoned(x, known), known))
  expected = x[known].astype(np.float64).mean(axis=0)
  np.testing.assert_allclose(out[~known], np.broadcast_to(expected, out[~known].shape), atol=1e-6)


@pytest.mark.parametrize("radius", [1, 2, 4])
@pytest.mark.parametrize("mask_seed", [0, 1])
def test_local_means_matches_numpy_onion_peeling(radius, mask_seed):
  x = _image(5)
  rng = np.random.default_rng(mask_seed)
  known = _rect_known(y0=3, y1=20, x0=0, x1=14)  # hole touching the left border
  known &= rng.uniform(size=known.shape) > 0.15  # plus scattered holes
  out = np.asarray(F.fill_local_means(_poisoned(x, known), known, radius=radius))
  np.testing.assert_allclose(out, _np_onion_peel(x, known, radius), atol=1e-6, rtol=0)
  np.testing.assert_array_equal(out[known], x[known])


def test_local_means_fills_hole_much_larger_than_radius():
  x, known = _image(6), _rect_known(y0=2, y1=22, x0=3, x1=29)  # 20x26 hole, radius 1
  out = np.asarray(F.fill_local_means(_poisoned(x, known), known, radius=1))
  assert np.isfinite(out).all()
  np.testing.assert_allclose(out, _np_onion_peel(x, known, 1), atol=1e-6, rtol=0)


def test_local_means_constant_image_stays_constant():
  x, known = np.full((H, W, C), 0.25, np.float32), _rect_known()
  out = np.asarray(F.fill_local_means(_poisoned(x, known), known, radius=2))
  np.testing.assert_allclose(out, 0.25, atol=1e-7)


def test_local_means_window_path_equals_full_core():
  x, known = _image(7, 64, 64), _blob_known()
  eager = np.asarray(F.fill_local_means(x, known))  # concrete mask: cropped window
  jitted = np.asarray(jax.jit(F.fill_local_means)(x, known))  # traced: whole image
  np.testing.assert_array_equal(eager, jitted)


# ----------------------------------------------------------------------------- patchmatch


def test_patchmatch_deterministic_per_key():
  x, known = _image(8), _rect_known()
  a = np.asarray(F.fill_patchmatch(x, known, jax.random.PRNGKey(0), iters=3))
  b = np.asarray(F.fill_patchmatch(x, known, jax.random.PRNGKey(0), iters=3))
  c = np.asarray(F.fill_patchmatch(x, known, jax.random.PRNGKey(1), iters=3))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  np.testing.assert_array_equal(c[known], x[known])


def test_patchmatch_reproduces_repeating_texture_better_than_mean():
  tile = np.random.default_rng(9).uniform(-1, 1, (5, 7, C)).astype(np.float32)
  truth = np.tile(tile, (13, 10, 1))[:64, :64]
  known = _rect_known(64, 64, 22, 40, 20, 42)
  x = _poisoned(truth, known)
  err = {
    name: float(np.sqrt(np.mean((np.asarray(out)[~known] - truth[~known]) ** 2)))
    for name, out in {
      "mean": F.fill_mean(x, known),
      "local_means": F.fill_local_means(x, known),
      "patchmatch": F.fill_patchmatch(x, known, jax.random.PRNGKey(0), iters=3),
    }.items()
  }
  assert err["patchmatch"] < 0.2 * err["mean"], err
  assert err["patchmatch"] < 0.2 * err["local_means"], err


@pytest.mark.slow
def test_patchmatch_small_patch():
  x, known = _image(10), _rect_known()
  out = np.asarray(F.fill_patchmatch(x, known, jax.random.PRNGKey(0), patch_size=3, iters=2))
  assert np.isfinite(out).all()
  np.testing.assert_array_equal(out[known], x[known])


def test_patchmatch_under_jit_equals_eager():
  x, known = _image(11), _rect_known()  # 24x32: eager target cap is H*W, as under tracing
  key = jax.random.PRNGKey(3)
  eager = np.asarray(F.fill_patchmatch(x, known, key, iters=3))
  jitted = jax.jit(lambda a, k, kk: F.fill_patchmatch(a, k, kk, iters=3))(x, known, key)
  np.testing.assert_array_equal(np.asarray(jitted), eager)


def test_patchmatch_vmap_over_images_and_keys():
  xs = np.stack([_image(12), _image(13)])
  ks = np.stack([_rect_known(), _rect_known(y0=2, y1=9, x0=4, x1=12)])
  keys = jax.random.split(jax.random.PRNGKey(4), 2)
  out = np.asarray(jax.vmap(lambda a, k, kk: F.fill_patchmatch(a, k, kk, iters=3))(xs, ks, keys))
  assert out.shape == xs.shape and np.isfinite(out).all()
  for i in range(2):
    np.testing.assert_array_equal(out[i][ks[i]], xs[i][ks[i]])
    single = np.asarray(F.fill_patchmatch(xs[i], ks[i], keys[i], iters=3))
    np.testing.assert_allclose(out[i], single, atol=1e-5)


@pytest.mark.parametrize("method", ["mean", "local_means"])
def test_jit_and_vmap_simple_methods(method):
  xs = np.stack([_image(14), _image(15)])
  ks = np.stack([_rect_known(), _rect_known(y0=0, y1=24, x0=0, x1=5)])
  fn = lambda a, k: F.fill(a, k, method)  # noqa: E731
  batched = np.asarray(jax.vmap(jax.jit(fn))(xs, ks))
  for i in range(2):
    np.testing.assert_allclose(batched[i], np.asarray(fn(xs[i], ks[i])), atol=1e-6)
    np.testing.assert_array_equal(batched[i][ks[i]], xs[i][ks[i]])


def test_traced_all_unknown_mask_gives_finite_output():
  x, known = _image(16), np.zeros((H, W), bool)
  for fn in (F.fill_mean, F.fill_local_means):
    out = np.asarray(jax.jit(fn)(x, known))
    np.testing.assert_array_equal(out, 0.0)


# ----------------------------------------------------------------------------- errors


def test_unknown_method_lists_valid_ones():
  x, known = _image(17), _rect_known()
  with pytest.raises(ValueError, match="none, mean, local_means, patchmatch"):
    F.fill(x, known, "telea")


def test_patchmatch_requires_key():
  x, known = _image(18), _rect_known()
  with pytest.raises(ValueError, match="key"):
    F.fill(x, known, "patchmatch")
  with pytest.raises(ValueError, match="key"):
    F.fill_patchmatch(x, known, None)


@pytest.mark.parametrize("method", ["mean", "local_means", "patchmatch"])
def test_no_known_pixels_raises(method):
  x = _image(19)
  with pytest.raises(ValueError, match="no known pixel"):
    _run(method, x, np.zeros((H, W), bool))


def test_patchmatch_without_full_source_patch_raises():
  x = _image(20)
  known = np.ones((H, W), bool)
  known[::4, :] = False  # no 7x7 window is wholly known
  with pytest.raises(ValueError, match="patch_size"):
    F.fill_patchmatch(x, known, jax.random.PRNGKey(0))
  out = F.fill_patchmatch(
    x, known, jax.random.PRNGKey(0), patch_size=3, iters=2
  )  # smaller patch works
  assert np.isfinite(np.asarray(out)).all()


def test_bad_arguments_raise():
  x, known = _image(21), _rect_known()
  with pytest.raises(ValueError, match="odd"):
    F.fill_patchmatch(x, known, jax.random.PRNGKey(0), patch_size=4)
  with pytest.raises(ValueError, match="shape"):
    F.fill_mean(x, known[:-1])
  with pytest.raises(ValueError, match="radius"):
    F.fill_local_means(x, known, radius=0)


# ----------------------------------------------------------------------------- exemplar


def _striped(h: int = 40, w: int = 48, seed: int = 22) -> np.ndarray:
  """Grey noise texture with a bright horizontal band (rows 18-21) across the image."""
  x = np.random.default_rng(seed).uniform(-0.3, -0.1, (h, w, C)).astype(np.float32)
  x[18:22] += 1.0
  return x


def test_exemplar_carries_a_line_across_the_hole():
  """The band runs into the hole from both sides: the structure-first order continues it,
  where local means only smear it (the band's rows bright, the rows beside it dark)."""
  x, known = _striped(), _rect_known(40, 48, 10, 30, 16, 32)
  out = np.asarray(F.fill(_poisoned(x, known), known, "exemplar", patch_size=5))
  hole = ~known
  band = np.zeros_like(hole)
  band[18:22] = True
  assert out[hole & band].mean() > 0.6 and out[hole & ~band].mean() < 0.0
  smeared = np.asarray(F.fill(x, known, "local_means"))
  assert out[hole & band].mean() - smeared[hole & band].mean() > 0.2


def test_exemplar_copies_known_pixels_only_and_repeats():
  """Every hole pixel is some known pixel's value (patches are copied, never blended), and
  the fill is deterministic, under jit too."""
  x, known = _image(23, 32, 32), _blob_known(32)
  out = np.asarray(F.fill(x, known, "exemplar"))
  values = {tuple(v) for v in x[known]}
  assert all(tuple(v) in values for v in out[~known])
  np.testing.assert_array_equal(np.asarray(F.fill(x, known, "exemplar")), out)
  jitted = jax.jit(lambda a, k: F.fill_exemplar(a, k))(x, known)
  np.testing.assert_array_equal(np.asarray(jitted), out)


def test_exemplar_without_full_source_patch_raises():
  known = np.ones((H, W), bool)
  known[::4, :] = False
  with pytest.raises(ValueError, match="patch_size"):
    F.fill_exemplar(_image(24), known)
  with pytest.raises(ValueError, match="odd"):
    F.fill_exemplar(_image(24), _rect_known(), patch_size=4)
