"""TensorBoard event files of a training run (WORKDIR/tb): scalars per scale and the sheets.

The writer has the methods of clu's MetricWriter (write_scalars, write_images, flush, close), so
code written for flax's examples reads the same, but is built on tensorboard's own event-file
writer: clu's writers import TensorFlow (about 600 MB) to write the same protocol buffers.
Written by hand for that reason only; `tensorboard --logdir WORKDIR/tb` reads the files.
"""

import os
import time
from typing import Mapping

import imageio.v3 as iio
import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.summary.writer import event_file_writer

TB_DIR = "tb"  # under the workdir


class TensorBoardWriter:
  """Writes scalars and images to event files in logdir; the file is made at the first write
  (a run that trains nothing leaves none) and every write is flushed, so a killed run keeps
  what it logged. A resumed run adds a file beside the old ones; TensorBoard reads them all."""

  def __init__(self, logdir: str):
    self.logdir = logdir
    self._writer = None

  def _add(self, step: int, values: list) -> None:
    if self._writer is None:
      os.makedirs(self.logdir, exist_ok=True)
      self._writer = event_file_writer.EventFileWriter(self.logdir)
    summary = summary_pb2.Summary(value=values)
    self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))
    self._writer.flush()

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    values = [summary_pb2.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()]
    self._add(step, values)

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """images: tag -> (H, W, 3) uint8 pixels, stored as PNG."""
    values = []
    for tag, pixels in images.items():
      h, w, c = pixels.shape
      png = iio.imwrite("<bytes>", np.asarray(pixels, np.uint8), extension=".png")
      image = summary_pb2.Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=png)
      values.append(summary_pb2.Summary.Value(tag=tag, image=image))
    self._add(step, values)

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def iteration_scalars(record: dict) -> dict:
  """A metrics.jsonl iteration record as TensorBoard scalars: scale_N/NAME for each metric
  (the mean over the batch's images, and scale_N/NAME/image_K per batch position when the
  batch holds more than one) and scale_N/it_per_s."""
  prefix = f"scale_{record['scale']}"
  scalars = {f"{prefix}/it_per_s": record["it_per_s"]}
  for name, value in record.items():
    if not isinstance(value, list):
      continue
    scalars[f"{prefix}/{name}"] = float(np.mean(value))
    if len(value) > 1:
      scalars.update({f"{prefix}/{name}/image_{k}": v for k, v in enumerate(value)})
  return scalars
