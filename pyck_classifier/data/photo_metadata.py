"""When a photo was taken, from its EXIF data (no TensorFlow: the dump tools read it too).

The month prior needs the date of the photos it predicts; phones and cameras write it as
`DateTimeOriginal` ('YYYY:MM:DD HH:MM:SS') in the EXIF sub-IFD.
"""

from __future__ import annotations

import pandas as pd
from PIL import Image

_EXIF_IFD, _EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003


def exif_datetime(image: Image.Image) -> str | None:
    """A PIL image's EXIF `DateTimeOriginal` as 'YYYY-MM-DD HH:MM:SS', or None when absent or malformed."""
    value = image.getexif().get_ifd(_EXIF_IFD).get(_EXIF_DATETIME_ORIGINAL)
    if not isinstance(value, str) or len(value) < 19:
        return None
    text = f"{value[:10].replace(':', '-')} {value[11:19]}"
    if pd.isna(pd.to_datetime(text, errors="coerce", format="%Y-%m-%d %H:%M:%S")):
        return None
    return text


def photo_datetime(path: str) -> str | None:
    """`exif_datetime` of an image file; None when it has no date or cannot be read."""
    try:
        with Image.open(path) as image:
            return exif_datetime(image)
    except OSError:
        return None
