# Set-up is shared by `make demo` and `make test`: a virtualenv in .venv, CPU torch first,
# then the package with its test extras, then the shipped model packages (--no-deps: their
# declared dependencies would pull CUDA torchvision and wandb).
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.ganlens-setup
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q torch==2.13.0
	$(VPY) -m pip install -q -e ".[test]"
	$(VPY) -m pip install -q --no-deps gan-face-generate==1.1.1
	touch $(STAMP)

demo: setup
	$(VENV)/bin/ganlens sefa digiface-dcgan64 -L all -K 5 -N 5 --start -3 --end 3 --steps 11 --seed 0 --out results/sefa-digiface --overwrite

test: setup
	$(VPY) -m pytest tests

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) results
