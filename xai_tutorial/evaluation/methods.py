"""Lesson 04's saliency methods, each one function of the registry's contract.

Every method here is ``method(classifier, inputs, class_index, **options) -> (h, w)``, the
contract of :mod:`xai_tutorial.core.saliency`, and is registered there under a name:

* :func:`cam` (``"cam"`` is lesson 02's :func:`~xai_tutorial.cam.cam_method`, the same map): the
  raw Class Activation Map ``CAM_c = sum_k w_ck F_k`` (Zhou et al., 2016), ``(h, w)``;
* :func:`grad_cam` (``"grad_cam"``): Grad-CAM (Selvaraju et al., 2017) from captum's
  ``LayerGradCam``, at the pooling input by default (where it equals ``ReLU(CAM) / (h w)``) or
  at any named layer; :func:`batched_grad_cam` for a batch of ``N`` images, ``(N, h, w)``;
* :func:`occlusion` (``"occlusion"``): the model-agnostic baseline (Zeiler & Fergus, 2014) from
  captum's ``Occlusion``, ``(H, W)``; :func:`occlusion_passes` is its cost;
* :func:`edge_map`, :func:`random_map`, :func:`center_map` (``"edge"``, ``"random"``,
  ``"center"``): "explanations" that ignore the model, controls a good test must tell apart from
  the real thing.

``inputs`` is a checked ``(1, 3, H, W)`` tensor (as :func:`~xai_tutorial.core.saliency.
saliency_map` passes it) or anything :func:`~xai_tutorial.load_image` takes (preprocessed without
cropping, :func:`~xai_tutorial.core.saliency.model_input`); ``class_index`` is an index (int,
numpy integer, 0-d integer tensor, never ``True``) or a class name of ``classifier``. Each public
function checks both once, at its top.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..cam import class_activation_maps
from ..classification import Classifier
from ..core.errors import InputError
from ..core.hooks import eval_mode, find_cam_layers, frozen, get_layer, input_errors, spatial_layers
from ..core.images import MAX_PIXELS, ImageSource
from ..core.inputs import check_batch, check_size_pair, check_whole, is_single, shown
from ..core.saliency import model_input

__all__ = [
    "BATCH_PIXELS",
    "OCCLUSION_BATCH_PIXELS",
    "SaliencyMethod",
    "batched_grad_cam",
    "cam",
    "center_bump",
    "center_map",
    "check_seed",
    "default_grad_cam_layer",
    "edge_map",
    "grad_cam",
    "occlusion",
    "occlusion_passes",
    "random_map",
    "top_class",
]

#: A saliency method: ``method(classifier, x, class_index, **options) -> (h, w)`` raw map.
SaliencyMethod = Callable[..., torch.Tensor]


def _checked(classifier: Classifier, inputs: ImageSource | torch.Tensor,
             class_index: object) -> tuple[torch.Tensor, int]:
    """``(x, index)``: the checked model input and class (see the module docstring)."""
    index = classifier.class_index(class_index)
    return model_input(classifier, inputs), index


def top_class(classifier: Classifier, inputs: ImageSource | torch.Tensor,
              exclude: object = ()) -> int:
    """The model's most probable class on the whole picture, ``argmax_c logit_c`` over the classes
    not in ``exclude`` (indices or class names), as lesson 04 picks the class each map explains.

    One forward pass without gradients, in eval mode, on :func:`~xai_tutorial.core.saliency.
    model_input` (the uncropped picture every map and metric uses). ``exclude`` lets a second photo
    get a class of its own when a model (an untrained one, say) ranks every picture alike.

    Raises:
        InputError: a bad input, an unknown class in ``exclude``, or every class excluded.
    """
    x = model_input(classifier, inputs)
    if exclude is None:
        given: list[object] = []
    else:
        given = [exclude] if is_single(exclude) else list(exclude)  # type: ignore[call-overload]
    banned = {classifier.class_index(c) for c in given}
    with eval_mode(classifier.model) as model, torch.no_grad(), input_errors(x, model):
        logits = model(x)[0].detach().clone()
    if len(banned) >= logits.numel():
        raise InputError(f"exclude: all {logits.numel()} classes excluded")
    if banned:
        logits[sorted(banned)] = -torch.inf
    return int(logits.argmax())


def cam(classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: object
        ) -> torch.Tensor:
    """The raw Class Activation Map ``CAM_c = sum_k w_ck F_k`` (lesson 02), shape ``(h, w)``.

    ``F`` is the input of the global-average-pooling layer and ``w_c`` the classifier's row for
    class ``c``, so ``mean(CAM_c) + b_c = logit_c`` (Zhou et al., 2016); lesson 02's
    :func:`~xai_tutorial.cam.class_activation_maps` computes it and checks that identity.
    """
    x, index = _checked(classifier, inputs, class_index)
    return class_activation_maps(classifier, x, [index]).maps[0]


def default_grad_cam_layer(classifier: Classifier, x: torch.Tensor) -> tuple[str, bool]:
    """``(name, to_input)``: where Grad-CAM looks when no layer is named.

    The input of the global-average-pooling layer (``to_input``) when the network has one before
    its linear classifier (the classifier's own ``pooling_layer``, else :func:`~xai_tutorial.
    core.hooks.find_cam_layers`): there Grad-CAM is ``ReLU(CAM) / (h w)``. Any other network
    (max pooling, a two-layer head): the output of its last layer with a spatial ``(N, C, h, w)``
    output, :func:`~xai_tutorial.core.hooks.spatial_layers` (one more forward pass).

    Raises:
        InputError: no layer of the model gives a feature map larger than ``1 x 1``.
    """
    model = classifier.model
    pooling = getattr(classifier, "pooling_layer", None)
    if not pooling:
        try:
            pooling = find_cam_layers(model)[0]
        except InputError:  # not GAP + linear: Grad-CAM does not need it to be
            pooling = None
    if pooling:
        return pooling, True
    layers = spatial_layers(model, x[:1])
    if not layers:
        raise InputError(f"{classifier.name or type(model).__name__}: no layer gives a feature "
                         "map (a (N, C, h, w) output larger than 1 x 1), so Grad-CAM has no "
                         "layer to look at")
    return layers[-1].name, False


def _grad_cam_layer(classifier: Classifier, x: torch.Tensor, layer: str | None
                    ) -> tuple[torch.nn.Module, bool]:
    """``(module, to_input)``: ``layer``'s output, else :func:`default_grad_cam_layer`."""
    if layer is None:
        name, to_input = default_grad_cam_layer(classifier, x)
        return get_layer(classifier.model, name), to_input
    return get_layer(classifier.model, layer), False


def _layer_grad_cam(classifier: Classifier, x: torch.Tensor, classes: list[int],
                    layer: str | None) -> torch.Tensor:
    """captum's ``LayerGradCam`` of checked inputs, ``(N, h, w)``, in eval mode.

    The layer must run in the forward pass and give an ``(N, C, h, w)`` activation (its output;
    by default the pooling layer's input); otherwise an :class:`InputError` says so.
    """
    from captum.attr import LayerGradCam

    module, to_input = _grad_cam_layer(classifier, x, layer)
    model = classifier.model
    seen: list[tuple[int, ...]] = []

    def record(_: torch.nn.Module, inputs: tuple, output: object) -> None:
        value = inputs[0] if to_input and inputs else output
        seen.append(tuple(value.shape) if isinstance(value, torch.Tensor) else ())

    handle = module.register_forward_hook(record)
    try:
        with eval_mode(model), frozen(model), torch.enable_grad(), input_errors(x, model):
            maps = LayerGradCam(model, module).attribute(
                x, target=classes, attribute_to_layer_input=to_input, relu_attributions=True
            )
    except AssertionError:  # captum's "Forward hook did not obtain any outputs"
        if seen:
            raise _not_spatial(layer, seen[-1]) from None
        raise _not_run(layer, module) from None
    finally:
        handle.remove()
    if not seen:
        raise _not_run(layer, module)
    if len(seen[-1]) != 4:
        raise _not_spatial(layer, seen[-1])
    return maps.detach()[:, 0]


def _not_run(layer: str | None, module: torch.nn.Module) -> InputError:
    names = [f"{layer}.{name}" for name, _ in module.named_children()]
    hint = f", e.g. {names[0]!r} .. {names[-1]!r}" if names else ""
    return InputError(f"layer {shown(layer)}: did not run in the forward pass (a container? "
                      f"name one of its blocks{hint})")


def _not_spatial(layer: str | None, shape: tuple[int, ...]) -> InputError:
    return InputError(
        f"layer {shown(layer)}: Grad-CAM needs a layer whose output has spatial size (a "
        f"(N, C, h, w) activation); its output has shape {shape}"
    )


def grad_cam(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    layer: str | None = None,
) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., 2017) of one class, raw (before any upsampling), with ReLU.

    For activations ``A`` (``K x h x w``) of a layer and the class score ``y_c`` (the logit),

        alpha_k = mean_{i,j} dy_c / dA_k[i, j],     Grad-CAM_c = ReLU(sum_k alpha_k A_k).

    Computed by captum's ``LayerGradCam`` (its hooks are removed when it returns) in eval mode
    (every module's own mode is restored after). With ``layer=None`` the activations are the
    *input* of the global-average-pooling layer, the tensor CAM uses. There, for a GAP + linear
    network, ``dy_c / dA_k[i, j] = w_ck / (h w)``, so

        Grad-CAM_c = ReLU(CAM_c) / (h w)

    exactly: Grad-CAM generalizes CAM. A network without that head (max pooling, a two-layer
    classifier) gets the output of its last spatial layer instead
    (:func:`default_grad_cam_layer`). At an earlier layer (``layer="_blocks.10"``: the *output*
    of that module) the map is finer but mixes in less class-specific features.

    Args:
        classifier: the model and its preprocessing.
        inputs: an image or a ``(1, 3, H, W)`` tensor (a batch: :func:`batched_grad_cam`).
        class_index: the class.
        layer: a module name of ``classifier.model``; ``None`` for the pooling input (or the
            last spatial layer of a network without global average pooling).

    Returns:
        ``(h, w)``, never negative.
    """
    x, index = _checked(classifier, inputs, class_index)
    return _layer_grad_cam(classifier, x, [index], layer)[0]


def batched_grad_cam(
    classifier: Classifier,
    batch: torch.Tensor,
    classes: object,
    layer: str | None = None,
) -> torch.Tensor:
    """:func:`grad_cam` of every image of ``batch`` in one forward and backward pass.

    Args:
        classifier: the model.
        batch: ``(N, 3, H, W)`` preprocessed images.
        classes: one class for all, or one class per image (``N`` of them).
        layer: as for :func:`grad_cam`.

    Returns:
        ``(N, h, w)``; ``out[i]`` is ``grad_cam(classifier, batch[i:i+1], classes[i], layer)``.
    """
    x = check_batch(batch, single=False)
    n = int(x.shape[0])  # type: ignore[attr-defined]
    if is_single(classes):
        indices = [classifier.class_index(classes)] * n
    else:
        indices = [classifier.class_index(c) for c in classes]  # type: ignore[attr-defined]
        if len(indices) != n:
            raise InputError(f"classes: {len(indices)} classes for {n} inputs")
    return _layer_grad_cam(classifier, x.float(), indices, layer)  # type: ignore[attr-defined]


def _positive(name: str, value: object) -> int:
    return check_whole(name, value, "must be a positive whole number of pixels")


#: Pixels run through the network at once by occlusion, deletion/insertion and the scenes' CAM:
#: two images of 224 x 336 (three of 224 x 224). A forward pass holds about 25 MB of activations
#: per such image on EfficientNet-Lite0, so a batch stays near 50 MB, where 50 scenes at once
#: took 1.2 GB (and no less CPU time: larger batches are not faster on one CPU).
BATCH_PIXELS = 2 * 224 * 336
#: The same budget, under its first name.
OCCLUSION_BATCH_PIXELS = BATCH_PIXELS
#: Most pixels occlusion may run through the network in all (passes x H x W): about 20
#: CPU-seconds for EfficientNet-Lite0. The notebook's 78 passes at 224 x 336 are 5.9 million; a
#: 16:1 panorama at the default stride would be 714 million (889 passes), and is refused.
MAX_OCCLUSION_PIXELS = 16_000_000


def occlusion(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    window: int = 56,
    stride: int = 28,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus, 2014), from captum's ``Occlusion``; ``(H, W)``.

    A ``window x window`` patch of the mean colour (0 after normalization) slides over the input
    with step ``stride``; each pixel gets the average, over the patches that cover it, of

        p_c(x) - p_c(x with the patch occluded),

    with ``p_c`` the softmax probability of the class. The method is *model-agnostic*: it only
    calls the network (in eval mode), so it works on any classifier, but it costs one forward
    pass per patch position (:func:`occlusion_passes`) where CAM needs one in all. The patches
    start at ``0, stride, 2 stride, ...``; when ``(H - window)`` is not a multiple of ``stride``
    the last one sticks out past the border and is clipped there, so every pixel is covered.

    ``batch_size`` occluded images go through the network at once; by default as many as fit
    in :data:`BATCH_PIXELS` (two images of 224 x 336, at most 32), so memory stays bounded
    however wide the picture (one image at a time at the 16:1 aspect cap).

    Returns:
        ``(H, W)`` at the model input's resolution.
    """
    from captum.attr import Occlusion

    window, stride = _positive("window", window), _positive("stride", stride)
    if stride > window:
        raise InputError(f"stride {stride}: larger than the window {window} (pixels between "
                         "windows would never be occluded); use a stride of at most the window")
    x, index = _checked(classifier, inputs, class_index)
    if window > min(x.shape[2:]):
        raise InputError(f"window {window}: larger than the input {tuple(x.shape[2:])}")
    height, width = int(x.shape[2]), int(x.shape[3])
    passes = occlusion_passes((height, width), window, stride)
    if passes * height * width > MAX_OCCLUSION_PIXELS:
        raise InputError(
            f"occlusion with window {window} and stride {stride} on a {height}x{width} input "
            f"needs {passes:,} forward passes ({passes * height * width / 1e6:,.0f} million "
            f"pixels, over the budget of {MAX_OCCLUSION_PIXELS / 1e6:.0f} million); use a larger "
            "stride or a smaller picture"
        )
    if batch_size is None:
        batch_size = max(1, min(32, BATCH_PIXELS // (height * width)))
    batch_size = _positive("batch_size", batch_size)
    model = classifier.model

    def probabilities(batch: torch.Tensor) -> torch.Tensor:
        return model(batch).softmax(1)

    with eval_mode(model), torch.no_grad(), input_errors(x, model):
        attribution = Occlusion(probabilities).attribute(
            x,
            sliding_window_shapes=(x.shape[1], window, window),
            strides=(x.shape[1], stride, stride),
            baselines=0.0,
            target=index,
            perturbations_per_eval=batch_size,
        )
    return attribution[0].mean(0)  # the window spans every channel: all channels agree


def occlusion_passes(size: tuple[int, int], window: int = 56, stride: int = 28) -> int:
    """Images :func:`occlusion` runs through the network for an input of ``size = (H, W)``.

    One per window position, ``(ceil((H - window) / stride) + 1) * (same for W)`` (captum's
    count: the last window of a row or column may be clipped by the border), plus the
    unoccluded input.
    """
    rows = -(-(size[0] - window) // stride) + 1
    columns = -(-(size[1] - window) // stride) + 1
    return rows * columns + 1


def edge_map(classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: object
             ) -> torch.Tensor:
    """An "explanation" that ignores the model: the Sobel edge strength of the input, ``(H, W)``.

    ``sobel(mean_channels(x))``, the gradient magnitude of the grey input. It often *looks* like
    a saliency map (outlines of the objects), which is exactly why it is a useful control: it
    cannot pass the randomization check, because it never reads a weight.
    """
    from skimage.filters import sobel

    x, _ = _checked(classifier, inputs, class_index)
    grey = x[0].mean(0).detach().cpu().numpy().astype(np.float64)
    return torch.from_numpy(sobel(grey)).float()


def random_map(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    size: tuple[int, int] | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Uniform noise on [0, 1), seeded: the chance baseline every metric should beat.

    Args:
        size: ``(h, w)`` of the noise grid; ``None`` for the input's own resolution. Use CAM's
            grid (e.g. ``(7, 11)``) for a baseline with the same coarseness as CAM.
        seed: the noise's seed (the map depends on nothing else).
    """
    seed = check_seed(seed)
    x, _ = _checked(classifier, inputs, class_index)
    shape = (int(x.shape[2]), int(x.shape[3])) if size is None else check_size_pair(
        size, MAX_PIXELS, what="(rows, columns)")
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator)


def check_seed(seed: object) -> int:
    """A random seed: a whole number (not ``True``/``False``), ``0 <= seed < 2**63``."""
    return check_whole("seed", seed, "must be a whole number, 0 <= seed < 2**63", low=0,
                       high=2**63)


def center_map(classifier: Classifier, inputs: ImageSource | torch.Tensor, class_index: object
               ) -> torch.Tensor:
    """The pointing game's *center baseline* (Zhang et al.): always points at the middle.

    :func:`center_bump` at the input's size, ``(H, W)``; it knows neither model nor image.
    """
    x, _ = _checked(classifier, inputs, class_index)
    return center_bump(int(x.shape[2]), int(x.shape[3]))


def center_bump(height: int, width: int) -> torch.Tensor:
    """A Gaussian bump at the centre of a ``height x width`` grid, ``(height, width)``.

    ``exp(-(r^2 + c^2) / (2 sigma^2))`` with ``r, c`` measured from the centre,
    ``((height - 1) / 2, (width - 1) / 2)``, and ``sigma = max(height, width) / 4``.
    """
    rows = torch.arange(height, dtype=torch.float32) - (height - 1) / 2
    columns = torch.arange(width, dtype=torch.float32) - (width - 1) / 2
    sigma = max(height, width) / 4
    return torch.exp(-(rows[:, None] ** 2 + columns[None, :] ** 2) / (2 * sigma**2))

