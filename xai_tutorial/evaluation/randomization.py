"""Cascading model-parameter randomization (Adebayo et al., 2018): does the map need the model?

:func:`randomization_check` takes the method to judge by name (any registered saliency method,
:func:`~xai_tutorial.core.saliency.saliency_methods`) or as a function of the registry's contract,
``method(classifier, x, class_index) -> (h, w)``.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from ..classification import Classifier
from ..core.errors import InputError
from ..core.heatmap import upsample
from ..core.hooks import get_layer, input_errors
from ..core.images import ImageSource
from ..core.inputs import shown
from ..core.saliency import model_input, saliency_map
from .deletion import saliency_values
from .methods import SaliencyMethod, check_seed

__all__ = [
    "RandomizationStep",
    "cascade_blocks",
    "randomization_check",
    "rank_correlation",
]


class RandomizationStep(NamedTuple):
    """One step of the cascade: the block just re-initialized (with all blocks above it) and the
    Spearman rank correlation of the new map with the original one.

    ``rho`` is ``None`` when either map is constant: a rank correlation is then undefined (it
    would be NaN), and a constant map is reported as such.
    """

    block: str
    rho: float | None

    @property
    def constant(self) -> bool:
        return self.rho is None


def _cascade_groups(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """(block name, modules it covers), bottom first; see :func:`cascade_blocks`."""

    def has_weights(module: nn.Module) -> bool:
        return any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in module.modules())

    groups: list[tuple[str, list[nn.Module]]] = []
    for name, module in model.named_children():
        children = list(module.named_children())
        opened = (isinstance(module, (nn.ModuleList, nn.Sequential)) and children
                  and not any(isinstance(c, (nn.Conv2d, nn.Linear)) for _, c in children))
        parts = [(f"{name}.{n}", m) for n, m in children] if opened else [(name, module)]
        for part, sub in parts:
            if has_weights(sub):
                groups.append((part, [sub]))
            elif groups and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                for m in sub.modules()):
                groups[-1][1].append(sub)  # a batch norm goes with the convolution before it
    return groups


def cascade_blocks(model: nn.Module) -> list[str]:
    """The blocks :func:`randomization_check` re-initializes, from the top (the output) down.

    The model's top-level modules in definition order, with a ``ModuleList``/``Sequential`` of
    blocks opened one level (EfficientNet's ``_blocks.0 .. _blocks.15``, ResNet's
    ``layer1.0 ...``); modules without a convolution or linear weight are skipped, and a
    top-level batch-norm layer belongs to the block before it (the convolution it normalizes).
    For EfficientNet-Lite0: ``_fc``, ``_conv_head`` (with ``_bn1``), ``_blocks.15``, ...,
    ``_blocks.0``, ``_conv_stem`` (with ``_bn0``).
    """
    return [name for name, _ in _cascade_groups(model)][::-1]


def _reinitialize(modules: Sequence[nn.Module], batch_norm: str) -> None:
    for m in (m for module in modules for m in module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.reset_parameters()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and batch_norm == "reset":
            m.reset_parameters()  # weight 1, bias 0, running mean 0, running variance 1


def _is_constant(values: np.ndarray) -> bool:
    """All values equal up to float32 rounding, relative to the map's own magnitude:
    ``max - min <= 1e-6 * max |v|``.

    The test is relative on purpose: a map whose values are tiny (a randomized network whose
    activations have shrunk) still ranks its locations, and is not called constant.
    """
    spread = float(values.max() - values.min())
    return spread <= 1e-6 * float(np.abs(values).max())


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman's rho between two maps of the same shape, or ``None`` if either is constant.

    ``rho`` is Pearson's correlation of the ranks (ties get their mean rank), from
    ``scipy.stats.spearmanr``.
    """
    from scipy.stats import spearmanr

    if tuple(a.shape) != tuple(b.shape):
        raise InputError(f"maps of shapes {tuple(a.shape)} and {tuple(b.shape)}: must match")
    x = a.detach().double().flatten().numpy()
    y = b.detach().double().flatten().numpy()
    if _is_constant(x) or _is_constant(y):
        return None
    rho = float(spearmanr(x, y).statistic)
    return None if math.isnan(rho) else rho


def _map_function(method: str | SaliencyMethod, options: Mapping[str, Any]
                  ) -> SaliencyMethod:
    """``f(classifier, x, index) -> (h, w)`` for a registered name or a contract function."""
    if isinstance(method, str):
        def by_name(classifier: Classifier, x: torch.Tensor, index: int) -> torch.Tensor:
            return saliency_map(classifier, x, index, method=method, **options).values
        return by_name
    if not callable(method):
        raise InputError(f"method {shown(method)}: give a registered method's name or a "
                         "function method(classifier, x, class_index)")
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # no signature to check (a builtin): its call will say
        signature = None
    if signature is not None:
        try:
            signature.bind(None, None, 0, **options)
        except TypeError as exc:
            why = " ".join(str(exc).split())[:120]
            raise InputError(f"method {shown(method)}: cannot be called as method(classifier, "
                             f"x, class_index, **options): {why}") from None
    if options:
        return lambda classifier, x, index: method(classifier, x, index, **options)
    return method


def _check_arguments(batch_norm: object, absolute: object, seed: object,
                     options: object) -> int:
    """Refuse a bad ``batch_norm``, ``absolute``, ``options``; the checked ``seed``."""
    if not isinstance(batch_norm, str) or batch_norm not in ("keep", "reset"):
        raise InputError(f"batch_norm {shown(batch_norm)}: choose 'keep' or 'reset'")
    if not isinstance(absolute, (bool, np.bool_)):
        raise InputError(f"absolute {shown(absolute)}: must be True or False")
    if options is not None and not (
        isinstance(options, Mapping) and all(isinstance(k, str) for k in options)
    ):
        raise InputError(f"options {shown(options)}: give a dict of keyword options, e.g. "
                         "{'layer': '_blocks.10'}")
    return check_seed(seed)


def _check_blocks(model: nn.Module, blocks: object) -> list[str]:
    """Block names to re-initialize: the cascade by default, else a list of distinct layers."""
    if blocks is None:
        return cascade_blocks(model)
    if isinstance(blocks, str):
        raise InputError(f"blocks {shown(blocks)}: a single name; pass a list, e.g. "
                         f"[{blocks[:40]!r}]")
    if not isinstance(blocks, (list, tuple)) or not all(isinstance(b, str) for b in blocks):
        raise InputError(f"blocks {shown(blocks)}: give a list of block names (str), top first")
    if len(set(blocks)) != len(blocks):
        raise InputError(f"blocks {shown(blocks)}: a block is named twice")
    for name in blocks:
        get_layer(model, name)
    return list(blocks)


def randomization_check(
    classifier: Classifier,
    inputs: ImageSource | torch.Tensor,
    class_index: object,
    *,
    method: str | SaliencyMethod = "cam",
    options: Mapping[str, Any] | None = None,
    blocks: Sequence[str] | None = None,
    batch_norm: Literal["keep", "reset"] = "keep",
    absolute: bool = False,
    seed: int = 0,
) -> list[RandomizationStep]:
    """Cascading model-parameter randomization (Adebayo et al., 2018).

    On a deep copy of the model (the caller's model is never touched), re-initialize the blocks
    one by one from the top (:func:`cascade_blocks`: ``_fc`` first), each step keeping the ones
    already randomized, and after each step compare the method's new map with the original by
    Spearman's rank correlation ``rho``. A map that explains the *model* must change as the
    weights it depends on are destroyed, so ``rho`` should fall; one that does not (an edge
    detector) fails the check.

    Batch norm: ``batch_norm="keep"`` (default) re-initializes only convolution and linear weights
    (PyTorch's default initializers), keeping every batch-norm layer's learned scale, shift and
    running statistics; ``"reset"`` also resets those (scale 1, shift 0, mean 0, variance 1).
    Kept statistics still normalize each channel the way the trained network did, which keeps
    much of the map's structure; with everything reset, the activations of a deep random network
    shrink at every layer, and the map's values with them. A map that is constant (equal values
    up to float rounding, relative to its own size) is reported as ``rho = None``.

    Args:
        classifier: the trained model (not modified).
        inputs: an image or a ``(1, 3, H, W)`` tensor.
        class_index: the class explained (an index or a class name).
        method: a registered saliency method's name (default ``"cam"``, computed through
            :func:`~xai_tutorial.core.saliency.saliency_map`) or a function
            ``method(classifier, x, class_index) -> (h, w)``, called with the checked input and
            class and, at every step, a copy of ``classifier`` holding the randomized model.
        options: a mapping of keyword options for the method (e.g. ``{"layer": "_blocks.10"}``);
            a function must accept them (``method(classifier, x, class_index, **options)``).
        blocks: a list of distinct block names, top first (default :func:`cascade_blocks`).
        batch_norm: ``"keep"`` or ``"reset"`` (see above).
        absolute: compare ``|map|`` instead of the map, as Adebayo et al. also report.
        seed: seeds the re-initialization, a whole number ``0 <= seed < 2**63`` (the global
            random state is left as it was).

    Returns:
        ``[(block, rho), ...]`` as :class:`RandomizationStep`, in cascade order; ``rho`` is a
        finite number, or ``None`` when a map is constant. Never NaN.
    """
    seed = _check_arguments(batch_norm, absolute, seed, options)
    index = classifier.class_index(class_index)
    x = model_input(classifier, inputs)
    function = _map_function(method, dict(options or {}))
    names = _check_blocks(classifier.model, blocks)

    def prepared(map_: torch.Tensor) -> torch.Tensor:
        values = saliency_values(map_)
        return values.abs() if absolute else values

    with input_errors(x, classifier.model):
        original = prepared(function(classifier, x, index))
    randomized = copy.copy(classifier)
    randomized.model = copy.deepcopy(classifier.model).eval()
    groups = dict(_cascade_groups(randomized.model))
    steps: list[RandomizationStep] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            with torch.no_grad():
                _reinitialize(groups.get(name) or [randomized.model.get_submodule(name)],
                              batch_norm)
            new = prepared(function(randomized, x, index))
            if new.shape != original.shape:
                new = upsample(new, tuple(original.shape))
            steps.append(RandomizationStep(name, rank_correlation(original, new)))
    return steps
