"""The TensorBoard writer (singan_jax/training/tensorboard_writer.py) read back with TensorBoard's
own event reader: batches, resumed runs, and no file for a run that logs nothing."""

import os

import imageio.v3 as iio
import numpy as np
from tensorboard.backend.event_processing import event_accumulator as ea

from singan_jax.training import tensorboard_writer as tb_lib


def _events(logdir):
  events = ea.EventAccumulator(str(logdir), size_guidance={ea.SCALARS: 0, ea.IMAGES: 0})
  events.Reload()
  return events


def _record(it, errd, b=2):
  return {"scale": 1, "iter": it, "it_per_s": 3.5, "compile_s": 9.0, "errD": [errd] * b}


def test_a_batch_logs_the_mean_and_each_image():
  record = {**_record(4, 0.0), "errD": [1.0, 2.0, 6.0]}
  assert tb_lib.iteration_scalars(record) == {
    "scale_1/it_per_s": 3.5,
    "scale_1/errD": 3.0,
    "scale_1/errD/image_0": 1.0,
    "scale_1/errD/image_1": 2.0,
    "scale_1/errD/image_2": 6.0,
  }
  assert list(tb_lib.iteration_scalars(_record(4, 0.5, b=1))) == [
    "scale_1/it_per_s",
    "scale_1/errD",
  ]


def test_a_resumed_run_adds_a_file_and_tensorboard_reads_both(tmp_path):
  logdir = tmp_path / "tb"
  first = tb_lib.TensorBoardWriter(str(logdir))
  assert not logdir.exists()  # nothing written yet: no folder, no empty event file
  for it in (1, 2):
    first.write_scalars(it, tb_lib.iteration_scalars(_record(it, 0.25 * it)))
  first.close()
  second = tb_lib.TensorBoardWriter(str(logdir))  # the run resumed in a new process
  second.write_scalars(3, tb_lib.iteration_scalars(_record(3, 0.75)))
  sheet = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
  second.write_images(1, {"sheet": sheet})  # flushed at once: readable before close
  events = _events(logdir)
  assert len(os.listdir(logdir)) == 2
  assert [(e.step, e.value) for e in events.Scalars("scale_1/errD/image_1")] == [
    (1, 0.25), (2, 0.5), (3, 0.75),
  ]  # fmt: skip
  (image,) = events.Images("sheet")
  assert (image.step, image.height, image.width) == (1, 5, 7)
  np.testing.assert_array_equal(iio.imread(image.encoded_image_string), sheet)
  second.close()


def test_close_without_writes_leaves_nothing(tmp_path):
  writer = tb_lib.TensorBoardWriter(str(tmp_path / "tb"))
  writer.flush()
  writer.close()
  assert not (tmp_path / "tb").exists()
