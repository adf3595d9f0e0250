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

.PHONY: setup lab test lint notebooks fetch test-browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab $(ALLOW_ROOT) --notebook-dir=notebooks

lint: setup
	$(BIN)/ruff check xai_tutorial tests benchmarks scripts

test: setup lint
	rm -rf .venv/empty-cache
	$(CLEAN_CACHES) $(BIN)/pytest tests notebooks --nbval -p no:cacheprovider

# Re-execute every notebook in place and save its outputs (after editing a lesson).
notebooks: setup
	rm -rf .venv/empty-cache
	cd notebooks && for nb in [0-9]*.ipynb; do \
	  $(CLEAN_CACHES) ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

fetch: setup
	$(BIN)/python -m xai_tutorial fetch --all

clean:
	rm -rf $(VENV) .pytest_cache
