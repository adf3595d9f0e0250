"""Lesson 02's interactive saliency explorer: a plain model object plus an ipywidgets view.

:class:`CAMExplorer` runs the network once, keeps every class's raw CAM, and re-blends cached
arrays when a control changes, so moving a slider never calls the model. Any other registered
saliency method (:func:`xai_tutorial.saliency_methods`: Grad-CAM, occlusion, the controls, and
whatever a lesson or a learner registers) can be picked too; its map is computed once per
(method, class) through :func:`xai_tutorial.saliency_map` and cached, with the method's
*interactive* options (:data:`INTERACTIVE_OPTIONS`: fewer masks, steps or samples than its
defaults, so that every method draws its map in a few CPU-seconds; the title names them).
Every stage comes from :mod:`xai_tutorial.core.heatmap` (scale -> upsample -> colour -> blend);
the explorer only caches them: ``map01`` per (method, class, scale), ``heat`` per (method,
class, scale, colormap), and blends on each render. :func:`cam_explorer` puts widgets on top of
it; everything a test needs is on the model object, no browser required. While a map is being
computed the view says so below the picture; a map that cannot be made is said there in red.

The explorer also follows the shared photo protocol of :mod:`xai_tutorial.widgets`
(``classify(source)``, ``headline``, ``figure()``), so ``photo_upload_view`` can feed it a
learner's own photo.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .cam import CAMResult, class_activation_maps
from .classification import Classifier, Prediction
from .core.colormaps import COLORMAPS, check_colormap
from .core.errors import InputError, TutorialError, UnknownNameError
from .core.heatmap import DEFAULT_CMAP, blend, colorize, map_to_size, shared_reference
from .core.images import ImageLoadError, ImageSource, load_image
from .core.inputs import SCALES, check_alpha, check_class, check_k, check_scale
from .core.saliency import get_method, model_input, saliency_map, saliency_methods

__all__ = ["COLORMAPS", "INTERACTIVE_OPTIONS", "CAMExplorer", "cam_explorer"]

#: The options a saliency method runs with in the explorer (a method not listed: its defaults),
#: chosen so that each registered method draws one map in a few CPU-seconds on one thread
#: (Binder's one CPU) for the lesson's wide photo (a 224 x 672 model input, where one forward
#: pass of EfficientNet-Lite0 takes about 0.1 s). Their defaults, for comparison: occlusion
#: window 56, stride 28 (162 passes on that photo, over occlusion's own budget: refused);
#: smoothgrad 16 samples; integrated_gradients 64 steps; rise 500 masks (over 40 s); lime and
#: kernel_shap 200 samples of 50 superpixels. Fewer superpixels keep the surrogates' fit
#: determined with 32 samples. ``CAMExplorer(..., method_options={"rise": {}})`` restores a
#: method's defaults.
INTERACTIVE_OPTIONS: Mapping[str, Mapping[str, object]] = {
    "occlusion": {"window": 112, "stride": 56},
    "smoothgrad": {"samples": 8},
    "integrated_gradients": {"steps": 8},
    "rise": {"masks": 32},
    "lime": {"samples": 32, "segments": 24},
    "kernel_shap": {"samples": 32, "segments": 24},
}


@dataclass
class CAMExplorer:
    """State and rendering of the CAM explorer.

    Every option is checked when the explorer is built, with the same checks as the API and the
    CLI (:mod:`xai_tutorial.core.inputs`).

    Attributes:
        classifier: the model whose evidence is shown.
        image: the photo (anything ``load_image`` takes).
        k: how many top classes the quick-choice list offers (1 .. number of classes).
        class_index: the class whose map is shown: an index (int, numpy integer, 0-d tensor) or
            a label; default the top prediction.
        alpha: heatmap opacity, 0 = photo only, 1 = heatmap only.
        cmap: a matplotlib colormap name.
        scale: ``"minmax"`` (each map on its own) or ``"shared"`` (one range for all classes:
            CAM's all 1000 from its one pass; for another method, the top ``k`` classes' maps).
        method: a registered saliency method (default ``"cam"``).
        method_options: options per method name, passed to :func:`~xai_tutorial.saliency_map`
            when that method is shown; they replace that method's entry of
            :data:`INTERACTIVE_OPTIONS` (``{}``: the method's own defaults). ``"cam"`` takes
            none (its maps all come from the photo's one pass). Set when the explorer is
            built (the cached maps do not follow later changes); option names and values are
            checked by the method when its map is first computed.
    """

    classifier: Classifier
    image: ImageSource
    k: int = 5
    class_index: int | str | None = None
    alpha: float = 0.5
    cmap: str = DEFAULT_CMAP
    scale: str = "minmax"
    method: str = "cam"
    method_options: Mapping[str, Mapping[str, object]] | None = None
    result: CAMResult = field(init=False)
    model_calls: int = field(init=False, default=0)
    error: str = field(init=False, default="")
    _photo: np.ndarray = field(init=False, repr=False)
    _x: torch.Tensor = field(init=False, repr=False)
    _raw: dict[tuple[str, int], torch.Tensor] = field(init=False, repr=False)
    _maps01: dict[tuple[str, int, str], torch.Tensor] = field(init=False, repr=False)
    _heat: dict[tuple[str, int, str, str], np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        categories = self.classifier.categories
        self.k = check_k(self.k, len(categories))
        self.alpha = check_alpha(self.alpha)
        self.cmap = check_colormap(self.cmap)
        self.scale = check_scale(self.scale)
        self.method = self._checked_method(self.method)
        self.method_options = _checked_method_options(self.method_options)
        wanted = None if self.class_index is None else self.class_index_of(self.class_index)
        self._load(self.image)
        self.class_index = self.top[0].index if wanted is None else wanted

    def _load(self, source: ImageSource) -> None:
        picture = load_image(source)
        x = model_input(self.classifier, picture)
        result = class_activation_maps(self.classifier, x)  # all classes, one pass
        self.model_calls += 1
        self.image, self.result, self._x = picture, result, x
        self._photo = np.asarray(picture)
        self._raw, self._maps01, self._heat = {}, {}, {}

    # -- the shared photo protocol (widgets.photo_upload_view) ---------------------------------

    def classify(self, source: ImageSource) -> list[Prediction]:
        """Explain a new photo (one model call); on a bad photo keep the old one and say why."""
        try:
            self._load(source)
        except (ImageLoadError, InputError) as exc:
            self.error = str(exc)
            return []
        self.error = ""
        self.class_index = self.top[0].index
        return self.top

    @property
    def headline(self) -> str:
        if self.error:
            return f"Could not use that photo: {self.error}"
        return self.title

    def figure(self) -> Image.Image:
        """The overlay now on screen as a picture."""
        return Image.fromarray(self.render())

    # -- choices -------------------------------------------------------------------------------

    @property
    def top(self) -> list[Prediction]:
        """The ``k`` most probable classes of this photo."""
        probabilities = self.result.probabilities
        values, indices = probabilities.topk(self.k)
        names = self.classifier.categories
        pairs = zip(values.tolist(), indices.tolist(), strict=True)
        return [Prediction(i, names[i], p) for p, i in pairs]

    def class_index_of(self, choice: object) -> int:
        """The index ``choice`` names (see :func:`xai_tutorial.validation.check_class`)."""
        return check_class(choice, self.classifier.categories, owner=self.classifier.name)

    def set_class(self, choice: object) -> None:
        """Show the class with this index or name (any of the model's classes)."""
        self.class_index = self.class_index_of(choice)

    def set_alpha(self, alpha: float) -> None:
        self.alpha = check_alpha(alpha)

    def set_cmap(self, cmap: str) -> None:
        self.cmap = check_colormap(cmap)

    def set_scale(self, scale: str) -> None:
        self.scale = check_scale(scale)

    def set_method(self, method: str) -> None:
        """Show another registered saliency method (its maps are computed when first shown)."""
        self.method = self._checked_method(method)

    @staticmethod
    def _checked_method(method: object) -> str:
        get_method(method)  # UnknownNameError (an InputError) listing the methods
        return str(method)

    def options(self, method: str | None = None) -> dict[str, object]:
        """The options ``method`` (default: the shown one) runs with here (``{}``: its defaults)."""
        chosen: Mapping[str, Mapping[str, object]] = self.method_options  # type: ignore[assignment]
        return dict(chosen.get(self.method if method is None else method, {}))

    @property
    def settings(self) -> str:
        """The shown method's options as the title shows them, e.g. ``"masks=32"`` (or ``""``)."""
        return ", ".join(f"{name}={value!r}" for name, value in self.options().items())

    def maps_to_compute(self) -> list[int]:
        """The classes whose map by the shown method the next :meth:`render` computes: none for
        CAM or a cached map; the shown class, and for the shared scale the top ``k`` too."""
        if self.method == "cam":
            return []
        index = int(self.class_index)  # type: ignore[arg-type]
        wanted = [index]
        if self.scale == "shared" and (self.method, index, "shared") not in self._maps01:
            wanted += [p.index for p in self.top]
        return [i for i in dict.fromkeys(wanted) if (self.method, i) not in self._raw]

    # -- rendering -----------------------------------------------------------------------------

    @property
    def label(self) -> str:
        index = int(self.class_index)  # type: ignore[arg-type]
        probabilities = self.result.probabilities
        probability = float(probabilities[index])
        rank = int((probabilities > probability).sum()) + 1
        return (
            f"{self.classifier.categories[index]} ({probability:.2%}, rank {rank} of "
            f"{len(probabilities)})"
        )

    @property
    def title(self) -> str:
        """What the picture shows: the method's name, its options if any, and the class."""
        name = "Class Activation Map" if self.method == "cam" else f"{self.method} map"
        settings = self.settings
        return f"{name} ({settings}) of {self.label}" if settings else f"{name} of {self.label}"

    def raw_map(self, index: int | None = None) -> torch.Tensor:
        """The raw map of class ``index`` (default: the shown class) by the shown method.

        CAM's come from the one forward pass made for the photo; another method's is computed
        by :func:`~xai_tutorial.saliency_map` with :meth:`options` the first time it is asked
        for (one model call, counted in :attr:`model_calls`), then cached.
        """
        index = int(self.class_index if index is None else index)  # type: ignore[arg-type]
        if self.method == "cam":
            return self.result.maps[index]
        key = (self.method, index)
        if key not in self._raw:
            self._raw[key] = saliency_map(self.classifier, self._x, index, self.method,
                                          **self.options()).values
            self.model_calls += 1
        return self._raw[key]

    def _reference(self) -> torch.Tensor:
        """The shared range: all CAMs, or the top-``k`` classes' maps of another method."""
        if self.method == "cam":
            return self.result.maps
        return shared_reference([self.raw_map(p.index) for p in self.top] + [self.raw_map()])

    def map01(self) -> torch.Tensor:
        """The shown map scaled to [0, 1] and upsampled to the photo (cached)."""
        key = (self.method, int(self.class_index), self.scale)  # type: ignore[arg-type]
        if key not in self._maps01:
            raw, size = self.raw_map(), self._photo.shape[:2]
            reference = self._reference() if self.scale == "shared" else None
            self._maps01[key] = map_to_size(
                raw, size, scale=self.scale, reference=reference  # type: ignore[arg-type]
            )
        return self._maps01[key]

    def heat(self) -> np.ndarray:
        """The shown map coloured (cached per method, class, scale and colormap)."""
        key = (self.method, int(self.class_index), self.scale, self.cmap)  # type: ignore[arg-type]
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


def _checked_method_options(given: object) -> dict[str, dict[str, object]]:
    """:data:`INTERACTIVE_OPTIONS` with ``given``'s entries in place of theirs (checked)."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise InputError(f"method_options: a mapping of method name to options, not "
                         f"{type(given).__name__}")
    chosen = {name: dict(options) for name, options in INTERACTIVE_OPTIONS.items()}
    for name, options in given.items():
        if name not in saliency_methods():
            raise UnknownNameError("saliency method", name, saliency_methods())
        if name == "cam" and options:
            raise InputError("method_options: 'cam' takes no options (the explorer's CAMs all "
                             "come from the photo's one forward pass)")
        if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
            raise InputError(f"method_options[{name!r}]: a mapping of option name to value, "
                             f"not {options!r:.80}")
        chosen[name] = dict(options)
    return chosen


def _top_options(explorer: CAMExplorer) -> list[tuple[str, int]]:
    """The quick-choice list: the top ``k`` classes, plus the shown class if not among them."""
    options = [(f"{p.label} ({p.probability:.1%})", p.index) for p in explorer.top]
    if explorer.class_index not in [index for _, index in options]:
        index = int(explorer.class_index)  # type: ignore[arg-type]
        probability = float(explorer.result.probabilities[index])
        name = explorer.classifier.categories[index]
        options.append((f"{name} ({probability:.1%})", index))
    return options


def _busy_note(explorer: CAMExplorer) -> str:
    """What the view says while the next picture's maps are computed ("" when none is)."""
    missing = explorer.maps_to_compute()
    if not missing:
        return ""
    settings = f" ({explorer.settings})" if explorer.settings else ""
    what = (f"the {explorer.method} map{settings}" if len(missing) == 1 else
            f"{len(missing)} {explorer.method} maps{settings} for the shared scale")
    return f"<span style='color:#555'>Computing {html.escape(what)}&hellip;</span>"


def _controls(explorer: CAMExplorer) -> tuple:
    """The explorer's inputs: top classes, any class, alpha, colormap, scale, method."""
    import ipywidgets as widgets

    top_choice = widgets.Dropdown(options=_top_options(explorer), value=explorer.class_index,
                                  description="Top classes:")
    search = widgets.Combobox(
        options=list(explorer.classifier.categories), description="Any class:",
        placeholder="type any of the 1000 class names", ensure_option=True,
    )
    alpha = widgets.FloatSlider(value=explorer.alpha, min=0.0, max=1.0, step=0.05,
                                description="alpha:", readout_format=".2f")
    cmap = widgets.Dropdown(options=tuple(dict.fromkeys((explorer.cmap, *COLORMAPS))),
                            value=explorer.cmap, description="colormap:")
    scale = widgets.ToggleButtons(options=SCALES, value=explorer.scale, description="scale:")
    method = widgets.Dropdown(options=saliency_methods(), value=explorer.method,
                              description="method:")
    return top_choice, search, alpha, cmap, scale, method


def cam_explorer(
    classifier: Classifier,
    image: ImageSource,
    k: int = 5,
    *,
    upload: bool = False,
    **options: object,
):
    """The CAM explorer widget: class choice (top-k or any of the 1000 by name), alpha slider,
    colormap, scale and saliency method. ``options`` (``class_index``, ``alpha``, ``cmap``,
    ``scale``, ``method``, ``method_options``) are checked as for :class:`CAMExplorer`; a method
    runs with its :data:`INTERACTIVE_OPTIONS`, named in the caption. With ``upload=True`` a
    photo-upload row (:func:`xai_tutorial.widgets.photo_upload_view`) on top lets the learner
    explain their own photo (one model call per photo). Returns an ``ipywidgets.VBox`` with the
    model object as ``.explorer``."""
    import ipywidgets as widgets

    explorer = CAMExplorer(classifier, image, k=k, **options)  # type: ignore[arg-type]
    top_choice, search, alpha, cmap, scale, method = _controls(explorer)
    caption, picture, error = widgets.HTML(), widgets.Image(format="png"), widgets.HTML()

    headlines: list = []  # the upload row's headline, when there is one: it names the method too

    def refresh() -> None:
        error.value = _busy_note(explorer)  # sent at once: the kernel is busy until the end
        picture.value = explorer.render_png()
        error.value = ""
        caption.value = f"<b>{html.escape(explorer.title)}</b>"
        for headline in headlines:
            headline.value = f"<b>{html.escape(explorer.headline)}</b>"

    def show(handler=None, value: object = None) -> None:
        """Apply a change and draw; a refused change or a map that cannot be made is said in
        red below the picture (the last picture stays)."""
        try:
            if handler is not None:
                handler(value)
            refresh()
        except TutorialError as exc:
            error.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"

    def guarded(handler):
        return lambda change: show(handler, change["new"])

    def pick_method(name: str) -> None:
        """Show ``name``; if its map cannot be made, say why and keep the method on screen."""
        shown = explorer.method
        explorer.set_method(name)
        try:
            error.value = _busy_note(explorer)
            explorer.render()
        except TutorialError as exc:
            explorer.set_method(shown)
            exc.args = (f"{exc} (still showing the {shown} map)",)
            raise

    top_choice.observe(guarded(explorer.set_class), names="value")
    search.observe(guarded(lambda name: name and explorer.set_class(name)), names="value")
    alpha.observe(guarded(explorer.set_alpha), names="value")
    cmap.observe(guarded(explorer.set_cmap), names="value")
    scale.observe(guarded(explorer.set_scale), names="value")
    method.observe(guarded(pick_method), names="value")
    show()
    rows = [widgets.HBox([top_choice, search]), widgets.HBox([alpha, cmap]),
            widgets.HBox([scale, method]), caption, picture, error]

    def new_choices() -> None:
        """A new photo: its top classes in the list, its top class shown."""
        wanted = explorer.class_index
        top_choice.options = _top_options(explorer)  # may reset the value through set_class
        explorer.set_class(wanted)
        top_choice.value = wanted
        show()

    if upload:
        headlines.append(_add_upload_row(explorer, rows, new_choices))
    view = widgets.VBox(rows)
    view.explorer = explorer
    return view


def _add_upload_row(explorer: CAMExplorer, rows: list, new_choices) -> object:
    """Put a photo-upload row on top of ``rows``; returns its headline widget."""
    from .widgets import photo_upload_view

    def new_photo(_: object) -> None:
        if not explorer.error:  # else the upload row's headline says why; the old photo stays
            new_choices()

    upload_row = photo_upload_view(explorer, on_change=new_photo, show_figure=False)
    rows.insert(0, upload_row)
    return upload_row.children[1]
