"""Peak device memory per scale: in the finished scale's record where the backend reports it
(GPU, TPU), absent where it reports none (XLA:CPU), never a crash."""

import jax

from singan_jax.training import monitor


class FakeDevice:
  def __init__(self, stats):
    self.stats = stats

  def memory_stats(self):
    return self.stats


def test_the_scale_record_carries_the_largest_peak_of_the_devices(monkeypatch):
  devices = [FakeDevice({"peak_bytes_in_use": 5, "bytes_in_use": 1}), FakeDevice(None)]
  devices.append(FakeDevice({"peak_bytes_in_use": 7}))
  monkeypatch.setattr(jax, "local_devices", lambda: devices)
  record = monitor.scale_record(3, (12, 16), 100, monitor.Clock(0))
  assert record["peak_device_bytes"] == 7 and record["shape"] == [12, 16]


def test_no_peak_where_the_backend_reports_none(monkeypatch):
  monkeypatch.setattr(jax, "local_devices", lambda: [FakeDevice(None), FakeDevice({})])
  assert monitor.peak_device_bytes() is None
  assert "peak_device_bytes" not in monitor.scale_record(0, (8, 8), 10, monitor.Clock(0))
  monkeypatch.undo()
  if jax.default_backend() == "cpu":  # the real XLA:CPU client reports nothing
    assert monitor.peak_device_bytes() is None


# -- bench memory: the footprint table at max_size 250 / 512 / 1024 (singan_jax/bench/memory.py)


def test_bench_memory_plans_the_finest_scale_at_the_given_longer_side():
  from singan_jax import config as config_lib
  from singan_jax.bench import memory

  cfg, plan = memory.plan_at(config_lib.get_config(), 1024, 166, 250)  # the example's aspect
  assert cfg.max_size == 1024 and plan.shapes[-1] == (680, 1024)
  _, tall = memory.plan_at(config_lib.get_config(), 512, 400, 300)
  assert tall.shapes[-1] == (512, 384)


def test_bench_memory_footprint_counts_a_donated_argument_once():
  import jax.numpy as jnp

  from singan_jax.bench import memory

  compiled = jax.jit(lambda x: x * 2, donate_argnums=0).lower(jnp.ones(1024)).compile()
  m = compiled.memory_analysis()
  want = m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
  assert memory.footprint_mib(compiled) * 2**20 == want + m.temp_size_in_bytes
  assert memory.footprint_mib(compiled) * 2**20 >= 4096  # the array itself, at least


def test_bench_memory_records_a_peak_only_where_the_high_water_mark_rose(monkeypatch):
  from singan_jax.bench import memory

  marks = iter([10 * 2**20, 40 * 2**20, 40 * 2**20])  # before, after small, after large

  def fails(*_):
    raise RuntimeError("RESOURCE_EXHAUSTED: out of memory\nmore")

  monkeypatch.setattr(monitor, "peak_device_bytes", lambda: next(marks))
  small, large, huge = {"xla_mib": 5.0}, {"xla_mib": 9.0}, {"xla_mib": 99.0}
  program = (lambda state, inputs: state, None, None)
  cases = [(huge, (fails, None, None)), (large, program), (small, program)]
  memory.run_peaks(cases)  # runs small, large, huge: in footprint order
  assert small == {"xla_mib": 5.0, "device_peak_mib": 40.0}
  assert "device_peak_mib" not in large  # the mark did not rise: not its own peak
  assert huge["run_error"] == "RESOURCE_EXHAUSTED: out of memory"
