"""xai_tutorial: the companion package of a JupyterLab series on explaining image classifiers.

The core under every lesson: :mod:`~xai_tutorial.core` (errors, inputs, images, downloads,
hooks, the heatmap chain, the saliency-method registry). Lessons: 00 setup
(:mod:`~xai_tutorial.core.downloads`, :mod:`~xai_tutorial.setup_check`),
01 classification (:mod:`~xai_tutorial.classification`),
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
    # errors every lesson may meet: all derive from TutorialError
    "TutorialError": "core.errors",
    "InputError": "core.errors",
    "UnknownNameError": "core.errors",
    "ImageLoadError": "core.errors",
    "DownloadError": "core.errors",
    "CacheError": "core.errors",
    "ResourceError": "core.errors",
    "WriteError": "core.errors",
    # saliency methods: one contract, one registry (lessons 02, 04, ...)
    "SaliencyMap": "core.saliency",
    "saliency_map": "core.saliency",
    "saliency_methods": "core.saliency",
    "register_method": "core.saliency",
    "HeatmapStyle": "core.heatmap",
    # 00 setup
    "fetch": "core.downloads",
    "get_download": "core.downloads",
    # 01 classification
    "SAMPLES": "core.images",
    "load_image": "core.images",
    "sample_image": "core.images",
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
    "capture": "core.hooks",
    "eval_mode": "core.hooks",
    "class_activation_maps": "cam",
    "cam_from_features": "cam",
    "find_cam_layers": "core.hooks",
    "hook_count": "core.hooks",
    "peak": "core.heatmap",
    "tutorial_transposed_cam": "cam",
    "scale_maps": "core.heatmap",
    "upsample": "core.heatmap",
    "colorize": "core.heatmap",
    "blend": "core.heatmap",
    "heatmap_overlay": "core.heatmap",
    "plot_overlays": "cam_view",
    "plot_raw_map": "cam_view",
    "save_cam": "cam_view",
    "CAMExplorer": "cam_widgets",
    "cam_explorer": "cam_widgets",
    # 03 Neural-Backed Decision Trees
    "load_nbdt": "decision_trees",
    "node_activation_maps": "decision_trees",
    "node_scores": "decision_trees",
    "NBDTExplainer": "decision_trees",
    "Explanation": "decision_trees",
    "NodeMap": "decision_trees",
    "plot_tree": "decision_trees_view",
    "plot_node_maps": "decision_trees_view",
    "save_node_maps": "decision_trees_view",
    "TryYourPhotoNBDT": "decision_trees_widgets",
    "try_your_photo_nbdt": "decision_trees_widgets",
    # 04 judging saliency maps
    "grad_cam": "evaluation",
    "occlusion": "evaluation",
    "deletion_auc": "evaluation",
    "insertion_auc": "evaluation",
    "deletion_curve": "evaluation",
    "insertion_curve": "evaluation",
    "randomization_check": "evaluation",
    "pointing_game": "evaluation",
    # 05 attribution beyond CAM
    "integrated_gradients": "attribution",
    "completeness": "attribution",
    "smoothgrad": "attribution",
    "guided_backprop": "attribution",
    "rise": "attribution",
    "lime": "attribution",
    "kernel_shap": "attribution",
}

#: Submodules reachable as attributes (``xai_tutorial.cam``) without an explicit import.
_SUBMODULES: frozenset[str] = frozenset({m for m in _API.values() if "." not in m} | {
    "cli", "core", "downloads", "errors", "exercises", "heatmap_view", "images", "nbdt_compat",
    "nbdt_training", "setup_check", "validation", "widgets",
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
