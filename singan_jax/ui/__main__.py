r"""singan-jax-ui: the inpainting page on http://127.0.0.1:7860 (the ui extra).

  singan-jax-ui [--port=7860] [--jobs_dir=~/.cache/singan_jax/ui] [--override=--config.seed=1]

Each photo and hole gets a workdir under --jobs_dir; --override flags go to every run.
"""

import os

from absl import flags
from absl import logging

from singan_jax import cli

_HOST = flags.DEFINE_string("host", "127.0.0.1", "Address to serve on (0.0.0.0: the network).")
_PORT = flags.DEFINE_integer("port", 7860, "Port to serve on.")
_JOBS_DIR = flags.DEFINE_string(
  "jobs_dir",
  os.path.join(os.path.expanduser("~"), ".cache", "singan_jax", "ui"),
  "Folder of the runs' workdirs (one per photo, hole and budget).",
)
_OVERRIDE = flags.DEFINE_multi_string(
  "override", [], "A --config.FIELD=VALUE flag added to every run (repeatable)."
)


def main(argv):
  del argv
  logging.get_absl_handler().addFilter(cli.QuietLibraries())
  try:
    from singan_jax.ui import page  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise SystemExit(
      f"singan-jax-ui: error: {e}: install the page's extra: pip install -e '.[ui]'"
    ) from e
  jobs_dir = os.path.abspath(os.path.expanduser(_JOBS_DIR.value))
  os.makedirs(jobs_dir, exist_ok=True)
  app = page.build(jobs_dir, tuple(_OVERRIDE.value))
  app.queue().launch(server_name=_HOST.value, server_port=_PORT.value, allowed_paths=[jobs_dir])


def run():
  """Console-script entry point (`singan-jax-ui`)."""
  cli.run(main)


if __name__ == "__main__":
  run()
