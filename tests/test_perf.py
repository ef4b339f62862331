"""Performance guarantees that can be checked without timing: one trace per scale, the
persistent compilation cache, the convolution's exact gradients, the bf16 opt-in."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from singan_jax.core import partial_conv
import helpers


_CACHE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from jax import monitoring
    events = {"hits": 0, "misses": 0}
    def listen(name, **kw):
      if name == "/jax/compilation_cache/cache_hits":
        events["hits"] += 1
      if name == "/jax/compilation_cache/cache_misses":
        events["misses"] += 1
    monitoring.register_event_listener(listen)
    sys.path.insert(0, sys.argv[3])
    from helpers import tiny_config
    from singan_jax.training import step as train_step
    from singan_jax import config as config_lib
    from singan_jax.training import loop as trainer
    traces, make = {}, train_step.make_iteration
    def counting_make(plan, n, net, tc):  # counts traces of each scale's iteration
      fn = make(plan, n, net, tc)
      def iteration(state, inputs):
        traces[n] = traces.get(n, 0) + 1
        return fn(state, inputs)
      return iteration
    train_step.make_iteration = counting_make
    from singan_jax.training import ahead
    taken, take = [], ahead.Ahead.take
    def recording_take(self, n):  # the scales that started on an ahead-compiled iteration
      compiled = take(self, n)
      if compiled is not None:
        taken.append(n)
      return compiled
    ahead.Ahead.take = recording_take
    # A 2-scale pyramid (14x18, 18x22) of a 24x30 image, 3 iterations per scale.
    cfg = tiny_config(max_size=22, min_size=14, nfc=4, min_nfc=4, niter=3, log_every=1,
                      compilation_cache_dir=sys.argv[1])
    rng = np.random.default_rng(0)
    image = np.tanh(rng.standard_normal((1, 24, 30, 3))).astype(np.float32)
    hole = np.zeros((1, 24, 30), bool)
    hole[:, 8:14, 10:18] = True
    trainer.train(config_lib.settings(cfg), sys.argv[2], image, hole)
    print(json.dumps({**events, "traces": traces, "ahead": taken}))
""")


def _train_in_subprocess(cache_dir, workdir):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run(
    [sys.executable, "-c", _CACHE_SCRIPT, str(cache_dir), str(workdir), helpers.TESTS],
    capture_output=True,
    text=True,
    env=env,
    cwd=helpers.REPO,
    timeout=600,
    check=False,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  import json  # pylint: disable=g-import-not-at-top

  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_one_trace_per_scale_and_a_second_run_compiles_nothing(tmp_path):
  """Each scale's iteration is traced once for all its iterations (no retracing; scale 1's
  compiled ahead, while scale 0 trains, and used), and with the persistent cache a second run
  of the same shapes loads every program from disk."""
  cache = tmp_path / "xla_cache"
  first = _train_in_subprocess(cache, tmp_path / "run1")
  assert first["traces"] == {"0": 1, "1": 1}, first  # scale 1's: in the background, once
  assert first["ahead"] == [1], first  # ... and scale 1 ran on it
  assert first["misses"] > 0 and os.listdir(cache), first
  second = _train_in_subprocess(cache, tmp_path / "run2")
  assert second["misses"] == 0 and second["hits"] >= first["misses"], (first, second)


@pytest.mark.slow
def test_inpainting_again_on_a_trained_workdir_compiles_nothing(tmp_path):
  """The run that trains also caches the programs a later --mode=inpaint on its workdir needs
  (its pyramid is handed over on the host, as a restored one is): the re-run adds no entry."""
  image, mask = helpers.write_pair(tmp_path, "img", 32, 40, seed=0)
  cache = tmp_path / "xla_cache"
  args = [f"--workdir={tmp_path / 'run'}", "--mode=inpaint", f"--config.image={image}"]
  args += [f"--config.mask={mask}", *helpers.tiny_flags()]
  first = helpers.run_cli(args, cache)
  assert first.returncode == 0, first.stderr[-3000:]
  cached = sorted(os.listdir(cache))
  again = helpers.run_cli(args, cache)  # the same command: inpainting only
  assert again.returncode == 0 and "already trained" in again.stderr, again.stderr[-3000:]
  assert sorted(os.listdir(cache)) == cached, set(os.listdir(cache)) - set(cached)


# ------------------------------------------------------------------ the convolution


def _reference_conv(x, k):
  return lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("shape", [(2, 9, 11, 3, 5), (1, 7, 6, 4, 1)])
def test_conv2d_valid_matches_lax_to_second_order(shape):
  """Value, first-order and gradient-penalty-style second-order gradients equal lax's."""
  n, h, w, cin, cout = shape
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((n, h, w, cin)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((3, 3, cin, cout)) * 0.3, jnp.float32)

  def objective(conv):
    def f(k, x):
      g = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k)) ** 2))(x)
      return jnp.sum(jnp.square(g)) + jnp.sum(conv(x, k) ** 3)

    return f

  np.testing.assert_allclose(
    partial_conv.conv2d_valid(x, k), _reference_conv(x, k), rtol=1e-5, atol=1e-5
  )
  got = jax.grad(objective(partial_conv.conv2d_valid), argnums=(0, 1))(k, x)
  want = jax.grad(objective(_reference_conv), argnums=(0, 1))(k, x)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4 * float(jnp.abs(b).max()))


@pytest.mark.slow
def test_bfloat16_compute_is_an_opt_in_within_the_stated_tolerance():
  """compute_dtype='bfloat16' keeps params f32 and the critic within 2% of float32
  (docs/performance.md)."""
  from singan_jax.core import sampling  # pylint: disable=g-import-not-at-top

  x = jax.random.normal(jax.random.PRNGKey(0), (1, 30, 36, 3))
  mask = jnp.ones((1, 30, 36, 1)).at[:, 8:16, 10:20].set(0.0)
  d32 = sampling.NetConfig().discriminator(16, 16)
  d16 = sampling.NetConfig(compute_dtype="bfloat16").discriminator(16, 16)
  variables = d32.init(jax.random.PRNGKey(1), x, mask)
  # Larger weights than the N(0, 0.02) init so the scores are far from 0.
  variables = {
    "params": jax.tree.map(lambda a: a * 10 if a.ndim == 4 else a, variables["params"]),
    "batch_stats": variables["batch_stats"],
  }
  out32 = d32.apply(variables, x, mask, train=False)
  out16 = d16.apply(variables, x, mask, train=False)
  assert out16.dtype == jnp.float32
  rel = float(jnp.abs(out32 - out16).max() / jnp.abs(out32).max())
  assert 0 < rel < 2e-2, rel
  with pytest.raises(ValueError, match="compute_dtype"):
    sampling.NetConfig(compute_dtype="float16").generator(8, 8)


def test_the_compilation_cache_is_on_by_default_in_a_per_user_folder(monkeypatch, tmp_path):
  """No setting anywhere: the per-user folder under $XDG_CACHE_HOME; the field, then
  $SINGAN_JAX_CACHE_DIR, then JAX's own setting win over it; "off" turns it off."""
  from singan_jax.training import compile_cache  # pylint: disable=g-import-not-at-top

  cfg = helpers.tiny_config()
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  monkeypatch.delenv("SINGAN_JAX_CACHE_DIR", raising=False)
  before = jax.config.jax_compilation_cache_dir
  try:
    jax.config.update("jax_compilation_cache_dir", None)
    assert compile_cache.compilation_cache_path(cfg) == str(tmp_path / "singan_jax" / "xla")
    jax.config.update("jax_compilation_cache_dir", "/jax/own")
    assert compile_cache.compilation_cache_path(cfg) == "/jax/own"
  finally:
    jax.config.update("jax_compilation_cache_dir", before)
  monkeypatch.setenv("SINGAN_JAX_CACHE_DIR", "/from/env")
  assert compile_cache.compilation_cache_path(cfg) == "/from/env"
  cfg.compilation_cache_dir = "/from/field"
  assert compile_cache.compilation_cache_path(cfg) == "/from/field"
  cfg.compilation_cache_dir = compile_cache.CACHE_OFF
  assert compile_cache.compilation_cache_path(cfg) == ""
  monkeypatch.setenv("SINGAN_JAX_CACHE_DIR", compile_cache.CACHE_OFF)
  cfg.compilation_cache_dir = ""
  assert compile_cache.compilation_cache_path(cfg) == ""
