"""One owner for what every lesson does to a model: hooks, eval mode, layer lookup, identities.

* :func:`eval_mode`: a context manager that puts a model in eval mode and gives every module its
  own training flag back on leaving, by any route (a model may mix modes);
* :func:`capture`: record a layer's input or output during the forward passes of a block; the
  hook is removed and the modes restored in ``finally``;
* :func:`get_layer` and :func:`find_cam_layers`: a named module, or the global-average-pooling
  and final linear layers of a CAM-able network, found from the structure (refuse, don't guess);
* :func:`check_identity`: the one tolerance for "a rebuilt score equals the logit" checks
  (``mean(CAM_c) + b_c = logit_c`` in lesson 02, the node scores in lesson 03, batched CAM in 04).

Nothing here imports a lesson module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .errors import InputError, ResourceError

__all__ = [
    "IDENTITY_RTOL",
    "SpatialLayer",
    "block_at_stride",
    "capture",
    "check_identity",
    "eval_mode",
    "find_cam_layers",
    "frozen",
    "get_layer",
    "hook_count",
    "identity_gap",
    "input_errors",
    "not_cam",
    "spatial_layers",
]

#: Relative tolerance of every identity check: ``|rebuilt - expected| <= IDENTITY_RTOL * (1 +
#: max |expected|)``. Float32 rounding of a 1280-term dot product stays far below it; a wrong
#: layer misses it by orders of magnitude.
IDENTITY_RTOL = 1e-4

#: Parameter-free modules that may sit between the pooling and the linear layer: they do not
#: change the pooled values at inference (dropout is the identity in eval mode).
_PASS_THROUGH = (nn.Flatten, nn.Dropout, nn.Identity)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode; restore every module's own mode on leaving.

    Entering calls ``model.eval()`` (so a module's own ``train`` override runs) only when some
    module is training; leaving sets ``training = True`` again on exactly the modules that were
    training (the flag, not ``train()``: an override is not called on the way back), so a model
    that mixes modes gets exactly its mix back, whether the block returns or raises.

    Yields:
        ``model`` itself.
    """
    training = _training_modules(model)
    try:
        if training:
            model.eval()  # through ``train(False)``, so a module's own ``train`` override runs
        yield model
    finally:
        for m in training:
            m.training = True


def _training_modules(model: nn.Module) -> list[nn.Module]:
    """Every module of ``model`` (itself included) in training mode, by a plain stack walk:
    4x cheaper than ``model.modules()`` (26 vs 99 us on EfficientNet-Lite0), which matters on
    every CAM call. A module shared twice may be listed twice (restoring it twice is harmless)."""
    found: list[nn.Module] = []
    stack = [model]
    while stack:
        module = stack.pop()
        if module.training:
            found.append(module)
        stack.extend(child for child in module._modules.values() if child is not None)
    return found


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """``model.get_submodule(name)``, or an :class:`InputError` that lists some real names.

    Precondition: ``name`` is a string (an ``InputError`` otherwise, too).
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"layer {name!r}: give a module name of {type(model).__name__}")
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        hint = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise InputError(f"layer {name!r}: {type(model).__name__} has no such layer "
                         f"(it has {hint})") from None


@contextmanager
def capture(model: nn.Module, layer: str, what: Literal["input", "output"] = "input") -> Iterator[
    dict[str, torch.Tensor]
]:
    """Record the input (or output) of ``model.<layer>`` during the forward passes in the block.

    The model is in eval mode inside the block (:func:`eval_mode`); on leaving it, by any route,
    the hook is removed and every module's training mode is restored, so nothing of the capture
    survives.

    Yields:
        A dict that holds the (detached) tensor of the layer's *last* call under ``"features"``
        once the layer has run, and, after the block, how many times it ran under ``"calls"``
        (a 0-d tensor).
    """
    if what not in ("input", "output"):
        raise InputError(f"what {what!r}: choose 'input' or 'output'")
    module = get_layer(model, layer)
    store: dict[str, torch.Tensor] = {}
    calls = [0]

    def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        calls[0] += 1
        store["features"] = (inputs[0] if what == "input" else output).detach()

    handle = module.register_forward_hook(hook)
    try:
        with eval_mode(model):
            yield store
    finally:
        handle.remove()
        store["calls"] = torch.tensor(calls[0])


@dataclass(frozen=True)
class SpatialLayer:
    """A module whose output is a feature map, as one forward pass saw it.

    Attributes:
        name: its name in ``model.named_modules()``.
        kind: its class name (``"Conv2d"``, ``"Sequential"``, ``"MBConvBlock"``, ...).
        channels, height, width: its output's size for the input it was measured on.
        stride: input height // output height (1, 2, 4, ..., 32 in an ImageNet network).
    """

    name: str
    kind: str
    channels: int
    height: int
    width: int
    stride: int

    @property
    def depth(self) -> int:
        """How deep the name is: ``"layer3"`` is 0, ``"_blocks.10"`` is 1."""
        return self.name.count(".")


@torch.no_grad()
def spatial_layers(model: nn.Module, x: torch.Tensor) -> list[SpatialLayer]:
    """Every named module whose output is a 4-d ``(1, C, h, w)`` feature map (not a pooled
    ``1 x 1`` one: global pooling, squeeze-and-excitation), in the order they ran on ``x``; a
    module called twice is listed once, at its last call.

    This is how a lesson finds "the last convolution" or "a block at stride 16" in any network,
    without naming its private layers. One forward pass, in eval mode; every hook is removed and
    every mode restored on leaving.

    Precondition: ``x`` is a checked ``(1, 3, H, W)`` float batch the model can run.
    """
    names = {module: name for name, module in model.named_modules() if name}
    seen: dict[str, SpatialLayer] = {}
    height = x.shape[2]

    def hook(module: nn.Module, _: tuple[torch.Tensor, ...], output: object) -> None:
        if (isinstance(output, torch.Tensor) and output.ndim == 4 and module in names
                and output.shape[2] * output.shape[3] > 1):
            name = names[module]
            seen.pop(name, None)
            _, channels, h, w = output.shape
            seen[name] = SpatialLayer(name, type(module).__name__, int(channels), int(h),
                                      int(w), max(1, round(height / max(1, int(h)))))

    handles = [module.register_forward_hook(hook) for module in names]
    try:
        with eval_mode(model), input_errors(x, model):
            model(x)
    except TypeError as error:  # a forward that needs more than the batch
        raise InputError(f"{type(model).__name__}: cannot run on a batch alone "
                         f"({' '.join(str(error).split())[:200]})") from None
    finally:
        for handle in handles:
            handle.remove()
    return list(seen.values())


def block_at_stride(layers: list[SpatialLayer], stride: int) -> SpatialLayer:
    """The last of the shallowest-named layers whose output has ``stride``: ResNet's
    ``layer3`` or EfficientNet's ``_blocks.10`` for 16 (a whole block, not a convolution in it).

    Raises:
        InputError: no layer of ``layers`` has that stride (the message lists the strides seen).
    """
    if not layers:
        raise InputError("the model has no feature maps (no layer gives a (1, C, h, w) output "
                         "larger than 1 x 1): nothing to find at a stride")
    candidates = [layer for layer in layers if layer.stride == stride]
    if not candidates:
        strides = sorted({layer.stride for layer in layers})
        raise InputError(f"no layer has stride {stride} (the strides seen are {strides})")
    shallowest = min(layer.depth for layer in candidates)
    return [layer for layer in candidates if layer.depth == shallowest][-1]


def hook_count(model: nn.Module) -> int:
    """How many forward hooks are registered on ``model`` and its submodules (for tests)."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()
    )


def identity_gap(rebuilt: torch.Tensor, expected: torch.Tensor) -> tuple[float, float]:
    """``(error, allowed)``: ``max |rebuilt - expected|`` and ``IDENTITY_RTOL * (1 + max
    |expected|)``. Preconditions: tensors of one shape."""
    error = float((rebuilt.detach() - expected.detach()).abs().max())
    allowed = IDENTITY_RTOL * (1.0 + float(expected.detach().abs().max()))
    return error, allowed


def check_identity(rebuilt: torch.Tensor, expected: torch.Tensor, *, model: str,
                   what: str, detail: str = "") -> float:
    """Refuse a model for which ``rebuilt == expected`` fails beyond :data:`IDENTITY_RTOL`.

    Returns:
        The largest absolute difference (within the tolerance).

    Raises:
        InputError: naming ``model`` and ``what`` was compared (NaN counts as a failure).
    """
    error, allowed = identity_gap(rebuilt, expected)
    if not error <= allowed:  # also refuses NaN
        raise not_cam(model, f"for it {what} differs from the logit by {error:.3g}{detail}")
    return error


def not_cam(model_name: str, why: str) -> InputError:
    """The one message for a network whose CAM would not be exact (it points to Grad-CAM)."""
    return InputError(
        f"{model_name}: Class Activation Maps are exact only for global average pooling followed "
        f"by one linear layer, and {why}; use Grad-CAM (lesson 04) for this model"
    )


def find_cam_layers(model: nn.Module, *, owner: str | None = None) -> tuple[str, str]:
    """Names of the global-average-pooling module and the final linear layer of ``model``.

    The structure is checked, in the order the modules are registered: the last
    ``AdaptiveAvgPool2d(1)`` must be followed only by flatten, dropout or identity modules, then
    exactly one ``nn.Linear``; after that linear layer no module may have parameters (a
    parameter-free activation registered late, as in EfficientNet-Lite, is allowed). Whether the
    linear layer's ``in_features`` equals the pooled channels is checked when the features are
    seen, together with the identity ``mean(CAM) + b = logit``.

    Works for ResNet, EfficientNet, RegNet and any network whose head is
    ``AdaptiveAvgPool2d(1) -> flatten -> (dropout) -> Linear``.

    Args:
        model: the network.
        owner: the name errors use (default: the model's class name).

    Raises:
        InputError: no such head (e.g. ConvNeXt's LayerNorm after the pooling, MobileNet-V3's
            two-layer head); the message points to Grad-CAM.
    """
    name = owner or type(model).__name__
    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    pools = [
        i for i, (_, m) in enumerate(leaves)
        if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))
    ]
    if not pools:
        raise not_cam(name, "it has no AdaptiveAvgPool2d(1) module (pass pooling_layer= and "
                            "fc_layer= by name if it pools elsewhere)")
    start = pools[-1]
    linear = None
    for layer_name, module in leaves[start + 1:]:
        if linear is None:
            if isinstance(module, nn.Linear):
                linear = layer_name
            elif not isinstance(module, _PASS_THROUGH):
                raise not_cam(name, f"{layer_name!r} ({type(module).__name__}) sits between "
                                    "the pooling and the classifier")
        elif any(True for _ in module.parameters(recurse=False)):
            raise not_cam(name, f"{layer_name!r} ({type(module).__name__}) follows the linear "
                                f"layer {linear!r}")
    if linear is None:
        raise not_cam(name, "no linear layer follows its global average pooling")
    return leaves[start][0], linear


def _out_of_memory(message: str) -> bool:
    """Whether a ``RuntimeError`` from torch is an allocation failure (not the input's fault)."""
    lowered = message.lower()
    return any(words in lowered for words in (
        "can't allocate memory", "cannot allocate memory", "out of memory",
        "defaultcpuallocator", "not enough memory"))


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with no parameter of ``model`` requiring a gradient; restore each after.

    Methods that need gradients with respect to activations or the input (Grad-CAM, gradient
    attributions) get exactly the same gradients, but autograd no longer records every layer for
    the weight gradients nobody asks for: Grad-CAM at the pooling input keeps only the head's
    graph (measured: 1.25 GB -> under 0.4 GB above the model at the 16:1 aspect cap).
    """
    wanted = [p for p in model.parameters() if p.requires_grad]
    try:
        for parameter in wanted:
            parameter.requires_grad_(False)
        yield model
    finally:
        for parameter in wanted:
            parameter.requires_grad_(True)


@contextmanager
def input_errors(x: torch.Tensor, model: nn.Module | None = None) -> Iterator[None]:
    """Turn a ``RuntimeError`` from running a model on ``x`` into an :class:`InputError` that
    names the input's shape (the usual cause: a tensor too small for the network's kernels, or
    shaped for another network). Wrap public entry points that run a model on a tensor.
    """
    try:
        yield
    except RuntimeError as exc:
        name = type(model).__name__ if model is not None else "the model"
        first = " ".join(str(exc).split())[:160]
        if _out_of_memory(str(exc)):
            raise ResourceError(
                f"inputs of shape {tuple(x.shape)}: not enough memory to run {name} on them "
                "(a smaller batch or picture needs less)"
            ) from None
        raise InputError(
            f"inputs of shape {tuple(x.shape)}: {name} cannot run on them ({first}); is the "
            "tensor preprocessed for this model (too small, or the wrong size)?"
        ) from None
