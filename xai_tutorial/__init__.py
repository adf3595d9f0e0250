"""xai_tutorial: the companion package of a JupyterLab series on explaining image classifiers.

Lessons: 00 setup (:mod:`~xai_tutorial.downloads`, :mod:`~xai_tutorial.setup_check`),
01 classification (:mod:`~xai_tutorial.classification`, :mod:`~xai_tutorial.images`),
02 Class Activation Maps (:mod:`~xai_tutorial.cam`), 03 Neural-Backed Decision Trees
(:mod:`~xai_tutorial.decision_trees`). Each lesson's figures live in a ``*_view`` module and its
widgets in a ``*_widgets`` module.

The names below are resolved lazily (module ``__getattr__``): ``import xai_tutorial`` loads no
heavy library (torch, nbdt, matplotlib, ipywidgets, ...) until a name is first used, and
importing the package never touches the network.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module (under ``xai_tutorial``) that defines it. Lesson owners add their
#: entry points here, one line each.
_API: dict[str, str] = {
    # errors every lesson may meet
    "InputError": "errors",
    "UnknownNameError": "errors",
    "ImageLoadError": "images",
    "DownloadError": "downloads",
    "CacheError": "downloads",
    # 00 setup
    "fetch": "downloads",
    "get_download": "downloads",
    # 01 classification
    "SAMPLES": "images",
    "load_image": "images",
    "sample_image": "images",
    "Classifier": "classification",
    "Prediction": "classification",
    "imagenet_categories": "classification",
    "load_classifier": "classification",
    "model_status": "classification",
    "show_steps": "classification",
    "plot_predictions": "classification_view",
    "plot_steps": "classification_view",
    "TryYourPhoto": "classification_widgets",
    "try_your_photo": "classification_widgets",
    # 02 Class Activation Maps
    "CAMResult": "cam",
    "capture": "cam",
    "class_activation_maps": "cam",
    "cam_from_features": "cam",
    "find_cam_layers": "cam",
    "hook_count": "cam",
    "peak": "cam",
    "tutorial_transposed_cam": "cam",
    "scale_maps": "heatmap_view",
    "upsample": "heatmap_view",
    "colorize": "heatmap_view",
    "blend": "heatmap_view",
    "heatmap_overlay": "heatmap_view",
    "plot_overlays": "cam_view",
    "plot_raw_map": "cam_view",
    "save_cam": "cam_view",
    "CAMExplorer": "cam_widgets",
    "cam_explorer": "cam_widgets",
    # 03 Neural-Backed Decision Trees
    "load_nbdt": "decision_trees",
    # 04 judging saliency maps
    "grad_cam": "evaluation",
    "occlusion": "evaluation",
    "deletion_auc": "evaluation",
    "insertion_auc": "evaluation",
    "deletion_curve": "evaluation",
    "insertion_curve": "evaluation",
    "randomization_check": "evaluation",
    "pointing_game": "evaluation",
}

#: Submodules reachable as attributes (``xai_tutorial.cam``) without an explicit import.
_SUBMODULES: frozenset[str] = frozenset(set(_API.values()) | {
    "cli", "exercises", "nbdt_compat", "nbdt_training", "setup_check", "validation", "widgets",
})

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use and cache the value here."""
    if name in _API:
        module = importlib.import_module(f".{_API[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | _SUBMODULES)
