"""The one image reader of hand3d_tf: header first, then decode. No TensorFlow.

A 100 KB PNG can declare 30000x30000 pixels and take gigabytes to decode (a decompression
bomb). Every image the project reads (hand3d-predict's and hand3d-demo's input, dataset
frames and masks, --backgrounds photos, the photos hand3d-autolabel labels) goes through
:func:`read_image` or :func:`decode_image`, which read the declared size from the header
(PNG's IHDR, JPEG's start-of-frame marker, Pillow's lazy header parse for the other
formats) and refuse an image of more than :func:`max_pixels` pixels before anything is
decoded. The TensorFlow readers check each file's header the same way before tf.io decodes
it (``hand3d_tf.data.samples.check_png``, ``hand3d_tf.data.pipelines``).

The limit is ``DEFAULT_MAX_PIXELS`` (64 megapixels: 8192x8192, about 200 MB as RGB) unless
a tool's ``--max_image_pixels`` flag (``set_max_pixels``) raises or lowers it. The setting
is also put in the environment (``HAND3D_MAX_IMAGE_PIXELS``), where the worker processes a
tool starts (hand3d-make-synthetic --workers) read it at import.
"""

from __future__ import annotations

import os
import struct

import numpy as np

DEFAULT_MAX_PIXELS = 8192 * 8192
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
# Start-of-frame markers (baseline, progressive, lossless, ...); 0xC4 DHT, 0xC8 JPG and
# 0xCC DAC share the range but carry no size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
ENV_VAR = "HAND3D_MAX_IMAGE_PIXELS"


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")  # files read as images


def _from_environment() -> int:
    value = os.environ.get(ENV_VAR, "")
    return int(value) if value.isdigit() and int(value) >= 1 else DEFAULT_MAX_PIXELS


_limit = _from_environment()


class ImageError(ValueError):
    """An image file that cannot be read: missing, not an image, or too large."""


class ImageTooLargeError(ImageError):
    """An image whose header declares more pixels than the limit (nothing was decoded)."""


def set_max_pixels(limit: int | None) -> None:
    """Set the largest number of pixels an image may declare (None: the default), for this
    process and the processes it starts."""
    global _limit
    if limit is not None and int(limit) < 1:
        raise ValueError(f"max_image_pixels must be >= 1; received {limit}")
    _limit = DEFAULT_MAX_PIXELS if limit is None else int(limit)
    os.environ[ENV_VAR] = str(_limit)


def max_pixels() -> int:
    """The largest number of pixels an image may declare."""
    return _limit


def _png_size(head: bytes) -> tuple[int, int] | None:
    # Signature, then the IHDR chunk: length, b"IHDR", width, height (big-endian).
    if len(head) >= 24 and head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    return None


def _jpeg_size(f) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment; ``f`` is after the SOI."""
    while True:
        byte = f.read(1)
        if byte != b"\xff":  # every segment starts with a marker: not a JPEG we can read
            return None
        while byte == b"\xff":  # fill bytes before a marker
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        if marker == 0xD9:  # end of image before any frame
            return None
        length = f.read(2)
        if len(length) < 2:
            return None
        size = struct.unpack(">H", length)[0]
        if marker in _JPEG_SOF:
            data = f.read(5)
            if len(data) < 5:
                return None
            height, width = struct.unpack(">HH", data[1:5])
            return width, height
        f.seek(size - 2, os.SEEK_CUR)
        if marker == 0xDA:  # start of scan without a frame header: not a valid JPEG
            return None


def _pillow_size(source) -> tuple[int, int] | None:
    """Pillow reads only the header until pixels are asked for."""
    try:
        from PIL import Image
    except ImportError:
        return None
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the limit is ours here
    try:
        with Image.open(source) as im:
            return tuple(int(v) for v in im.size)
    except Exception:  # any format Pillow cannot identify: the decoder decides
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def image_size(path) -> tuple[int, int] | None:
    """(width, height) declared by the header of the image file ``path``; None when the
    header is not one we can read (the decoder then decides whether it is an image)."""
    with open(path, "rb") as f:
        head = f.read(24)
        if head[:8] == PNG_SIGNATURE:
            return _png_size(head)
        if head[:2] == _JPEG_SOI:
            f.seek(2)
            return _jpeg_size(f)
    return _pillow_size(path)


def bytes_size(data: np.ndarray) -> tuple[int, int] | None:
    """:func:`image_size` of an encoded image held in memory (uint8 [N])."""
    import io

    head = data[:24].tobytes()
    if head[:8] == PNG_SIGNATURE:
        return _png_size(head)
    if head[:2] == _JPEG_SOI:
        f = io.BytesIO(data)
        f.seek(2)
        return _jpeg_size(f)
    return _pillow_size(io.BytesIO(data))


def check_size(size: tuple[int, int] | None, what: str) -> None:
    """ImageTooLargeError naming ``what`` when ``size`` (width, height) is over the limit."""
    if size is None:
        return
    width, height = size
    if width * height > _limit:
        raise ImageTooLargeError(
            f"{what} declares {width}x{height} pixels ({width * height:,}), over the limit "
            f"of {_limit:,} (a decompression bomb?); --max_image_pixels raises the limit"
        )


def check_image_file(path) -> None:
    """Check the header of the image file ``path`` against the limit (nothing decoded)."""
    check_size(image_size(path), f"image {str(path)!r}")


def decode_image(data, what: str, color: bool = True) -> np.ndarray | None:
    """Decode encoded image bytes after checking the declared size; None when they do not
    decode. color: RGB uint8 [H, W, 3]; else the stored channels (IMREAD_UNCHANGED)."""
    import cv2

    buffer = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else np.asarray(data)
    if buffer.size == 0:
        return None
    check_size(bytes_size(buffer), what)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR if color else cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if color:
        return np.ascontiguousarray(image[..., ::-1])  # OpenCV decodes BGR
    return image


def decode_file(path) -> np.ndarray | None:
    """An image file as RGB uint8, or None when it does not decode; ImageTooLargeError
    when its header declares more pixels than :func:`max_pixels`."""
    check_image_file(path)
    return decode_image(np.fromfile(str(path), dtype=np.uint8), f"image {str(path)!r}")


def read_image(path, color: bool = True) -> np.ndarray:
    """The image file ``path``: RGB uint8 [H, W, 3] (color; grey expanded, alpha dropped)
    or its stored channels (color=False: a mask or a 16-bit depth PNG).

    Raises ImageError naming the file: missing, not an image, or (ImageTooLargeError)
    declaring more than :func:`max_pixels` pixels, found from the header before decoding.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise ImageError(f"cannot read image {path!r} (missing or not an image file)")
    check_image_file(path)
    image = decode_image(np.fromfile(path, np.uint8), f"image {path!r}", color)
    if image is None:
        raise ImageError(f"cannot read image {path!r} (missing or not an image file)")
    return image
