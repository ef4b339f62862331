"""Peak device memory per scale: in the finished scale's record where the backend reports it
(GPU, TPU), absent where it reports none (XLA:CPU), never a crash."""

import jax

from singan_jax.train import monitor


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
