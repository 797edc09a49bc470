#!/usr/bin/env bash
# tests/gpu/test_stack.sh: the whole stack on one GPU host (redis-server,
# kf-server, kf-worker), driven over HTTP. Needs a GPU and fails loudly
# without one. Programs come from $KF_BIN_DIR, .gpuhost/ (pack.sh), bin/ or
# PATH, in that order. Logs go to $OUT/stack (or a temp dir). Last line:
# "N passed, N failed". See tests/gpu/test_stack.py for the checks.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -f "$root/.gpuhost/env.sh" ]; then
    # shellcheck disable=SC1091
    . "$root/.gpuhost/env.sh"
fi
exec python3 "$here/test_stack.py" "$@"
