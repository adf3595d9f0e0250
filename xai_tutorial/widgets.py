"""The shared "try your own photo" view: a FileUpload, a URL box, a headline and a figure.

The view knows nothing about models. It drives a plain state object with ``classify(source)``,
``headline`` and ``figure()``; each lesson provides one (``TryYourPhoto`` for lesson 01,
:class:`~xai_tutorial.cam_widgets.CAMExplorer` for lesson 02, ``TryYourPhotoNBDT`` for lesson 03),
and tests exercise those without a browser. ``figure()`` may return anything IPython can display
(a matplotlib figure, a PIL image) or ``None``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Protocol


class PhotoState(Protocol):
    """What :func:`photo_upload_view` needs from a lesson's state object."""

    @property
    def headline(self) -> str: ...

    def classify(self, source: object) -> object: ...

    def figure(self) -> object: ...


def photo_upload_view(
    state: PhotoState,
    *,
    on_change: Callable[[PhotoState], None] | None = None,
    show_figure: bool = True,
):
    """An ipywidgets VBox that feeds uploads and URLs to ``state`` and shows its answer.

    Args:
        state: the lesson's state object (see :class:`PhotoState`).
        on_change: called with ``state`` after each photo, e.g. to refresh another view (the CAM
            explorer's controls) that shows the same state.
        show_figure: show ``state.figure()`` below the headline (off when another view already
            shows the state, as the CAM explorer does).
    """
    import ipywidgets as widgets
    from IPython.display import display

    upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload photo")
    url = widgets.Text(placeholder="https://... (an image URL)", description="or URL:",
                       continuous_update=False)
    go = widgets.Button(description="Use URL")
    headline = widgets.HTML(f"<b>{html.escape(state.headline)}</b>")
    output = widgets.Output()

    def show() -> None:
        if on_change is not None:
            on_change(state)
        headline.value = f"<b>{html.escape(state.headline)}</b>"
        output.clear_output(wait=True)
        figure = state.figure() if show_figure else None
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
