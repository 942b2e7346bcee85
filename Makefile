# `make book` builds the HTML book; `make test` runs every test.
# Both create the virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Runs that the stored outputs and the tests must reproduce: no download
# attempt, the default budget, and no GPU even where there is one (every
# notebook must run without, and the stored outputs come from the CPU).
REPRO_ENV := PATH="$(CURDIR)/$(BIN):$$PATH" LSGAN_OFFLINE=1 LSGAN_BUDGET=default CUDA_VISIBLE_DEVICES= \
	PYTHONHASHSEED=0
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

.PHONY: setup book book-strict test unit nbval execute clean system-data browser-deps

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@$(MAKE) --no-print-directory system-data browser-deps
	touch $(STAMP)

# Debian's copy of Fashion-MNIST, installed when we are root on a Debian-like
# system and it is missing; otherwise a note, never a failure.
system-data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
			>/dev/null 2>&1 || echo "note: could not install dataset-fashion-mnist"; \
	else echo "note: for offline Fashion-MNIST run: sudo apt-get install dataset-fashion-mnist"; fi

# For the real-browser test of the built book: Debian's Chromium and its
# driver (as root), and MathJax from npm so that the test needs no CDN.
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver) \
			>/dev/null 2>&1 || echo "note: could not install chromium"; \
	else echo "note: the browser test needs: sudo apt-get install chromium chromium-driver"; fi
	@if [ ! -f $(VENV)/npm/node_modules/mathjax/es5/tex-mml-chtml.js ]; then \
		if command -v npm >/dev/null; then \
			npm install --silent --no-audit --no-fund --prefix $(VENV)/npm mathjax@3.2.2 \
				|| echo "note: could not install mathjax from npm"; \
		else echo "note: the browser test needs npm (for MathJax)"; fi; fi

# The HTML book from the notebooks' stored outputs (nothing is executed).
book: setup
	$(BIN)/jupyter-book build . --builder html
	@echo "open _build/html/index.html"

# The same build with every warning an error and internal links checked.
book-strict: setup
	$(BIN)/jupyter-book build . --all --builder html --warningiserror --nitpick --keep-going

unit: setup
	$(REPRO_ENV) $(BIN)/python -m pytest tests -q

nbval: setup
	$(REPRO_ENV) $(BIN)/python -m pytest --nbval --nbval-current-env book/ -q \
		--junitxml=artifacts/nbval.xml

test: book-strict unit nbval

# Re-run every notebook in place, refreshing the stored outputs.
execute: setup
	@for nb in $(NOTEBOOKS); do \
		echo "executing $$nb"; \
		$(REPRO_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.record_timing=False \
			--ExecutePreprocessor.store_widget_state=False "$$nb" || exit 1; \
	done

clean:
	rm -rf _build

# Images per second of our trainer, of a tutorial-style DataLoader loop and of
# the bare model step, on this machine (see book/trainer.md).
.PHONY: bench
bench: setup
	$(REPRO_ENV) $(BIN)/python bench/benchmark.py
