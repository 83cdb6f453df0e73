"""Reading one image file as RGB, whatever a user's folder holds (SPEC §12).

Every image eigen reads (an `imagefolder:` dataset, `eigen predict`) comes through `read_rgb`, so
all of them get the same answers:

- the valid but unusual read as the picture a viewer shows: EXIF-rotated JPEGs upright, CMYK and
  palette images converted, transparency dropped (as torchvision's loader does), 16-bit greyscale
  scaled to 8 bits (not clipped to white), an animated GIF by its first frame;
- the hostile are one sentence naming the file: a truncated download, a file that is not an image,
  and a decompression bomb, refused from its header by Pillow's pixel limit before any memory is
  spent on it (never a machine-wide out-of-memory).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import first_line

MAX_PIXELS = 89_478_485  # Pillow's own default limit (Image.MAX_IMAGE_PIXELS), refused here, not warned about


class UnreadableImage(Exception):
    """An image file that cannot be read as a picture; `str()` says why, for a sentence naming it."""


def read_rgb(path: Path | str, size: int) -> tuple[np.ndarray, bool, bool]:
    """The image at `path` as (size, size, 3) uint8, resized with bilinear filtering; with whether it
    had to be resized and whether it was not square. Raises `UnreadableImage` with the reason."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # above the limit: refuse
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise UnreadableImage(f"it is {width:,} x {height:,} pixels, over the limit of "
                                          f"{MAX_PIXELS:,} (a decompression bomb, or a picture to shrink first)")
                im.seek(0)  # an animated image: its first frame
                im = ImageOps.exif_transpose(im)  # as a viewer shows it (a phone's rotated JPEG)
                rgb = _as_rgb(im)
                square = rgb.size[0] == rgb.size[1]
                resized = rgb.size != (size, size)
                pixels = np.asarray(rgb.resize((size, size), Image.BILINEAR) if resized else rgb, dtype=np.uint8)
    except UnreadableImage:
        raise
    except UnidentifiedImageError:
        raise UnreadableImage("it is not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImage(f"Pillow refuses it as a decompression bomb ({first_line(e)[:120]})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as e:  # truncated, damaged, a bad chunk
        raise UnreadableImage(f"it is damaged or truncated ({type(e).__name__}: {first_line(e)[:120]})") from None
    if pixels.shape != (size, size, 3):
        raise UnreadableImage(f"it decodes to an array of shape {pixels.shape}, not an RGB picture")
    return pixels, resized, not square


def _as_rgb(im):
    """RGB of any mode Pillow opens: 16- and 32-bit greyscale scaled into 8 bits, palette images
    with transparency through RGBA (as Pillow asks), everything else converted."""
    from PIL import Image
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(np.round(values / top * 255), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return im.convert("RGB")
