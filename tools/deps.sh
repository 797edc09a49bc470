#!/usr/bin/env bash
# tools/deps.sh: install whatever kernelfarm needs that this Debian 12 machine
# lacks (Debian packages, and the Python packages the tests use). Quiet when
# everything is present. Needs root (or sudo) only when something is missing.
# With the argument "fuzz", also clang and libFuzzer (make fuzz).
set -eu
pkgs="build-essential pkg-config libmicrohttpd-dev libjansson-dev libhiredis-dev check
      redis-server redis-tools curl python3 python3-jsonschema wrk"
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
cuda=${CUDA_HOME:-/usr/local/cuda}
if [ ! -f "$cuda/include/cuda.h" ] || [ ! -f "$cuda/include/nvrtc.h" ]; then
    echo "deps: the CUDA toolkit is required at $cuda (set CUDA_HOME); cuda.h or nvrtc.h missing" >&2
    exit 1
fi
