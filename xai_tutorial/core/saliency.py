"""One contract for saliency methods, and their registry.

A *saliency method* is one function,

    method(classifier, x, class_index, **options) -> torch.Tensor,

that takes a checked model input ``x`` (a ``(1, 3, H, W)`` float32 tensor, the photo preprocessed
*without* cropping, as lesson 02's CAM uses it), a checked class index (an ``int``) and its own
keyword options, and returns a raw, unscaled 2-d ``(h, w)`` map at the method's own resolution
(CAM's ``7 x 10`` grid, occlusion's ``H x W`` pixels, ...). :func:`saliency_map` validates the
inputs once, calls the method, checks what it returned, and measures its cost: every image that
goes forward through ``classifier.model`` counts one forward pass, every one whose output
receives a gradient one backward pass. The result is a :class:`SaliencyMap`.

Adding a method is one function and one line: ``register_method("name", function)`` (or the
decorator form). The built-in methods are listed here by import path and loaded on first use,
so the core imports no lesson module.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import InputError, TutorialError, UnknownNameError
from .hooks import input_errors
from .inputs import check_batch, shown

__all__ = [
    "SaliencyMap",
    "count_passes",
    "get_method",
    "model_input",
    "register_method",
    "saliency_map",
    "saliency_methods",
    "unregister_method",
]

#: ``method(classifier, x, class_index, **options) -> (h, w)`` raw map.
SaliencyFunction = Callable[..., torch.Tensor]

#: Built-in methods by name: ``"module:function"`` under ``xai_tutorial`` (loaded on first use),
#: or a function registered at run time.
_METHODS: dict[str, str | SaliencyFunction] = {
    "cam": "cam:cam_method",
    "grad_cam": "evaluation.methods:grad_cam",
    "occlusion": "evaluation.methods:occlusion",
    "edge": "evaluation.methods:edge_map",
    "random": "evaluation.methods:random_map",
    "center": "evaluation.methods:center_map",
    "gradient": "attribution:gradient",
    "gradient_x_input": "attribution:gradient_x_input",
    "smoothgrad": "attribution:smoothgrad",
    "integrated_gradients": "attribution:integrated_gradients",
    "guided_backprop": "attribution:guided_backprop",
    "rise": "attribution:rise",
    "lime": "attribution:lime",
    "kernel_shap": "attribution:kernel_shap",
}
#: The methods that ship with the package (their failures are the package's bugs, not a
#: learner's): the table's entries before anything is registered at run time.
_BUILT_IN = frozenset(_METHODS)


@dataclass(frozen=True)
class SaliencyMap:
    """A raw saliency map with what it is of and what it cost.

    Attributes:
        values: the raw, unscaled ``(h, w)`` map at the method's own resolution (float32).
        method: the registered name of the method.
        class_index: the class explained.
        forward_passes: images run forward through the model to make it.
        backward_passes: images whose output a gradient went back through.
        input_size: ``(H, W)`` of the model input the map covers (upsample ``values`` to it).
    """

    values: torch.Tensor
    method: str
    class_index: int
    forward_passes: int
    backward_passes: int
    input_size: tuple[int, int]


def saliency_methods() -> tuple[str, ...]:
    """The names of the registered methods, in registration order."""
    return tuple(_METHODS)


def register_method(name: str, function: SaliencyFunction | None = None, *,
                    replace: bool = False) -> Any:
    """Register ``function`` as the saliency method ``name`` (also usable as a decorator).

    Raises:
        InputError: ``name`` is not an identifier-like string, ``function`` is not callable, or
            ``name`` is taken and ``replace`` is false.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
        raise InputError(f"method name {shown(name)}: use at most 40 lower-case ASCII letters, "
                         "digits and underscores, starting with a letter")
    if name in _METHODS and not replace:
        raise InputError(f"method {name!r}: already registered (pass replace=True to replace it)")

    def add(fn: SaliencyFunction) -> SaliencyFunction:
        if not callable(fn):
            raise InputError(f"method {name!r}: {fn!r} is not a function")
        _METHODS[name] = fn
        return fn

    return add if function is None else add(function)


def unregister_method(name: str) -> None:
    """Remove the method ``name`` (tests register toy methods and remove them again)."""
    if not isinstance(name, str) or name not in _METHODS:
        raise UnknownNameError("saliency method", name, _METHODS)
    del _METHODS[name]


def get_method(name: object) -> SaliencyFunction:
    """The function registered as ``name``.

    Raises:
        UnknownNameError: no method of that name (the message lists them).
    """
    if not isinstance(name, str) or name not in _METHODS:
        raise UnknownNameError("saliency method", name, _METHODS)
    entry = _METHODS[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(f"xai_tutorial.{module}"), attribute)
        _METHODS[name] = entry
    return entry


def model_input(classifier: Any, source: object) -> torch.Tensor:
    """The checked ``(1, 3, H, W)`` float32 tensor every method and judge works on.

    A tensor must already be one image, ``(1, 3, H, W)``, finite; a floating dtype other than
    float32 is cast to it. Anything else goes through :func:`~xai_tutorial.load_image` and
    ``classifier.preprocess(image, crop=False)`` (shorter side = the network's input size, no
    crop, so the map covers the whole photo).

    Raises:
        InputError: a tensor of the wrong shape, type or values; ImageLoadError for a photo.
    """
    if isinstance(source, torch.Tensor):
        return check_batch(source)  # type: ignore[return-value]
    from .images import load_image

    return classifier.preprocess(load_image(source), crop=False)  # type: ignore[arg-type]


@contextmanager
def count_passes(model: nn.Module) -> Iterator[dict[str, int]]:
    """Count the images going forward through ``model`` and the gradients coming back.

    A forward hook on the model adds each call's batch size to ``"forward"`` and, when the
    output needs a gradient, hooks that output so a backward pass through it adds the batch
    size to ``"backward"``. The hook is removed in ``finally``.
    """
    counts = {"forward": 0, "backward": 0}

    def count_backward(size: int) -> Callable[[torch.Tensor], None]:
        def hook(_: torch.Tensor) -> None:
            counts["backward"] += size
        return hook

    def forward_hook(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        first = inputs[0] if inputs else None
        size = int(first.shape[0]) if isinstance(first, torch.Tensor) and first.ndim else 1
        counts["forward"] += size
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(count_backward(size))

    handle = model.register_forward_hook(forward_hook)
    try:
        yield counts
    finally:
        handle.remove()


def _bind(function: SaliencyFunction, method: str, *arguments: Any) -> None:
    """Refuse options the method does not take (a function with no signature is not checked)."""
    *positional, options = arguments
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: its call will say
        return
    try:
        signature.bind(*positional, **options)
    except TypeError as exc:
        raise InputError(f"saliency method {method!r}: {shown(str(exc), 200)}") from None


def _call_registered(function: SaliencyFunction, method: str, classifier: Any, x: torch.Tensor,
                     index: int, options: dict[str, Any]) -> object:
    """Call a method registered at run time; anything it raises (but a package error or an
    interrupt) becomes one line naming the method, not the input."""
    try:
        return function(classifier, x, index, **options)
    except (TutorialError, KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 (the registered function's own failure)
        raise InputError(f"saliency method {method!r} failed: {type(exc).__name__}: "
                         f"{shown(str(exc), 200)}") from None


def _checked_values(values: object, name: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor) and (
        values.layout != torch.strided or values.is_nested or values.device.type == "meta"
    ):
        raise InputError(f"saliency method {name!r}: returned a {values.layout} tensor on "
                         f"{values.device.type}, not a dense map with values")
    if not isinstance(values, torch.Tensor) or values.ndim != 2 or values.numel() == 0:
        shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
        raise InputError(f"saliency method {name!r}: returned {shape}, not an (h, w) map")
    values = values.detach().float()
    if not torch.isfinite(values).all():
        raise InputError(f"saliency method {name!r}: its map holds NaN or infinite values")
    return values


def saliency_map(classifier: Any, image: object, class_index: object, method: str = "cam",
                 **options: Any) -> SaliencyMap:
    """The saliency map of ``image`` for ``class_index`` by the registered ``method``.

    Args:
        classifier: a :class:`~xai_tutorial.Classifier`.
        image: anything :func:`~xai_tutorial.load_image` takes, or a ``(1, 3, H, W)`` tensor.
        class_index: a class index (int, numpy integer, 0-d integer tensor) or a class name.
        method: one of :func:`saliency_methods`.
        **options: the method's own keyword options (e.g. ``layer=`` for ``grad_cam``).

    Returns:
        A :class:`SaliencyMap` (raw values, passes counted).

    Raises:
        InputError: an unknown method, a bad image, class or option, an input the model cannot
            run on, or a method that broke the contract (not a finite 2-d map).
        ResourceError: not enough memory to run the model on this input.
    """
    function = get_method(method)
    index = classifier.class_index(class_index)
    x = model_input(classifier, image)
    _bind(function, method, classifier, x, index, options)
    with count_passes(classifier.model) as counts, input_errors(x, classifier.model):
        if method in _BUILT_IN:
            values = function(classifier, x, index, **options)
        else:  # a learner's or an instructor's function: its failure is named as its own
            values = _call_registered(function, method, classifier, x, index, options)
    return SaliencyMap(
        values=_checked_values(values, method),
        method=method,
        class_index=index,
        forward_passes=counts["forward"],
        backward_passes=counts["backward"],
        input_size=(int(x.shape[2]), int(x.shape[3])),
    )
