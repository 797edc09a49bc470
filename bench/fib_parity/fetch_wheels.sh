#!/usr/bin/env bash
# bench/fib_parity/fetch_wheels.sh: download flashinfer-bench 0.1.2 and its
# pure dependencies as wheels for the GPU host (Python 3.12, manylinux x86_64),
# into the git-ignored .whl/ at the top of the tree. The GPU host has torch
# and triton but no network: the wheels travel with the working tree (carry
# .whl) and install there with
#   python3 -m pip install --no-index --no-deps .whl/*.whl
# (--no-deps: flashinfer-bench also names torch, which the host has, and
# flashinfer-python, which its `run` never imports).
# Usage: bench/fib_parity/fetch_wheels.sh [DEST] (default: .whl).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$here/.whl}
mkdir -p "$dest"
common=(--dest "$dest" --only-binary=:all: --python-version 3.12 --implementation cp
        --abi cp312 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux2014_x86_64 --quiet)
# pydantic pins its pydantic-core: let pip resolve that pair (and
# annotated-types, typing-inspection, typing-extensions) together.
python3 -m pip download "${common[@]}" pydantic
# flashinfer-bench itself without its heavy requirements (torch: the GPU host
# has it; flashinfer-python: not imported by `run`); its small ones by name.
# safetensors (an abi3 wheel) reads the dataset's blobs
# (flashinfer_bench/data/trace_set.py imports it). ninja: both FIB's tvm-ffi
# builder (tvm_ffi.cpp.build) and torch.utils.cpp_extension (FIB's torch
# builder, kernelfarm's Python lane for binding "torch") build with it; its
# wheel puts the binary in bin/ of the --target folder.
python3 -m pip download "${common[@]}" --no-deps flashinfer-bench==0.1.2 docstring-parser \
    apache-tvm-ffi safetensors ninja
ls -1 "$dest"
