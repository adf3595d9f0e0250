"""Answers leave a student's kernel as data, and are read back outside it (issue 19).

After each check cell the grader appends :func:`export_cell`'s cell, which displays the exercise's
variables as tagged JSON (one output of type :data:`MIME`); :func:`decode` reads that back in the
grader's process, never executing code or unpickling, within a budget, and raises
:class:`AnswerError` for anything else. A callable answer (lesson 01's ``Compose``) is applied in
the kernel to the lesson's photos and comes back as a :class:`Replay`; a value that cannot be sent
comes back as an :class:`Opaque` of its type's name, so a checker says "not a number, not MyInt".
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import dataclasses
import functools
import hashlib
import inspect
import itertools
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

#: The MIME type of the one output the export cell displays.
MIME = "application/vnd.xai-tutorial.answers+json"
#: Deepest nesting of lists, tuples, dicts, dataclass fields and call results that is sent.
MAX_DEPTH = 20
#: Most values (every number, string, list, ...) in one cell's answers.
MAX_ITEMS = 1_000_000
#: Most bytes of data (tensors, arrays, images, strings) the export cell sends ("too large" past).
ENCODE_BYTES = 64 * 2**20
#: The raw JSON size (and decoded bytes) to accept from an export cell: ENCODE_BYTES as base64.
PAYLOAD_LIMIT = 128 * 2**20
MAX_NDIM, MAX_DIM, MAX_IMAGE_SIDE = 32, 2**31 - 1, 2**20
#: dtype name -> its little-endian numpy code (bfloat16 travels as its 16 bits).
_TENSOR_DTYPES = {"bool": "|b1", "uint8": "|u1", "int8": "|i1", "int16": "<i2", "int32": "<i4",
                  "int64": "<i8", "float16": "<f2", "bfloat16": "<i2", "float32": "<f4",
                  "float64": "<f8", "complex64": "<c8", "complex128": "<c16"}
_ARRAY_DTYPES = {**{k: v for k, v in _TENSOR_DTYPES.items() if k != "bfloat16"},
                 "uint16": "<u2", "uint32": "<u4", "uint64": "<u8"}
#: Image mode -> bits per pixel of ``Image.tobytes()`` (rows of mode "1" padded to bytes).
_IMAGE_BITS = {"1": 1, "L": 8, "LA": 16, "I;16": 16, "RGB": 24, "YCbCr": 24, "HSV": 24,
               "RGBA": 32, "CMYK": 32, "I": 32, "F": 32}


class AnswerError(ValueError):
    """The answers that came out of a kernel are not what the export cell sends."""


# ---- Inside the kernel: the export cell carries this class's source (and _KERNEL_IMPORTS) ----

class _KernelEncoder:
    """Reads answers from a kernel's globals and displays them as tagged JSON data.

    Runs in the student's kernel from its source, with the standard library and the modules the
    kernel imported. Never raises: a value it cannot encode is sent as ``{"unsupported": T}``.
    """

    class TooLarge(Exception):
        """The answers passed the size budget."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.left, self.items, self.calling = config["bytes"], config["items"], False

    def emit(self, namespace: dict) -> None:
        """Display ``{MIME: {"key", "values"}}`` for the configured names found in ``namespace``."""
        values = {}
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            for name in self.config["names"]:
                if name in namespace:
                    values[name] = self.top(namespace[name])
        from IPython.display import display
        display({self.config["mime"]: {"key": self.config["key"], "values": values}}, raw=True)

    def top(self, value: object) -> object:
        """One answer, made plain JSON by a round trip, within the budget."""
        left, items = self.left, self.items
        try:
            return json.loads(json.dumps(self.encode(value, 0), allow_nan=False))
        except self.TooLarge:
            self.left, self.items = left, items
            return {"unsupported": "too large"}
        except BaseException:  # noqa: BLE001 (whatever a student's object raised)
            return {"unsupported": self.name(value)}

    def spend(self, nbytes: int, items: int = 0) -> None:
        self.left, self.items = self.left - nbytes, self.items - items
        if self.left < 0 or self.items < 0:
            raise self.TooLarge

    @staticmethod
    def name(value: object) -> str:
        """The real name of ``value``'s type (a metaclass cannot lie about it)."""
        return type.__dict__["__name__"].__get__(type(value))

    def encode(self, value: object, depth: int) -> object:
        self.spend(16, 1)
        if depth > self.config["depth"]:
            return {"unsupported": "too deep"}
        try:
            return self.kind(value, depth)
        except self.TooLarge:
            raise
        except BaseException:  # noqa: BLE001
            return {"unsupported": self.name(value)}

    def kind(self, value: Any, depth: int) -> object:
        exact, numpy = type(value), sys.modules.get("numpy")
        if value is None or exact is bool or exact is str or (
                exact is int and value.bit_length() <= 4096):
            self.spend(len(value) if exact is str else 0)
            return value
        if exact is float:
            return value if math.isfinite(value) else {"float": repr(value)}
        if numpy is not None and isinstance(value, numpy.generic) and exact.__module__ == "numpy":
            return self.encode(value.item(), depth)
        if isinstance(value, str):
            return self.kind(str.__str__(value), depth)
        if isinstance(value, (int, float, complex)):
            return {"unsupported": self.name(value)}
        if isinstance(value, (list, tuple)):
            tag, base = ("list", list) if isinstance(value, list) else ("tuple", tuple)
            self.spend(0, base.__len__(value))
            return {tag: [self.encode(item, depth + 1) for item in list(base.__iter__(value))]}
        if isinstance(value, dict):
            pairs = list(dict.items(value))
            self.spend(0, len(pairs))
            pairs = [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in pairs]
            unhashable = {"list", "dict", "ndarray", "image", "dataclass"}  # as decoded
            ok = all(type(k) is not dict or not unhashable & set(k) for k, _ in pairs)
            return {"dict": pairs} if ok else {"unsupported": self.name(value)}
        encoded = self.array(value)
        if encoded is not None:
            return encoded
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {"dataclass": f"{exact.__module__}.{exact.__qualname__}",
                    "fields": {str.__str__(f.name): self.encode(getattr(value, f.name), depth + 1)
                               for f in dataclasses.fields(value)}}
        if callable(value) and not isinstance(value, type):
            return self.function(value, depth)
        return {"unsupported": self.name(value)}

    def array(self, value: object) -> object:
        """A tensor, numpy array or PIL image as its raw little-endian bytes; else None."""
        torch, numpy, image = (sys.modules.get(m) for m in ("torch", "numpy", "PIL.Image"))
        if torch is not None and isinstance(value, torch.Tensor):
            tensor = torch.Tensor.detach(value)
            name = str(tensor.dtype).rpartition(".")[2]
            if (tensor.layout != torch.strided or tensor.is_meta or tensor.is_quantized
                    or name not in self.config["tensors"]):
                return {"unsupported": self.name(value)}
            self.spend(tensor.numel() * tensor.element_size())
            tensor = tensor.cpu().resolve_conj().resolve_neg().contiguous()
            data = (tensor.view(torch.int16) if name == "bfloat16" else tensor).numpy()
            return {"tensor": self.buffer(data, name)}
        if numpy is not None and isinstance(value, numpy.ndarray):
            data = numpy.ndarray.view(value, numpy.ndarray)
            if data.dtype.names is not None or data.dtype.name not in self.config["arrays"]:
                return {"unsupported": self.name(value)}
            self.spend(data.nbytes)
            return {"ndarray": self.buffer(data, data.dtype.name)}
        if image is not None and isinstance(value, image.Image):
            mode, (width, height) = str.__str__(value.mode), value.size
            if mode not in self.config["modes"]:
                return {"unsupported": self.name(value)}
            self.spend(width * height * 4)
            return {"image": {"mode": mode, "size": [width, height],
                              "data": base64.b64encode(value.tobytes()).decode("ascii")}}
        return None

    @staticmethod
    def buffer(data: Any, name: str) -> dict:
        little = data.astype(data.dtype.newbyteorder("<"), order="C")
        return {"dtype": name, "shape": [int(n) for n in data.shape],
                "data": base64.b64encode(little.tobytes()).decode("ascii")}

    def function(self, value: Any, depth: int) -> dict:
        """A callable: its steps' class names, and what it gives on each probe photo."""
        steps: list = []
        try:
            self.steps(value, 0, steps)
        except BaseException:  # noqa: BLE001
            steps = [self.name(value)]
        calls = []
        if not self.calling:  # a callable that a call returned is not called in turn
            self.calling = True
            try:
                calls = [[probe, self.call(value, probe, depth)]
                         for probe in self.config["probes"]]
            finally:
                self.calling = False
        return {"callable": {"type": self.name(value), "steps": steps, "calls": calls}}

    def steps(self, value: object, depth: int, out: list) -> None:
        """The class names of a ``Compose``'s steps, nested ones flattened (as the checkers do)."""
        if len(out) > 1000 or depth > self.config["depth"]:
            raise self.TooLarge
        inner = getattr(value, "transforms", None)
        if self.name(value) == "Compose" and isinstance(inner, Sequence):
            for step in itertools.islice(inner, 1001):
                self.steps(step, depth + 1, out)
        else:
            out.append(self.name(value))

    def call(self, value: Any, probe: str, depth: int) -> object:
        try:
            from xai_tutorial import load_image

            result = value(load_image(probe))
        except BaseException as exc:  # noqa: BLE001
            message = ""
            with contextlib.suppress(BaseException):
                message = str.__str__(str(exc))
            return {"error": f"{self.name(exc)}: {message}"[:300]}
        return self.encode(result, depth + 1)


#: What the encoder's source needs above it in the kernel (these are imported here too).
_KERNEL_IMPORTS = ("from __future__ import annotations\nimport base64, contextlib, dataclasses, "
                   "itertools, json, math, os, sys\nfrom collections.abc import Sequence\n"
                   "from typing import Any\n")

_CELL = '''\
# Added by the grader: sends this exercise's answers out of the kernel as data.
def __xai_grader_export():
    import builtins
    scope = {{"__builtins__": builtins, "__name__": "xai_grader_export"}}
    builtins.exec({source}, scope)
    scope["_KernelEncoder"]({config}).emit(builtins.globals())

try:
    __xai_grader_export()
except BaseException:
    pass
try:
    del __xai_grader_export
except BaseException:
    pass
'''


def export_cell(key: str, names: Sequence[str], probes: Sequence[str]) -> str:
    """The source of the code cell that sends exercise ``key``'s answers out as data.

    It reads each of ``names`` from the kernel's globals (a missing one left out), applies a
    callable answer to each of ``probes`` (sample names for ``load_image``) and displays one
    output, ``{MIME: {"key": key, "values": {name: encoded}}}``. It prints nothing, never raises
    and leaves no new name behind (one function, deleted at the end); the encoder runs in a scope
    of its own, so a student's variable called ``list`` or ``type`` changes nothing.
    """
    config = {"mime": MIME, "key": str(key), "names": [str(n) for n in names],
              "probes": [str(p) for p in probes], "bytes": ENCODE_BYTES, "items": MAX_ITEMS,
              "depth": MAX_DEPTH, "tensors": sorted(_TENSOR_DTYPES),
              "arrays": sorted(_ARRAY_DTYPES), "modes": sorted(_IMAGE_BITS)}
    source = _KERNEL_IMPORTS + inspect.getsource(_KernelEncoder)
    return _CELL.format(source=repr(source), config=repr(config))


# ---- Outside the kernel: what decode gives back ------------------------------------------------

class Opaque:
    """An answer the kernel could not send as data (or a replayed ``Compose``'s step): only its
    type's name came out, and its type is made per name. Not callable, equal only to itself."""

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: not sent to the grader>"


class Replay:
    """A callable answer, replayed from what it gave in the kernel on the lesson's photos.

    On a picture with one of those photos' pixels (hash of mode, size, bytes) it returns a copy
    of the recorded result or raises the recorded error as ``RuntimeError``; on anything else,
    ``AssertionError``. Its type is made per name (the student's type's), and a ``Compose``
    replay has ``transforms``: :class:`Opaque` objects named as the recorded steps.
    """

    def __init__(self, results: dict[str, object], errors: dict[str, str],
                 fingerprints: Mapping[str, str]) -> None:
        self._results, self._errors, self._fingerprints = results, errors, fingerprints

    def __call__(self, *args: object, **kwargs: object) -> object:
        probe = None
        if len(args) == 1 and not kwargs and isinstance(args[0], Image.Image):
            probe = self._fingerprints.get(_fingerprint(args[0]))
        if probe in self._errors:
            raise RuntimeError(self._errors[probe])
        if probe in self._results:
            return copy.deepcopy(self._results[probe])
        photos = ", ".join(sorted({*self._results, *self._errors})) or "none"
        raise AssertionError(f"{type(self).__name__} was only checked on the lesson's photos "
                             f"({photos}); the grader cannot apply it to anything else")


def _fingerprint(picture: Image.Image) -> str:
    return hashlib.sha256(f"{picture.mode} {picture.size}\n".encode() + picture.tobytes()
                          ).hexdigest()


def _identifier(name: str) -> str:
    """``name`` as a Python identifier (other characters as ``_``), at most 100 characters."""
    clean = "".join(c if ("_" + c).isidentifier() else "_" for c in name[:100])
    return clean if clean.isidentifier() else ("_" + clean if clean else "object")


@functools.lru_cache(maxsize=1024)
def _named(base: type, name: str) -> type:
    """A subclass of ``base`` called ``name`` (made once per name)."""
    return type(name, (base,), {"__module__": __name__, "__qualname__": name})


@functools.lru_cache(maxsize=1)
def dataclasses_allowed() -> dict[str, type]:
    """The dataclasses an answer may be, by ``module.QualName``, rebuilt by their constructor."""
    from ..evaluation.deletion import Curve

    return {f"{c.__module__}.{c.__qualname__}": c for c in (Curve,)}


_TAGS = {"list": "sequence", "tuple": "sequence", "dict": "mapping", "tensor": "array",
         "ndarray": "array", "image": "image", "callable": "function"}


class _Decoder:
    """Turns one payload's encoded values back into values, within a budget of bytes and items."""

    def __init__(self, probes: Mapping[str, Image.Image], limit: int) -> None:
        self.limit, self.left, self.items = limit, limit, MAX_ITEMS
        self.fingerprints = {_fingerprint(photo): name for name, photo in probes.items()}

    def spend(self, nbytes: int, items: int = 0) -> None:
        self.left, self.items = self.left - nbytes, self.items - items
        if self.left < 0 or self.items < 0:
            raise AnswerError(f"the answers hold over {self.limit} bytes or {MAX_ITEMS} values")

    def value(self, obj: Any, depth: int) -> object:
        self.spend(len(obj) if type(obj) is str else 0, 1)
        if depth > MAX_DEPTH + 1:
            raise AnswerError(f"the answers are nested deeper than {MAX_DEPTH}")
        kind = type(obj)
        if obj is None or kind in (bool, int, str) or (kind is float and math.isfinite(obj)):
            return obj
        if kind is not dict or (len(obj) != 1 and set(obj) != {"dataclass", "fields"}):
            raise AnswerError(f"a value the grader does not read (a {kind.__name__})")
        if len(obj) == 2:
            return self.dataclass(obj, depth)
        ((tag, body),) = obj.items()
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "unsupported" and type(body) is str:
            self.spend(len(body))
            return _named(Opaque, _identifier(body))()
        if tag not in _TAGS:
            raise AnswerError(f"a value of unknown kind {tag[:60]!r} (or a bad {tag[:60]})")
        return getattr(self, _TAGS[tag])(body, depth, tag)

    def sequence(self, body: Any, depth: int, tag: str) -> object:
        if type(body) is not list:
            raise AnswerError(f"a {tag}'s items should be a JSON list")
        items = [self.value(item, depth + 1) for item in body]
        return items if tag == "list" else tuple(items)

    def mapping(self, body: Any, depth: int, tag: str) -> dict:
        if type(body) is not list or any(type(p) is not list or len(p) != 2 for p in body):
            raise AnswerError("a dict should be a list of [key, value] pairs")
        result = {}
        for key, item in body:
            key = self.value(key, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise AnswerError(f"a dict key of type {type(key).__name__} is not hashable"
                                  ) from None
            result[key] = self.value(item, depth + 1)
        return result

    @staticmethod
    def fields(body: Any, names: tuple[str, ...], what: str) -> list:
        if type(body) is not dict or set(body) != set(names):
            raise AnswerError(f"{what} should have exactly {', '.join(names)}")
        return [body[name] for name in names]

    def raw(self, data: object, size: int, what: str) -> bytes:
        """The ``size`` bytes that ``data`` holds as base64 (its length checked before decoding)."""
        self.spend(size)
        raw = None
        if type(data) is str and len(data) == 4 * -(-size // 3):
            with contextlib.suppress(binascii.Error, ValueError):
                raw = base64.b64decode(data, validate=True)
        if raw is None or len(raw) != size:
            raise AnswerError(f"{what}'s data is not the base64 of its {size} bytes")
        return raw

    def array(self, body: Any, depth: int, tag: str) -> np.ndarray | torch.Tensor:
        dtypes = _TENSOR_DTYPES if tag == "tensor" else _ARRAY_DTYPES
        name, shape, data = self.fields(body, ("dtype", "shape", "data"), f"a {tag}")
        if type(name) is not str or name not in dtypes:
            raise AnswerError(f"a {tag}'s dtype should be one of {', '.join(dtypes)}")
        if type(shape) is not list or len(shape) > MAX_NDIM or any(
                type(n) is not int or not 0 <= n <= MAX_DIM for n in shape):
            raise AnswerError(f"a {tag}'s shape should be at most {MAX_NDIM} sizes >= 0")
        dtype = np.dtype(dtypes[name])
        raw = self.raw(data, math.prod(shape) * dtype.itemsize, f"a {tag}")
        if name == "bool" and raw.translate(None, b"\0\1"):
            raise AnswerError(f"a {tag} of bools holds bytes other than 0 and 1")
        array = np.frombuffer(raw, dtype).reshape(shape).astype(dtype.newbyteorder("="))
        if tag == "ndarray":
            return array
        tensor = torch.from_numpy(array)
        return tensor.view(torch.bfloat16) if name == "bfloat16" else tensor

    def image(self, body: Any, depth: int, tag: str) -> Image.Image:
        mode, size, data = self.fields(body, ("mode", "size", "data"), "an image")
        if type(mode) is not str or mode not in _IMAGE_BITS:
            raise AnswerError(f"an image's mode should be one of {', '.join(_IMAGE_BITS)}")
        if type(size) is not list or len(size) != 2 or any(
                type(n) is not int or not 0 <= n <= MAX_IMAGE_SIDE for n in size):
            raise AnswerError(f"an image's size should be [width, height] <= {MAX_IMAGE_SIDE}")
        width, height = size
        raw = self.raw(data, (width * _IMAGE_BITS[mode] + 7) // 8 * height, "an image")
        if width == 0 or height == 0:
            return Image.new(mode, (width, height))
        return Image.frombytes(mode, (width, height), raw)

    def function(self, body: Any, depth: int, tag: str) -> Replay:
        kind, steps, calls = self.fields(body, ("type", "steps", "calls"), "a callable")
        if type(kind) is not str or type(steps) is not list or type(calls) is not list or any(
                type(step) is not str for step in steps):
            raise AnswerError("a callable's type should be a str and its steps a list of str")
        self.spend(len(kind) + sum(len(step) for step in steps), len(steps))
        results: dict[str, object] = {}
        errors: dict[str, str] = {}
        for call in calls:
            if type(call) is not list or len(call) != 2 or type(call[0]) is not str or (
                    call[0] in results or call[0] in errors):
                raise AnswerError("a callable's calls should be [photo, result] pairs, one a photo")
            photo, result = call
            if type(result) is dict and set(result) == {"error"}:
                if type(result["error"]) is not str or len(result["error"]) > 1000:
                    raise AnswerError("a call's error should be a short str")
                errors[photo] = result["error"]
            else:
                results[photo] = self.value(result, depth + 1)
        replay = _named(Replay, _identifier(kind))(results, errors, self.fingerprints)
        if type(replay).__name__ == "Compose":
            replay.transforms = [_named(Opaque, _identifier(step))() for step in steps]
        return replay

    def dataclass(self, obj: dict, depth: int) -> object:
        name, fields = obj["dataclass"], obj["fields"]
        if type(name) is not str or type(fields) is not dict:
            raise AnswerError("a dataclass should have a str name and a dict of fields")
        self.spend(len(name) + sum(len(field) for field in fields))
        values = {field: self.value(item, depth + 1) for field, item in fields.items()}
        cls = dataclasses_allowed().get(name)
        if cls is not None and set(values) == {f.name for f in dataclasses.fields(cls) if f.init}:
            try:
                return cls(**values)
            except Exception:  # noqa: BLE001 (its own validation refused it)
                pass
        return _named(Opaque, _identifier(name.rpartition(".")[2]))()


def decode(payload: object, *, probes: Mapping[str, Image.Image], limit: int
           ) -> tuple[str, dict[str, object]]:
    """The exercise key and the answers in ``payload``, the JSON the export cell displayed.

    ``probes`` are the grader's own pristine photos by sample name (a :class:`Replay` answers
    only for those); ``limit`` bounds the bytes of data decoded (the grader checks the raw JSON's
    size against it before parsing). Tensors and arrays own their memory.

    Raises:
        AnswerError: naming what is malformed (anything the export cell does not send).
    """
    if type(payload) is not dict or set(payload) != {"key", "values"}:
        raise AnswerError("the answers should be a JSON object with exactly key and values")
    key, values = payload["key"], payload["values"]
    if type(key) is not str or type(values) is not dict:
        raise AnswerError("the answers' key should be a str and values an object")
    if any(not name.isidentifier() for name in values):
        raise AnswerError("the answers' names should be Python identifiers")
    decoder = _Decoder(probes, limit)
    return key, {name: decoder.value(value, 0) for name, value in values.items()}
