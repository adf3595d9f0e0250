"""Answers leave a student's kernel as data (xai_tutorial.grading.answers).

The export cell is run with exec() in a namespace standing for the kernel's globals (IPython's
display patched to record what it shows), and once in a real kernel through nbclient; what it
shows goes through JSON and decode, as in the grader. Hostile values must neither break the cell
nor pass for something they are not, and decode must refuse every malformed payload.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from collections.abc import Callable
from unittest import mock

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from PIL import Image
from torchvision import transforms

from xai_tutorial import classification_exercises as lesson01
from xai_tutorial import evaluation as ev
from xai_tutorial import load_image
from xai_tutorial.exercises import Outcome, number, text
from xai_tutorial.grading import answers
from xai_tutorial.grading.answers import (
    MIME,
    PAYLOAD_LIMIT,
    AnswerError,
    Opaque,
    Replay,
    decode,
    export_cell,
)

PROBES = ("chelsea", "cat_over_coffee")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {name: load_image(name) for name in PROBES}


def shown_by(namespace: dict, names: list[str], probes: tuple[str, ...] = ()) -> list:
    """What the export cell displays when run in ``namespace`` (display patched to record)."""
    shown: list = []
    with mock.patch("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw))):
        exec(export_cell("the_key", names, probes), namespace)
    return shown


def payload_of(namespace: dict, names: list[str], probes: tuple[str, ...] = ()) -> dict:
    shown = shown_by(namespace, names, probes)
    assert len(shown) == 1, shown
    obj, raw = shown[0]
    assert raw is True and list(obj) == [MIME]
    # What the grader gets: the output's JSON, as the kernel's messages carry it.
    return json.loads(json.dumps(obj[MIME], allow_nan=False))


def round_trip(values: dict, probes: tuple[str, ...] = (),
               photos: dict[str, Image.Image] | None = None) -> dict:
    payload = payload_of(dict(values), list(values), probes)
    key, got = decode(payload, probes=photos or {}, limit=PAYLOAD_LIMIT)
    assert key == "the_key"
    return got


# ---- plain values --------------------------------------------------------------------------


def test_plain_values_come_back_equal_and_of_the_same_type() -> None:
    values = {"none": None, "yes": True, "small": 3, "big": -(2**70), "half": 0.5,
              "word": "héllo\n", "nested": [1, (2, [3.0, "x"]), {}],
              "mapping": {"a": 1, (1, "b"): [2], 2.5: None, None: False}}
    got = round_trip(values)
    assert got == values
    assert [type(v) for v in got.values()] == [type(v) for v in values.values()]
    assert type(got["nested"][1]) is tuple and type(got["nested"][1][1]) is list


def test_non_finite_floats_and_numpy_scalars_come_back_as_python_numbers() -> None:
    got = round_trip({"nan": math.nan, "inf": math.inf, "ninf": -math.inf,
                      "f": np.float64(0.25), "f32": np.float32(1.5), "i": np.int64(-7),
                      "b": np.bool_(True), "s": np.str_("cat"), "size": torch.Size([2, 3])})
    assert math.isnan(got["nan"]) and got["inf"] == math.inf and got["ninf"] == -math.inf
    assert (got["f"], got["f32"], got["i"], got["b"], got["s"]) == (0.25, 1.5, -7, True, "cat")
    assert [type(got[k]) for k in ("f", "i", "b", "s")] == [float, int, bool, str]
    assert got["size"] == (2, 3) and type(got["size"]) is tuple


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32,
                                   torch.int64, torch.float16, torch.bfloat16, torch.float32,
                                   torch.float64, torch.complex64, torch.complex128])
def test_tensors_of_every_dtype_come_back_equal(dtype: torch.dtype) -> None:
    base = torch.arange(24).reshape(2, 3, 4) % 5
    tensor = base.to(dtype) if dtype != torch.complex64 else (base + 2j * base).to(dtype)
    got = round_trip({"t": tensor, "transposed": tensor.transpose(0, 2),
                      "scalar": tensor[1, 2, 3], "empty": tensor[:0]})
    for name, want in (("t", tensor), ("transposed", tensor.transpose(0, 2)),
                       ("scalar", tensor[1, 2, 3]), ("empty", tensor[:0])):
        assert type(got[name]) is torch.Tensor and got[name].dtype == dtype
        assert got[name].shape == want.shape and torch.equal(got[name], want), name


def test_tensor_views_and_parameters_come_back_as_their_plain_values() -> None:
    complex_tensor = torch.tensor([1 + 2j, 3 - 4j])
    parameter = torch.nn.Parameter(torch.ones(2, 2))
    graded = torch.ones(3, requires_grad=True) * 2
    got = round_trip({"conj": complex_tensor.conj(), "neg": torch.ones(2)._neg_view(),
                      "parameter": parameter, "graded": graded})
    assert torch.equal(got["conj"], torch.tensor([1 - 2j, 3 + 4j]))
    assert torch.equal(got["neg"], -torch.ones(2))
    assert type(got["parameter"]) is torch.Tensor and torch.equal(got["parameter"], parameter)
    assert not got["graded"].requires_grad and torch.equal(got["graded"], graded.detach())
    got["parameter"][0, 0] = 5  # its own memory, writeable
    assert parameter[0, 0] == 1


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64", "uint16",
                                   "uint32", "uint64", "float16", "float32", "float64",
                                   "complex64", "complex128", ">f4", ">i8", ">c16"])
def test_arrays_of_every_dtype_come_back_equal(dtype: str) -> None:
    array = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    got = round_trip({"a": array, "strided": array[:, ::2],
                      "zero_d": array[1:2, 1:2].reshape(())})
    for name, want in (("a", array), ("strided", array[:, ::2])):
        assert type(got[name]) is np.ndarray and got[name].dtype == array.dtype.newbyteorder("=")
        assert got[name].shape == want.shape and np.array_equal(got[name], want)
        assert got[name].flags.writeable and got[name].flags.owndata
    assert got["zero_d"].shape == () and got["zero_d"] == array[1, 1]


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "RGBA", "LA", "F", "I", "I;16", "CMYK"])
def test_images_come_back_with_the_same_pixels(mode: str) -> None:
    picture = load_image("chelsea").resize((37, 23)).convert(mode)
    got = round_trip({"picture": picture, "empty": Image.new("RGB", (0, 5))})["picture"]
    assert isinstance(got, Image.Image)
    assert (got.mode, got.size, got.tobytes()) == (mode, picture.size, picture.tobytes())


def test_a_curve_comes_back_as_a_curve_and_other_dataclasses_as_opaque() -> None:
    curve = ev.Curve("deletion", np.linspace(0, 1, 5), np.array([0.9, 0.5, 0.2, 0.1, 0.0]),
                     0.3, 281)

    @dataclasses.dataclass(frozen=True)
    class Mine:
        x: int

    got = round_trip({"curve": curve, "mine": Mine(3)})
    assert type(got["curve"]) is ev.Curve
    assert (got["curve"].kind, got["curve"].auc, got["curve"].class_index) == ("deletion", 0.3, 281)
    assert np.array_equal(got["curve"].probabilities, curve.probabilities)
    assert isinstance(got["mine"], Opaque) and type(got["mine"]).__name__ == "Mine"
    fake = {"dataclass": "xai_tutorial.evaluation.deletion.Curve", "fields": {"kind": "x"}}
    (_, faked), = decode({"key": "k", "values": {"c": fake}}, probes={},
                         limit=PAYLOAD_LIMIT)[1].items()
    assert isinstance(faked, Opaque) and type(faked).__name__ == "Curve"


# ---- values that cannot be sent ------------------------------------------------------------


class MyInt(int):
    pass


class MyFloat(float):
    pass


class LyingStr(str):
    """Says yes to every comparison, and its str() is something else."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return "fake"


def test_unsupported_values_come_back_opaque_with_their_type_name() -> None:
    values = {"my_int": MyInt(3), "my_float": MyFloat(0.5), "complex": 1 + 2j, "bytes": b"x",
              "a_set": {1}, "a_class": int, "objects": np.array([object()]),
              "sparse": torch.eye(2).to_sparse(), "meta": torch.ones(2, device="meta"),
              "generator": (i for i in range(3)), "module": math}
    got = round_trip(values)
    names = {name: type(value).__name__ for name, value in got.items()}
    assert names == {"my_int": "MyInt", "my_float": "MyFloat", "complex": "complex",
                     "bytes": "bytes", "a_set": "set", "a_class": "type", "objects": "ndarray",
                     "sparse": "Tensor", "meta": "Tensor", "generator": "generator",
                     "module": "module"}
    opaque = got["my_int"]
    assert isinstance(opaque, Opaque) and not callable(opaque)
    assert opaque == opaque and opaque != copy.copy(opaque) and opaque != 3
    with pytest.raises(AssertionError, match="should be a number, not MyInt"):
        number(opaque, "answer")


def test_a_str_subclass_is_sent_as_its_characters() -> None:
    got = round_trip({"word": LyingStr("cat"), "key": {LyingStr("k"): 1}})
    assert type(got["word"]) is str and got["word"] == "cat" and got["word"] != "dog"
    assert text(got["word"], "word") == "cat" and got["key"] == {"k": 1}


class Hostile:
    """Everything a checker or an encoder might call raises."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = object.__hash__

    def __str__(self) -> str:
        raise RuntimeError("str")

    __repr__ = __str__

    def __len__(self) -> int:
        raise RuntimeError("len")

    def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
        raise RuntimeError("array")

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(name)


class LyingMeta(type):
    @property
    def __name__(cls) -> str:  # type: ignore[override]
        return "int"


class Disguised(metaclass=LyingMeta):
    __class__ = int  # type: ignore[assignment]


class LyingList(list):
    def __iter__(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("iter")

    def __len__(self) -> int:
        return 10**12


def test_hostile_objects_neither_break_the_cell_nor_pass_for_something_else(
        capsys: pytest.CaptureFixture[str]) -> None:
    values = {"hostile": Hostile(), "in_list": [1, Hostile()], "disguised": Disguised(),
              "lying_list": LyingList([1, 2]), "hostile_key": {Hostile(): 1}}
    got = round_trip(values)
    assert type(got["hostile"]).__name__ == "Hostile" and isinstance(got["hostile"], Opaque)
    assert got["in_list"][0] == 1 and type(got["in_list"][1]).__name__ == "Hostile"
    assert type(got["disguised"]).__name__ == "Disguised"
    assert got["lying_list"] == [1, 2]  # read as the list it is, not as it says
    ((key, one),) = got["hostile_key"].items()
    assert type(key).__name__ == "Hostile" and one == 1
    assert capsys.readouterr() == ("", "")


def test_deep_and_cyclic_values_stop_at_the_depth_limit() -> None:
    cycle: list = []
    cycle.append(cycle)
    got = round_trip({"cycle": cycle})["cycle"]
    for _ in range(answers.MAX_DEPTH):
        assert type(got) is list and len(got) == 1
        got = got[0]
    assert [type(got).__name__] == ["list"] and type(got[0]).__name__ == "too_deep"


def test_a_value_past_the_size_budget_is_too_large_and_the_next_ones_are_still_sent() -> None:
    huge = torch.zeros(answers.ENCODE_BYTES // 4 + 1)  # one float over 64 MB
    got = round_trip({"huge": huge, "after": torch.ones(3), "many": list(range(1000))})
    assert type(got["huge"]).__name__ == "too_large" and isinstance(got["huge"], Opaque)
    assert torch.equal(got["after"], torch.ones(3)) and got["many"] == list(range(1000))


def test_the_budget_counts_items_and_bytes_across_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "ENCODE_BYTES", 4000)
    got = round_trip({"first": np.zeros(400), "second": np.zeros(400), "word": "x" * 100,
                      "items": list(range(10**6))})
    assert np.array_equal(got["first"], np.zeros(400))  # 3200 bytes of 4000
    assert type(got["second"]).__name__ == "too_large"
    assert got["word"] == "x" * 100 and type(got["items"]).__name__ == "too_large"


# ---- the cell in the student's namespace ----------------------------------------------------


def test_the_cell_leaves_the_namespace_as_it_was_and_reads_only_the_names_given(
        capsys: pytest.CaptureFixture[str]) -> None:
    # A student's variables shadowing the builtins the encoder uses change nothing.
    namespace: dict = {"answer": [1, 2.5], "list": 3, "type": "cat", "len": None, "str": 0,
                       "isinstance": print, "json": "j", "sys": "s", "math": 1, "other": 7}
    before = dict(namespace)
    payload = payload_of(namespace, ["answer", "missing"])
    assert payload == {"key": "the_key", "values": {"answer": {"list": [1, 2.5]}}}
    namespace.pop("__builtins__")  # exec() adds it; a kernel's globals have it already
    assert namespace.keys() == before.keys()
    assert all(namespace[k] is before[k] for k in before)
    assert capsys.readouterr() == ("", "")


def test_the_cell_never_raises_even_when_display_does() -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise SystemExit("display")

    namespace = {"answer": 1}
    with mock.patch("IPython.display.display", broken):
        exec(export_cell("k", ["answer"], ()), namespace)
    assert "__xai_grader_export" not in namespace


def test_a_callable_that_prints_raises_or_exits_is_recorded_not_obeyed(
        capsys: pytest.CaptureFixture[str], photos: dict[str, Image.Image]) -> None:
    def noisy(picture: Image.Image) -> tuple[int, int]:
        print("✓ correct!")
        return picture.size

    def exits(picture: Image.Image) -> None:
        raise SystemExit(3)

    got = round_trip({"noisy": noisy, "exits": exits, "interrupted": mock.Mock(
        side_effect=KeyboardInterrupt)}, PROBES, photos)
    assert capsys.readouterr() == ("", "")
    assert type(got["noisy"]).__name__ == "function" and isinstance(got["noisy"], Replay)
    assert got["noisy"](photos["chelsea"]) == photos["chelsea"].size
    with pytest.raises(RuntimeError, match="SystemExit: 3"):
        got["exits"](photos["cat_over_coffee"])
    with pytest.raises(RuntimeError, match="KeyboardInterrupt"):
        got["interrupted"](photos["chelsea"])


# ---- replays -------------------------------------------------------------------------------


def inception(crop: int = 299, *steps: Callable) -> transforms.Compose:
    return transforms.Compose([transforms.Resize(342), transforms.CenterCrop(crop),
                               transforms.ToTensor(), *steps])


def test_a_replay_answers_only_on_the_lesson_photos(photos: dict[str, Image.Image]) -> None:
    compose = inception(299, transforms.Normalize(MEAN, STD))
    replay = round_trip({"t": compose}, PROBES, photos)["t"]
    assert type(replay).__name__ == "Compose" and callable(replay)
    first = replay(load_image("chelsea"))  # the grader's own copy: same pixels
    assert torch.equal(first, compose(photos["chelsea"]))
    first += 1  # a checker changing the result does not change the next call's
    assert torch.equal(replay(photos["chelsea"]), compose(photos["chelsea"]))
    assert torch.equal(replay(photos["cat_over_coffee"]), compose(photos["cat_over_coffee"]))
    altered = photos["chelsea"].copy()
    altered.putpixel((0, 0), (0, 0, 0) if altered.getpixel((0, 0)) != (0, 0, 0) else (1, 1, 1))
    for call in ((altered,), (photos["chelsea"].convert("L"),), ("chelsea",),
                 (photos["chelsea"], photos["chelsea"])):
        with pytest.raises(AssertionError, match="only checked on the lesson's photos"):
            replay(*call)
    unprobed = round_trip({"t": compose}, (), photos)["t"]
    with pytest.raises(AssertionError, match="only checked on the lesson's photos"):
        unprobed(photos["chelsea"])


def test_a_compose_replay_has_the_steps_the_checkers_read(photos: dict[str, Image.Image]) -> None:
    nested = transforms.Compose([transforms.Compose([transforms.Resize(342)]),
                                 transforms.CenterCrop(299), transforms.ToTensor()])
    replay = round_trip({"t": nested}, PROBES, photos)["t"]
    assert lesson01._steps(replay) == lesson01._steps(nested) == [
        "Resize", "CenterCrop", "ToTensor"]
    assert "no Normalize" in lesson01._missing_steps(replay)
    assert not any(callable(step) for step in replay.transforms)


def test_lesson_01s_checker_passes_the_replayed_solution_and_not_a_wrong_compose(
        photos: dict[str, Image.Image]) -> None:
    exercise = lesson01.inception_preprocessing
    namespace: dict = {}
    exec("from torchvision import transforms\n" + exercise.solution_text.strip().replace(
        "\n    ", "\n"), namespace)  # the printed solution, as a learner pastes it
    cases = {"solution": namespace["inception_preprocess"],
             "crop_224": inception(224, transforms.Normalize(MEAN, STD)),
             "no_normalize": inception(299), "function": lambda picture: picture}
    got = round_trip(cases, PROBES, photos)
    results = {name: exercise.evaluate({"inception_preprocess": got[name]}) for name in cases}
    assert results["solution"].outcome is Outcome.CORRECT, results["solution"].line
    assert results["crop_224"].outcome is Outcome.NOT_YET
    assert "224x224" in results["crop_224"].line
    assert results["no_normalize"].outcome is Outcome.NOT_YET
    assert "add Normalize" in results["no_normalize"].line
    assert "not a Compose (it is function)" in results["function"].line
    # Checked in the notebook, each gives the same line.
    for name, answer in cases.items():
        assert exercise.evaluate({"inception_preprocess": answer}).line == results[name].line


# ---- decode refuses malformed payloads ----------------------------------------------------


def wrap(value: object) -> dict:
    return {"key": "k", "values": {"v": value}}


def tensor(dtype: str = "float32", shape: object = (2,), data: object = "AAAAAAAAAAA=") -> dict:
    return {"tensor": {"dtype": dtype, "shape": list(shape) if isinstance(shape, tuple)
                       else shape, "data": data}}


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"list": [value]}
    return value


MALFORMED = {
    "not an object": ([1, 2], "exactly key and values"),
    "extra field": ({"key": "k", "values": {}, "code": "x"}, "exactly key and values"),
    "key not str": ({"key": 1, "values": {}}, "key should be a str"),
    "name not identifier": ({"key": "k", "values": {"a b": 1}}, "identifiers"),
    "unknown tag": (wrap({"pickle": "gASV"}), "unknown kind"),
    "two tags": (wrap({"list": [], "tuple": []}), "does not read"),
    "bare nan": (wrap(math.nan), "does not read"),
    "bad float tag": (wrap({"float": "1e999"}), "unknown kind"),
    "object dtype": (wrap(tensor("object")), "dtype should be one of"),
    "shape not list": (wrap(tensor(shape="2")), "shape"),
    "negative size": (wrap(tensor(shape=(-2,))), "shape"),
    "bool size": (wrap(tensor(shape=[True])), "shape"),
    "too many dims": (wrap(tensor(shape=(1,) * 33)), "shape"),
    "short data": (wrap(tensor(shape=(3,))), "base64 of its 12 bytes"),
    "huge shape": (wrap(tensor(shape=(2**31 - 1,) * 4)), "bytes"),
    "bad base64": (wrap(tensor(data="AAAA!AAAAAA=")), "base64"),
    "data not str": (wrap(tensor(data=[0] * 12)), "base64"),
    "bool byte 2": (wrap(tensor("bool", (3,), "AAEC")), "other than 0 and 1"),
    "missing field": (wrap({"ndarray": {"dtype": "int8", "shape": [0]}}), "exactly dtype"),
    "bfloat16 array": (wrap({"ndarray": {"dtype": "bfloat16", "shape": [0], "data": ""}}),
                       "dtype should be one of"),
    "too deep": (wrap(nested(answers.MAX_DEPTH + 3)), "nested deeper"),
    "unhashable key": (wrap({"dict": [[{"list": []}, 1]]}), "not hashable"),
    "dict not pairs": (wrap({"dict": [[1, 2, 3]]}), "[key, value] pairs"),
    "image mode": (wrap({"image": {"mode": "P", "size": [1, 1], "data": "AA=="}}), "mode"),
    "image size": (wrap({"image": {"mode": "L", "size": [2, 2], "data": "AA=="}}),
                   "base64 of its 4 bytes"),
    "image too wide": (wrap({"image": {"mode": "L", "size": [2**21, 0], "data": ""}}), "size"),
    "steps not str": (wrap({"callable": {"type": "Compose", "steps": [1], "calls": []}}),
                      "list of str"),
    "call not pair": (wrap({"callable": {"type": "f", "steps": [], "calls": [["x"]]}}),
                      "pairs"),
    "same probe twice": (wrap({"callable": {"type": "f", "steps": [], "calls": [
        ["x", 1], ["x", 2]]}}), "pairs"),
    "error not str": (wrap({"callable": {"type": "f", "steps": [], "calls": [
        ["x", {"error": 3}]]}}), "short str"),
    "unsupported not str": (wrap({"unsupported": ["x"]}), "unknown kind"),
    "dataclass fields": (wrap({"dataclass": "m.C", "fields": []}), "dict of fields"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_decode_refuses_malformed_payloads_with_a_reason(case: str) -> None:
    payload, reason = MALFORMED[case]
    with pytest.raises(AnswerError, match=reason.replace("[", r"\[")):
        decode(payload, probes={}, limit=PAYLOAD_LIMIT)


def test_decode_bounds_bytes_and_items(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = payload_of({"t": torch.zeros(1000)}, ["t"])
    assert torch.equal(decode(payload, probes={}, limit=4000)[1]["t"], torch.zeros(1000))
    with pytest.raises(AnswerError, match="over 3999 bytes"):
        decode(payload, probes={}, limit=3999)
    monkeypatch.setattr(answers, "MAX_ITEMS", 100)
    with pytest.raises(AnswerError, match="100 values"):
        decode(wrap({"list": list(range(100))}), probes={}, limit=PAYLOAD_LIMIT)
    assert decode(wrap({"list": list(range(99))}), probes={}, limit=PAYLOAD_LIMIT)[1]["v"] == (
        list(range(99)))


def test_a_decoded_value_is_its_own_not_the_payloads() -> None:
    payload = payload_of({"a": np.arange(3)}, ["a"])
    got = decode(payload, probes={}, limit=PAYLOAD_LIMIT)[1]["a"]
    got[0] = 9
    again = decode(payload, probes={}, limit=PAYLOAD_LIMIT)[1]["a"]
    assert again.tolist() == [0, 1, 2]


# ---- a real kernel ---------------------------------------------------------------------------


def test_the_cell_sends_the_answers_out_of_a_real_kernel(photos: dict[str, Image.Image]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import torch\nfrom torchvision import transforms\n"
                                  "answer = torch.arange(6).reshape(2, 3) / 2\nword = 'cat'\n"
                                  "crop = transforms.Compose([transforms.CenterCrop(4),"
                                  " transforms.PILToTensor()])\nbefore = set(globals())"),
        nbformat.v4.new_code_cell(export_cell("the_key", ["answer", "word", "crop", "gone"],
                                              PROBES)),
        nbformat.v4.new_code_cell(
            "import json\nprint(json.dumps(sorted(set(globals()) - before)))"),
    ])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"] and list(outputs[0].data) == [MIME]
    key, got = decode(json.loads(json.dumps(outputs[0].data[MIME])), probes=photos,
                      limit=PAYLOAD_LIMIT)
    assert key == "the_key" and set(got) == {"answer", "word", "crop"}
    assert torch.equal(got["answer"], torch.arange(6).reshape(2, 3) / 2) and got["word"] == "cat"
    want = transforms.Compose([transforms.CenterCrop(4), transforms.PILToTensor()])
    assert torch.equal(got["crop"](photos["chelsea"]), want(photos["chelsea"]))
    new_names = json.loads(notebook.cells[2].outputs[0].text)
    # Only IPython's own history names (_i2, _ii, ...), the test's, and json of the last cell.
    assert [n for n in new_names if not re.fullmatch(r"_i+\d*|_\d+|before|json", n)] == []
