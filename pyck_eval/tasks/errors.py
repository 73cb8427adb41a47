"""The one error type of an option that cannot serve: the command line shows it as a usage error."""

from __future__ import annotations


class OptionError(ValueError):
    """An option (named in the message as its flag, `--name=value`) that cannot serve; nothing was written."""
