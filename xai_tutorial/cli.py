"""Command line: ``python -m xai_tutorial {classify,cam,explain,nbdt,fetch} ...``.

Every input is converted once, here at the edge (the photo decoded and normalized once, the class
resolved to an index, the display options checked into one :class:`~xai_tutorial.HeatmapStyle`),
and passed inward as checked values.

Every failure a user can cause prints one ``error: ...`` line on stderr and exits 1, without a
traceback: the package's own errors (every :class:`~xai_tutorial.TutorialError`: a bad photo, an
unknown name, a bad option, a failed download, an empty cache) and environment errors (an
``OSError`` such as a missing or read-only place, a file where a folder should be, a name too
long, a full disk), which name the path. The line is escaped (control characters such as a
newline or an escape sequence in a path are shown as ``\\n``, ``\\x1b``, never obeyed) and cut to
at most :data:`ERROR_CHARS` characters; printed paths are escaped the same way. Anything else is
a bug and keeps its traceback. Argparse's usage errors keep exit status 2. A closed standard
output ends the command quietly with exit status 141, as SIGPIPE would.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .core._files import printable, target_of
from .core.downloads import DOWNLOADS
from .core.errors import CacheError, DownloadError, InputError, TutorialError
from .core.heatmap import DEFAULT_CMAP, DIVERGING_CMAP, HeatmapStyle
from .core.inputs import SCALES, check_alpha, check_k, check_scale

EXIT_ERROR = 1

#: Longer explanation lines are printed one decision per line (the tutorial's CIFAR-10 and our
#: Fashion-MNIST lines fit; an induced 1000-class tree's node names do not).
LINE = 160

#: The package's user-facing errors, all of one family: printed as one line.
USER_ERRORS: tuple[type[BaseException], ...] = (TutorialError,)

#: ``OSError`` numbers that describe the user's environment, not a bug: printed as one line.
ENVIRONMENT_ERRNOS: frozenset[int] = frozenset(
    getattr(errno, name) for name in (
        "EACCES", "EPERM", "ENOENT", "ENOTDIR", "EISDIR", "EEXIST", "ENAMETOOLONG", "EROFS",
        "ENOSPC", "EDQUOT", "ELOOP", "EXDEV", "EBUSY", "ETXTBSY", "EFBIG", "EMFILE", "ENFILE",
        "EIO",
    ) if hasattr(errno, name)
)


def environment_message(exc: OSError) -> str:
    """``path: reason`` for an environment error (both paths when there are two), escaped."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EFBIG:
        reason += " (a file-size limit, ulimit -f?)"
    if exc.filename is None:
        return reason
    first = printable(target_of(exc.filename))  # the output, not its temporary .part file
    second = None if exc.filename2 is None else printable(target_of(exc.filename2))
    paths = first if second is None or second == first else f"{first} -> {second}"
    return f"{paths}: {reason}"


def _checked(check: Callable[[object], object], convert: Callable[[str], object], noun: str):
    """An argparse type: ``check(convert(text))``; the check's own message on failure."""

    def parse(text: str) -> object:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        try:
            return check(value)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


_top_k = _checked(lambda k: check_k(k, 1000), int, "a whole number")
_alpha = _checked(check_alpha, float, "a number")
_scale = _checked(check_scale, str, "a scale")
_class_number = _checked(lambda index: index, int, "a class index (a whole number)")


def _prepare(args: argparse.Namespace):
    """The checked inputs of ``cam`` and ``explain``: photo, style, targets, model, class.

    Everything a user can get wrong (the photo, ``--cmap``, ``--out``) fails before a model is
    loaded; the class is resolved once the model's names are known.
    """
    from .classification import load_classifier
    from .core._files import check_targets
    from .core.images import load_image

    image = load_image(args.source)  # decoded and normalized once, here
    style = HeatmapStyle(alpha=args.alpha, cmap=args.cmap, scale=args.scale)
    targets = (Path(args.out) / "heatmap.jpg", Path(args.out) / "combined.jpg")
    check_targets(targets)
    classifier = load_classifier(args.model)
    if args.label is not None:
        index = classifier.class_index(args.label)
    elif args.class_index is not None:
        index = classifier.class_index(args.class_index)
    else:
        index = None
    return image, style, classifier, index


def _report(args: argparse.Namespace, image, classifier, index: int, probability: float,
            raw, paths, extra: dict | None = None) -> int:
    """Print what ``cam``/``explain`` wrote, as text or JSON."""
    from .core.heatmap import peak, upsample

    label = classifier.categories[index]
    heatmap, combined = paths
    if args.json:
        payload = {"index": index, "label": label, "probability": probability, **(extra or {}),
                   "peak": list(peak(upsample(raw, (image.height, image.width)))),
                   "heatmap": str(heatmap), "combined": str(combined)}
        print(json.dumps(payload, indent=2))
        return 0
    print(f"Class: {label} (index {index}, probability {probability:.2%})")
    print(f" * Wrote heatmap to {printable(heatmap)}")
    print(f" * Wrote combined to {printable(combined)}")
    return 0


def _cam(args: argparse.Namespace) -> int:
    from .cam import class_activation_maps
    from .cam_view import save_cam

    image, style, classifier, index = _prepare(args)
    if style.scale == "shared" or index is None:
        result = class_activation_maps(classifier, image)  # all classes: the shared range
        index = int(result.logits.argmax()) if index is None else index
        raw = result.maps[index]
    else:
        result = class_activation_maps(classifier, image, [index])
        raw = result.maps[0]
    reference = result.maps if style.scale == "shared" else None
    paths = save_cam(image, raw, args.out, reference=reference, style=style)
    return _report(args, image, classifier, index, float(result.probabilities[index]), raw, paths)


def takes_layer(function: Callable[..., object]) -> bool:
    """Whether a saliency method has a ``layer`` option (a ``layer`` parameter, or ``**options``
    it may pass on); a function without a signature is given the benefit of the doubt."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any((p.name == "layer" and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD
               for p in parameters)


def _method_options(method: str, layer: str | None) -> dict[str, str]:
    """``explain``'s options for ``method``: ``{"layer": layer}`` when one is given (refused, in
    one line, for a method that takes no layer)."""
    from .core.saliency import get_method

    function = get_method(method)  # an unknown method fails before any work
    if layer is None:
        return {}
    if not takes_layer(function):
        raise InputError(f"--layer: the method {method!r} takes no layer (grad_cam does)")
    return {"layer": layer}


def _explain(args: argparse.Namespace) -> int:
    import torch

    from .cam_view import save_cam
    from .core.hooks import eval_mode
    from .core.saliency import model_input, saliency_map

    options = _method_options(args.method, args.layer)
    image, style, classifier, index = _prepare(args)
    x = model_input(classifier, image)
    with torch.no_grad(), eval_mode(classifier.model):
        probabilities = classifier.model(x)[0].softmax(0)
    index = int(probabilities.argmax()) if index is None else index
    result = saliency_map(classifier, x, index, args.method, **options)
    paths = save_cam(image, result.values, args.out, style=style)
    extra = {"method": result.method, **options, "forward_passes": result.forward_passes,
             "backward_passes": result.backward_passes}
    return _report(args, image, classifier, index, float(probabilities[index]), result.values,
                   paths, extra)


def _nbdt(args: argparse.Namespace) -> int:
    from .core.images import load_image
    from .decision_trees import default_nbdt_name, load_nbdt

    image = load_image(args.source)
    if args.maps is not None:
        from .core._files import check_targets

        check_targets([args.maps / "01-decision.png"])  # a file in the way fails before work
    name = args.model
    if name is None:
        name, why = default_nbdt_name()
        print(f"Using the {name} NBDT: {why}.", file=sys.stderr)
    explainer = load_nbdt(name, soft=args.soft)
    if not explainer.trained_for_trees:
        print(f"Note: the {name} network was NOT trained for trees (no tree supervision); "
              "its decisions show what an untrained tree does.", file=sys.stderr)
    written = []
    if args.maps is None:
        explanation = explainer.explain(image)
    else:  # the explanation and its maps from one forward pass
        from .decision_trees_view import save_node_maps

        explanation, node_maps = explainer.explain_with_maps(image)
        written = save_node_maps(explainer, image, args.maps, node_maps=node_maps)
    if args.json:
        payload = {"model": name, **explanation.as_dict()}
        if args.maps is not None:
            payload["maps"] = [str(path) for path in written]
        print(json.dumps(payload, indent=2))
    else:
        print(explanation.text(width=LINE))
        for path in written:
            print(f" * Wrote {printable(path)}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from .classification import load_classifier
    from .core.images import load_image

    image = load_image(args.source)  # fail on bad input before loading a model
    classifier = load_classifier(args.model)
    predictions = classifier.predict(image, k=args.top)
    if args.json:
        payload = {
            "model": classifier.name,
            "predictions": [
                {"index": p.index, "label": p.label, "probability": p.probability}
                for p in predictions
            ],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(f"Prediction: {predictions[0].label}")
    width = max(len(p.label) for p in predictions)
    for rank, p in enumerate(predictions, 1):
        print(f"{rank:>3}. {p.label:<{width}}  {p.probability:7.2%}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from .core.downloads import fetch, get_download

    if args.list or (not args.all and not args.name):
        for name in DOWNLOADS:
            item = get_download(name)
            print(f"{name:<14} {item.state():<15} {item.description}")
        return 0
    names = list(DOWNLOADS) if args.all else [args.name]
    failed = 0
    for name in names:
        try:
            path = fetch(name, progress=not args.quiet)
        except (DownloadError, CacheError) as exc:
            _fail(str(exc))
            failed += 1
        else:
            print(f"{name}: {printable(path)}")
    return EXIT_ERROR if failed else 0


def _map_options(command: argparse.ArgumentParser, *, scale: bool) -> None:
    """The options ``cam`` and ``explain`` share: source, class, model, style, output."""
    command.add_argument("source", metavar="SOURCE")
    which = command.add_mutually_exclusive_group()
    which.add_argument("--class", dest="class_index", type=_class_number, metavar="INDEX",
                       help="ImageNet class index (0-999)")
    which.add_argument("--label", metavar="NAME", help="class name, e.g. 'espresso'")
    command.add_argument("--model", default=None, help="as for classify")
    command.add_argument("--alpha", type=_alpha, default=0.5, metavar="A",
                         help="heatmap opacity: 0 = photo only, 1 = heatmap only (default 0.5)")
    if scale:
        command.add_argument("--scale", type=_scale, default="minmax",
                             metavar="{" + ",".join(SCALES) + "}",
                             help="minmax: the map on its own; shared: one range for all "
                                  "classes; signed: 0 in the middle, for a diverging colormap")
    else:
        command.set_defaults(scale="minmax")
    command.add_argument("--cmap", default=None,
                         help=f"matplotlib colormap (default {DEFAULT_CMAP}; {DIVERGING_CMAP} "
                              "with --scale signed; jet is the 2020 tutorial's, for comparison)")
    command.add_argument("--out", default=".", metavar="DIR", help="output folder (default: here)")
    command.add_argument("--json", action="store_true", help="print JSON instead of text")


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors escaped and capped like every other error line (an
    unrecognized argument is echoed: it must not bring its own newlines or escape sequences)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {printable(message, ERROR_CHARS)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m xai_tutorial",
        description="Explain an image classifier: the tutorial's steps from the shell.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    classify = commands.add_parser(
        "classify", help="classify a photo (the tutorial's step 2)", description=(
            "Classify SOURCE (a file, http(s) URL or sample name such as 'chelsea') with an "
            "ImageNet model and print the top-k classes."
        )
    )
    classify.add_argument("source", metavar="SOURCE")
    classify.add_argument(
        "--model", default=None, help="efficientnet_lite0 or resnet18 (default: resnet18 when "
        "cached, else the bundled efficientnet_lite0)"
    )
    classify.add_argument("--top", type=_top_k, default=5, metavar="K", help="classes to list")
    classify.add_argument("--json", action="store_true", help="print JSON instead of a table")
    classify.set_defaults(run=_classify)

    fetch = commands.add_parser(
        "fetch", help="download weights that do not ship with the package",
        description="Download, verify and cache weights (the only command that downloads).",
    )
    fetch.add_argument("name", nargs="?", choices=list(DOWNLOADS), metavar="NAME",
                       help=f"one of: {', '.join(DOWNLOADS)}")
    fetch.add_argument("--all", action="store_true", help="fetch everything")
    fetch.add_argument("--list", action="store_true", help="list what can be fetched")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(run=_fetch)

    cam = commands.add_parser(
        "cam", help="Class Activation Map of a photo (the tutorial's step 3)", description=(
            "Write heatmap.jpg and combined.jpg (the map over the photo, at the photo's size) for "
            "one class: the top prediction unless --class or --label says otherwise."
        )
    )
    _map_options(cam, scale=True)
    cam.set_defaults(run=_cam)

    explain = commands.add_parser(
        "explain", help="any registered saliency method's map of a photo", description=(
            "Write heatmap.jpg and combined.jpg for one class with the saliency method --method "
            "(cam, grad_cam, occlusion; lesson 05's gradient, gradient_x_input, smoothgrad, "
            "integrated_gradients, guided_backprop, rise, lime, kernel_shap; and the controls "
            "edge, random, center), at its default settings: the perturbation methods run a "
            "forward pass per mask or sample (rise: 500, lime and kernel_shap: 200), which takes "
            "minutes on one CPU for a wide photo. grad_cam looks "
            "at the input of the global average pooling (where it is ReLU(CAM) / (h w)), or, in "
            "a network without one, at the output of the last layer with a spatial output; "
            "--layer names another layer."
        )
    )
    explain.add_argument("--method", default="cam", metavar="NAME",
                         help="a registered saliency method (default cam)")
    explain.add_argument("--layer", default=None, metavar="NAME",
                         help="grad_cam only: the module whose output Grad-CAM weighs, by its "
                              "name in the model (e.g. layer3 of a ResNet; default: the pooling "
                              "input, or the last spatial layer); refused for methods that "
                              "take no layer")
    _map_options(explain, scale=False)
    explain.set_defaults(run=_explain)

    _add_nbdt(commands)

    from .grading.cli import add_parser as add_grade  # instructors: grade a class

    add_grade(commands)
    return parser


def _add_nbdt(commands: Any) -> None:
    """The ``nbdt`` command (the tutorial's step 4)."""
    tree = commands.add_parser(
        "nbdt", help="explain a photo with a Neural-Backed Decision Tree (the tutorial's step 4)",
        description=(
            "Print the NBDT's prediction and the decisions that led to it. Default model: the "
            "tutorial's cifar10 NBDT when its checkpoint is cached, else the bundled fashion one."
        ),
    )
    tree.add_argument("source", metavar="SOURCE")
    tree.add_argument("--model", choices=("fashion", "cifar10", "imagenet"), default=None,
                      help="fashion (bundled), cifar10 (after `fetch nbdt_cifar10`) or imagenet "
                      "(the bundled EfficientNet-Lite0, NOT trained for trees)")
    tree.add_argument("--maps", type=Path, default=None, metavar="DIR",
                      help="also write one node activation map overlay per decision into DIR")
    tree.add_argument("--soft", action="store_true", help="soft decision rules")
    tree.add_argument("--json", action="store_true", help="print JSON instead of text")
    tree.set_defaults(run=_nbdt)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every user error is one escaped ``error:`` line (see the module doc).

    A closed standard output (``... | head -1``) ends the command quietly with exit status 141,
    as a tool killed by SIGPIPE would.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_matplotlib_config()
    try:
        return args.run(args)
    except USER_ERRORS as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        return _closed_stdout()
    except OSError as exc:
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise  # not the environment: a bug, with its traceback
        return _fail(environment_message(exc))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


#: Longest error line printed (a message quoting a huge input is cut in the middle).
ERROR_CHARS = 400


def _fail(message: str) -> int:
    """Print ``message`` as one escaped, capped ``error:`` line on stderr; exit status 1."""
    try:
        print(f"error: {printable(message, ERROR_CHARS)}", file=sys.stderr)
    except (BrokenPipeError, OSError):
        pass  # stderr closed too: nothing more can be said
    return EXIT_ERROR


def _closed_stdout() -> int:
    """The reader of standard output went away: point it at /dev/null so the interpreter's own
    last flush stays silent, and exit as SIGPIPE would."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 128 + 13


def _quiet_matplotlib_config() -> None:
    """When matplotlib's config folder cannot be made (an unwritable HOME), give it a private
    temporary one, as its own warning advises, so the CLI prints no warning lines."""
    if "MPLCONFIGDIR" in os.environ:
        return
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    try:
        os.makedirs(os.path.join(base, "matplotlib"), exist_ok=True)
        if os.access(os.path.join(base, "matplotlib"), os.W_OK):
            return
    except OSError:
        pass
    import tempfile

    os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="xai-tutorial-matplotlib-")
