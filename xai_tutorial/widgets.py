"""The shared "try your own photo" view: a FileUpload, a URL box, a headline and a figure.

The view knows nothing about models. It drives a plain state object with ``classify(source)``,
``headline`` and ``figure()``; each lesson provides one (``TryYourPhoto`` for lesson 01,
``TryYourPhotoNBDT`` for lesson 03), and tests exercise those without a browser.
"""

from __future__ import annotations

from typing import Protocol


class PhotoState(Protocol):
    headline: str

    def classify(self, source: object) -> object: ...

    def figure(self): ...


def photo_upload_view(state: PhotoState):
    """An ipywidgets VBox that feeds uploads and URLs to ``state`` and shows its answer."""
    import ipywidgets as widgets
    from IPython.display import display

    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload photo")
    url = widgets.Text(placeholder="https://... (an image URL)", description="or URL:",
                       continuous_update=False)
    go = widgets.Button(description="Use URL")
    headline = widgets.HTML(f"<b>{state.headline}</b>")
    output = widgets.Output()

    def show() -> None:
        headline.value = f"<b>{state.headline}</b>"
        output.clear_output(wait=True)
        figure = state.figure()
        if figure is not None:
            with output:
                display(figure)

    def on_upload(change: dict) -> None:
        files = change["new"]
        if files:
            state.classify(bytes(files[0]["content"]))
            show()

    def on_url(_: object) -> None:
        if url.value.strip():
            state.classify(url.value.strip())
            show()

    upload.observe(on_upload, names="value")
    url.observe(on_url, names="value")  # Enter or leaving the box
    go.on_click(on_url)
    view = widgets.VBox([widgets.HBox([upload, url, go]), headline, output])
    view.state = state  # for tests and curious learners
    return view
