"""The one exception type for unusable dump input."""


class DumpError(ValueError):
    """The dump on disk cannot be read as it is; the message names the file and the fix."""
