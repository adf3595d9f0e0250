# The two commands a new user needs: `make lab` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# jupyter refuses to run as root without --allow-root; add it only when we are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Tests and saved notebook outputs see empty download caches, as a fresh offline machine does,
# so they are the same everywhere (the developer's own cached weights do not leak in).
EMPTY_CACHE  := $(CURDIR)/build/empty-cache
CLEAN_CACHES := TORCH_HOME=$(EMPTY_CACHE)/torch XAI_TUTORIAL_CACHE=$(EMPTY_CACHE)/xai

# Offline data for lesson 03, from Debian packages: WordNet (to name new NBDT hierarchies) and
# Fashion-MNIST (to train and check the shipped NBDT). Installed with apt-get when missing.
DATA       := $(CURDIR)/.venv/data
NLTK_DATA  := $(DATA)/nltk_data
export NLTK_DATA
WORDNET    := $(NLTK_DATA)/corpora/wordnet/lexnames
FASHION    := $(DATA)/FashionMNIST/raw/t10k-labels-idx1-ubyte
DEBIAN_PKGS := wordnet-base wordnet-sense-index dataset-fashion-mnist

.PHONY: setup lab test lint notebooks student fetch test-browser clean data benchmark-lessons grade benchmark-grade \
  book book-instructor book-widgets book-pdf test-book

setup: $(STAMP)

# On Linux, torch and torchvision come from PyTorch's CPU-only wheel index when it answers within
# a few seconds (no CUDA libraries); otherwise scripts/install_torch.py says so in one line and
# the package install takes PyPI's default wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/python scripts/install_torch.py
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

data: $(WORDNET) $(FASHION)

/usr/share/wordnet/index.sense /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PKGS) >/dev/null; \
	else echo "Please install the Debian packages $(DEBIAN_PKGS) (sudo apt-get install ...)"; exit 1; fi

# nltk refuses symlinks, so copy the files; add lexnames, which Debian does not ship.
$(WORDNET): /usr/share/wordnet/index.sense scripts/wordnet/lexnames | $(STAMP)
	mkdir -p $(dir $@)
	for f in /usr/share/wordnet/*; do [ -d "$$f" ] || cp -L "$$f" $(dir $@); done
	cp scripts/wordnet/lexnames $@

$(FASHION): /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz | $(STAMP)
	mkdir -p $(dir $@)
	for f in /usr/share/datasets/fashion-mnist/*-ubyte.gz; do \
	  gunzip -c $$f > $(dir $@)$$(basename $$f .gz); done

lab: setup
	$(BIN)/jupyter lab $(ALLOW_ROOT) --notebook-dir=notebooks

lint: setup
	$(BIN)/ruff check xai_tutorial tests benchmarks scripts

test: setup lint data
	rm -rf $(EMPTY_CACHE)
	$(CLEAN_CACHES) $(BIN)/pytest tests notebooks --nbval -p no:cacheprovider

# Re-execute the notebooks in place and save their outputs (after editing a lesson), then strip
# what churns (widget views' random model ids, widget state, timings, split streams), keep photos
# as JPEG where that halves them (scripts/strip_notebook.py), and regenerate each MyST twin
# (notebooks/NN_*.md) and its committed student copy (student/NN_*.ipynb: what Binder opens).
# One notebook: make notebooks NB=02_class_activation_maps.ipynb
# Saved figures are drawn at $(FIGURE_DPI) dpi (figures keep their size in inches, so their text
# output does not change; a learner's own run draws them at matplotlib's default). At 100 dpi a
# 6.5 pt font is 9 px tall, so every label of 7 pt or more is legible (tests/test_figures.py reads
# FIGURE_DPI from here and checks every view's fonts against it).
NB         ?= $(notdir $(wildcard notebooks/[0-9]*.ipynb))
FIGURE_DPI ?= 100
EXECUTE    := --ExecutePreprocessor.store_widget_state=False --ExecutePreprocessor.record_timing=False \
  --ExecutePreprocessor.extra_arguments='["--InlineBackend.print_figure_kwargs={\"bbox_inches\": \"tight\", \"dpi\": $(FIGURE_DPI)}"]'
notebooks: setup data
	rm -rf $(EMPTY_CACHE)
	cd notebooks && for nb in $(notdir $(NB)); do \
	  $(CLEAN_CACHES) ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace $(EXECUTE) "$$nb" \
	  || exit 1; done
	$(BIN)/python scripts/strip_notebook.py $(addprefix notebooks/,$(notdir $(NB)))
	$(BIN)/jupytext --to md:myst $(addprefix notebooks/,$(notdir $(NB)))
	$(BIN)/python scripts/build_student.py --output student $(addprefix notebooks/,$(notdir $(NB)))

# Student copies: solutions become nbgrader's stub, hidden tests go, outputs are cleared.
# build/student/NN_*.ipynb, with build/assets beside them (the notebooks read ../assets).
# Every stub cell is tagged raises-exception, so a learner's Run All goes on to the end.
student: setup
	$(BIN)/python scripts/build_student.py --output build/student notebooks/[0-9]*.ipynb

# The notebooks in a real JupyterLab, in Debian's headless Chromium (Playwright drives it; it never
# downloads a browser of its own). Screenshots: test-output/browser/. The student copies are
# (re)built first: one test runs a student copy's Run All.
/usr/bin/chromium:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "Please install Debian's chromium and chromium-driver packages"; exit 1; fi

test-browser: setup data /usr/bin/chromium student
	rm -rf test-output/browser $(EMPTY_CACHE)
	$(CLEAN_CACHES) $(BIN)/pytest tests_browser -p no:cacheprovider -v

# The series as a book (Jupyter Book 1: Sphinx, myst-nb, sphinx-book-theme), built offline from the
# committed, executed notebooks (nothing is re-run) into build/book/ (python -m http.server -d
# build/book): a landing page, a page per lesson named after its notebook, the instructors' guide
# and the README's reference sections; exercise answers left out (book-instructor keeps them, into
# build/book-instructor/); widgets shown as pictures of how they open (book/widgets/, redrawn by
# book-widgets after a widget changes); Sphinx warnings are errors. Jupyter Book comes from the
# `book` extra of pyproject.toml, installed into .venv here only (make setup does not), and MathJax
# from npm (book/package.json, into book/node_modules), so the pages load nothing from elsewhere.
# (The extra pins Sphinx 7 and markdown-it-py 3, which replaces 4 in .venv; jupytext writes the
# same twins with either.) A figure without alt text fails the build;
# BOOK_OPTIONS="--allow-missing-alt-text" builds a draft that lists them.
BOOK_STAMP   := $(VENV)/.book-installed
MATHJAX      := book/node_modules/mathjax/es5/tex-mml-chtml.js
HTML_MANAGER := build/book-npm/package/dist/embed.js
HTML_MANAGER_VERSION := 1.0.15
BOOK_OPTIONS ?=

$(BOOK_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/pip install --quiet -e '.[book]'
	touch $@

/usr/bin/npm:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	else echo "Please install Debian's npm package (or Node.js with npm)"; exit 1; fi

$(MATHJAX): book/package.json book/package-lock.json | $(if $(shell command -v npm),,/usr/bin/npm)
	npm ci --prefix book --silent --no-audit --no-fund
	touch $@

book: setup $(BOOK_STAMP) $(MATHJAX)
	$(BIN)/python scripts/build_book.py $(BOOK_OPTIONS)

book-instructor: setup $(BOOK_STAMP) $(MATHJAX)
	$(BIN)/python scripts/build_book.py --instructor $(BOOK_OPTIONS)

# The widgets' pictures: each lesson's widget built as the lesson builds it, its state rendered by
# @jupyter-widgets/html-manager (the npm package's bundle, unpacked from `npm pack`) in Debian's
# headless Chromium. Writes book/widgets/ (commit it).
$(HTML_MANAGER): | $(if $(shell command -v npm),,/usr/bin/npm)
	mkdir -p build/book-npm
	cd build/book-npm && npm pack --silent @jupyter-widgets/html-manager@$(HTML_MANAGER_VERSION) \
	  && tar xzf jupyter-widgets-html-manager-$(HTML_MANAGER_VERSION).tgz
	touch $@

book-widgets: setup data $(BOOK_STAMP) /usr/bin/chromium $(HTML_MANAGER)
	rm -rf $(EMPTY_CACHE)
	$(CLEAN_CACHES) $(BIN)/python scripts/build_book.py --draw-widgets

# The whole series as one PDF, build/book/xai-tutorial.pdf: the built site printed by Debian's headless
# Chromium (scripts/book_pdf.py: every page in the order of the table of contents, a contents page,
# links between pages kept inside the PDF, a bookmark per page with its sections; no LaTeX). It
# lives inside build/book, which make book starts afresh, so it is never older than the pages.
book-pdf: book /usr/bin/chromium
	$(BIN)/python scripts/book_pdf.py

# The book in real Chromium (tests_book/, Playwright driving Debian's chromium, the site served on
# 127.0.0.1): every page loads with no failed request and none to another host; every internal link
# and anchor resolves; every picture has alt text; the search finds lesson 05; axe-core (npm, in
# book/node_modules, injected into each page) finds no serious or critical WCAG 2.1 A/AA violation,
# light or dark; the PDF opens (poppler's pdftoppm renders its first page) and holds every lesson.
# Screenshots: test-output/book/.
AXE := book/node_modules/axe-core/axe.min.js
$(AXE): $(MATHJAX)
	test -f $@ || npm ci --prefix book --silent --no-audit --no-fund
	touch $@

/usr/bin/pdftoppm:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; \
	else echo "Please install Debian's poppler-utils package"; exit 1; fi

test-book: book-pdf $(AXE) /usr/bin/pdftoppm
	rm -rf test-output/book
	$(BIN)/pytest tests_book -p no:cacheprovider -v

# Does each lesson fit Binder (500 MB above imports, 60 CPU-s)? Run All of each lesson from a
# fresh kernel, one thread (Binder's one CPU), empty caches. Some: make benchmark-lessons LESSONS="00 01"
LESSONS ?=
benchmark-lessons: setup data
	$(BIN)/python benchmarks/lessons.py $(LESSONS)

fetch: setup
	$(BIN)/python -m xai_tutorial fetch --all

# Grade a class: SUBMISSIONS is a folder holding one notebook (or one folder of notebooks) per
# student, as collected; the table goes to GRADES. Options: GRADE_OPTIONS="--jobs 2 --timeout 300"
SUBMISSIONS ?= submissions
GRADES      ?= grades
GRADE_OPTIONS ?=
grade: setup data
	@test -d "$(SUBMISSIONS)" || { echo "error: no folder $(SUBMISSIONS) (make grade SUBMISSIONS=dir)"; exit 1; }
	@ls -A "$(SUBMISSIONS)" | grep -q . || { echo "error: the folder $(SUBMISSIONS) is empty: put one notebook (or one folder of notebooks) per student in it"; exit 1; }
	$(BIN)/python -m xai_tutorial grade "$(SUBMISSIONS)"/* --out "$(GRADES)" $(GRADE_OPTIONS)

# The grader's cost against running the same notebooks alone (goal: at most 10% more).
benchmark-grade: setup data
	$(BIN)/python benchmarks/grading.py

clean:
	rm -rf $(VENV) build .pytest_cache book/node_modules
