"""What every command line shares: absl's app.run, with a help request answered by exit 0,
and the library's refusals told in flags.

absl prints the flags for --help (and --helpshort, --helpfull, --helpxml) and then exits with
status 1, as if the command had failed; scripts that check `CMD --help` read that as broken.
"""

import logging as pylogging
import re
import sys

from absl import app

from singan_jax.core import errors

HELP_FLAGS = ("-h", "-?", "--help", "--helpshort", "--helpfull", "--helpxml")


def run(main, argv=None) -> None:
  """app.run(main, argv), exiting 0 after a help request instead of absl's 1."""
  argv = list(sys.argv if argv is None else argv)
  try:
    app.run(main, argv=argv)
  except SystemExit as e:
    if e.code == 1 and any(a in HELP_FLAGS for a in argv[1:]):
      sys.exit(0)
    raise


def message(error: BaseException) -> str:
  """The error's one line with its fix (the text after the last ': ') naming each setting it
  names (errors.Error.settings) as the flag that sets it: 'image is 16x20, smaller than
  min_size 25: lower min_size' -> '...: lower --config.min_size'."""
  problem, colon, fix = str(error).rpartition(": ")
  for name in getattr(error, "settings", ()):
    fix = re.sub(rf"(?<![\w.-]){re.escape(name)}\b", f"--config.{name}", fix)
  return problem + colon + fix


def refusals() -> tuple:
  """The exception types a command reports in one line: the library's refusals (image and
  usage errors are among them); any other exception is a bug and keeps its traceback."""
  return (errors.Error,)


# Libraries whose INFO lines say nothing a user can act on: orbax's per-save chatter, JAX's
# backend probing ("Unable to initialize backend 'tpu'") and cache resets, httpx's line per
# request (the web page's).
QUIET_LIBRARIES = ("/orbax/", "/jax/_src/", "/httpx/")


class QuietLibraries(pylogging.Filter):
  """Drops QUIET_LIBRARIES' INFO lines (for absl's handler); their warnings still show."""

  def filter(self, record):
    if record.levelno >= pylogging.WARNING:
      return True
    path = record.pathname.replace("\\", "/")
    return not any(library in path for library in QUIET_LIBRARIES)
