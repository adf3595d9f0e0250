"""Perturbation attributions: RISE, and LIME and KernelSHAP on SLIC superpixels. They only
*call* the model (no gradient), so they work on any classifier.

* :func:`rise` (Petsiuk et al., 2018, written here: no library we use has it): random
  low-resolution masks, upsampled, weighted by the class *probability* of the masked input;
* :func:`lime` (Ribeiro et al., 2016) and :func:`kernel_shap` (Lundberg & Lee, 2017) through
  captum, on the superpixels of :func:`superpixels` (scikit-image's SLIC): a superpixel is
  present (the photo's pixels) or absent (black); a linear model of the presence vector is fit
  to the class *logit* by default (``output="probability"`` for the probability). Each
  superpixel's coefficient is spread evenly over its pixels, so the map's sum is the sum of the
  coefficients; KernelSHAP's efficiency, ``sum = y_c(x) - y_c(black)``, is then the very sum
  Integrated Gradients' completeness promises with a black baseline.

A masked pixel in RISE is 0 after normalization (the mean colour, as lesson 04's occlusion);
an absent superpixel is black, the baseline of Integrated Gradients.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..classification import Classifier
from ..core.errors import InputError
from ..core.hooks import eval_mode, input_errors
from ..core.images import ImageSource
from ..core.inputs import check_whole, shown
from ..evaluation.methods import BATCH_PIXELS, check_seed
from .gradients import batch_size_for, black_input, checked, count, fraction

__all__ = [
    "RiseMasks",
    "kernel_shap",
    "lime",
    "rise",
    "rise_masks",
    "superpixels",
]


class RiseMasks:
    """RISE's random masks for an ``H x W`` input, drawn once, upsampled a chunk at a time.

    ``count`` binary grids of ``h x w`` cells (each cell 1 with probability ``p``), square cells
    of side ``C = ceil(min(H, W) / grid)``, ``h = ceil(H / C)``, ``w = ceil(W / C)``; each grid
    is upsampled bilinearly to ``(h + 1) C x (w + 1) C`` and cropped to ``H x W`` at a random
    offset ``(dy, dx)``, ``0 <= dy, dx < C`` (Petsiuk et al., 2018). The grids and offsets come
    from one generator seeded with ``seed``, in that order, so :meth:`chunk` gives the same
    masks whatever the chunks.
    """

    def __init__(self, height: int, width: int, count: int, *, grid: int = 7, p: float = 0.5,
                 seed: int = 0) -> None:
        self.size = (height, width)
        self.cell = math.ceil(min(height, width) / grid)
        self.cells = (math.ceil(height / self.cell), math.ceil(width / self.cell))
        self.p = p
        generator = torch.Generator().manual_seed(seed)
        self.grids = torch.rand((count, 1, *self.cells), generator=generator) < p
        self.offsets = torch.randint(0, self.cell, (count, 2), generator=generator)

    def __len__(self) -> int:
        return int(self.grids.shape[0])

    def chunk(self, first: int, stop: int) -> torch.Tensor:
        """Masks ``first .. stop - 1``, ``(stop - first, H, W)`` float32 in [0, 1]."""
        (height, width), (h, w), cell = self.size, self.cells, self.cell
        big = F.interpolate(self.grids[first:stop].float(), size=((h + 1) * cell, (w + 1) * cell),
                            mode="bilinear", align_corners=False)[:, 0]
        return torch.stack([big[i, dy:dy + height, dx:dx + width] for i, (dy, dx) in
                            enumerate(self.offsets[first:stop].tolist())])


def _rise_options(masks: object, grid: object, p: object, seed: object
                  ) -> tuple[int, int, float, int]:
    return (count("masks", masks), check_whole("grid", grid, "must be a whole number of "
                                               "cells from 1 to 64", high=65),
            fraction("p", p, open_low=True), check_seed(seed))


def rise_masks(height: int, width: int, masks: int = 500, *, grid: int = 7, p: float = 0.5,
               seed: int = 0) -> torch.Tensor:
    """All of :func:`rise`'s masks for an ``height x width`` input, ``(masks, H, W)`` (the same
    masks :func:`rise` uses with these options; mind the memory: 4 bytes a pixel a mask)."""
    masks, grid, p, seed = _rise_options(masks, grid, p, seed)
    height = check_whole("height", height, "must be a positive whole number of pixels")
    width = check_whole("width", width, "must be a positive whole number of pixels")
    drawn = RiseMasks(height, width, masks, grid=grid, p=p, seed=seed)
    return drawn.chunk(0, len(drawn))


def rise(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    masks: int = 500,
    grid: int = 7,
    p: float = 0.5,
    seed: int = 0,
    batch_size: int | None = None,
) -> torch.Tensor:
    """RISE, Randomized Input Sampling for Explanation (Petsiuk et al., 2018), ``(H, W)``:

        map = sum_{i=1..N} p_c(x * M_i) M_i / (N p),

    with ``M_i`` the ``N = masks`` random masks of :class:`RiseMasks` (``grid`` cells along the
    shorter side, each kept with probability ``p``, ``seed``) and ``p_c`` the softmax
    probability of the class. Its expectation is ``E[p_c(x * M) M(i, j)] / p`` (``E[M(i, j)]
    = p``): for binary masks the mean probability when pixel ``(i, j)`` is kept, so pixels
    whose presence goes with a high probability score high. ``N`` forward passes
    without gradients, ``batch_size`` masked images at once (by default as many as fit in
    :data:`~xai_tutorial.evaluation.BATCH_PIXELS`, at most 64); the masks are upsampled a batch
    at a time, so memory does not grow with ``N``.
    """
    masks, grid, p, seed = _rise_options(masks, grid, p, seed)
    x, index = checked(classifier, inputs, class_index)
    height, width = int(x.shape[2]), int(x.shape[3])
    size = batch_size_for(x, batch_size, pixels=BATCH_PIXELS, most=min(64, masks))
    drawn = RiseMasks(height, width, masks, grid=grid, p=p, seed=seed)
    total = torch.zeros((height, width), dtype=torch.float64)
    model = classifier.model
    with eval_mode(model), torch.no_grad(), input_errors(x, model):
        for first in range(0, masks, size):
            chunk = drawn.chunk(first, min(masks, first + size))
            probabilities = model(x * chunk[:, None]).softmax(1)[:, index]
            total += torch.einsum("n,nhw->hw", probabilities.double(), chunk.double())
    return (total / (masks * p)).float()


def superpixels(classifier: Classifier, inputs: ImageSource | torch.Tensor, *,
                segments: int = 50, compactness: float = 10.0) -> torch.Tensor:
    """SLIC superpixels (Achanta et al., 2012, scikit-image) of the input, ``(H, W)`` int64
    labels ``0 .. K - 1`` (``K`` about ``segments``), computed on the un-normalized photo.

    Where SLIC finds a single superpixel (noise: its connectivity step merges the fragments),
    the input is cut into a grid of about ``segments`` square cells instead.
    """
    from skimage.segmentation import slic

    segments = check_whole("segments", segments, "must be a whole number from 2 to 10,000",
                           low=2, high=10_001)
    compactness = fraction("compactness", compactness, high=1e4, open_low=True)
    x = checked(classifier, inputs, 0)[0]
    mean = torch.tensor(classifier.mean).view(-1, 1, 1)
    std = torch.tensor(classifier.std).view(-1, 1, 1)
    photo = (x[0].detach().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).double().numpy()
    labels = slic(photo, n_segments=segments, compactness=compactness, start_label=0,
                  channel_axis=-1)
    if labels.max() == labels.min():
        height, width = labels.shape
        side = max(1, math.ceil(math.sqrt(height * width / segments)))
        rows, columns = np.arange(height)[:, None] // side, np.arange(width)[None, :] // side
        labels = rows * (-(-width // side)) + columns
    _, contiguous = np.unique(labels, return_inverse=True)
    return torch.from_numpy(contiguous.reshape(labels.shape).astype(np.int64))


#: Most values of LIME's and KernelSHAP's surrogate data (samples x superpixels): 20 million
#: float32 values are 80 MB, and captum keeps a few copies.
MAX_SURROGATE_CELLS = 20_000_000


class _restored_numpy:  # noqa: N801 (used as a context manager)
    """Put numpy's global random state back on leaving (the lesson's seeds stay the learner's)."""

    def __init__(self, state: object) -> None:
        self.state = state

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        np.random.set_state(self.state)  # type: ignore[arg-type]


def _surrogate(name: str, classifier: Classifier, inputs: ImageSource | torch.Tensor,
               class_index: object, options: dict[str, object]) -> torch.Tensor:
    """captum's ``Lime`` or ``KernelShap`` of the class logit (or probability) on SLIC
    superpixels, black for absent; each coefficient spread over its superpixel, ``(H, W)``."""
    from captum.attr import KernelShap, Lime

    if not isinstance(options["output"], str) or options["output"] not in ("logit", "probability"):
        raise InputError(f"output {shown(options['output'])}: choose 'logit' or 'probability'")
    samples = count("samples", options["samples"], low=2)
    seed = check_seed(options["seed"])
    x, index = checked(classifier, inputs, class_index)
    labels = superpixels(classifier, x, segments=options["segments"],  # type: ignore[arg-type]
                         compactness=options["compactness"])  # type: ignore[arg-type]
    if samples * (int(labels.max()) + 1) > MAX_SURROGATE_CELLS:
        raise InputError(f"{name}: {samples:,} samples of {int(labels.max()) + 1:,} superpixels: "
                         f"the surrogate's data would exceed {MAX_SURROGATE_CELLS:,} values; use "
                         "fewer samples or segments")
    if int(labels.max()) < 1:
        raise InputError(f"{name}: SLIC found only one superpixel in this {x.shape[2]}x"
                         f"{x.shape[3]} input, and {name} compares two or more; try more "
                         "segments, a lower compactness, or another method")
    size = batch_size_for(x, options["batch_size"], pixels=BATCH_PIXELS, most=samples)
    model = classifier.model

    def score(batch: torch.Tensor) -> torch.Tensor:
        logits = model(batch)
        return logits if options["output"] == "logit" else logits.softmax(1)

    method = (Lime if name == "lime" else KernelShap)(score)
    numpy_state = np.random.get_state()  # sklearn's Lasso (LIME) draws from numpy's global RNG
    with eval_mode(model), torch.no_grad(), input_errors(x, model), \
            torch.random.fork_rng(devices=[]), _restored_numpy(numpy_state):
        torch.manual_seed(seed)
        coefficients = method.attribute(
            x, baselines=black_input(classifier, x), target=index,
            feature_mask=labels[None, None], n_samples=samples, perturbations_per_eval=size,
            return_input_shape=False,
        ).detach()[0].double()
    areas = torch.bincount(labels.flatten(), minlength=int(labels.max()) + 1).double()
    return (coefficients / areas)[labels].float()


def lime(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    samples: int = 200,
    segments: int = 50,
    compactness: float = 10.0,
    seed: int = 0,
    output: str = "logit",
    batch_size: int | None = None,
) -> torch.Tensor:
    """LIME (Ribeiro et al., 2016) from captum's ``Lime``, ``(H, W)``.

    ``samples`` random subsets ``z`` of the ``K`` superpixels (each kept with probability 1/2,
    the rest black) are run through the model; a Lasso model (captum's default, ``alpha =
    0.01``) ``f_c(z) ~ b + sum_s w_s z_s`` is fit with the weights ``exp(-d(x, z)^2 / 2)``
    (``d`` the cosine distance), ``f_c`` the class logit (``output="logit"``) or probability
    (``"probability"``; mind that a small probability's changes fall under the Lasso's penalty
    and every ``w_s`` is 0). ``w_s`` is superpixel ``s``'s importance, and ``map[i, j] =
    w_s / |s|`` for the pixels of ``s``. ``samples`` forward passes, seeded (captum draws from
    torch's global generator: it is forked, set to ``seed``, and restored after).
    """
    return _surrogate("lime", classifier, inputs, class_index, {
        "samples": samples, "segments": segments, "compactness": compactness, "seed": seed,
        "output": output, "batch_size": batch_size})


def kernel_shap(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    samples: int = 200,
    segments: int = 50,
    compactness: float = 10.0,
    seed: int = 0,
    output: str = "logit",
    batch_size: int | None = None,
) -> torch.Tensor:
    """KernelSHAP (Lundberg & Lee, 2017) from captum's ``KernelShap``, ``(H, W)``: the Shapley
    values ``phi_s`` of the ``K`` superpixels (absent = black) for ``f_c``, the class logit
    (``output="logit"``) or probability, estimated by a weighted linear regression on
    ``samples`` coalitions drawn with the Shapley kernel ``(K - 1) / (C(K, k) k (K - k))``. The
    full and the empty coalition come first with a huge weight, so *efficiency* holds:

        sum_s phi_s = f_c(x) - f_c(black)   (= map.sum(), ``map[i, j] = phi_s / |s|``),

    for the logit the sum Integrated Gradients' completeness promises with its black baseline
    (:func:`~xai_tutorial.attribution.completeness` checks either). ``samples`` forward passes
    (at least ``K + 1`` for a determined regression), seeded as :func:`lime`.
    """
    return _surrogate("kernel_shap", classifier, inputs, class_index, {
        "samples": samples, "segments": segments, "compactness": compactness, "seed": seed,
        "output": output, "batch_size": batch_size})
