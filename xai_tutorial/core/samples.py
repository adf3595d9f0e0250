"""Sample photos: scikit-image's bundled CC0 pictures, and composites built from them.

All offline: ``load_image("chelsea")`` (or :func:`sample_image`) builds the picture on demand.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from .errors import ImageLoadError


def _skimage(name: str) -> Callable[[], Image.Image]:
    def build() -> Image.Image:
        import skimage.data

        return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")

    return build


def _side_by_side() -> Image.Image:
    cat, cup = SAMPLES["chelsea"](), SAMPLES["coffee"]()
    height = cat.height
    cup = cup.resize((round(cup.width * height / cup.height), height), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (cat.width + cup.width, height), "white")
    canvas.paste(cat, (0, 0))
    canvas.paste(cup, (cat.width, 0))
    return canvas


def _stacked() -> Image.Image:
    cat, cup = SAMPLES["chelsea"](), SAMPLES["coffee"]()
    width = cat.width
    cup = cup.resize((width, round(cup.height * width / cup.width)), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, cat.height + cup.height), "white")
    canvas.paste(cat, (0, 0))
    canvas.paste(cup, (0, cat.height))
    return canvas


#: Offline sample photos by name. All come from scikit-image's bundled CC0 data.
SAMPLES: dict[str, Callable[[], Image.Image]] = {
    "chelsea": _skimage("chelsea"),  # a tabby cat, 451x300
    "coffee": _skimage("coffee"),  # a cup of espresso, 600x400
    "astronaut": _skimage("astronaut"),  # Eileen Collins, 512x512
    "rocket": _skimage("rocket"),  # a rocket on the launch pad
    "cat_and_coffee": _side_by_side,  # the cat left of the cup, 901x300
    "cat_over_coffee": _stacked,  # the cat above the cup, 451x601
}


def sample_image(name: str) -> Image.Image:
    """Return the bundled sample photo ``name`` (one of :data:`SAMPLES`) as an RGB image."""
    try:
        build = SAMPLES[name]
    except KeyError:
        raise ImageLoadError(
            f"{name!r}: no such sample photo; choose one of {', '.join(SAMPLES)}"
        ) from None
    return build()
