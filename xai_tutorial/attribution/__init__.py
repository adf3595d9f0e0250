"""Lesson 05: attribution beyond CAM, each method with the identity or axiom it promises.

Every method here is one function of the contract of :mod:`xai_tutorial.core.saliency`,
``method(classifier, inputs, class_index, **options) -> (h, w)`` raw map, registered there by
name, so :func:`~xai_tutorial.core.saliency.saliency_map` runs it and counts its forward and
backward passes, and lesson 04's judges take it by name.

*Gradients* (:mod:`.gradients`, :mod:`.integrated`) attribute the class **logit**; their maps
are at the model input's resolution, signed, summed over the colour channels, so ``values.sum()``
is the total attribution:

* :func:`gradient` (``"gradient"``, Simonyan et al., 2014) and :func:`gradient_x_input`
  (``"gradient_x_input"``): one forward and one backward pass;
* :func:`smoothgrad` (``"smoothgrad"``, Smilkov et al., 2017): the gradient averaged over
  ``samples`` noisy copies (noise ``sigma`` x the input's range, ``seed``);
* :func:`integrated_gradients` (``"integrated_gradients"``, Sundararajan et al., 2017), captum's
  ``IntegratedGradients`` with its Gauss-Legendre rule (``steps=64``, ``baseline=None``: a black
  photo; ``"blurred"``; a tensor; ``rule=`` a Riemann rule for comparison);
  :func:`completeness` checks ``values.sum() = y_c(x) - y_c(baseline)``
  (:func:`output_difference`);
* :func:`guided_backprop` (``"guided_backprop"``, Springenberg et al., 2015): captum's
  ``GuidedBackprop``, ReLU6 included; the model is left exactly as it was.

*Perturbations* (:mod:`.perturbation`) only call the model:

* :func:`rise` (``"rise"``, Petsiuk et al., 2018): ``masks`` random masks (:class:`RiseMasks`,
  :func:`rise_masks`, ``seed``) weighted by the class **probability**;
* :func:`lime` (``"lime"``) and :func:`kernel_shap` (``"kernel_shap"``) through captum on SLIC
  :func:`superpixels`, of the class **logit** by default (``output="probability"``); each
  superpixel's coefficient is spread over its pixels, so KernelSHAP's efficiency reads
  ``values.sum() = y_c(x) - y_c(black)``, IG's completeness sum (:func:`completeness`).

Memory: gradients are taken for at most :data:`GRADIENT_BATCH_PIXELS` pixels at once, forward
passes run on at most :data:`~xai_tutorial.evaluation.BATCH_PIXELS` (each method's
``batch_size=`` overrides it). These are method modules: no matplotlib, no ipywidgets.
"""

from __future__ import annotations

from .gradients import (
    GRADIENT_BATCH_PIXELS,
    GUIDED_ACTIVATIONS,
    MAX_GRADIENT_PIXELS,
    MAX_SAMPLES,
    batch_size_for,
    black_input,
    gradient,
    gradient_sized,
    gradient_x_input,
    guided_backprop,
    logit_gradients,
    smoothgrad,
)
from .integrated import (
    MAX_STEPS,
    RULES,
    Baseline,
    Completeness,
    PathProfile,
    baseline_input,
    completeness,
    integrated_gradients,
    output_difference,
    path_profile,
    quadrature,
    rule_correction,
    rule_points,
)
from .perturbation import RiseMasks, kernel_shap, lime, rise, rise_masks, superpixels

__all__ = [
    "GRADIENT_BATCH_PIXELS",
    "GUIDED_ACTIVATIONS",
    "MAX_GRADIENT_PIXELS",
    "MAX_SAMPLES",
    "MAX_STEPS",
    "RULES",
    "Baseline",
    "Completeness",
    "PathProfile",
    "RiseMasks",
    "baseline_input",
    "batch_size_for",
    "black_input",
    "completeness",
    "gradient",
    "gradient_sized",
    "gradient_x_input",
    "guided_backprop",
    "integrated_gradients",
    "kernel_shap",
    "lime",
    "logit_gradients",
    "output_difference",
    "path_profile",
    "quadrature",
    "rise",
    "rise_masks",
    "rule_correction",
    "rule_points",
    "smoothgrad",
    "superpixels",
]
