"""Lesson 01's "try your own photo" widget: a plain model object plus an ipywidgets view.

:class:`TryYourPhoto` holds the state and logic and is tested without a browser;
:func:`try_your_photo` wraps it in a FileUpload, a URL box and an output area.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from .classification import Classifier, Prediction
from .images import ImageLoadError, ImageSource, load_image


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

    @property
    def headline(self) -> str:
        if self.error:
            return f"Could not use that photo: {self.error}"
        if not self.predictions:
            return "Upload a photo or paste an image URL."
        return f"Prediction: {self.predictions[0].label}"


def try_your_photo(classifier: Classifier, k: int = 5):
    """An upload button and URL box that classify a learner's own photo."""
    import ipywidgets as widgets
    from IPython.display import display
    from matplotlib.figure import Figure

    from .classification import plot_predictions

    state = TryYourPhoto(classifier, k)
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload photo")
    url = widgets.Text(
        placeholder="https://... (an image URL)", description="or URL:", continuous_update=False
    )
    go = widgets.Button(description="Classify URL")
    headline = widgets.HTML(state.headline)
    output = widgets.Output()

    def show() -> None:
        headline.value = f"<b>{state.headline}</b>"
        output.clear_output(wait=True)
        if state.predictions and state.image is not None:
            with output:
                figure = Figure(figsize=(10, 3.2))
                left, right = figure.subplots(1, 2)
                left.imshow(state.image)
                left.axis("off")
                plot_predictions(state.predictions, ax=right)
                display(figure)

    def on_upload(change: dict) -> None:
        files = change["new"]
        if files:
            state.classify(bytes(files[0]["content"]))
            show()

    def on_url(_: object) -> None:
        state.classify(url.value.strip())
        show()

    upload.observe(on_upload, names="value")
    go.on_click(on_url)
    url.observe(on_url, names="value")  # Enter or leaving the box
    view = widgets.VBox([widgets.HBox([upload, url, go]), headline, output])
    view.state = state  # for tests and curious learners
    return view
