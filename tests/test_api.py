"""The top-level API: every lesson name at ``xai_tutorial.<name>``, resolved lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import xai_tutorial

HEAVY = ("nbdt", "matplotlib", "ipywidgets", "sklearn", "networkx", "nltk", "pooch", "requests")


def test_import_loads_no_heavy_library_and_names_resolve():
    code = (
        "import sys\n"
        "import xai_tutorial as xt\n"
        f"heavy = {HEAVY!r}\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert loaded == [], loaded\n"
        "assert 'torch' not in sys.modules\n"
        "xt.class_activation_maps; xt.load_nbdt; xt.load_classifier; xt.CAMResult\n"
        "assert callable(xt.class_activation_maps) and callable(xt.load_nbdt)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def test_method_names_load_no_view_library():
    code = (
        "import sys\n"
        "import xai_tutorial as xt\n"
        "xt.class_activation_maps; xt.load_classifier; xt.load_image; xt.InputError\n"
        "print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout == "[]\n", result.stderr


@pytest.mark.parametrize("name", sorted(xai_tutorial._API))
def test_every_listed_name_exists_where_the_table_says(name):
    module = importlib.import_module(f"xai_tutorial.{xai_tutorial._API[name]}")
    assert getattr(xai_tutorial, name) is getattr(module, name)


def test_lesson_names_are_listed():
    for name in ("load_classifier", "load_image", "Classifier", "Prediction", "sample_image",
                 "fetch", "class_activation_maps", "CAMResult", "capture", "find_cam_layers",
                 "heatmap_overlay", "plot_overlays", "save_cam", "cam_explorer", "load_nbdt",
                 "InputError", "UnknownNameError", "ImageLoadError", "DownloadError",
                 "CacheError"):
        assert name in xai_tutorial.__all__ and name in dir(xai_tutorial)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        xai_tutorial.nope  # noqa: B018
    assert xai_tutorial.cam.__name__ == "xai_tutorial.cam"  # submodules without an import
