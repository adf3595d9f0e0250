"""Lesson 04: can you trust a saliency map? Methods to compare, and four ways to judge them.

A *saliency map* assigns each location of the input a score for how much it matters to one class.
Every method here is one function of the contract of :mod:`xai_tutorial.core.saliency`,
``method(classifier, inputs, class_index, **options) -> (h, w)`` raw map, and is registered there
by name (:func:`~xai_tutorial.core.saliency.saliency_methods`), so
:func:`~xai_tutorial.core.saliency.saliency_map` runs any of them and counts its cost
(:mod:`.methods`):

* :func:`cam`: the Class Activation Map of lesson 02 (Zhou et al., 2016), raw, ``(h, w)``;
* :func:`grad_cam`: Grad-CAM (Selvaraju et al., 2017) from captum's ``LayerGradCam``, at the
  pooling input by default (where it equals ``ReLU(CAM) / (h * w)``) or at any named layer;
  :func:`batched_grad_cam` for a batch;
* :func:`occlusion`: the model-agnostic baseline (Zeiler & Fergus, 2014) from captum's
  ``Occlusion``: slide a grey patch, watch the class probability drop;
* :func:`edge_map`, :func:`random_map`, :func:`center_map`: "explanations" that ignore the model,
  kept as controls a good test must tell apart from the real thing;
* :func:`top_class`: the class a lesson explains, the model's own most probable one.

A new method is one function and one line, ``register_method("name", function)``; every judge
then takes it by name. The judges, each with one signature per family:

* :func:`deletion_curve` / :func:`deletion_auc` and :func:`insertion_curve` /
  :func:`insertion_auc` (Petsiuk et al., 2018): ``(classifier, inputs, saliency, class_index)``,
  ``saliency`` a map, a :class:`~xai_tutorial.core.saliency.SaliencyMap` or a method's name
  (:mod:`.deletion`);
* :func:`randomization_check` (Adebayo et al., 2018): ``(classifier, inputs, class_index,
  method=name or function)`` (:mod:`.randomization`);
* :func:`pointing_game` (Zhang et al., 2016/2018): ``(saliencies, boxes)``, no model needed
  (:mod:`.pointing`), on generated scenes whose boxes are known (:mod:`.scenes`: any two
  pictures, :func:`scene_object`, pasted at seeded places).

Memory: every judge and method runs the network on at most :data:`BATCH_PIXELS` pixels at once
(two images of 224 x 336), so a lesson's peak memory stays near one small batch's activations.

Inputs are what lesson 02 uses: an image (anything :func:`~xai_tutorial.load_image` takes) is
preprocessed *without* cropping (:func:`model_input`, ``classifier.preprocess(image,
crop=False)``), so every map and every metric sees the same whole picture; a preprocessed
``(1, 3, H, W)`` tensor is used as is. Classes are indices or class names, checked by
``classifier.class_index``.

These are method modules: they import neither matplotlib nor ipywidgets (figures live in
:mod:`xai_tutorial.evaluation_view`).
"""

from __future__ import annotations

from ..core.saliency import SaliencyMap, model_input, saliency_map, saliency_methods
from .deletion import (
    MAX_STEPS,
    Curve,
    Saliency,
    blurred,
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
    pixel_order,
    saliency_values,
)
from .methods import (
    BATCH_PIXELS,
    MAX_OCCLUSION_PIXELS,
    OCCLUSION_BATCH_PIXELS,
    SaliencyMethod,
    batched_grad_cam,
    cam,
    center_bump,
    center_map,
    default_grad_cam_layer,
    edge_map,
    grad_cam,
    occlusion,
    occlusion_passes,
    random_map,
    top_class,
)
from .pointing import MAX_POINTING_PIXELS, POINTING_TOLERANCE, Box, pointing_game, pointing_hit
from .randomization import (
    RandomizationStep,
    cascade_blocks,
    randomization_check,
    rank_correlation,
)
from .scenes import (
    CAT_CROP,
    CUP_CROP,
    SCENE_CROPS,
    Scene,
    batched_cam,
    make_scene,
    pointing_scenes,
    scene_batch,
    scene_object,
)

__all__ = [
    "BATCH_PIXELS",
    "MAX_OCCLUSION_PIXELS",
    "MAX_POINTING_PIXELS",
    "MAX_STEPS",
    "OCCLUSION_BATCH_PIXELS",
    "CAT_CROP",
    "CUP_CROP",
    "POINTING_TOLERANCE",
    "SCENE_CROPS",
    "Box",
    "Curve",
    "RandomizationStep",
    "Saliency",
    "SaliencyMap",
    "SaliencyMethod",
    "Scene",
    "batched_cam",
    "batched_grad_cam",
    "blurred",
    "cam",
    "cascade_blocks",
    "center_bump",
    "center_map",
    "default_grad_cam_layer",
    "deletion_auc",
    "deletion_curve",
    "edge_map",
    "grad_cam",
    "insertion_auc",
    "insertion_curve",
    "make_scene",
    "model_input",
    "occlusion",
    "occlusion_passes",
    "pixel_order",
    "pointing_game",
    "pointing_hit",
    "pointing_scenes",
    "random_map",
    "randomization_check",
    "rank_correlation",
    "saliency_map",
    "saliency_methods",
    "saliency_values",
    "scene_batch",
    "scene_object",
    "top_class",
]
