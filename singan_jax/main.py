r"""singan-jax command line: train a pyramid, inpaint, or sample.

  python -m singan_jax.main --mode=inpaint --config=configs/demo.py \
      --config.image=IMG.png --config.mask=MASK.png --workdir=DIR

Modes: train (train or resume the pyramid in DIR), inpaint (train if DIR has no finished
pyramid, then write DIR/inpainted.png), sample (random samples from DIR's pyramid), and
SinGAN's other applications harmonize, edit, paint2image, animate, super_resolve (training
first likewise; singan_jax/modes/, docs/applications.md).
Without --config.image/--config.mask the bundled example is used (or, in a workdir that holds
a pyramid, the image it learnt); --config.images (a glob or a manifest) runs many images. A
workdir's pyramid brings its training settings (run.json), so inpaint and sample take any
--config; a --config.FIELD given explicitly that contradicts the pyramid is refused.
Exit status: 0 done, 2 bad input or a failed run, 3 when some images of a batch failed, 143
stopped by SIGTERM (or a multi-host preemption notice) after saving where it stopped: the same
command resumes there (training/preemption.py). The work itself is singan_jax/pipeline.py.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from singan_jax import cli
from singan_jax import config as defaults
from singan_jax import distributed
from singan_jax import pipeline
from singan_jax.training import monitor
from singan_jax.training import preemption

_CONFIG = config_flags.DEFINE_config_file(
  "config",
  defaults.__file__,
  "Config file (configs/*.py); fields override with --config.field=value. Default: paper defaults.",
  lock_config=True,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and outputs.")
_MODE = flags.DEFINE_enum("mode", "inpaint", pipeline.MODES, "What to do.")
_MULTIHOST = flags.DEFINE_bool(
  "multihost",
  False,
  "Multi-host run (one process per host): call "
  "jax.distributed.initialize() first. TPU pod slices detect the arguments below.",
)
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address", None, "With --multihost elsewhere: host:port of process 0."
)
_NUM_PROCESSES = flags.DEFINE_integer(
  "num_processes", None, "With --multihost elsewhere: number of processes."
)
_PROCESS_ID = flags.DEFINE_integer(
  "process_id", None, "With --multihost elsewhere: this process's index."
)

# Refused input and failed runs: one line `singan-jax: error: ...`, exit status 2 (flag
# misuse caught here before the run: 1, as sys.exit(message) always gave).
# Any other exception is a bug and keeps its traceback.
_REPORTED = (*cli.refusals(), monitor.NonFiniteError, monitor.OutOfMemoryError)


def _fail(message: str, status: int = 2) -> None:
  """Reports one line `singan-jax: error: <problem>: <fix>` (no traceback) and exits."""
  logging.debug("error details", exc_info=True)
  print(f"singan-jax: error: {message}", file=sys.stderr)
  sys.exit(status)


def main(argv):
  logging.get_absl_handler().addFilter(cli.QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  cfg = _CONFIG.value if _CONFIG.value is not None else defaults.get_config()
  workdir = _WORKDIR.value
  if not workdir:
    _fail("--workdir is required: give a directory for checkpoints and outputs", 1)
  if _MULTIHOST.value:
    distributed.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  elif (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value) != (None, None, None):
    _fail(
      "--coordinator_address/--num_processes/--process_id only apply to multi-host runs: "
      "add --multihost",
      1,
    )
  try:
    explicit = config_flags.get_override_values(flags.FLAGS["config"])
    status = pipeline.run(cfg, workdir, _MODE.value, explicit=set(explicit))
  except preemption.Preempted as e:  # not an error: the rerun resumes where it stopped
    print(f"singan-jax: {e}", file=sys.stderr)
    sys.exit(preemption.EXIT_STATUS)
  except _REPORTED as e:
    _fail(cli.message(e))
  except OSError as e:
    _fail(f"{e}: check that --workdir {workdir} is writable and has free space")
  if status:
    sys.exit(status)


def run():
  """Console-script entry point (`singan-jax`)."""
  cli.run(main)


if __name__ == "__main__":
  run()
