"""The grader's lessons (xai_tutorial.grading.lessons): the registry, telling a notebook's lesson
from its cells, the teacher's parameters and hidden tests, the pristine context, and the
submission made ready for the box.

The context the grader builds from the parameters must be what the lesson's own cells build:
each lesson's printed solutions, computed in a namespace built the way the lesson's cells build
it, are correct when checked against :func:`context`; and the context's objects equal those the
teacher notebook's own assignments make (run one by one, in the notebook's folder).
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import nbformat
import pytest
import torch
from PIL import Image

from xai_tutorial import Classifier, load_image
from xai_tutorial import classification_exercises as ex01
from xai_tutorial.decision_trees import NBDTExplainer
from xai_tutorial.exercises import Outcome
from xai_tutorial.grading import lessons as L

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDENT = ROOT / "student"


def teacher_of(number: str) -> nbformat.NotebookNode:
    return L.teacher(L.LESSONS[number])


# ----------------------------------------------------------------------------------------------
# The registry


def test_five_lessons_with_their_exercises_in_notebook_order() -> None:
    assert list(L.LESSONS) == ["01", "02", "03", "04", "05"]
    keys = [k for lesson in L.LESSONS.values() for k in lesson.keys]
    assert len(keys) == len(set(keys)) == 15
    for lesson in L.LESSONS.values():
        module = lesson.exercises_module()
        assert list(lesson.exercises.values()) == list(module.EXERCISES)
        assert (NOTEBOOKS / lesson.notebook).is_file()
        checks = [k for c in teacher_of(lesson.number).cells if c.cell_type == "code"
                  for k in L.CHECK.findall(c.source)]
        assert tuple(checks) == lesson.keys
    assert L.LESSONS["01"].keys == ("inception_preprocessing", "top3_by_hand", "flip_probability")
    assert L.LESSONS["05"].keys == ("left_riemann", "signed_or_absolute", "method_families")
    assert L.LESSONS["05"].module == "xai_tutorial.attribution_exercises"
    assert L.LESSONS["05"].context_names == ("classifier", "image", "MY_STEPS", "CURVE_STEPS")


def test_inception_exercise_names_the_photos_its_checker_calls_the_answer_on() -> None:
    exercise = L.LESSONS["01"].exercises["inception_preprocessing"]
    assert exercise.probes == ("chelsea", "cat_over_coffee")
    assert all(not e.probes for e in L.LESSONS["01"].exercises.values() if e is not exercise)
    seen: list[tuple[str, tuple[int, int], bytes]] = []
    inner = ex01._compose(342, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # the right one

    class Compose:  # records what the checker passes in
        transforms = inner.transforms

        def __call__(self, picture: Image.Image) -> torch.Tensor:
            seen.append((picture.mode, picture.size, picture.tobytes()))
            return inner(picture)

    assert exercise.evaluate({"inception_preprocess": Compose()}).outcome is Outcome.CORRECT
    probes = [load_image(name) for name in exercise.probes]
    assert seen == [(p.mode, p.size, p.tobytes()) for p in probes]


# ----------------------------------------------------------------------------------------------
# Which lesson a notebook is


@pytest.mark.parametrize("folder", [NOTEBOOKS, STUDENT], ids=["teacher", "student"])
def test_every_lesson_notebook_is_recognised(folder: Path, tmp_path: Path) -> None:
    for lesson in L.LESSONS.values():
        book = nbformat.read(folder / lesson.notebook, as_version=4)
        assert L.lesson_of(book) == lesson
        # from the cells, not the name; the sources as nbformat keeps them on disk (lists)
        raw = json.loads((folder / lesson.notebook).read_text())
        assert isinstance(raw["cells"][0]["source"], list)
        assert L.lesson_of(nbformat.from_dict(raw)) == lesson


def test_notebooks_of_no_lesson_or_odd_cells() -> None:
    empty = nbformat.v4.new_notebook()
    assert L.lesson_of(empty) is None
    assert L.lesson_of(nbformat.from_dict({"cells": "not a list"})) is None
    assert L.lesson_of(nbformat.from_dict({})) is None
    odd = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
    odd.cells.append(nbformat.from_dict({"cell_type": "code", "source": 42, "metadata": {}}))
    odd.cells.append(nbformat.from_dict({"cell_type": "code", "metadata": {}}))
    odd.cells.append("not a cell")
    assert L.lesson_of(odd) is None
    # a check in a markdown cell is text, not a check
    prose = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "from xai_tutorial import cam_exercises as ex\nex.second_class.check()")])
    assert L.lesson_of(prose) is None


def test_cells_of_another_lesson_do_not_change_the_lesson() -> None:
    book = teacher_of("01")
    pasted = [nbformat.v4.new_code_cell("from xai_tutorial import cam_exercises as ex"),
              nbformat.v4.new_code_cell("ex.second_class.check()")]
    book.cells[5:5] = pasted
    assert L.lesson_of(book) == L.LESSONS["01"]
    # only the import left, the checks deleted: still the lesson it imports
    only_import = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import xai_tutorial.evaluation_exercises as ex")])
    assert L.lesson_of(only_import) == L.LESSONS["04"]
    # the import deleted: the check cells say it
    no_import = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "ex.wrong_turn.check()\nex.node_score_by_hand.check()")])
    assert L.lesson_of(no_import) == L.LESSONS["03"]
    # one check of each of two lessons and no import: ambiguous
    tie = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "ex.wrong_turn.check()\nex.transposition.check()")])
    assert L.lesson_of(tie) is None


def test_lesson_05_is_told_from_its_cells() -> None:
    lesson = L.LESSONS["05"]
    for source in ("from xai_tutorial import attribution_exercises as ex",
                   "import xai_tutorial.attribution_exercises as ex",
                   "ex.left_riemann.check()\nex.method_families.check()",
                   "  ex.signed_or_absolute.check()  # indented, with a comment"):
        book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        assert L.lesson_of(book) == lesson, source
    # lesson 04's notebook with a check of lesson 05 pasted in is still lesson 04, and back
    book = teacher_of("04")
    book.cells.append(nbformat.v4.new_code_cell("ex.left_riemann.check()"))
    assert L.lesson_of(book) == L.LESSONS["04"]
    book = teacher_of("05")
    book.cells[5:5] = [nbformat.v4.new_code_cell("from xai_tutorial import evaluation_exercises "
                                                 "as ex\nex.inverted_map.check()")]
    assert L.lesson_of(book) == lesson
    # one check of lesson 04 and one of 05, no import: ambiguous
    tie = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "ex.inverted_map.check()\nex.left_riemann.check()")])
    assert L.lesson_of(tie) is None
    # a check in prose, or a commented-out one, is not a check
    prose = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("ex.left_riemann.check()"),
        nbformat.v4.new_code_cell("# ex.left_riemann.check()")])
    assert L.lesson_of(prose) is None


# ----------------------------------------------------------------------------------------------
# Parameters and hidden tests


def test_parameters_are_the_teachers() -> None:
    source, values = L.parameters(teacher_of("04"))
    assert "SCENES = 50" in source
    assert values == {"MODEL": "efficientnet_lite0", "PHOTO": "chelsea", "SECOND_PHOTO": "coffee",
                      "STEPS": 8, "OCCLUSION": {"window": 56, "stride": 56}, "SCENES": 50}
    with pytest.raises(ValueError, match="parameters"):
        L.parameters(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("A = 1")]))
    _, values = L.parameters(teacher_of("05"))
    assert {"MODEL", "PHOTO", "MY_STEPS", "CURVE_STEPS"} <= set(values)  # what the grader reads
    assert all(isinstance(values[k], int) and values[k] > 0 for k in ("MY_STEPS", "CURVE_STEPS"))


def test_hidden_tests_are_in_the_teacher_notebook_not_the_student_copy() -> None:
    lesson = L.LESSONS["01"]
    hidden = L.hidden_tests(teacher_of("01"), lesson)
    assert set(hidden) == {"top3_by_hand"}
    assert hidden["top3_by_hand"].startswith("import numbers\n")
    assert "BEGIN" not in hidden["top3_by_hand"] and "END" not in hidden["top3_by_hand"]
    student = nbformat.read(STUDENT / lesson.notebook, as_version=4)
    assert L.hidden_tests(student, lesson) == {}
    assert not any("HIDDEN TESTS" in c.source or "numbers.Real" in c.source
                   for c in student.cells)


def test_hidden_tests_are_dedented_and_belong_to_their_check_cell() -> None:
    cell = nbformat.v4.new_code_cell(
        "ex.wrong_turn.check()\nif True:\n    ### BEGIN HIDDEN TESTS\n    assert a == 1\n"
        "    ### END HIDDEN TESTS\n    pass\n")
    other = nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nassert b\n### END HIDDEN TESTS\n")
    book = nbformat.v4.new_notebook(cells=[cell, other])
    assert L.hidden_tests(book, L.LESSONS["03"]) == {"wrong_turn": "assert a == 1\n"}
    assert L.hidden_tests(book, L.LESSONS["01"]) == {}


def test_run_hidden_passes_fails_and_raises_with_one_line() -> None:
    module = L.LESSONS["01"].exercises_module()
    code = L.hidden_tests(teacher_of("01"), L.LESSONS["01"])["top3_by_hand"]
    right = {"second_top3": [("tabby", 0.5), ("tiger cat", 0.2), ("Egyptian cat", 0.1)]}
    assert L.run_hidden(code, right, {}, module) is None
    tensors = {"second_top3": [("tabby", torch.tensor(0.5))] * 3}
    reason = L.run_hidden(code, tensors, {}, module)
    assert reason is not None and "plain numbers" in reason and "\n" not in reason
    assert "NameError" in L.run_hidden(code, {}, {}, module)
    assert L.run_hidden("assert ex is e and c == 2", {"e": module}, {"c": 2}, module) is None
    assert L.run_hidden("assert False", {}, {}, module) == "a hidden test failed"
    assert L.run_hidden("print('noise')\nraise ValueError('x\\ny')", {}, {}, module) == (
        "a hidden test raised ValueError: x y")
    assert L.run_hidden("assert second_top3 == 1 and classifier == 0", {"second_top3": 1},
                        {"classifier": 0}, module) is None


# ----------------------------------------------------------------------------------------------
# The context, against the teacher notebook's own cells


def teacher_assignments(number: str, names: tuple[str, ...]) -> dict:
    """What the teacher notebook's own cells assign to ``names`` (and what those need), run
    statement by statement in the notebook's folder: its imports, its parameters, and each
    top-level assignment to one of ``names`` (or to ``objects``, lesson 04's scene objects, or
    ``model``, lesson 05's frozen, channels-last network)."""
    wanted = set(names) | {"objects"} | ({"model"} if number == "05" else set())
    namespace: dict = {}
    for cell in teacher_of(number).cells:
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if not line.startswith("%")]
        for statement in ast.parse("\n".join(lines)).body:
            targets = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)
                       and isinstance(n.ctx, ast.Store)}
            parameters = "parameters" in cell.metadata.get("tags", [])
            if isinstance(statement, (ast.Import, ast.ImportFrom)) or parameters or (
                    isinstance(statement, ast.Assign) and targets & wanted):
                exec(compile(ast.Module([statement], []), "<cell>", "exec"), namespace)
    return {name: namespace[name] for name in names}


def same(a: object, b: object) -> bool:
    """The same object of the lesson, as a checker would see it."""
    if isinstance(a, Image.Image):
        b = load_image(b) if isinstance(b, str) else b
        return (a.mode, a.size, a.tobytes()) == (b.mode, b.size, b.tobytes())
    if isinstance(a, str) and isinstance(b, str) and a != b:  # a path, relative or absolute
        return Path(a).resolve() == Path(b).resolve()
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, Classifier):
        return (a.name, a.categories, a.resize, a.crop, a.mean, a.std) == (
            b.name, b.categories, b.resize, b.crop, b.mean, b.std) and same_weights(a.model,
                                                                                    b.model)
    if isinstance(a, NBDTExplainer):
        return (a.name, a.classes, a.soft) == (b.name, b.classes, b.soft) and same_weights(
            a.network, b.network)
    if hasattr(a, "boxes") and hasattr(a, "seed"):  # a pointing-game scene
        return (a.seed, a.boxes) == (b.seed, b.boxes) and same(a.image, b.image)
    return type(a) is type(b) and a == b


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    left, right = a.state_dict(), b.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each lesson's context from its teacher's parameters, built from another folder than the
    notebooks' (relative paths must follow ``notebook_dir``, not the working directory)."""
    import os

    here = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("elsewhere"))
    try:
        return {number: L.context(lesson, L.parameters(teacher_of(number))[1], NOTEBOOKS)
                for number, lesson in L.LESSONS.items()}
    finally:
        os.chdir(here)


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05"])
def test_context_is_what_the_teacher_cells_build(number: str, contexts: dict,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    lesson = L.LESSONS[number]
    built = contexts[number]
    assert tuple(built) == lesson.context_names
    assert set(built) == {n for e in lesson.exercises.values() for n in e.context}
    monkeypatch.chdir(NOTEBOOKS)
    own = teacher_assignments(number, lesson.context_names)
    for name in lesson.context_names:
        assert same(own[name], built[name]), f"lesson {number}: `{name}` differs"


def test_lesson_05s_model_is_frozen_and_channels_last_as_its_setup_cell_leaves_it(
        contexts: dict) -> None:
    classifier = contexts["05"]["classifier"]
    parameters = list(classifier.model.parameters())
    assert parameters and not any(p.requires_grad for p in parameters)
    convolutions = [m.weight for m in classifier.model.modules()
                    if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(w.is_contiguous(memory_format=torch.channels_last)
                                for w in convolutions)
    assert (contexts["05"]["MY_STEPS"], contexts["05"]["CURVE_STEPS"]) == (
        L.parameters(teacher_of("05"))[1]["MY_STEPS"],
        L.parameters(teacher_of("05"))[1]["CURVE_STEPS"])


def test_context_paths_follow_the_notebook_folder(contexts: dict, tmp_path: Path) -> None:
    exercise_image = contexts["03"]["exercise_image"]
    assert Path(exercise_image).is_absolute() and Path(exercise_image).is_file()
    assert contexts["03"]["PHOTOS"][0] == "chelsea"  # sample names stay names
    # an instructor's photo beside the notebook, named relative to it
    load_image("coffee").save(tmp_path / "my photo.png")
    (tmp_path / "lesson").mkdir()
    params = {"MODEL": "efficientnet_lite0", "PHOTO": "../my photo.png", "SECOND_PHOTO": "chelsea"}
    built = L.context(L.LESSONS["01"], params, tmp_path / "lesson")
    assert same(built["image"], load_image("coffee"))
    assert built["classifier"] is not contexts["01"]["classifier"]  # nothing cached here


def test_context_needs_its_parameters() -> None:
    with pytest.raises(KeyError, match="SCENE"):
        L.context(L.LESSONS["02"], {"MODEL": "efficientnet_lite0", "PHOTO": "chelsea"},
                  NOTEBOOKS)
    with pytest.raises(KeyError, match="CURVE_STEPS"):
        L.context(L.LESSONS["05"], {"MODEL": "efficientnet_lite0", "PHOTO": "chelsea",
                                    "MY_STEPS": 4}, NOTEBOOKS)


# ----------------------------------------------------------------------------------------------
# The printed solutions, computed as in the lesson, are correct against the grader's context


def namespace_01(own: dict, params: dict) -> dict:
    from test_classification_exercises import lesson_namespace

    return lesson_namespace(own)


def namespace_02(own: dict, params: dict) -> dict:
    """What lesson 02's cells define before its exercises (steps 1-2, the scene, the ResNet)."""
    import torchvision

    from xai_tutorial import cam_exercises, capture
    from xai_tutorial.cam import cam_layers

    classifier, image = own["classifier"], own["image"]
    model = classifier.model
    pooling_name, fc = cam_layers(classifier)
    x = classifier.preprocess(image, crop=False)
    with capture(model, pooling_name) as captured:
        logits = model(x)[0]
    features = captured["features"][0]
    c = int(logits.argmax())
    weights = fc.weight[c]
    b = fc.bias[c] if fc.bias is not None else torch.tensor(0.0)
    torch.manual_seed(cam_exercises.SEED)
    net = torchvision.models.resnet18(weights=None).eval()
    return {**own, "torch": torch, "model": model, "pooling_name": pooling_name, "fc": fc,
            "x": x, "logits": logits, "features": features, "c": c, "weights": weights, "b": b,
            "cam": torch.einsum("k,khw->hw", weights, features), "capture": capture, "net": net}


def namespace_03(own: dict, params: dict) -> dict:
    """What lesson 03's cells define before its exercises (the root's averaged rows)."""
    from xai_tutorial.decision_trees import node_activation_maps

    fashion_nbdt = own["fashion_nbdt"]
    net = fashion_nbdt.network
    rows, biases = net.fc.weight, net.fc.bias
    leaves = [fashion_nbdt.leaf_indices(child)
              for child in fashion_nbdt.children[fashion_nbdt.root]]
    w_root = torch.stack([rows[index].mean(0) for index in leaves])
    return {**own, "torch": torch, "load_image": load_image, "net": net, "biases": biases,
            "leaves": leaves, "w_root": w_root, "node_activation_maps": node_activation_maps}


def namespace_04(own: dict, params: dict) -> dict:
    from test_evaluation_exercises import lesson_namespace

    return lesson_namespace(own["classifier"], params["PHOTO"], params["SECOND_PHOTO"],
                            steps=params["STEPS"], scenes=params["SCENES"])


def namespace_05(own: dict, params: dict) -> dict:
    from test_attribution_exercises import lesson_namespace

    return lesson_namespace(own["classifier"], own["image"], my_steps=params["MY_STEPS"],
                            curve_steps=params["CURVE_STEPS"])


NAMESPACES = {"01": namespace_01, "02": namespace_02, "03": namespace_03, "04": namespace_04,
              "05": namespace_05}


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05"])
def test_printed_solutions_are_correct_against_the_graders_context(
        number: str, contexts: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lesson = L.LESSONS[number]
    params = L.parameters(teacher_of(number))[1]
    monkeypatch.chdir(NOTEBOOKS)  # the lesson's cells run in its folder
    with torch.set_grad_enabled(number in ("04", "05")):  # lessons 01-03 turn them off
        namespace = NAMESPACES[number](teacher_assignments(number, lesson.context_names),
                                       params)
        for exercise in lesson.exercises.values():
            exec(inspect.cleandoc(exercise.solution_text), namespace)
    monkeypatch.chdir(tmp_path)  # the grader's context needs no working directory
    hidden = L.hidden_tests(teacher_of(number), lesson)
    for key, exercise in lesson.exercises.items():
        answers = {name: namespace[name] for name in exercise.variables}
        result = exercise.evaluate({**answers, **contexts[number]})
        assert result.outcome is Outcome.CORRECT, f"lesson {number}: {result.line}"
        if key in hidden:
            assert L.run_hidden(hidden[key], answers, contexts[number],
                                lesson.exercises_module()) is None


# ----------------------------------------------------------------------------------------------
# The submission, prepared for the box


def fake_export(key: str, names, probes) -> str:
    return f"EXPORT {key} {list(names)} {list(probes)}"


def test_prepare_puts_the_teachers_parameters_and_an_export_after_each_check() -> None:
    lesson = L.LESSONS["01"]
    student = nbformat.read(STUDENT / lesson.notebook, as_version=4)
    code = [i for i, c in enumerate(student.cells) if c.cell_type == "code"]
    place = next(i for i in code if "parameters" in student.cells[i].metadata.get("tags", []))
    student.cells[place].source = 'MODEL = "resnet18"\nPHOTO = "my_cat.jpg"\n'  # the student's
    student.cells[code[-1]].outputs = [nbformat.v4.new_output("stream", text="✓ fake: correct!")]
    before = nbformat.writes(student)
    params, _ = L.parameters(teacher_of("01"))
    prepared, sections = L.prepare(student, lesson, params, fake_export)
    assert nbformat.writes(student) == before  # the submission is not changed
    nbformat.validate(prepared)
    assert prepared.cells[place].source == params
    assert all(not c.outputs and c.execution_count is None
               for c in prepared.cells if c.cell_type == "code")
    assert [s.key for s in sections] == list(lesson.keys)
    exercises = lesson.exercises
    first = 0
    for section in sections:
        check = prepared.cells[section.check_cell]
        assert check.source.startswith(f"ex.{section.key}.check()")
        assert section.export_cell == section.check_cell + 1
        export = prepared.cells[section.export_cell]
        assert export.metadata["tags"] == [L.GRADER_TAG]
        exercise = exercises[section.key]
        assert export.source == fake_export(section.key, exercise.variables, exercise.probes)
        assert section.first_cell == first
        first = section.export_cell + 1
    assert "'chelsea', 'cat_over_coffee'" in prepared.cells[sections[0].export_cell].source
    assert len(prepared.cells) == len(student.cells) + 3


def test_prepare_without_a_parameters_cell_and_with_odd_cells(tmp_path: Path) -> None:
    lesson = L.LESSONS["03"]
    marker = tmp_path / "ran"
    cells = [nbformat.v4.new_markdown_cell("# my notebook"),
             nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('x')"),
             nbformat.v4.new_code_cell("ex.wrong_turn.check()\nex.node_score_by_hand.check()"),
             nbformat.v4.new_code_cell("ex.second_class.check()"),  # another lesson's
             nbformat.v4.new_code_cell("ex.wrong_turn.check()")]  # checked again
    raw = json.loads(nbformat.writes(nbformat.v4.new_notebook(cells=cells)))
    raw["cells"][1]["source"] = ["open(", f"{str(marker)!r}", ", 'w').write('x')"]  # as on disk
    book = nbformat.from_dict(raw)
    book.cells.append(nbformat.from_dict({"cell_type": "code", "source": 7, "metadata": {}}))
    book.cells[2].id = book.cells[3].id = "same"  # hostile: one id twice
    book.cells[0].outputs = ["not allowed here"]
    book.cells.append(nbformat.from_dict({"cell_type": "weird", "source": "w", "metadata": 3}))
    prepared, sections = L.prepare(book, lesson, "PHOTO = 'chelsea'\n", fake_export)
    assert not marker.exists()  # nothing is executed
    assert prepared.cells[1].source == "PHOTO = 'chelsea'\n"
    assert prepared.cells[1].metadata["tags"] == ["parameters"]
    assert prepared.cells[2].source == cells[1].source  # lines joined
    assert [(s.key, s.first_cell, s.check_cell, s.export_cell) for s in sections] == [
        ("wrong_turn", 0, 3, 4), ("node_score_by_hand", 0, 3, 5), ("wrong_turn", 6, 7, 8)]
    assert prepared.cells[-2].source == "" and prepared.cells[-1].cell_type == "raw"
    nbformat.validate(prepared)  # every cell has an id, none twice
    assert len({c.id for c in prepared.cells}) == len(prepared.cells)
    empty, none = L.prepare(nbformat.v4.new_notebook(), lesson, "A = 1", fake_export)
    assert [c.source for c in empty.cells] == ["A = 1"] and none == []


# ----------------------------------------------------------------------------------------------
# Lesson 05's answers, as the grader marks them: out of the kernel as data, checked outside


def marks_of(namespace: dict, contexts: dict) -> dict:
    """``key -> Mark`` of lesson 05's answers in ``namespace`` (the kernel's globals), as the
    grader makes them: the teacher notebook prepared with its export cells, each export cell run
    in ``namespace`` (display recorded), its JSON decoded and checked against the context."""
    from unittest import mock

    from xai_tutorial.grading import answers, marks
    from xai_tutorial.grading.grader import Pristine
    from xai_tutorial.grading.run import Execution

    lesson = L.LESSONS["05"]
    teacher = teacher_of("05")
    source, _ = L.parameters(teacher)
    prepared, sections = L.prepare(teacher, lesson, source, answers.export_cell)
    pristine = Pristine(lesson, source, L.hidden_tests(teacher, lesson), contexts["05"], {})
    run = Execution(prepared)
    shown: list = []
    for section in sections:
        shown.clear()
        with mock.patch("IPython.display.display", lambda obj, raw=False: shown.append(obj)):
            exec(prepared.cells[section.export_cell].source, namespace)
        assert len(shown) == 1
        run.answers[section.export_cell] = json.dumps(shown[0][answers.MIME])
    return {s.key: marks.mark_section(s, run, pristine, answers.PAYLOAD_LIMIT) for s in sections}


@pytest.fixture(scope="module")
def lesson_05(contexts: dict) -> dict:
    """Lesson 05's namespace as its cells build it, with the printed solutions run in it."""
    import os

    params = L.parameters(teacher_of("05"))[1]
    here = Path.cwd()
    os.chdir(NOTEBOOKS)
    try:
        namespace = namespace_05(teacher_assignments("05", L.LESSONS["05"].context_names),
                                 params)
    finally:
        os.chdir(here)
    for exercise in L.LESSONS["05"].exercises.values():
        exec(inspect.cleandoc(exercise.solution_text), namespace)
    return namespace


def test_lesson_05_right_answers_are_marked_correct(lesson_05: dict, contexts: dict) -> None:
    marks = marks_of(dict(lesson_05), contexts)
    assert {k: (m.status, m.reason) for k, m in marks.items()} == {
        key: ("correct", "") for key in L.LESSONS["05"].keys}


def test_lesson_05_wrong_answers_are_marked_not_yet_with_the_checkers_reason(
        lesson_05: dict, contexts: dict) -> None:
    from xai_tutorial import attribution as at

    namespace = dict(lesson_05)
    classifier, x, target = namespace["classifier"], namespace["x"], namespace["target"]
    middle = at.integrated_gradients(classifier, x, target, steps=namespace["MY_STEPS"],
                                     rule="riemann_middle")
    namespace.update(
        left_ig=middle, left_gap=at.completeness(classifier, x, target, middle).gap,
        signed_curve=namespace["absolute_curve"], absolute_curve=namespace["signed_curve"],
        families={**namespace["families"], "guided_backprop": "control"})
    marks = marks_of(namespace, contexts)
    assert {k: m.status for k, m in marks.items()} == dict.fromkeys(L.LESSONS["05"].keys,
                                                                    "not yet")
    for key, reason in (("left_riemann", "your map is the midpoint sum"),
                        ("signed_or_absolute", "your two curves are swapped"),
                        ("method_families", "1 of 14 wrong. guided_backprop is not 'control'")):
        assert reason in marks[key].reason and reason in marks[key].line, marks[key]
    # the answers not there (the student copy's stubs): not attempted
    empty = {k: v for k, v in lesson_05.items()
             if k not in {n for e in L.LESSONS["05"].exercises.values() for n in e.variables}}
    marks = marks_of(empty, contexts)
    assert {m.status for m in marks.values()} == {"not attempted"}


def test_a_reason_is_not_cut_at_a_colon_in_the_exercises_title(lesson_05: dict,
                                                               contexts: dict) -> None:
    namespace = {**lesson_05, "faster": "absolute"}
    mark = marks_of(namespace, contexts)["signed_or_absolute"]
    assert mark.status == "not yet"
    assert mark.reason.startswith("your curves are right, but the signed map"), mark.reason
