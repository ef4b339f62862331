"""Named PRNG streams (singan_jax/rng.py): keys of different streams, images, scales and
passes never coincide, and a key depends only on its ids."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from singan_jax import rng

IMAGES = (0, 1, 2, 10_000, 10_003, 20_000, 30_000, 1_000_003)
SCALES = (0, 1, 3)


def _bytes(key) -> bytes:
  return np.asarray(key).tobytes()  # raw uint32 keys (PRNGKey)


def test_keys_of_different_streams_images_and_scales_differ():
  keys = {}
  for seed, i, n in itertools.product((0, 1), IMAGES, SCALES):
    keys[("scale", seed, i, n)] = rng.scale_key(seed, i, n)
    for part, k in zip(("init", "z_opt", "iter"), rng.train_keys(seed, i, n)):
      keys[(part, seed, i, n)] = k
    keys[("sheet", seed, i, n)] = rng.sheet_key(seed, i, n)
    fill, gen = rng.inpaint_keys(seed, i, n)
    keys[("fill", seed, i, n)], keys[("generate", seed, i, n)] = fill, gen
    keys[("baseline", seed, i * 10 + n)] = rng.baseline_key(seed, i * 10 + n)
  for seed in (0, 1):
    keys[("sample", seed)] = rng.sample_key(seed)
    keys[("root", seed)] = jax.random.PRNGKey(seed)
  seen = {}
  for name, k in keys.items():
    b = _bytes(k)
    assert b not in seen, f"{name} has the key of {seen[b]}"
    seen[b] = name


def test_old_collision_sheet_key_vs_another_images_training_key():
  """The offsets made the scale-3 sheet key equal image 10_003's parent key; no longer."""
  assert _bytes(rng.sheet_key(0, 0, 3)) != _bytes(rng.scale_key(0, 10_003, 0))
  for n in SCALES:
    assert _bytes(rng.sheet_key(0, 0, n)) not in {
      _bytes(rng.scale_key(0, 10_000 + n, m)) for m in SCALES
    }


def test_keys_are_pure_functions_of_their_ids_and_trace_under_vmap():
  ids = jnp.asarray([3, 0, 7])
  batched = jax.vmap(lambda i: rng.scale_key(5, i, 2))(ids)
  for j, i in enumerate((3, 0, 7)):
    assert _bytes(batched[j]) == _bytes(rng.scale_key(5, i, 2))
  a, b = rng.step_key(rng.train_keys(0, 0, 0)[2], 4), rng.step_key(rng.train_keys(0, 0, 0)[2], 5)
  assert _bytes(a) != _bytes(b)
  cands = rng.candidate_keys(rng.inpaint_keys(0, 0)[1], 4)
  assert len({_bytes(k) for k in cands}) == 4


def test_the_modes_keep_the_order_that_numbers_their_streams():
  # rng.apply_key folds a mode's position in core/applications.TABLE into its key: a reordered
  # table would silently give every mode another mode's draws.
  assert rng.APPLICATIONS == ("harmonize", "edit", "paint2image", "animate", "super_resolve")
  keys = {m: tuple(np.asarray(jax.random.key_data(rng.apply_key(0, m)))) for m in rng.APPLICATIONS}
  assert len(set(keys.values())) == len(keys)
