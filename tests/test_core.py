"""The core under the lessons: one error family, one check per concept, one hook and mode owner,
one saliency contract, and a photo decoded once along the CLI's paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hand_built import TinyNet
from PIL import Image, ImageOps
from torch import nn

import xai_tutorial as xt
from xai_tutorial.core import images as core_images
from xai_tutorial.core.errors import (
    CacheError,
    DownloadError,
    ImageLoadError,
    InputError,
    TutorialError,
    UnknownNameError,
)
from xai_tutorial.core.hooks import capture, eval_mode, hook_count
from xai_tutorial.core.inputs import check_class, check_classes
from xai_tutorial.core.saliency import (
    count_passes,
    register_method,
    saliency_map,
    saliency_methods,
    unregister_method,
)

# ----------------------------------------------------------------------------------------------
# Errors and inputs


def test_every_user_error_is_one_family_exported_at_the_top():
    assert xt.TutorialError is TutorialError
    for kind in (InputError, UnknownNameError, ImageLoadError, DownloadError, CacheError):
        assert issubclass(kind, TutorialError)
    assert issubclass(ImageLoadError, InputError) and issubclass(UnknownNameError, InputError)
    assert issubclass(InputError, ValueError) and issubclass(CacheError, RuntimeError)
    from xai_tutorial import downloads, errors, images, validation

    assert images.ImageLoadError is ImageLoadError and downloads.CacheError is CacheError
    assert errors.InputError is InputError and validation.check_class is check_class


def test_old_module_paths_are_the_core_modules():
    import xai_tutorial.images as old

    assert old is core_images


@pytest.mark.parametrize("choice", [3, np.int64(3), np.int32(3), np.array(3), torch.tensor(3),
                                    "Pullover", " pullover "])
def test_class_indices_of_every_integer_kind_and_names(choice):
    assert check_class(choice, ["a", "b", "c", "Pullover"]) == 3


@pytest.mark.parametrize("choice", [True, False, 2.0, torch.tensor(1.0), torch.tensor([1]),
                                    np.array([1]), None])
def test_booleans_floats_and_arrays_are_refused_as_classes(choice):
    with pytest.raises(InputError, match="class"):
        check_class(choice, ["a", "b", "c"])


def test_class_lists():
    names = ["a", "b", "c"]
    assert check_classes(None, names, 3) == [0, 1, 2]
    assert check_classes(np.int64(2), names, 3) == [2]
    assert check_classes(np.array([0, 2]), names, 3) == [0, 2]
    assert check_classes(torch.tensor(1), names, 3) == [1]
    assert check_classes(["c", 0], names, 3) == [2, 0]
    with pytest.raises(InputError, match="more than"):
        check_classes(range(10**9), names, 3)  # refused by its length, never listed
    with pytest.raises(InputError, match="at least one"):
        check_classes([], names, 3)
    with pytest.raises(InputError, match="class True"):
        check_classes([0, True], names, 3)


# ----------------------------------------------------------------------------------------------
# Hooks and modes


def _mixed_modes() -> nn.Module:
    model = TinyNet()
    model.train()
    model.fc.eval()  # a model that mixes modes gets exactly its mix back
    return model


def _modes(model: nn.Module) -> dict[str, bool]:
    return {name: m.training for name, m in model.named_modules()}


def test_eval_mode_restores_each_modules_own_mode_also_on_error():
    model = _mixed_modes()
    before = _modes(model)
    with eval_mode(model):
        assert not any(_modes(model).values())
    assert _modes(model) == before
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError("boom")
    assert _modes(model) == before


def test_capture_removes_its_hook_and_restores_modes_on_error():
    model = _mixed_modes()
    before = _modes(model)
    with pytest.raises(ValueError), capture(model, "pool") as store:
        model(torch.rand(1, 3, 4, 6))
        assert hook_count(model) == 1
        raise ValueError
    assert hook_count(model) == 0 and _modes(model) == before
    assert store["features"].shape == (1, 2, 4, 6) and int(store["calls"]) == 1
    with pytest.raises(InputError, match="no such layer"), capture(model, "nope"):
        pass


def test_count_passes_counts_images_forward_and_back():
    model = TinyNet()
    with count_passes(model) as counts:
        with torch.no_grad():
            model(torch.rand(4, 3, 2, 3))
        x = torch.rand(2, 3, 2, 3, requires_grad=True)
        model(x).sum().backward()
    assert counts == {"forward": 6, "backward": 2}
    assert hook_count(model) == 0


# ----------------------------------------------------------------------------------------------
# The saliency contract


class TinyClassifier:
    """The hand-built net as a Classifier would present it (names, preprocessing, class_index)."""

    def __init__(self) -> None:
        self.name, self.model = "tiny", TinyNet().eval()
        self.categories = ["zero", "one", "two"]
        self.pooling_layer, self.fc_layer = "pool", "fc"

    def class_index(self, choice: object) -> int:
        return check_class(choice, self.categories, owner=self.name)

    def preprocess(self, image: Image.Image, crop: bool = False) -> torch.Tensor:
        array = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
        return array.permute(2, 0, 1)[None]


def test_the_registry_lists_the_built_in_methods():
    assert set(saliency_methods()) >= {"cam", "grad_cam", "occlusion", "edge", "random", "center"}


def test_cam_through_the_contract_is_exact_on_a_non_square_input():
    classifier = TinyClassifier()
    x = torch.rand(1, 3, 3, 5) - 0.3
    result = saliency_map(classifier, x, np.int64(2), "cam")
    features = x[0, :2].clamp_min(0)  # F_0 = relu(x_0), F_1 = relu(x_1)
    assert torch.allclose(result.values, features[0] - features[1])  # w_2 = (1, -1)
    assert (result.method, result.class_index, result.input_size) == ("cam", 2, (3, 5))
    assert (result.forward_passes, result.backward_passes) == (1, 0)


def test_a_toy_method_is_one_function_and_one_line():
    calls = []

    def toy(classifier, x, class_index, *, power: int = 1):
        calls.append((tuple(x.shape), class_index, power))
        with torch.no_grad():
            classifier.model(x)
        return x[0].mean(0) ** power

    register_method("toy", toy)
    try:
        assert "toy" in saliency_methods()
        x = torch.rand(1, 3, 2, 4)
        result = saliency_map(TinyClassifier(), x, "one", "toy", power=2)
        assert torch.allclose(result.values, x[0].mean(0) ** 2)
        assert calls == [((1, 3, 2, 4), 1, 2)] and result.forward_passes == 1
        with pytest.raises(InputError, match="toy.*power2"):
            saliency_map(TinyClassifier(), x, 1, "toy", power2=3)
        with pytest.raises(InputError, match="already registered"):
            register_method("toy", toy)
    finally:
        unregister_method("toy")
    assert "toy" not in saliency_methods()


def test_a_method_that_breaks_the_contract_is_named():
    register_method("flat", lambda classifier, x, class_index: x[0])  # (3, h, w): not a map
    try:
        with pytest.raises(InputError, match="'flat'.*not an \\(h, w\\) map"):
            saliency_map(TinyClassifier(), torch.rand(1, 3, 2, 2), 0, "flat")
    finally:
        unregister_method("flat")


@pytest.mark.parametrize("bad", [torch.rand(3, 2, 2), torch.rand(2, 3, 2, 2),
                                 torch.full((1, 3, 2, 2), float("nan")),
                                 torch.zeros(1, 3, 2, 2, dtype=torch.int64)])
def test_inputs_are_checked_once_at_the_edge(bad):
    with pytest.raises(InputError):
        saliency_map(TinyClassifier(), bad, 0, "cam")


def test_float64_inputs_are_cast_and_unknown_methods_listed():
    result = saliency_map(TinyClassifier(), torch.rand(1, 3, 2, 2, dtype=torch.float64), 0)
    assert result.values.dtype == torch.float32
    with pytest.raises(UnknownNameError, match="no such saliency method.*grad_cam"):
        saliency_map(TinyClassifier(), torch.rand(1, 3, 2, 2), 0, "nope")
    with pytest.raises(InputError, match="class True"):
        saliency_map(TinyClassifier(), torch.rand(1, 3, 2, 2), True)


# ----------------------------------------------------------------------------------------------
# A photo is decoded and normalized once along the CLI's paths


def test_load_image_returns_an_image_it_loaded_as_is():
    image = xt.load_image("chelsea")
    assert xt.load_image(image) is image
    other = image.copy()  # not one load_image returned: checked and converted again
    assert xt.load_image(other) is not other
    image.putalpha(255)  # changed in place to RGBA: no longer a checked RGB image
    assert xt.load_image(image) is not image and xt.load_image(image).mode == "RGB"


@pytest.fixture
def rotated_photo(tmp_path):
    """chelsea as a JPEG file whose EXIF says 'rotate 90 degrees'."""
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    xt.sample_image("chelsea").save(path, "JPEG", exif=exif)
    return path


@pytest.fixture
def counted_decoding(monkeypatch):
    counts = {"open": 0, "exif": 0, "normalize": 0}
    real_open, real_exif, real_rgb = Image.open, ImageOps.exif_transpose, core_images._to_rgb

    def opened(fp, *args, **kwargs):
        if not str(fp).endswith(".part"):  # not the read-back check of a file just written
            counts["open"] += 1
        return real_open(fp, *args, **kwargs)

    def exif(*args, **kwargs):
        counts["exif"] += 1
        return real_exif(*args, **kwargs)

    def rgb(*args, **kwargs):
        counts["normalize"] += 1
        return real_rgb(*args, **kwargs)

    monkeypatch.setattr(Image, "open", opened)
    monkeypatch.setattr(ImageOps, "exif_transpose", exif)
    monkeypatch.setattr(core_images, "_to_rgb", rgb)
    return counts


@pytest.mark.parametrize("command", [
    ["cam"], ["cam", "--scale", "shared", "--label", "tabby"],
    ["explain", "--method", "grad_cam"], ["nbdt", "--maps", "{out}/maps"],
])
def test_the_photo_is_opened_and_normalized_once(command, rotated_photo, tmp_path, capsys,
                                                  counted_decoding):
    from xai_tutorial.cli import main

    out = tmp_path / "out"
    argv = [command[0], str(rotated_photo), *[a.format(out=out) for a in command[1:]]]
    if command[0] != "nbdt":
        argv += ["--out", str(out), "--model", "efficientnet_lite0"]
    else:
        argv += ["--model", "fashion"]
    assert main(argv) == 0, capsys.readouterr().err
    assert counted_decoding == {"open": 1, "exif": 1, "normalize": 1}
    if command[0] != "nbdt":
        with Image.open(out / "combined.jpg") as written:
            assert written.size == (300, 451)  # EXIF applied: the photo stands upright


def test_explain_writes_the_pair_and_reports_its_cost(tmp_path, capsys):
    from xai_tutorial.cli import main

    for method, backward in (("grad_cam", 1), ("occlusion", 0)):
        out = tmp_path / method
        code = main(["explain", "chelsea", "--method", method, "--model", "efficientnet_lite0",
                     "--out", str(out), "--json"])
        assert code == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["method"] == method and payload["backward_passes"] == backward
        assert payload["forward_passes"] >= 1 and payload["label"] == "Egyptian cat"
        for name in ("heatmap.jpg", "combined.jpg"):
            with Image.open(out / name) as picture:
                assert picture.size == (451, 300)


def test_explain_refuses_an_unknown_method_in_one_line(tmp_path, capsys):
    from xai_tutorial.cli import main

    assert main(["explain", "chelsea", "--method", "nope", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 'nope': no such saliency method") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_frozen_parameters_come_back_as_they_were_also_on_error():
    from xai_tutorial.core.hooks import frozen

    model = TinyNet()
    model.fc.bias.requires_grad_(False)  # a model with one frozen parameter keeps it frozen
    before = {n: p.requires_grad for n, p in model.named_parameters()}
    with pytest.raises(ValueError), frozen(model):
        assert not any(p.requires_grad for p in model.parameters())
        raise ValueError
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before


def test_grad_cam_gives_the_same_map_with_frozen_weights_and_restores_them():
    from xai_tutorial import evaluation as ev

    classifier = TinyClassifier()
    x = torch.rand(1, 3, 3, 5)
    result = ev.grad_cam(classifier, x, 2)
    cam = saliency_map(classifier, x, 2, "cam").values
    assert torch.allclose(result, cam.clamp_min(0) / 15, atol=1e-6)  # ReLU(CAM) / (h w)
    assert all(p.requires_grad for p in classifier.model.parameters())


def test_an_allocation_failure_is_named_as_such_not_as_a_bad_input():
    from xai_tutorial.core.errors import ResourceError
    from xai_tutorial.core.hooks import input_errors

    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ResourceError, match="not enough memory"), input_errors(x):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't "
                           "allocate memory: you tried to allocate 123 bytes")
    with pytest.raises(InputError, match="cannot run on them"), input_errors(x):
        raise RuntimeError("Kernel size can't be greater than actual input size")
    assert issubclass(ResourceError, TutorialError) and xt.ResourceError is ResourceError


def test_occlusion_refuses_work_beyond_its_budget_before_running(bundled):
    from xai_tutorial import evaluation as ev

    calls = []
    handle = bundled.model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        with pytest.raises(InputError, match="890 forward passes.*larger stride"):
            ev.occlusion(bundled, torch.rand(1, 3, 224, 3584), 1)
    finally:
        handle.remove()
    assert calls == []
    assert ev.occlusion_passes((224, 336), 56, 28) * 224 * 336 <= ev.MAX_OCCLUSION_PIXELS


def test_a_failed_second_move_keeps_the_old_pair_whole(tmp_path, monkeypatch):
    import os

    from xai_tutorial.cam_view import save_cam

    image = xt.load_image("chelsea")
    old = save_cam(image, torch.rand(7, 10), tmp_path)
    before = [p.read_bytes() for p in old]
    real_replace, calls = os.replace, []

    def fail_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(1, "Operation not permitted", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(PermissionError):
        save_cam(image, torch.rand(7, 10), tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert [p.read_bytes() for p in old] == before  # the old heatmap came back, not deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["combined.jpg", "heatmap.jpg"]


def test_a_failed_write_leaves_no_folder_it_made(tmp_path):
    from xai_tutorial.core._files import atomic_paths

    target = tmp_path / "new" / "deeper" / "file.bin"
    with pytest.raises(ValueError), atomic_paths(target) as (partial,):
        partial.write_bytes(b"half")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_messages_name_the_output_not_its_temporary_file():
    from xai_tutorial.cli import environment_message

    error = FileNotFoundError(2, "No such file or directory", "/proc/.heatmap.jpg.123.ab_c.part")
    assert environment_message(error) == "/proc/heatmap.jpg: No such file or directory"


def test_eval_mode_walks_none_children_and_shared_modules():
    model = TinyNet()
    model.register_module("nothing", None)  # a slot left empty, as some architectures do
    model.again = model.conv  # the same module reachable twice
    model.train()
    model.relu.eval()
    before = _modes(model)
    with eval_mode(model):
        assert not any(_modes(model).values())
    assert _modes(model) == before
