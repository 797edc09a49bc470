#!/usr/bin/env bash
# tests/gpu/test_stack.sh: the whole stack on one GPU host (redis-server,
# kf-server, kf-worker), driven over HTTP. Needs a GPU and fails loudly
# without one. Programs come from $KF_BIN_DIR, .gpuhost/ (pack.sh), bin/ or
# PATH, in that order. Logs go to $OUT/stack (or a temp dir). Last line:
# "N passed, N failed". See tests/gpu/test_stack.py for the checks.
set -u
stack_dir=$(cd "$(dirname "$0")" && pwd)
stack_root=$(cd "$stack_dir/../.." && pwd)
if [ -f "$stack_root/.gpuhost/env.sh" ]; then
    # shellcheck disable=SC1091
    . "$stack_root/.gpuhost/env.sh"   # (it sets its own variables, e.g. "here")
fi
exec python3 "$stack_dir/test_stack.py" "$@"
