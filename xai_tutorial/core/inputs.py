"""One check per concept: each raises one :class:`~xai_tutorial.errors.InputError` with one message.

The API, the widgets and the CLI all call these, so a bad class, alpha, scale, ``k`` or input
tensor reads the same wherever it is given. (The colormap check needs matplotlib, so it lives in
:func:`xai_tutorial.heatmap_view.check_colormap`.)
"""

from __future__ import annotations

import difflib
import itertools
import numbers
import re
import reprlib
import sys
from collections.abc import Sequence

from .errors import InputError

#: How raw maps can be mapped to [0, 1] for display (see :func:`xai_tutorial.cam.scale_maps`).
SCALES: tuple[str, ...] = ("minmax", "shared", "signed")


def _integer(value: object) -> int | None:
    """``value`` as a Python int if it is an integer (Python, numpy, 0-d integer tensor)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):  # int, numpy integers
        return int(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray) and value.ndim == 0 and (
        value.dtype.kind in "iu"
    ):
        return int(value)
    torch = sys.modules.get("torch")  # a tensor can only exist if torch is imported
    if torch is not None and isinstance(value, torch.Tensor):
        if value.ndim == 0 and not value.is_floating_point() and not value.is_complex() and (
            value.dtype != torch.bool
        ):
            return int(value.item())
    return None


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


#: Longest text whose words are searched for suggestions (longer names match no class anyway).
_SUGGEST_CHARS = 120


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (``...`` marks a cut): what messages echo."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
        return text if len(text) <= limit else text[: limit - 4] + "...'"
    text = reprlib.repr(value)  # bounded: a huge list or tensor is never printed whole
    return text if len(text) <= limit else text[: limit - 3] + "..."


def suggest_labels(wanted: str, categories: Sequence[str], n: int = 8) -> list[str]:
    """Class names close to ``wanted``: names sharing a word, else similar spellings.

    First the names that contain a word of ``wanted`` as a whole word: ``"cat"`` offers
    ``"tiger cat"``, ``"Persian cat"``, ``"Siamese cat"``, ``"Egyptian cat"`` (not ``"crate"``).
    If there are none, names with a word starting with a word of ``wanted`` (3+ letters):
    ``"dalmat"`` offers ``"dalmatian"``. If there are still none, ``difflib`` similarity
    (ratio >= 0.6) finds misspellings: ``"espreso"`` offers ``"espresso"``. At most ``n`` names.
    Only the first 120 characters of ``wanted`` are read, so the search costs the same for any
    input (a 1.2 MB name costs what a short one does).
    """
    wanted = wanted[:_SUGGEST_CHARS]
    query = set(_words(wanted))
    exact, prefix = [], []
    for name in categories:
        words = _words(name.lower())
        if query.intersection(words):
            exact.append(name)
        elif any(len(q) >= 3 and w.startswith(q) for q in query for w in words):
            prefix.append(name)
    found = exact or prefix
    if not found:
        lowered = [c.lower() for c in categories]
        close = difflib.get_close_matches(wanted.strip().lower(), lowered, n=n, cutoff=0.6)
        found = [categories[lowered.index(c)] for c in close]
    return list(dict.fromkeys(found))[:n]


def check_class(choice: object, categories: Sequence[str], *, owner: str = "the model") -> int:
    """The class index that ``choice`` names.

    Accepts a Python int, a numpy integer (or 0-d integer array) or a 0-d integer tensor (an
    index in ``0 .. len(categories) - 1``), or a label: spelled exactly as the class is, or else
    in any case (surrounding spaces ignored). ``"cardigan"`` is the sweater (474) and
    ``"Cardigan"`` the corgi (264); a case-insensitive match to two classes is refused.

    Raises:
        InputError: anything else, an index out of range, or an unknown label (the message then
            offers similar names, see :func:`suggest_labels`).
    """
    count = len(categories)
    if isinstance(choice, str):
        wanted = choice.strip()
        if wanted in categories:
            return list(categories).index(wanted)
        folded = wanted.lower()
        matches = [i for i, c in enumerate(categories) if c.lower() == folded] if wanted else []
        if len(matches) == 1:
            return matches[0]
        if matches:
            spelled = ", ".join(f"{categories[i]!r} ({i})" for i in matches)
            raise InputError(f"class {shown(choice)}: several classes of {owner} have that "
                             f"name in another case: {spelled}; spell it exactly")
        close = suggest_labels(choice, categories)
        hint = "; close matches: " + ", ".join(repr(c) for c in close) if close else ""
        raise InputError(f"class {shown(choice)}: no class of {owner} has that name{hint}")
    index = _integer(choice)
    if index is None:
        raise InputError(
            f"class {shown(choice)}: give a class index (a whole number) or a class name, "
            f"not a {type(choice).__name__}"
        )
    if not 0 <= index < count:
        digits = index.bit_length() * 0.30103  # log10(2): never formats a huge int
        said = str(index) if abs(index) < 10**18 else f"of about {digits:.0f} digits"
        raise InputError(f"class {said}: out of range, {owner} has classes 0..{count - 1}")
    return index


def check_alpha(alpha: object) -> float:
    """The heatmap opacity as a float in [0, 1] (0 = photo only, 1 = heatmap only)."""
    message = f"alpha {shown(alpha)}: must be a number between 0 (photo only) and 1 (heatmap only)"
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise InputError(message)
    try:
        value = float(alpha)
    except (OverflowError, ValueError):  # 10**400, a huge Fraction
        raise InputError(message) from None
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise InputError(message)
    return value


def check_scale(scale: object) -> str:
    """One of :data:`SCALES`."""
    if not isinstance(scale, str) or scale not in SCALES:
        raise InputError(f"scale {shown(scale)}: choose one of {', '.join(SCALES)}")
    return str(scale)


def check_k(k: object, count: int) -> int:
    """A number of top classes, a whole number in ``1 .. count``."""
    value = _integer(k)
    if value is None or not 1 <= value <= count:
        raise InputError(f"k {shown(k)}: must be a whole number between 1 and {count}")
    return value


#: Largest image tensor (H x W) and batch (N x H x W) the API runs a model on. Preprocessing
#: never makes more than 224 x 3584 (0.8 million) pixels; a learner's own tensor may be larger,
#: but a network's activations cost about a kilobyte a pixel, so these bound its memory.
MAX_TENSOR_PIXELS = 2048 * 2048
MAX_BATCH_PIXELS = 4096 * 4096


def check_batch(x: object, *, channels: int | None = 3, single: bool = True) -> object:
    """A preprocessed image tensor, checked and as float32: ``(1, channels, H, W)`` (or
    ``(N, channels, H, W)`` when ``single`` is false) with ``H, W, N >= 1``.

    A floating tensor of another dtype (float64, float16, bfloat16) is cast to float32; integer,
    boolean, complex, meta and non-finite tensors are refused. ``channels=None`` accepts any
    channel count (at least 1).

    Raises:
        InputError: naming what is wrong (type, shape, dtype, device or values).
    """
    torch = sys.modules.get("torch")
    lead = "1" if single else "N"
    want = "C" if channels is None else str(channels)
    if torch is None or not isinstance(x, torch.Tensor):
        raise InputError(f"expected a ({lead}, {want}, H, W) tensor, got a "
                         f"{type(x).__name__}")
    if x.layout != torch.strided or x.is_nested:
        kind = "nested" if x.is_nested else str(x.layout)
        raise InputError(f"expected a dense tensor, got a {kind} tensor; use .to_dense()")
    if x.ndim != 4 or (single and x.shape[0] != 1) or 0 in x.shape or (
        channels is not None and x.shape[1] != channels
    ):
        what = f"one {want}-channel image" if single else f"{want}-channel images"
        raise InputError(
            f"expected a ({lead}, {want}, H, W) tensor ({what}), got shape {tuple(x.shape)}"
        )
    image_pixels = int(x.shape[2]) * int(x.shape[3])
    batch_pixels = int(x.shape[0]) * image_pixels
    if image_pixels > MAX_TENSOR_PIXELS or batch_pixels > MAX_BATCH_PIXELS:
        raise InputError(
            f"a tensor of shape {tuple(x.shape)} is too large to run: at most "
            f"{MAX_TENSOR_PIXELS:,} pixels an image and {MAX_BATCH_PIXELS:,} a batch (a photo "
            "given to load_image is resized for the model; give smaller batches)"
        )
    if not x.is_floating_point():
        raise InputError(f"expected a float tensor, got {x.dtype}")
    if x.device.type == "meta":
        raise InputError("expected a tensor with values, got one on the 'meta' device")
    if x.dtype != torch.float32:
        x = x.float()
    # NaN or inf anywhere makes the sum NaN or inf; a float64 sum of float32 values cannot
    # overflow (n * 3.4e38 < 1.8e308), so this is exact, and 10x cheaper than isfinite(x).all().
    if not bool(torch.isfinite(x.sum(dtype=torch.float64))):
        raise InputError("the input tensor holds NaN or infinite values")
    return x


def check_classes(classes: object, categories: Sequence[str], count: int, *,
                  owner: str = "the model") -> list[int]:
    """Class indices from ``classes``: ``None`` (all ``count``), one class, or a sequence.

    Every entry goes through :func:`check_class` (indices as ints, numpy integers or 0-d integer
    tensors; names; never ``True``/``False``). ``categories`` name the classes when they match
    ``count``; otherwise indices only are accepted.

    Raises:
        InputError: an empty list, more entries than the model has classes, or a bad entry.
    """
    if classes is None:
        return list(range(count))
    names = categories if len(categories) == count else [str(i) for i in range(count)]
    if is_single(classes):
        return [check_class(classes, names, owner=owner)]
    size = len(classes) if hasattr(classes, "__len__") else None  # type: ignore[arg-type]
    if size is not None and size > count:
        raise InputError(f"classes: {size:,} entries, more than the {count} classes of {owner}")
    items = list(itertools.islice(classes, count + 1))  # type: ignore[call-overload]
    if not items:
        raise InputError("classes: give at least one class (or None for all)")
    if len(items) > count:
        raise InputError(f"classes: more entries than the {count} classes of {owner}")
    return [check_class(c, names, owner=owner) for c in items]


def is_single(value: object) -> bool:
    """One class rather than a collection: a str, a number, or a 0-d array or tensor."""
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return True
    return getattr(value, "ndim", None) == 0


def check_size_pair(size: object, max_cells: int, *, name: str = "size",
                    what: str = "(H, W)") -> tuple[int, int]:
    """``size`` as ``(rows, columns)``: two positive whole numbers (Python or numpy, never a
    bool) whose product is at most ``max_cells``.

    Raises:
        InputError: anything else, naming ``name``.
    """
    message = f"{name} {shown(size)}: give {what}, two positive whole numbers"
    if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in size
    ):
        raise InputError(message)
    rows, columns = int(size[0]), int(size[1])
    if rows * columns > max_cells:
        raise InputError(f"{name} {shown(size)}: {rows * columns:,} cells, more than the "
                         f"{max_cells:,} a picture may have")
    return rows, columns


def check_whole(name: str, value: object, rule: str, *, low: int = 1,
                high: int | None = None) -> int:
    """``value`` as an ``int`` when it is a whole number (Python or numpy, never a bool) with
    ``low <= value`` (and ``value < high`` when given).

    Raises:
        InputError: ``"{name} {value}: {rule}"`` (the caller's wording of the rule).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
        high is not None and value >= high
    ):
        raise InputError(f"{name} {shown(value)}: {rule}")
    return int(value)
