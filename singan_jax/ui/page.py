"""The Gradio page: paint the hole on the photo, choose a budget, watch the scales train.

Gradio's ImageEditor gives the brush; everything else is the command line, run by ui/jobs.py.
"""

import time

import gradio as gr
import numpy as np

from singan_jax.io import images as image_io
from singan_jax.ui import jobs

POLL_S = 0.5  # how often the page reads the run's log and sheets
HOLE_COLOUR = "#ff00ff"
BRUSH_PX = 12  # the brush's starting width in photo pixels (its menu changes it)

_INTRO = """# singan-jax inpainting
Upload a photo, paint over what should go (or upload a black-and-white mask, white = hole),
choose a budget and press **Inpaint**. A pyramid of small GANs learns the rest of the photo,
scale by scale, then regenerates the hole; the known pixels stay yours. The same photo and
hole again reuse the trained pyramid."""


def _inputs(edited, uploaded_mask) -> tuple[np.ndarray, np.ndarray]:
  """(photo uint8 (H, W, 3), mask: painted strokes, with an uploaded mask of the same size
  added; an uploaded mask of another size goes as it is, for the command line to refuse)."""
  if not edited or edited.get("background") is None:
    raise gr.Error("no photo: upload one into the editor first")
  photo = np.asarray(edited["background"])
  if photo.ndim == 2:
    photo = np.repeat(photo[..., None], 3, axis=2)
  photo = photo[..., :3]
  hole = jobs.hole_of(edited.get("layers"), photo.shape)
  if uploaded_mask is None:
    if not hole.any():
      raise gr.Error("no hole: paint over what should go, or upload a mask (white = hole)")
    return photo, hole
  mask = np.asarray(uploaded_mask)
  mask = mask if mask.ndim == 2 else mask[..., :3].mean(axis=2).astype(np.uint8)
  if mask.shape == hole.shape:
    mask = np.where(hole, 255, mask).astype(np.uint8)
  return photo, mask


def _read(path):
  return None if path is None else image_io.read_image(path)


def inpaint(jobs_dir, overrides, edited, uploaded_mask, budget, iterations, progress=gr.Progress()):
  """Generator of (status, newest sheet, result, PNG download, mask download) updates."""
  photo, mask = _inputs(edited, uploaded_mask)
  try:
    flags = jobs.budget_flags(budget, iterations) + list(overrides)
  except ValueError as e:
    raise gr.Error(str(e)) from e
  job = jobs.prepare(jobs_dir, photo, mask, flags)
  start, run = time.time(), jobs.Run(job, flags)
  hidden = gr.DownloadButton(visible=False)
  try:
    while run.running():
      fraction, line = run.progress()
      progress(fraction, desc=line)
      yield line, _read(job.newest_sheet()), None, hidden, hidden
      time.sleep(POLL_S)
  finally:
    run.stop()  # the page was closed or the event cancelled: the run saves and stops
  if run.wait() != 0:
    raise gr.Error(run.error())
  result = image_io.read_image(job.output)
  reused = any("already trained" in line for line in run.lines)
  done = (
    f"done: {result.shape[1]}x{result.shape[0]} px in {time.time() - start:.0f} s"
    f"{', the trained pyramid reused' if reused else ''}; workdir {job.workdir}"
  )
  yield (
    done,
    _read(job.newest_sheet()),
    result,
    gr.DownloadButton(value=job.output, visible=True),
    gr.DownloadButton(value=job.mask, visible=True),
  )


def build(jobs_dir: str, overrides=()) -> gr.Blocks:
  """The page; overrides: --config.FIELD=VALUE flags added to every run (after the budget's)."""
  with gr.Blocks(title="singan-jax inpainting") as page:
    gr.Markdown(_INTRO)
    with gr.Row():
      editor = gr.ImageEditor(
        label="Photo: paint the hole",
        type="numpy",
        sources=["upload", "clipboard"],
        brush=gr.Brush(colors=[HOLE_COLOUR], color_mode="fixed", default_size=BRUSH_PX),
        transforms=[],
        elem_id="photo",
      )
      result = gr.Image(label="Inpainted", type="numpy", interactive=False, elem_id="result")
    with gr.Row():
      with gr.Column():
        mask = gr.Image(
          label="...or a mask (white = hole)",
          type="numpy",
          image_mode="L",
          sources=["upload"],
          elem_id="mask",
        )
        budget = gr.Radio(
          list(jobs.BUDGETS),
          value="demo",
          label="Training budget",
          info="demo: 128 px, 100 iterations per scale (minutes on a laptop); default: the "
          "paper's 250 px, 2000 (hours on a CPU); custom: the demo with your iterations",
        )
        iterations = gr.Number(100, precision=0, minimum=1, label="Iterations per scale (custom)")
        button = gr.Button("Inpaint", variant="primary", elem_id="run")
      with gr.Column():
        status = gr.Markdown(elem_id="status")
        sheet = gr.Image(label="Newest scale: real | sample | reconstruction", interactive=False)
        download = gr.DownloadButton("Download the inpainted PNG", visible=False)
        download_mask = gr.DownloadButton("Download the mask", visible=False)

    def run(edited, uploaded_mask, budget_name, iters, progress=gr.Progress()):
      yield from inpaint(jobs_dir, overrides, edited, uploaded_mask, budget_name, iters, progress)

    button.click(
      run,
      inputs=[editor, mask, budget, iterations],
      outputs=[status, sheet, result, download, download_mask],
      concurrency_limit=1,  # one training at a time: they would share the cores
    )
  return page
