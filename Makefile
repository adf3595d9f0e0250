# The two commands a new user needs: `make lab` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# jupyter refuses to run as root without --allow-root; add it only when we are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Tests and saved notebook outputs see empty download caches, as a fresh offline machine does,
# so they are the same everywhere (the developer's own cached weights do not leak in).
CLEAN_CACHES := TORCH_HOME=$(CURDIR)/.venv/empty-cache/torch XAI_TUTORIAL_CACHE=$(CURDIR)/.venv/empty-cache/xai

# Offline data for lesson 03, from Debian packages: WordNet (to name new NBDT hierarchies) and
# Fashion-MNIST (to train and check the shipped NBDT). Installed with apt-get when missing.
DATA       := $(CURDIR)/.venv/data
NLTK_DATA  := $(DATA)/nltk_data
export NLTK_DATA
WORDNET    := $(NLTK_DATA)/corpora/wordnet/lexnames
FASHION    := $(DATA)/FashionMNIST/raw/t10k-labels-idx1-ubyte
DEBIAN_PKGS := wordnet-base wordnet-sense-index dataset-fashion-mnist

.PHONY: setup lab test lint notebooks fetch test-browser clean data

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
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
	rm -rf .venv/empty-cache
	$(CLEAN_CACHES) $(BIN)/pytest tests notebooks --nbval -p no:cacheprovider

# Re-execute every notebook in place and save its outputs (after editing a lesson).
notebooks: setup
	rm -rf .venv/empty-cache
	cd notebooks && for nb in [0-9]*.ipynb; do \
	  $(CLEAN_CACHES) ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

# The notebooks in a real JupyterLab, in Debian's headless Chromium (Playwright drives it; it never
# downloads a browser of its own). Screenshots: test-output/browser/.
/usr/bin/chromium:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "Please install Debian's chromium and chromium-driver packages"; exit 1; fi

test-browser: setup data /usr/bin/chromium
	rm -rf test-output/browser .venv/empty-cache
	$(CLEAN_CACHES) $(BIN)/pytest tests_browser -p no:cacheprovider -v

fetch: setup
	$(BIN)/python -m xai_tutorial fetch --all

clean:
	rm -rf $(VENV) .pytest_cache
