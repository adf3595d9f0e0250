"""load_image: every source kind, every pixel format, and the bad-input matrix."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xai_tutorial import SAMPLES, ImageLoadError, load_image, sample_image


def encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def gradient(width: int = 40, height: int = 24) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1))


# ----------------------------------------------------------------------------------------------
# Good sources


def test_sources_path_bytes_pil_array(tmp_path: Path) -> None:
    picture = gradient()
    path = tmp_path / "g.png"
    picture.save(path)
    expected = np.asarray(picture)
    for source in (path, str(path), path.read_bytes(), picture, expected):
        loaded = load_image(source)
        assert loaded.mode == "RGB" and loaded.size == (40, 24)
        assert np.array_equal(np.asarray(loaded), expected)


def test_url(http_server) -> None:
    url = http_server.add("/cat.png", body=encode(gradient(), "PNG"), content_type="image/png")
    assert load_image(url).size == (40, 24)


def test_exif_orientation_applied() -> None:
    picture = gradient(40, 24)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    loaded = load_image(encode(picture, "JPEG", exif=exif))
    assert loaded.size == (24, 40)


def test_grayscale_and_palette() -> None:
    gray = Image.new("L", (8, 6), 77)
    assert np.asarray(load_image(gray))[0, 0].tolist() == [77, 77, 77]
    palette = gradient().convert("P")
    assert load_image(encode(palette, "PNG")).mode == "RGB"


def test_rgba_is_composited_on_white() -> None:
    pixels = np.zeros((4, 4, 4), np.uint8)
    pixels[..., 0] = 255  # red, fully transparent ...
    pixels[0, 0, 3] = 255  # ... except one opaque pixel
    loaded = np.asarray(load_image(encode(Image.fromarray(pixels, "RGBA"), "PNG")))
    assert loaded[0, 0].tolist() == [255, 0, 0]
    assert loaded[1, 1].tolist() == [255, 255, 255]


def test_palette_with_transparency_is_composited() -> None:
    picture = Image.new("P", (4, 4), 1)
    picture.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    loaded = np.asarray(load_image(encode(picture, "PNG", transparency=1)))
    assert loaded[0, 0].tolist() == [255, 255, 255]


def test_cmyk() -> None:
    cmyk = Image.new("CMYK", (5, 5), (0, 255, 255, 0))  # pure red in CMYK
    loaded = np.asarray(load_image(encode(cmyk, "JPEG", quality=100)))
    assert loaded[2, 2, 0] > 240 and loaded[2, 2, 1] < 20 and loaded[2, 2, 2] < 20


def test_sixteen_bit_is_rescaled_not_clipped() -> None:
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    loaded = np.asarray(load_image(encode(Image.fromarray(values), "PNG")))[0, :, 0]
    assert loaded.tolist() == [0, 4, 128, 255]  # clipping would give [0, 255, 255, 255]
    assert np.asarray(load_image(values))[0, :, 0].tolist() == [0, 4, 128, 255]


def test_animated_gives_first_frame() -> None:
    frames = [Image.new("RGB", (6, 6), c) for c in ((250, 0, 0), (0, 250, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert np.asarray(load_image(data))[0, 0, 0] > 200


def test_float_and_bool_arrays() -> None:
    assert np.asarray(load_image(np.full((3, 3), 0.5)))[0, 0, 0] == 128
    assert np.asarray(load_image(np.eye(3, dtype=bool)))[0, 0, 0] == 255


def test_samples_by_name_are_offline_and_rgb() -> None:
    for name in SAMPLES:
        picture = sample_image(name)
        assert picture.mode == "RGB"
    assert load_image("chelsea").size == (451, 300)
    side, stacked = sample_image("cat_and_coffee"), sample_image("cat_over_coffee")
    assert side.width > side.height and stacked.height > stacked.width


def test_assets_match_the_package_samples() -> None:
    assets = Path(__file__).parents[1] / "assets"
    for name in ("cat_and_coffee", "cat_over_coffee"):
        saved = np.asarray(Image.open(assets / f"{name}.png").convert("RGB"))
        assert np.array_equal(saved, np.asarray(sample_image(name)))


# ----------------------------------------------------------------------------------------------
# Bad input: one ImageLoadError naming the input and the problem


def _expect(source: object, *words: str, **kwargs: object) -> str:
    with pytest.raises(ImageLoadError) as caught:
        load_image(source, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    for word in words:
        assert word.lower() in message.lower(), message
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    _expect(str(tmp_path / "nope.jpg"), "nope.jpg", "no such file")


def test_directory(tmp_path: Path) -> None:
    _expect(tmp_path, str(tmp_path), "directory")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    _expect(tmp_path / "empty.png", "empty.png", "empty")


def test_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "notes.jpg").write_text("hello, I am text\n")
    _expect(tmp_path / "notes.jpg", "notes.jpg", "not an image")


def test_truncated(tmp_path: Path) -> None:
    data = encode(gradient(200, 200), "PNG")
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _expect(tmp_path / "cut.png", "cut.png", "truncated")


def test_corrupt(tmp_path: Path) -> None:
    data = bytearray(encode(gradient(64, 64), "PNG"))
    data[60:90] = b"\x00" * 30  # smash the compressed stream after a valid header
    (tmp_path / "bad.png").write_bytes(bytes(data))
    _expect(tmp_path / "bad.png", "bad.png", "corrupt")


def test_svg_is_unsupported(tmp_path: Path) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'
    (tmp_path / "logo.svg").write_bytes(svg)
    _expect(tmp_path / "logo.svg", "logo.svg", "vector format")
    _expect(svg, "bytes", "svg")


def test_decompression_bomb() -> None:
    bomb = encode(Image.new("1", (3000, 3000)), "PNG")  # 9 Mpx in a few kB
    assert len(bomb) < 20_000
    _expect(bomb, "bytes", "decompression bomb", max_pixels=1_000_000)


def test_bad_scheme() -> None:
    _expect("ftp://example.org/cat.jpg", "ftp://example.org/cat.jpg", "scheme")
    _expect("file:///etc/passwd", "file:///etc/passwd", "scheme")


def test_http_error(http_server) -> None:
    url = http_server.base + "/missing.jpg"
    _expect(url, url, "404")


def test_non_image_content_type(http_server) -> None:
    url = http_server.add("/page", body=b"<html></html>", content_type="text/html")
    _expect(url, url, "text/html")


def test_body_over_cap(http_server) -> None:
    url = http_server.add("/big.png", body=b"x" * 5000, content_type="image/png")
    _expect(url, url, "cap", max_bytes=1000)


def test_slow_server_times_out(http_server) -> None:
    url = http_server.add("/slow.png", body=b"x" * 100, content_type="image/png", drip=0.05)
    start = time.monotonic()
    _expect(url, url, "took over", timeout=0.5)
    assert time.monotonic() - start < 3


def test_server_gone() -> None:
    _expect("http://127.0.0.1:9/cat.jpg", "127.0.0.1:9", "could not connect")


def test_bad_arrays_and_types() -> None:
    _expect(np.zeros((3, 8, 8), np.uint8), "shape (3, 8, 8)", "channels last")
    _expect(np.full((2, 2), 3.0), "[0, 1]")
    _expect(12345, "12345", "int")


def test_unknown_sample() -> None:
    with pytest.raises(ImageLoadError, match="no such sample"):
        sample_image("dog")


def test_default_timeout_is_at_most_15_seconds() -> None:
    import inspect

    assert inspect.signature(load_image).parameters["timeout"].default <= 15


# ----------------------------------------------------------------------------------------------
# Bounds: the aspect cap, empty pictures, one-pixel pictures, caps on every source


def test_aspect_cap_boundary() -> None:
    from xai_tutorial.images import MAX_ASPECT

    limit = int(MAX_ASPECT)
    assert load_image(Image.new("RGB", (limit * 10, 10))).size == (limit * 10, 10)
    assert load_image(np.zeros((10 * limit, 10), np.uint8)).size == (10, 10 * limit)
    _expect(Image.new("RGB", (limit * 10 + 10, 10)), f"{limit * 10 + 10}x10", f"{limit:g} to 1")


def test_one_pixel_picture_is_accepted_as_a_uniform_square(bundled) -> None:
    dot = load_image(Image.new("RGB", (1, 1), (200, 30, 30)))
    tensor = bundled.preprocess(dot)
    assert tensor.shape == (1, 3, 224, 224)
    assert float(tensor.std(dim=(2, 3)).max()) == 0.0  # every pixel the same colour


def test_bytes_over_the_cap() -> None:
    _expect(encode(gradient(), "PNG"), "bytes", "cap", max_bytes=100)


def test_local_file_over_the_cap_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encode(gradient(), "PNG"))
    _expect(path, "big.png", "bytes", "cap", max_bytes=100)


def test_object_arrays_are_refused() -> None:
    _expect(np.array([[object()]], dtype=object), "object")
