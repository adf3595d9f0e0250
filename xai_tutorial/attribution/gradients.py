"""Gradient attributions of the class logit: vanilla gradient, gradient x input, SmoothGrad,
guided backprop; and what every method of the lesson shares (checked inputs, batches, baselines).

Every map here is at the model input's resolution, ``(H, W)``, and is the per-channel attribution
*summed over the colour channels*, signed; so ``values.sum()`` is the method's total attribution.
The gradients are of the class **logit** ``y_c`` (not its probability), taken in eval mode with
the parameters frozen (:func:`~xai_tutorial.core.hooks.frozen`: autograd records no weight
gradient), one backward pass per image whose gradient is taken.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import nn

from ..classification import Classifier
from ..core.errors import InputError
from ..core.hooks import eval_mode, frozen, input_errors
from ..core.images import ImageSource
from ..core.inputs import check_whole, shown
from ..core.saliency import model_input
from ..evaluation.methods import check_seed

__all__ = [
    "GRADIENT_BATCH_PIXELS",
    "GUIDED_ACTIVATIONS",
    "MAX_GRADIENT_PIXELS",
    "MAX_SAMPLES",
    "batch_size_for",
    "black_input",
    "gradient",
    "gradient_sized",
    "gradient_x_input",
    "guided_backprop",
    "logit_gradients",
    "smoothgrad",
]

#: Pixels whose gradient is taken at once (forward and backward): two images of 224 x 224 (a
#: wider one goes alone). Autograd keeps every activation for the backward pass, about 1.5 KB a
#: pixel on EfficientNet-Lite0 (measured: a peak 230 MB above a forward pass without gradients
#: for one 224 x 672 image, where that forward pass needs about 10 MB); three crops at once took
#: lesson 05 past Binder's 500 MB above the imports.
GRADIENT_BATCH_PIXELS = 2 * 224 * 224
#: Most pixels of one input a gradient method takes: its backward pass keeps about 1.5 KB a
#: pixel, so 224 x 1792 (0.6 GB) at most; a larger photo is refused, not left to exhaust memory.
MAX_GRADIENT_PIXELS = 8 * 224 * 224
#: Most samples (noisy copies, path points, masks, perturbations) a method may run.
MAX_SAMPLES = 20_000


def checked(classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: object
            ) -> tuple[torch.Tensor, int]:
    """``(x, index)``: the checked ``(1, 3, H, W)`` model input and the class index."""
    if not isinstance(classifier, Classifier):
        raise InputError(f"classifier: expected a Classifier, got {type(classifier).__name__}")
    index = classifier.class_index(class_index)
    return model_input(classifier, inputs), index


def count(name: str, value: object, *, low: int = 1) -> int:
    """A whole number of samples in ``low .. MAX_SAMPLES``."""
    return check_whole(name, value, f"must be a whole number from {low} to {MAX_SAMPLES:,}",
                       low=low, high=MAX_SAMPLES + 1)


def fraction(name: str, value: object, *, low: float = 0.0, high: float = 1.0,
             open_low: bool = False) -> float:
    """A real number in ``[low, high]`` (``(low, high]`` when ``open_low``), as a float."""
    rule = (f"must be a number above {low:g} up to {high:g}" if open_low
            else f"must be a number from {low:g} to {high:g}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} {shown(value)}: {rule}")
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise InputError(f"{name} {shown(value)}: {rule}") from None
    if not (low < number <= high if open_low else low <= number <= high):  # refuses NaN too
        raise InputError(f"{name} {shown(value)}: {rule}")
    return number


def batch_size_for(x: torch.Tensor, batch_size: object = None, *,
                   pixels: int = GRADIENT_BATCH_PIXELS, most: int = 64) -> int:
    """Images run at once: ``batch_size`` if given (a positive whole number, at most 4 times
    what fits in ``pixels``, so an explicit size cannot exhaust memory), else as many as fit in
    ``pixels`` (at least 1, at most ``most``)."""
    fits = max(1, pixels // (int(x.shape[2]) * int(x.shape[3])))
    if batch_size is not None:
        most_given = 4 * fits
        return check_whole("batch_size", batch_size, "must be a whole number of images from 1 "
                           f"to {most_given} (for a {x.shape[2]}x{x.shape[3]} input)",
                           high=most_given + 1)
    return min(most, fits)


def gradient_sized(x: torch.Tensor) -> torch.Tensor:
    """``x`` if a gradient of it fits in memory (:data:`MAX_GRADIENT_PIXELS`).

    Raises:
        InputError: a larger input, naming its size and the limit.
    """
    pixels = int(x.shape[2]) * int(x.shape[3])
    if pixels > MAX_GRADIENT_PIXELS:
        raise InputError(f"input of {x.shape[2]}x{x.shape[3]} pixels: a gradient method keeps "
                         f"about 1.5 KB a pixel for its backward pass, so it takes at most "
                         f"{MAX_GRADIENT_PIXELS:,} pixels (e.g. 224x1792); resize the photo")
    return x


def black_input(classifier: Classifier, x: torch.Tensor) -> torch.Tensor:
    """A black photo as the model sees it: zero pixels *before* normalization, so each channel
    holds ``(0 - mean_k) / std_k``; the shape of ``x``."""
    mean = torch.tensor(classifier.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(classifier.std, dtype=x.dtype).view(1, -1, 1, 1)
    return ((0.0 - mean) / std).expand_as(x).contiguous()


def logit_gradients(model: nn.Module, batch: torch.Tensor, index: int) -> torch.Tensor:
    """``d y_c / d batch`` for every image of ``batch``, ``(N, 3, H, W)``: one forward and one
    backward pass of the ``N`` images (the logits of different images do not mix).

    Precondition: the caller holds the model in eval mode, frozen, with gradients enabled.
    """
    batch = batch.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(batch)[:, index].sum(), batch)
    return grad


def _gradient_of(classifier: Classifier, x: torch.Tensor, index: int) -> torch.Tensor:
    x = gradient_sized(x)
    model = classifier.model
    with eval_mode(model), frozen(model), torch.enable_grad(), input_errors(x, model):
        return logit_gradients(model, x, index)


def gradient(classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: object
             ) -> torch.Tensor:
    """The vanilla gradient (Simonyan et al., 2014) of the class logit, ``(H, W)``, signed:

        map[i, j] = sum_k d y_c / d x[k, i, j].

    One forward and one backward pass. For a linear model ``y_c = sum w_c * x + b_c`` it is
    ``sum_k w_c[k]``, the weights themselves: the gradient says how the logit *would* change,
    not what the pixels contributed (that is gradient x input).
    """
    x, index = checked(classifier, inputs, class_index)
    return _gradient_of(classifier, x, index)[0].sum(0)


def gradient_x_input(classifier: Classifier, inputs: ImageSource | torch.Tensor,
                     class_index: object) -> torch.Tensor:
    """Gradient x input (Shrikumar et al., 2016), ``(H, W)``, signed:

        map[i, j] = sum_k x[k, i, j] * d y_c / d x[k, i, j],

    with ``x`` the *normalized* input, so the reference it is measured from is ``x = 0``, the
    mean colour. For a linear model the map sums to ``y_c(x) - y_c(0)`` exactly (IG with a
    zero baseline); for a network, only to first order. One forward and one backward pass.
    """
    x, index = checked(classifier, inputs, class_index)
    return (x * _gradient_of(classifier, x, index))[0].sum(0)


def smoothgrad(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    samples: int = 16,
    sigma: float = 0.15,
    seed: int = 0,
    batch_size: int | None = None,
) -> torch.Tensor:
    """SmoothGrad (Smilkov et al., 2017): the gradient averaged over noisy copies, ``(H, W)``:

        map[i, j] = (1 / n) sum_{s=1..n} sum_k d y_c / d x[k, i, j] at x + eps_s,
        eps_s ~ N(0, (sigma * (max x - min x))^2) per value,

    ``sigma`` being the noise level as a fraction of the input's range (Smilkov et al. found
    10-20% best). ``n = samples`` forward and backward passes, ``batch_size`` copies at once (by
    default as many as fit in :data:`GRADIENT_BATCH_PIXELS`). The noise is drawn from its own
    generator seeded with ``seed`` (the global random state is not touched), in one order
    whatever the batch size, so a seed gives one map.
    """
    samples, seed = count("samples", samples), check_seed(seed)
    sigma = fraction("sigma", sigma, high=10.0, open_low=True)
    x, index = checked(classifier, inputs, class_index)
    size = batch_size_for(gradient_sized(x), batch_size, most=samples)
    scale = sigma * float(x.max() - x.min())
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros_like(x[0])
    model = classifier.model
    with eval_mode(model), frozen(model), torch.enable_grad(), input_errors(x, model):
        for first in range(0, samples, size):
            n = min(size, samples - first)
            noise = torch.stack([torch.randn(x.shape[1:], generator=generator)
                                 for _ in range(n)]) * scale  # one draw a copy: any batch
            total += logit_gradients(model, x + noise, index).sum(0)
    return (total / samples).sum(0)


#: Activations whose gradient guided backprop rectifies: ReLU and ReLU6 (EfficientNet-Lite's).
GUIDED_ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)


def _guided_backprop_class() -> Callable[[nn.Module], object]:
    """captum's ``GuidedBackprop``, hooking ``nn.ReLU6`` too (captum's own hooks ``nn.ReLU``
    only, and on EfficientNet-Lite would silently give the plain gradient)."""
    from captum._utils.common import _register_backward_hook
    from captum.attr import GuidedBackprop

    class Guided(GuidedBackprop):
        def _register_hooks(self, module: nn.Module) -> None:
            if isinstance(module, GUIDED_ACTIVATIONS):
                self.backward_hooks.extend(
                    _register_backward_hook(module, self._backward_hook, self))

    return Guided


def guided_backprop(classifier: Classifier, inputs: ImageSource | torch.Tensor,
                    class_index: object) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al., 2015) of the class logit, ``(H, W)``:

        map[i, j] = sum_k R[k, i, j],  R = the gradient d y_c / d x with, at every ReLU (and
        ReLU6), only the positive part of the gradient passed back: ``max(0, g) * 1[z > 0]``.

    From captum's ``GuidedBackprop`` (here hooking ``nn.ReLU6`` modules too), in eval mode with
    the parameters frozen; captum removes its hooks when it returns, and every module's mode and
    every parameter's ``requires_grad`` are restored, so the model is left exactly as it was.
    Only ReLUs that are *modules* are rectified (a ``torch.relu`` call in ``forward`` is not).
    One forward and one backward pass. The map looks sharp and barely depends on the upper
    layers' weights: Adebayo et al. (2018) showed it survives randomizing them.

    Raises:
        InputError: the model has no ReLU or ReLU6 module (guided backprop would be the plain
            gradient).
    """
    import warnings

    x, index = checked(classifier, inputs, class_index)
    x = gradient_sized(x)
    model = classifier.model
    if not any(isinstance(m, GUIDED_ACTIVATIONS) for m in model.modules()):
        raise InputError(f"{classifier.name or type(model).__name__}: no nn.ReLU or nn.ReLU6 "
                         "module, so guided backprop would be the plain gradient; use 'gradient'")
    with eval_mode(model), frozen(model), torch.enable_grad(), input_errors(x, model), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        attribution = _guided_backprop_class()(model).attribute(
            x.detach().clone().requires_grad_(True), target=index)
    return attribution.detach()[0].sum(0)
