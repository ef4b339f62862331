"""16-bit PNG read and write speed: the project's codec (pypng) vs OpenCV, bit-exact checked.

  python -m singan_jax.bench png16 [--iters 3]

A 590x887 16-bit RGB image (the bundled example upsampled, x257 plus low-bit noise) and its
green channel as 16-bit grey: each codec writes it, then each codec reads every codec's file
back (files differ in their PNG row filters, which decide a pure-Python decoder's speed).
OpenCV (`pip install opencv-python-headless`, in the eval extra) is skipped when absent. The
last line is one JSON object.
"""

import argparse
import os
import tempfile

import numpy as np

from singan_jax.bench import common
from singan_jax.io import images as image_io

SIZE = (590, 887)


def parse(argv):
  p = argparse.ArgumentParser(prog=argv[0], description=__doc__.split("\n")[0])
  p.add_argument("--iters", type=int, default=3, help="timed calls per codec and file")
  return p.parse_args(argv[1:])


def make_image() -> np.ndarray:
  """uint16 (590, 887, 3) with photo structure and all 16 bits in use."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  path, _ = image_io.example_paths()
  small = Image.open(path).convert("RGB").resize(SIZE[::-1], Image.BICUBIC)
  noise = np.random.default_rng(0).integers(0, 64, SIZE + (3,))
  return (np.asarray(small).astype(np.uint16) * 257 + noise).astype(np.uint16)


def codecs():
  """name -> (write(path, pixels), read(path) -> (H, W, 3) pixels)."""
  out = {"pypng": (image_io.write_image, image_io.read_image)}
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError:
    return out

  def cv_write(path, a):
    cv2.imwrite(path, a if a.ndim == 2 else a[:, :, ::-1])

  def cv_read(path):
    a = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    return np.repeat(a[:, :, None], 3, 2) if a.ndim == 2 else a[:, :, ::-1]

  out["opencv"] = (cv_write, cv_read)
  return out


def main(argv) -> None:
  args = parse(argv)
  rgb = make_image()
  cases = {"rgb16": rgb, "grey16": np.ascontiguousarray(rgb[:, :, 1])}
  rows, record = [], {}
  with tempfile.TemporaryDirectory() as tmp:
    for case, pixels in cases.items():
      expect = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, 2)
      for writer, (write, _) in codecs().items():
        path = os.path.join(tmp, f"{case}_{writer}.png")
        t_write = min(common.time_calls(lambda: write(path, pixels), args.iters, warmup=0))
        record[f"{case}_write_{writer}_s"] = t_write
        for reader, (_, read) in codecs().items():
          t_read = min(common.time_calls(lambda: read(path), args.iters, warmup=0))
          exact = bool(np.array_equal(read(path), expect))
          record[f"{case}_read_{writer}_file_{reader}_s"] = t_read
          rows.append([case, writer, f"{os.path.getsize(path) / 1e6:.2f}", t_write, reader])
          rows[-1] += [t_read, exact]
  header = ["image", "written by", "MB", "write s", "read by", "read s", "bit-exact"]
  common.print_table(header, rows)
  common.print_json(record)
