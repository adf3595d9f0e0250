"""Lesson 01's "try your own photo" widget: a plain model object plus the shared view.

:class:`TryYourPhoto` holds the state and logic and is tested without a browser;
:func:`try_your_photo` wraps it in :func:`xai_tutorial.widgets.photo_upload_view`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from .classification import Classifier, Prediction
from .core.images import ImageLoadError, ImageSource, load_image


@dataclass
class TryYourPhoto:
    """Classify a learner's photo; remember the result or the error to show."""

    classifier: Classifier
    k: int = 5
    image: Image.Image | None = None
    predictions: list[Prediction] = field(default_factory=list)
    error: str = ""

    def classify(self, source: ImageSource) -> list[Prediction]:
        try:
            self.image = load_image(source)
        except ImageLoadError as exc:
            self.image, self.predictions, self.error = None, [], str(exc)
            return []
        self.predictions = self.classifier.predict(self.image, k=self.k)
        self.error = ""
        return self.predictions

    def figure(self):
        """The photo beside its top-k bar chart, or ``None`` before a successful upload."""
        if not self.predictions or self.image is None:
            return None
        from matplotlib.figure import Figure

        from .classification_view import plot_predictions

        figure = Figure(figsize=(10, 3.2))
        left, right = figure.subplots(1, 2)
        left.imshow(self.image)
        left.axis("off")
        plot_predictions(self.predictions, ax=right)
        return figure

    @property
    def headline(self) -> str:
        if self.error:
            return f"Could not use that photo: {self.error}"
        if not self.predictions:
            return "Upload a photo or paste an image URL."
        return f"Prediction: {self.predictions[0].label}"


def try_your_photo(classifier: Classifier, k: int = 5):
    """An upload button and URL box that classify a learner's own photo."""
    from .widgets import photo_upload_view

    return photo_upload_view(TryYourPhoto(classifier, k))
