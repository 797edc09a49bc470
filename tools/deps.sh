#!/usr/bin/env bash
# tools/deps.sh: install whatever kernelfarm needs that this Debian 12 machine
# lacks (Debian packages, and the Python packages the tests use). Quiet when
# everything is present. Needs root (or sudo) only when something is missing.
# With the argument "fuzz", also clang and libFuzzer (make fuzz).
set -eu
# libcurl4-openssl-dev: kf's HTTP(S) client; chromium: make test-browser;
# ninja-build and python3-dev: the Python lane's torch binding
# (torch.utils.cpp_extension builds with ninja against Python.h)
pkgs="build-essential pkg-config libmicrohttpd-dev libjansson-dev libhiredis-dev check
      redis-server redis-tools curl libcurl4-openssl-dev python3 python3-jsonschema python3-yaml
      wrk chromium ninja-build python3-dev"
# `tools/deps.sh fuzz` (make fuzz): clang and its libFuzzer runtime too
if [ "${1:-}" = fuzz ]; then
    pkgs="$pkgs clang libclang-rt-14-dev"
fi
missing=()
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import jsonschema' 2>/dev/null; then
    echo "deps: installing python jsonschema"
    python3 -m pip install -q jsonschema || python3 -m pip install -q --break-system-packages jsonschema
fi
# tests/integration/test_deploy.py: PyYAML, and the Kubernetes schemas bundled
# in kubernetes-validate (pinned: the schemas travel with the package, so the
# manifests are validated offline once it is installed)
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "deps: installing python PyYAML"
    python3 -m pip install -q PyYAML || python3 -m pip install -q --break-system-packages PyYAML
fi
if ! python3 -c 'import kubernetes_validate, sys; sys.exit(kubernetes_validate.__version__ != "1.37.0")' 2>/dev/null; then
    echo "deps: installing python kubernetes-validate==1.37.0"
    python3 -m pip install -q kubernetes-validate==1.37.0 ||
        python3 -m pip install -q --break-system-packages kubernetes-validate==1.37.0
fi
cuda=${CUDA_HOME:-/usr/local/cuda}
if [ ! -f "$cuda/include/cuda.h" ] || [ ! -f "$cuda/include/nvrtc.h" ]; then
    echo "deps: the CUDA toolkit is required at $cuda (set CUDA_HOME); cuda.h or nvrtc.h missing" >&2
    exit 1
fi
# tvm-ffi lane (worker/lane_tvmffi.c): the apache-tvm-ffi wheel ships the
# headers (include/tvm/ffi, include/dlpack) and lib/libtvm_ffi.so that
# solutions compile and link against. Its root is written to var/tvm-ffi-root,
# the default of kf-worker's tvm-ffi-root setting (env KF_TVM_FFI_ROOT).
tvm_ffi_root() {
    python3 -c 'import os, tvm_ffi; print(os.path.dirname(os.path.abspath(tvm_ffi.__file__)))' 2>/dev/null
}
root=$(tvm_ffi_root || true)
if [ -z "$root" ]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        echo "deps: installing python3-pip"
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    fi
    echo "deps: installing python apache-tvm-ffi"
    python3 -m pip install -q apache-tvm-ffi || python3 -m pip install -q --break-system-packages apache-tvm-ffi
    root=$(tvm_ffi_root || true)
fi
if [ -z "$root" ] || [ ! -f "$root/include/tvm/ffi/c_api.h" ] || [ ! -f "$root/lib/libtvm_ffi.so" ]; then
    echo "deps: apache-tvm-ffi has no include/tvm/ffi/c_api.h or lib/libtvm_ffi.so under '${root}'" >&2
    exit 1
fi
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$here/var"
if [ "$(cat "$here/var/tvm-ffi-root" 2>/dev/null)" != "$root" ]; then
    echo "$root" > "$here/var/tvm-ffi-root"
    echo "deps: tvm-ffi root $root (var/tvm-ffi-root)"
fi
