"""What every command line shares: absl's app.run, with a help request answered by exit 0.

absl prints the flags for --help (and --helpshort, --helpfull, --helpxml) and then exits with
status 1, as if the command had failed; scripts that check `CMD --help` read that as broken.
"""

import sys

from absl import app

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
