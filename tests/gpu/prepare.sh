#!/usr/bin/env bash
# tests/gpu/prepare.sh: run HERE (the Debian development machine), before a
# device run of tests/gpu/full.sh on a bare GPU host. It
#   1. builds the programs (make all bench);
#   2. packs bin/kf, bin/kf-server, bin/kf-worker, bin/kf-runner (+ redis-server, redis-cli
#      and the shared libraries a bare host lacks) into .gpuhost/ with
#      ../shared/gpu-host/pack.sh (GPU_HOST_PACK overrides the path);
#   3. copies the contest definitions and the workload files the conformance
#      scripts read into .fib/: .fib/defs/*.json (definitions, official
#      PyTorch reference inside: read there, never copied into the project),
#      .fib/workloads/*.uuid_axes.tsv (derived axis tables) and the MoE
#      workloads JSONL;
#   4. checks that both folders are git-ignored and that what travels stays
#      well under the device's 64 MiB, and prints the carry list.
# The synthesized dataset (var/dataset, ~100 MB) does not travel: full.sh
# synthesizes it on the host with the packed kf (~1 s).
# Exit status non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${KF_CONTEST_DATA:-../shared/datasets/mlsys26}
PACK=${GPU_HOST_PACK:-../shared/gpu-host/pack.sh}
LIMIT_MB=58   # of the device's 64 MiB (tree and carried folders together)

die() { echo "prepare.sh: FATAL: $*" >&2; exit 1; }

[ -x "$PACK" ] || die "pack.sh not found at $PACK (set GPU_HOST_PACK)"
[ -d "$DATA/definitions" ] || die "contest data not found at $DATA (set KF_CONTEST_DATA)"

echo "== make all bench"
make --no-print-directory all bench

echo "== pack .gpuhost"
progs=(bin/kf bin/kf-server bin/kf-worker bin/kf-runner bin/libkfrunner.so)
# GPU test programs and benchmarks built from C (bench/timer_offset)
for p in build/tests/gpu_* build/bench/*; do
    [ -f "$p" ] && [ -x "$p" ] && progs+=("$p")
done
rm -rf .gpuhost
"$PACK" .gpuhost "${progs[@]}"
for p in kf kf-server kf-worker kf-runner redis-server redis-cli; do
    [ -x ".gpuhost/bin/$p" ] || die ".gpuhost/bin/$p missing after pack"
done
# the packed programs must resolve every library from .gpuhost/lib or the host's
# (C library, CUDA driver/toolkit): report anything ldd cannot find here
missing=$(LD_LIBRARY_PATH=.gpuhost/lib ldd .gpuhost/bin/* 2>/dev/null | grep "not found" || true)
[ -z "$missing" ] || die "unresolved libraries in .gpuhost: $missing"

echo "== contest files into .fib/defs, .fib/workloads"
mkdir -p .fib/defs .fib/workloads
rm -f .fib/defs/*.json .fib/workloads/*.tsv .fib/workloads/*.jsonl
cp "$DATA"/definitions/*.json .fib/defs/
cp "$DATA"/workloads/derived/*.uuid_axes.tsv .fib/workloads/
cp "$DATA"/workloads/*.jsonl .fib/workloads/
chmod u+w .fib/defs/* .fib/workloads/*
ndef=$(ls .fib/defs/*.json | wc -l)
ntsv=$(ls .fib/workloads/*.tsv | wc -l)
[ "$ndef" -ge 5 ] && [ "$ntsv" -ge 5 ] || die "expected >= 5 definitions and TSVs, got $ndef and $ntsv"
for d in kernels/examples/*/; do
    def=$(basename "$d")
    [ -f ".fib/defs/$def.json" ] || die "no contest definition for example $def"
done
[ -f .fib/workloads/moe_fp8_block_scale_ds_routing_topk8_ng8_kg4_e32_h7168_i2048.jsonl ] ||
    die "MoE workloads JSONL missing"

echo "== sizes"
for p in .gpuhost .fib; do
    git check-ignore -q "$p/" || die "$p is not git-ignored (add /$p/ to .git/info/exclude)"
done
# what travels: tracked + untracked-not-ignored files, plus the carried folders
tree_kb=$( (git ls-files -z; git ls-files -z --others --exclude-standard) |
    xargs -0 du -ck 2>/dev/null | awk '$2 == "total" {s += $1} END {print s + 0}')
# .whl (FIB, tvm-ffi and ninja wheels: bench/fib_parity/fetch_wheels.sh) and
# .job (device job scripts) travel too when they are there
carry_kb=$(du -sk .gpuhost .fib $(ls -d .whl .job 2>/dev/null) | awk '{s += $1} END {print s}')
total_mb=$(( (tree_kb + carry_kb + 1023) / 1024 ))
printf "working tree %d KiB, .gpuhost %s, .fib %s, .whl + .job %d KiB, total ~%d MiB (device limit 64 MiB)\n" \
    "$tree_kb" "$(du -sh .gpuhost | cut -f1)" "$(du -sh .fib | cut -f1)" \
    "$(du -sck $(ls -d .whl .job 2>/dev/null) /dev/null | awk '$2 == "total" {print $1}')" "$total_mb"
[ "$total_mb" -le "$LIMIT_MB" ] || die "~$total_mb MiB would travel: over this script's $LIMIT_MB MiB margin"

echo "prepare.sh: ready. carry: [\".gpuhost\", \".fib\"]"
echo "device command: bash tests/gpu/full.sh"
