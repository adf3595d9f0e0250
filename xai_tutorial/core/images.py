"""Loading photos for the lessons: any source in, one RGB ``PIL.Image`` out.

``load_image`` accepts a file path, an ``http(s)`` URL, raw bytes, a ``PIL.Image``, a numpy array,
or the name of one of the bundled sample photos (see :data:`SAMPLES`). Whatever it is given, it
returns an 8-bit RGB image with the EXIF orientation applied, or raises :class:`ImageLoadError`
with one sentence naming the input and what is wrong with it.

Every source is bounded, so whatever is accepted can be classified and explained within a known
budget: at most :data:`MAX_PIXELS` pixels, a longer side at most :data:`MAX_ASPECT` times the
shorter one (preprocessing resizes the shorter side, so this bounds what the network sees), never
empty, finite pixels only; local sources must be regular files of at most
:data:`MAX_DOWNLOAD_BYTES` (checked before reading), and URLs get the same byte cap and one
deadline. Credentials in a URL never appear in a message.
"""

from __future__ import annotations

import errno
import io
import numbers
import os
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Union
from urllib.parse import urlparse

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ._files import os_reason, printable
from ._network import redact, shorten
from .errors import ImageLoadError, InputError
from .inputs import check_whole
from .samples import SAMPLES, sample_image
from .sources import read_file, read_url

ImageSource = Union[str, Path, bytes, bytearray, memoryview, Image.Image, np.ndarray]  # noqa: UP007

#: Largest image, in pixels, that ``load_image`` accepts from any source (a guard against
#: decompression bombs, and the bound on what ``classify`` and ``cam`` handle at full size: a
#: 24-megapixel camera photo, 6000 x 4000, fits). ``cam`` colours and blends at the photo's size,
#: about 23 bytes a pixel at its peak, so this keeps it within 1 GB above the model (0.57 GB
#: measured by benchmarks/hostile_budget.py).
MAX_PIXELS = 25_000_000
#: Largest ratio of the longer side to the shorter one. Preprocessing resizes the shorter side to
#: 256 (224 for CAM), so this also bounds what the network sees: at most 224 x 3584 pixels.
MAX_ASPECT = 16.0
#: Largest local file or HTTP body, in bytes, that ``load_image`` reads.
MAX_DOWNLOAD_BYTES = 50_000_000
#: Whole-request deadline, in seconds, for an image URL.
URL_TIMEOUT = 15.0

_VECTOR_SUFFIXES = {".svg", ".svgz", ".eps", ".epsf", ".epsi", ".ps", ".pdf", ".ai"}

#: The only Pillow decoders ``load_image`` uses: the formats photos come in, each decoded inside
#: Pillow or its bundled libraries. None starts an external program (Pillow's EPS/PS plugin runs
#: Ghostscript, so PostScript is never decoded, whatever the file is called); ICO/CUR are left out
#: because their directory can announce a small size for a huge embedded picture.
FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "TGA")
#: Most scans a JPEG may hold. Each progressive scan re-reads the whole picture (about 3.5 ms
#: a scan at 25 megapixels), so a file that repeats one scan thousands of times is a CPU bomb;
#: real progressive photos have about 10 (libjpeg's default script) and rarely over 20.
MAX_JPEG_SCANS = 100




def _describe(source: object) -> str:
    """A short name for ``source`` to put in an error message."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array of shape {source.shape} and dtype {source.dtype}>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    return f"'{printable(redact(str(source)), 200)}'"  # control characters shown, not obeyed


# ----------------------------------------------------------------------------------------------
# Decoding


def check_size(width: int, height: int, name: str, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an empty picture, one over ``max_pixels``, or one too long and thin to preprocess.

    The aspect cap (:data:`MAX_ASPECT`) is what bounds the work after loading: resizing the shorter
    side of a 1000 x 1 line to 256 would make a 256,000 x 256 picture. A 1-pixel-wide picture is
    accepted while it stays within the cap (a 1 x 1 pixel becomes a uniform square); a longer line
    is refused here.

    Raises:
        ImageLoadError: naming the input, its size and the limit it breaks.
    """
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{name}: the image is empty ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{name}: image is {width}x{height} = {width * height:,} pixels, more than the "
            f"limit of {max_pixels:,} (a possible decompression bomb); shrink it first"
        )
    aspect = max(width, height) / min(width, height)
    if aspect > MAX_ASPECT:
        raise ImageLoadError(
            f"{name}: image is {width}x{height}, its longer side {aspect:,.0f} times its shorter "
            f"one; the limit is {MAX_ASPECT:g} to 1 (resizing the shorter side to 256 pixels "
            f"would make {round(256 * aspect):,} x 256); crop it first"
        )


def _finite(array: np.ndarray, name: str) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ImageLoadError(f"{name}: the image holds NaN or infinite pixel values")


def _to_rgb(image: Image.Image, name: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: alpha over white, 16-bit rescaled, CMYK converted."""
    check_size(image.width, image.height, name, max_pixels)
    if getattr(image, "tile", None) and (image.format or "") not in FORMATS:
        raise ImageLoadError(  # a lazily opened file: loading it would run its decoder
            f"{name}: a {image.format or 'lazily opened'} image is not decoded here (it could "
            f"run an external program); open {', '.join(FORMATS)} files, or load it yourself"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, EOFError, AttributeError) as exc:
        raise ImageLoadError(f"{name}: the image cannot be read ({_short(exc)})") from None
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        array = np.asarray(image, dtype=np.float32)
        _finite(array, name)
        if mode == "F":
            low, high = float(array.min()), float(array.max())
            array = (array - low) / (high - low or 1.0) * 255.0
        else:
            # 16-bit data scaled into 8 bits (65535 -> 255), never clipped.
            top = 65535.0 if array.max() <= 65535 else float(array.max())
            array = np.clip(array, 0, None) / top * 255.0
        return Image.fromarray(np.round(array).astype(np.uint8)).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    elif mode == "LA" or mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    if image.mode == "1":
        image = image.convert("L")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageLoadError(f"{name}: cannot convert image mode {mode!r} to RGB ({exc})") from exc


def _short(exc: BaseException) -> str:
    """An exception as a short phrase (a closed or truncated image, corrupt EXIF, ...)."""
    return shorten(f"{exc}" or type(exc).__name__, 120)


def _decode(data: bytes, name: str, max_pixels: int) -> Image.Image:
    if not data:
        raise ImageLoadError(f"{name}: the file is empty (0 bytes)")
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        raise ImageLoadError(
            f"{name}: SVG is a vector format, which is not supported; export it to PNG or JPEG"
        )
    if data[:2] == b"\xff\xd8":  # a JPEG: count its scans (SOS markers) before decoding any
        scans = data.count(b"\xff\xda")
        if scans > MAX_JPEG_SCANS:
            raise ImageLoadError(
                f"{name}: the JPEG holds {scans:,} scans, more than the {MAX_JPEG_SCANS} any "
                "photo needs (decoding it would take minutes); save it again as a plain JPEG"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's other warnings: the checks below decide
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            check_size(*image.size, name, max_pixels)
            image.seek(0)  # animated images: the first frame
            image.load()
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{name}: refused as a possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: {_unreadable(data)}") from None
    except OSError as exc:
        message = str(exc)
        if "truncated" in message.lower():
            raise ImageLoadError(f"{name}: the image file is truncated ({message})") from None
        raise ImageLoadError(f"{name}: the image data is corrupt ({message})") from None
    except (ValueError, SyntaxError, EOFError) as exc:  # raised by some of Pillow's decoders
        raise ImageLoadError(f"{name}: the image data is corrupt ({exc})") from None
    return _to_rgb(image, name, max_pixels)


def _unreadable(data: bytes) -> str:
    """Why ``data`` is not decoded: PostScript named as such, else not a photo format."""
    head = data[:64].lstrip()
    if head.startswith((b"%!", b"\xc5\xd0\xd3\xc6")):  # PostScript / EPS, DOS-EPS binary header
        return ("PostScript/EPS is not read (decoding it would run Ghostscript on the file); "
                "export it to PNG or JPEG")
    kind = "text" if _looks_like_text(data) else "binary data"
    return (f"not an image: it is {kind} in none of the supported formats "
            f"({', '.join(FORMATS)})")


def _looks_like_text(data: bytes) -> bool:
    try:
        data[:1024].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _from_array(array: np.ndarray, name: str, max_pixels: int) -> Image.Image:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageLoadError(
            f"{name}: an image array must be HxW, HxWx3 or HxWx4 (channels last), "
            f"not shape {array.shape}"
        )
    if array.size == 0:
        raise ImageLoadError(f"{name}: the array is empty")
    check_size(array.shape[1], array.shape[0], name, max_pixels)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        _finite(array, name)
        if array.min() < 0 or array.max() > 1:
            raise ImageLoadError(f"{name}: a float image array must hold values in [0, 1]")
        array = np.round(array * 255).astype(np.uint8)
    elif array.dtype == np.uint16:
        array = np.round(array.astype(np.float64) / 65535 * 255).astype(np.uint8)
    elif not np.issubdtype(array.dtype, np.integer):
        raise ImageLoadError(
            f"{name}: an image array must hold integers, floats or booleans, not {array.dtype}"
        )
    elif array.dtype != np.uint8:
        if array.min() < 0 or array.max() > 255:
            raise ImageLoadError(
                f"{name}: integer array of dtype {array.dtype} has values outside 0..255"
            )
        array = array.astype(np.uint8)
    return _to_rgb(Image.fromarray(np.ascontiguousarray(array)), name, max_pixels)


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = MAX_PIXELS,
    timeout: float = URL_TIMEOUT,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> Image.Image:
    """Load ``source`` as an 8-bit RGB ``PIL.Image``.

    Args:
        source: a file path, an ``http(s)://`` URL, encoded image bytes, a ``PIL.Image``, a numpy
            array (HxW, HxWx3 or HxWx4; uint8, uint16, bool or float in [0, 1]), or the name of a
            sample photo from :data:`SAMPLES` (used when no file of that name exists).
        max_pixels: refuse images with more pixels than this (decompression bombs). Every
            source is also refused when empty, or when longer than :data:`MAX_ASPECT` times its
            width (see :func:`check_size`), and float pixels must be finite.
        timeout: whole-request deadline in seconds for URLs (connecting, headers and body).
        max_bytes: refuse files, URL bodies and byte strings larger than this. Local sources
            must be regular files (never a FIFO or a device); their size is checked before a
            byte is read.

    Returns:
        The image in RGB with EXIF orientation applied; transparency is composited on white,
        16-bit data is rescaled to 8 bits, animated images give their first frame.

    Raises:
        ImageLoadError: naming the input and what is wrong with it.
    """
    _check_limits(max_pixels, timeout, max_bytes)
    if isinstance(source, Image.Image) and is_checked(source, max_pixels):
        return source  # already loaded: validated once, at the edge, and not copied again
    return _checked(_load(source, max_pixels, timeout, max_bytes))


def _check_limits(max_pixels: object, timeout: object, max_bytes: object) -> None:
    """``load_image``'s own arguments: positive whole numbers, and a finite positive deadline."""
    for label, value in (("max_pixels", max_pixels), ("max_bytes", max_bytes)):
        check_whole(label, value, "must be a whole number of at least 1")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not (
        0 < float(timeout) < float("inf")
    ):
        raise InputError(f"timeout {timeout!r}: must be a positive, finite number of seconds")


#: Images ``load_image`` returned, by ``id`` (weakly: an image that is dropped leaves).
_CHECKED: weakref.WeakValueDictionary[int, Image.Image] = weakref.WeakValueDictionary()


def _checked(image: Image.Image) -> Image.Image:
    _CHECKED[id(image)] = image
    return image


def is_checked(image: Image.Image, max_pixels: int = MAX_PIXELS) -> bool:
    """Whether ``image`` came out of :func:`load_image` and is still an RGB image within
    ``max_pixels`` (so a public function given it need not decode or convert it again)."""
    return (_CHECKED.get(id(image)) is image and image.mode == "RGB"
            and image.width * image.height <= max_pixels)


def _load(source: ImageSource, max_pixels: int, timeout: float, max_bytes: int) -> Image.Image:
    """:func:`load_image` for a source that has not been loaded yet."""
    name = _describe(source)
    if isinstance(source, Image.Image):
        return _to_rgb(source, name, max_pixels)
    if isinstance(source, np.ndarray):
        return _from_array(source, name, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) > max_bytes:
            raise ImageLoadError(f"{name}: {len(source):,} bytes, over the {max_bytes:,}-byte cap")
        return _decode(bytes(source), name, max_pixels)
    if not isinstance(source, (str, Path)):
        raise ImageLoadError(
            f"{name}: cannot load an image from a {type(source).__name__}; give a path, URL, "
            "bytes, PIL image or numpy array"
        )
    text = str(source)
    if isinstance(source, str) and "://" in text:
        try:
            scheme = urlparse(text).scheme.lower()
        except ValueError as exc:  # e.g. "Invalid IPv6 URL" for http://[::1
            raise ImageLoadError(f"{name}: not a valid URL ({exc})") from None
        if scheme and scheme not in ("http", "https"):
            raise ImageLoadError(
                f"{name}: URL scheme {scheme!r} is not supported; use http:// or https://"
            )
        if scheme:
            data, kind = read_url(text, name, timeout, max_bytes)
            try:
                return _decode(data, name, max_pixels)
            except ImageLoadError:
                if kind and not kind.startswith("image/") and kind != "application/octet-stream":
                    raise ImageLoadError(
                        f"{name}: the server sent {kind!r}, not an image"
                    ) from None
                raise
    if "\0" in text:
        raise ImageLoadError(f"{name}: a path cannot hold a NUL character")
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "~nosuchuser/...": no such user, no home to expand
        raise ImageLoadError(f"{name}: no such user's home folder to expand the '~' of") from None
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and isinstance(source, str) and text in SAMPLES:
            return sample_image(text)
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ImageLoadError(
                f"{name}: no such file (sample photos by name: {', '.join(SAMPLES)})"
            ) from None
        raise ImageLoadError(f"{name}: {os_reason(exc)}") from None
    if path.is_dir():
        raise ImageLoadError(f"{name}: is a directory, not an image file")
    if path.suffix.lower() in _VECTOR_SUFFIXES:
        raise ImageLoadError(
            f"{name}: {path.suffix} is a vector format, which is not supported; "
            "export it to PNG or JPEG"
        )
    return _decode(read_file(path, name, max_bytes), name, max_pixels)


def image_checker(size: tuple[int, int]) -> Callable[[Path], None]:
    """A ``verify`` for :func:`~xai_tutorial.core._files.atomic_paths`: the written file must
    decode whole, as a PNG or JPEG of ``size = (width, height)`` pixels.

    (Pillow's JPEG writer can leave a truncated file without an error when the disk fills up; a
    truncated file does not decode, so it never counts as written.)
    """

    def check(path: Path) -> None:
        with Image.open(path, formats=("PNG", "JPEG")) as written:
            if written.size != tuple(size):
                raise ValueError(f"it is {written.size[0]}x{written.size[1]}, not "
                                 f"{size[0]}x{size[1]}")
            written.load()

    return check
