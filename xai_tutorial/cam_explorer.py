"""Lesson 02's interactive CAM explorer: a plain model object plus an ipywidgets view.

:class:`CAMExplorer` runs the network once, keeps every class's raw map, and re-blends cached
arrays when a control changes, so moving a slider never calls the model. :func:`cam_explorer`
puts widgets on top of it; everything a test needs is on the model object, no browser required.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .cam import SCALES, CAMResult, blend, class_activation_maps, colorize, scale_maps, upsample
from .classification import Classifier, Prediction
from .images import ImageSource, load_image

COLORMAPS: tuple[str, ...] = ("jet", "inferno", "viridis", "magma", "coolwarm", "gray")


@dataclass
class CAMExplorer:
    """State and rendering of the CAM explorer.

    Attributes:
        classifier: the model whose evidence is shown.
        image: the photo (anything ``load_image`` takes).
        k: how many top classes the quick-choice list offers.
        class_index: the class whose map is shown (default: the top prediction).
        alpha: heatmap opacity, 0 = photo only, 1 = heatmap only.
        cmap: a matplotlib colormap name.
        scale: ``"minmax"`` (each map on its own) or ``"shared"`` (one range for all classes).
    """

    classifier: Classifier
    image: ImageSource
    k: int = 5
    class_index: int | None = None
    alpha: float = 0.5
    cmap: str = "jet"
    scale: str = "minmax"
    result: CAMResult = field(init=False)
    model_calls: int = field(init=False, default=0)
    _photo: np.ndarray = field(init=False, repr=False)
    _maps01: dict[tuple[int, str], torch.Tensor] = field(init=False, repr=False)
    _heat: dict[tuple[int, str, str], np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        picture = load_image(self.image)
        self.image = picture
        self._photo = np.asarray(picture)
        self.result = class_activation_maps(self.classifier, picture)  # all classes, one pass
        self.model_calls += 1
        self._maps01, self._heat = {}, {}
        if self.class_index is None:
            self.class_index = self.top[0].index
        self.set_class(self.class_index)

    # -- choices -------------------------------------------------------------------------------

    @property
    def top(self) -> list[Prediction]:
        """The ``k`` most probable classes of this photo."""
        probabilities = self.result.probabilities
        values, indices = probabilities.topk(self.k)
        names = self.classifier.categories
        pairs = zip(values.tolist(), indices.tolist(), strict=True)
        return [Prediction(i, names[i], p) for p, i in pairs]

    def set_class(self, choice: int | str) -> None:
        """Show the class with this index or name (any of the model's classes)."""
        if isinstance(choice, str):
            index = self.classifier.class_index(choice)
        else:
            index = int(choice)
            if not 0 <= index < len(self.classifier.categories):
                raise ValueError(
                    f"class {index} is out of range 0..{len(self.classifier.categories) - 1}"
                )
        self.class_index = index

    def set_alpha(self, alpha: float) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha {alpha}: must be between 0 and 1")
        self.alpha = float(alpha)

    def set_cmap(self, cmap: str) -> None:
        colorize(np.zeros((1, 1)), cmap)  # raises for an unknown name
        self.cmap = cmap

    def set_scale(self, scale: str) -> None:
        if scale not in SCALES:
            raise ValueError(f"scale {scale!r}: choose one of {', '.join(SCALES)}")
        self.scale = scale

    # -- rendering -----------------------------------------------------------------------------

    @property
    def label(self) -> str:
        index = int(self.class_index)  # type: ignore[arg-type]
        probability = float(self.result.probabilities[index])
        rank = int((self.result.probabilities > probability).sum()) + 1
        return f"{self.classifier.categories[index]} ({probability:.2%}, rank {rank} of 1000)"

    def map01(self) -> torch.Tensor:
        """The shown class's map at the photo's size, scaled to [0, 1] (cached)."""
        key = (int(self.class_index), self.scale)  # type: ignore[arg-type]
        if key not in self._maps01:
            raw = self.result.maps[key[0]]
            reference = self.result.maps if self.scale == "shared" else None
            small = scale_maps(raw, self.scale, reference)  # type: ignore[arg-type]
            self._maps01[key] = upsample(small, self._photo.shape[:2])
        return self._maps01[key]

    def heat(self) -> np.ndarray:
        """The shown map coloured (cached per class, scale and colormap)."""
        key = (int(self.class_index), self.scale, self.cmap)  # type: ignore[arg-type]
        if key not in self._heat:
            self._heat[key] = colorize(self.map01(), self.cmap)
        return self._heat[key]

    def render(self) -> np.ndarray:
        """The overlay now on screen, ``(H, W, 3)`` uint8; never calls the model."""
        return blend(self._photo, self.heat(), self.alpha)

    def render_png(self) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.render()).save(buffer, "PNG", compress_level=1)
        return buffer.getvalue()


def cam_explorer(classifier: Classifier, image: ImageSource, k: int = 5):
    """The CAM explorer widget: class choice (top-k or any of the 1000 by name), alpha slider,
    colormap and scale. Returns an ``ipywidgets.VBox`` with the model object as ``.explorer``."""
    import ipywidgets as widgets

    explorer = CAMExplorer(classifier, image, k=k)
    top_options = [(f"{p.label} ({p.probability:.1%})", p.index) for p in explorer.top]
    top_choice = widgets.Dropdown(options=top_options, value=explorer.class_index,
                                  description="Top classes:")
    search = widgets.Combobox(
        options=list(classifier.categories), placeholder="type any of the 1000 class names",
        description="Any class:", ensure_option=True,
    )
    alpha = widgets.FloatSlider(value=explorer.alpha, min=0.0, max=1.0, step=0.05,
                                description="alpha:", readout_format=".2f")
    cmap = widgets.Dropdown(options=COLORMAPS, value=explorer.cmap, description="colormap:")
    scale = widgets.ToggleButtons(options=SCALES, value=explorer.scale, description="scale:")
    caption = widgets.HTML()
    picture = widgets.Image(format="png")
    error = widgets.HTML()

    def refresh() -> None:
        picture.value = explorer.render_png()
        caption.value = f"<b>Class Activation Map of {explorer.label}</b>"

    def guarded(handler):
        def run(change: dict) -> None:
            try:
                handler(change["new"])
            except ValueError as exc:
                error.value = f"<span style='color:#b00'>{exc}</span>"
                return
            error.value = ""
            refresh()

        return run

    top_choice.observe(guarded(explorer.set_class), names="value")
    search.observe(guarded(lambda name: name and explorer.set_class(name)), names="value")
    alpha.observe(guarded(explorer.set_alpha), names="value")
    cmap.observe(guarded(explorer.set_cmap), names="value")
    scale.observe(guarded(explorer.set_scale), names="value")
    refresh()
    view = widgets.VBox([
        widgets.HBox([top_choice, search]),
        widgets.HBox([alpha, cmap]),
        scale,
        caption,
        picture,
        error,
    ])
    view.explorer = explorer
    return view
