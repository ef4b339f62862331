"""Make the application modes' bundled references from example.png (docs/applications.md).

Not imported by the library; run once by hand when example.png changes:

    python singan_jax/data/make_mode_examples.py

Writes beside this script:
  * example_paste.png / example_paste_mask.png: the person at the right pasted onto the square
    at the left, as a rectangle (harmonize, edit), and the rectangle as the region mask;
  * example_paint.png: a clip-art painting of the image's layout (8x8 blocks, 5 k-means colours).
"""

import os

import numpy as np
from PIL import Image
from scipy.cluster import vq

HERE = os.path.dirname(os.path.abspath(__file__))
PATCH = (slice(100, 166), slice(212, 245))  # rows, cols of the person (166x250 image)
TARGET = (100, 20)  # top-left corner of the pasted rectangle
BLOCK, COLOURS = 8, 5


def paste(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(composite, region mask uint8 255 = pasted)."""
  out, mask = image.copy(), np.zeros(image.shape[:2], np.uint8)
  patch = image[PATCH]
  (top, left), (h, w) = TARGET, patch.shape[:2]
  out[top : top + h, left : left + w] = patch
  mask[top : top + h, left : left + w] = 255
  return out, mask


def painting(image: np.ndarray) -> np.ndarray:
  """Block means of BLOCK px, quantised to COLOURS k-means colours, nearest-upsampled."""
  h, w = image.shape[:2]
  small = np.asarray(Image.fromarray(image).resize((w // BLOCK, h // BLOCK), Image.BOX), float)
  centres, codes = vq.kmeans2(small.reshape(-1, 3), COLOURS, minit="++", seed=0)
  flat = centres[codes].reshape(small.shape).round().clip(0, 255).astype(np.uint8)
  return np.asarray(Image.fromarray(flat).resize((w, h), Image.NEAREST))


def main() -> None:
  image = np.asarray(Image.open(os.path.join(HERE, "example.png")).convert("RGB"))
  composite, mask = paste(image)
  Image.fromarray(composite).save(os.path.join(HERE, "example_paste.png"))
  Image.fromarray(mask).save(os.path.join(HERE, "example_paste_mask.png"))
  Image.fromarray(painting(image)).save(os.path.join(HERE, "example_paint.png"))


if __name__ == "__main__":
  main()
