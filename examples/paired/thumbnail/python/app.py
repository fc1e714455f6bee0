"""Thumbnailer, Python + Pillow (handler ``app.handler``; runtime ``python3.11``).

The Rust twin (``../../rust/thumbnail``, the ``image`` crate) gives the same answer to
the same event, byte for byte in the JSON: both decode the PNG with their library, make
it 8-bit RGB, and shrink it by the smallest power-of-two factor that fits the box — a box
filter over whole ``f x f`` blocks (Pillow's ``Image.reduce``, the crate's
``imageops::thumbnail``), after cropping the few edge pixels that do not fill a block.
With a power-of-two block both libraries compute ``(sum + n / 2) / n`` exactly, so the
thumbnails are identical pixel for pixel, and so are their SHA-256 and mean colour.

Event: ``{"image": "<base64 PNG>", "maxWidth": 128, "maxHeight": 128}``.
Answer: ``{"source": {"width", "height", "bitDepth", "colourType"},
"thumbnail": {"width", "height", "factor", "sha256", "meanRgb", "path"}}``; the PNG of
the thumbnail is written to ``path`` under ``/tmp`` (a real one would go to a bucket).
Errors: ``ThumbnailError`` with the messages below (the Rust twin uses the same).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import struct
from typing import Any

from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 25_000_000
MAX_SIDE = 4096
OUT_DIR = "/tmp/thumbnails"
# Colour types with the bit depths both decoders expand to the same 8-bit pixels.
SUPPORTED = {0: (8,), 2: (8,), 3: (1, 2, 4, 8), 4: (8,), 6: (8,)}


class ThumbnailError(Exception):
    """Raised when the event cannot be turned into a thumbnail."""


def _box(event: dict[str, Any], key: str) -> int:
    value = event.get(key, 128)
    if type(value) is not int or not 1 <= value <= MAX_SIDE:
        raise ThumbnailError(f"{key}: must be an integer from 1 to {MAX_SIDE}")
    return value


def _header(data: bytes) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type from the PNG's IHDR chunk."""
    if len(data) < 33 or data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        raise ThumbnailError("image: not a PNG")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise ThumbnailError(f"image: {width}x{height} is empty or over {MAX_PIXELS} pixels")
    if depth not in SUPPORTED.get(colour, ()):
        raise ThumbnailError(
            f"image: bit depth {depth} with colour type {colour} is not supported"
        )
    return width, height, depth, colour


def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise ThumbnailError("the event must be a JSON object")
    encoded = event.get("image")
    if not isinstance(encoded, str):
        raise ThumbnailError("image: a base64 PNG is required")
    max_width, max_height = _box(event, "maxWidth"), _box(event, "maxHeight")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ThumbnailError("image: not valid base64") from None
    width, height, depth, colour = _header(data)
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as opened:
            rgb = opened.convert("RGB")
    except (OSError, SyntaxError, ValueError):
        raise ThumbnailError("image: not a readable PNG") from None

    factor = 1
    while width // factor > max_width or height // factor > max_height:
        factor *= 2
    out_w, out_h = width // factor, height // factor
    if out_w == 0 or out_h == 0:
        raise ThumbnailError(f"image: too narrow for a {max_width}x{max_height} thumbnail")
    cropped = rgb.crop((0, 0, out_w * factor, out_h * factor))
    thumb = cropped.reduce(factor) if factor > 1 else cropped

    raw = thumb.tobytes()
    digest = hashlib.sha256(raw).hexdigest()
    pixels = out_w * out_h
    mean = [(sum(raw[c::3]) + pixels // 2) // pixels for c in range(3)]
    os.makedirs(OUT_DIR, exist_ok=True)
    path = f"{OUT_DIR}/{digest[:16]}.png"
    buffer = io.BytesIO()
    thumb.save(buffer, "PNG")
    with open(path, "wb") as out:
        out.write(buffer.getvalue())
    return {
        "source": {"width": width, "height": height, "bitDepth": depth, "colourType": colour},
        "thumbnail": {
            "width": out_w,
            "height": out_h,
            "factor": factor,
            "sha256": digest,
            "meanRgb": mean,
            "path": path,
        },
    }
