"""The library's refusals, in its own words: a setting or an input it cannot use.

A message is one line, `problem: fix`, and names settings as the config spells them
(`inject_scale`, `mask_threshold`); `settings` lists the ones it names, so the command line
(singan_jax/cli.py) can say `--config.inject_scale` and a Python caller reads the keyword it
passed. Anything else the library raises is a bug and keeps its traceback.
"""

from __future__ import annotations


class Error(ValueError):
  """Base of the refusals: reported in one line, without a traceback."""

  def __init__(self, message: str, *settings: str):
    super().__init__(message)
    self.settings = tuple(settings)


class SettingError(Error):
  """A setting's value the library cannot use (out of range, unknown, or wrong for this
  pyramid); `settings` are the fields the message names."""


class InputError(Error):
  """An image, mask or reference the library cannot use (no known pixel to learn from, a
  hole over the whole image); `settings` are the fields its fix names."""
