"""Lesson 03's "try your own photo" widget: an NBDT explains an uploaded photo (widgets).

:class:`TryYourPhotoNBDT` is the plain state object (testable without a browser);
:func:`try_your_photo_nbdt` puts the shared upload view of :mod:`xai_tutorial.widgets` on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from .core.images import ImageLoadError, ImageSource, load_image
from .decision_trees import Explanation, NBDTExplainer, NodeMap

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure


@dataclass
class TryYourPhotoNBDT:
    """State of lesson 03's upload widget: explain a learner's photo with an NBDT."""

    explainer: NBDTExplainer
    explanation: Explanation | None = None
    node_maps: list[NodeMap] | None = None
    error: str = ""
    picture: Image.Image | None = None

    def classify(self, source: ImageSource) -> Explanation | None:
        """Load ``source`` once (:func:`load_image`) and explain it with maps; on a photo that
        cannot be loaded, clear the answer and keep the reason in :attr:`error`."""
        try:
            self.picture = load_image(source)
            self.explanation, self.node_maps = self.explainer.explain_with_maps(self.picture)
            self.error = ""
        except ImageLoadError as exc:
            self.explanation, self.node_maps, self.picture, self.error = None, None, None, str(exc)
        return self.explanation

    @property
    def headline(self) -> str:
        """The explanation's line, the reason a photo failed, or what to do first."""
        if self.error:
            return f"Could not use that photo: {self.error}"
        if self.explanation is None:
            return "Upload a photo or paste an image URL."
        return str(self.explanation)

    def figure(self) -> Figure | None:
        """The photo, the picture the model sees and where each decision looked."""
        if self.explanation is None or self.picture is None:
            return None
        from .decision_trees_view import plot_node_maps

        return plot_node_maps(self.explainer, self.picture, self.explanation, self.node_maps)


def try_your_photo_nbdt(explainer: NBDTExplainer) -> ipywidgets.VBox:
    """Upload a photo and see the NBDT's decisions, and where each one looked."""
    from .widgets import photo_upload_view

    return photo_upload_view(TryYourPhotoNBDT(explainer))
