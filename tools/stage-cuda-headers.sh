#!/usr/bin/env bash
# tools/stage-cuda-headers.sh LIST SRC_CUDA_HOME DEST
# Copy the CUDA headers that NVRTC needs at run time (the paths in LIST,
# relative to SRC_CUDA_HOME/include: files or whole folders; '#' comments)
# into DEST/include, keeping their layout. The worker image is built with
# it (Dockerfile, build stage), and tests/unit/test_image_headers.c stages
# the same list into a temp dir and compiles every reference kernel with
# CUDA_HOME pointing there, so the image's header set is checked without Docker.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 LIST SRC_CUDA_HOME DEST" >&2; exit 2; }
list=$1 src=$2/include dest=$3/include
[ -f "$list" ] || { echo "stage-cuda-headers: no list file $list" >&2; exit 1; }
[ -d "$src" ] || { echo "stage-cuda-headers: no CUDA include folder $src" >&2; exit 1; }
mkdir -p "$dest"
n=0
while IFS= read -r line || [ -n "$line" ]; do
    p=${line%%#*}
    p=$(printf '%s' "$p" | tr -d '[:space:]')
    [ -n "$p" ] || continue
    case $p in /*|*..*) echo "stage-cuda-headers: $list: '$p' must be relative, without '..'" >&2; exit 1;; esac
    if [ ! -e "$src/$p" ]; then
        echo "stage-cuda-headers: $list: $src/$p does not exist" >&2
        exit 1
    fi
    mkdir -p "$dest/$(dirname "$p")"
    cp -a "$src/$p" "$dest/$(dirname "$p")/"
    n=$((n + 1))
done < "$list"
echo "stage-cuda-headers: $n entries from $list into $dest"
