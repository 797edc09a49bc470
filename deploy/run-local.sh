#!/usr/bin/env bash
# deploy/run-local.sh: the embedded default service, started by `make run`.
#
#   - redis-server on a unix socket with AOF, data in var/redis
#     (skipped when KF_REDIS_URL is set: then that Redis is used)
#   - var/dataset generated with `bin/kf synth` if missing
#     (skipped when FIB_DATASET_PATH is set)
#   - kf-server on 127.0.0.1:8080 (KF_HOST / KF_PORT override)
#   - one kf-worker per GPU that `nvidia-smi -L` lists (none: a clear message),
#     with the contest eval settings deploy/eval-contest.json (KF_EVAL_CONFIG)
#
# Logs go to var/log/. Ctrl-C (or SIGTERM) stops everything: workers first
# (a task in progress is released and stays queued), then the server, then
# Redis. If any of them dies, the others are stopped too.
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
var=${KF_VAR:-$root/var}
mkdir -p "$var/redis" "$var/log"
say() { printf '%s run-local: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

for b in bin/kf-server bin/kf-worker bin/kf; do
    [ -x "$b" ] || { say "$b is missing: run 'make' first"; exit 1; }
done

declare -a pids=() names=()
stopping=0
stop_all() {
    [ "$stopping" -eq 1 ] && return
    stopping=1
    trap '' INT TERM
    say "stopping"
    # reverse start order: workers, server, redis
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[$i]}" 2>/dev/null && wait "${pids[$i]}" 2>/dev/null
        say "${names[$i]} stopped"
    done
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT
start() {   # name logfile command...
    local name=$1 log=$2
    shift 2
    "$@" >>"$log" 2>&1 &
    pids+=($!)
    names+=("$name")
    say "$name started pid=$! log=${log#$root/}"
}

# 1. Redis
if [ -z "${KF_REDIS_URL:-}" ]; then
    command -v redis-server >/dev/null || { say "redis-server not installed (make deps)"; exit 1; }
    sock=$var/redis/redis.sock
    start redis "$var/log/redis.log" redis-server --port 0 --unixsocket "$sock" \
        --unixsocketperm 700 --dir "$var/redis" --appendonly yes --appendfsync everysec \
        --save "" --loglevel notice
    for _ in $(seq 200); do
        redis-cli -s "$sock" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    redis-cli -s "$sock" ping >/dev/null 2>&1 || { say "redis did not start (see var/log/redis.log)"; exit 1; }
    export KF_REDIS_URL="unix://$sock"
else
    say "using KF_REDIS_URL=$KF_REDIS_URL"
fi

# 2. dataset
if [ -z "${FIB_DATASET_PATH:-}" ]; then
    if [ ! -f "$var/dataset/.complete" ]; then
        say "creating $var/dataset with kf synth"
        bin/kf synth --out "$var/dataset" --seed 1 >"$var/log/synth.log" 2>&1 \
            || { say "kf synth failed (see var/log/synth.log)"; exit 1; }
        touch "$var/dataset/.complete"
    fi
    export FIB_DATASET_PATH=$var/dataset
fi

# 3. the input-seed secret shared by all workers (never given to solutions)
if [ -z "${KF_SEED_SECRET:-}" ]; then
    if [ ! -s "$var/seed-secret" ]; then
        (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$var/seed-secret")
    fi
    KF_SEED_SECRET=$(cat "$var/seed-secret")
    export KF_SEED_SECRET
fi

# 4. server
host=${KF_HOST:-127.0.0.1}
port=${KF_PORT:-8080}
start kf-server "$var/log/kf-server.log" bin/kf-server --host "$host" --port "$port"
for _ in $(seq 100); do
    grep -q "ready url=" "$var/log/kf-server.log" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
done
kill -0 "${pids[-1]}" 2>/dev/null || { say "kf-server exited (see var/log/kf-server.log)"; exit 1; }

# 5. workers, one per visible GPU
ngpu=0
if command -v nvidia-smi >/dev/null 2>&1; then
    ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
fi
if [ "$ngpu" -eq 0 ]; then
    say "no NVIDIA GPU visible (nvidia-smi -L lists none): starting no kf-worker;" \
        "submissions stay pending until a worker connects to $KF_REDIS_URL"
else
    mkdir -p "$var/cache"
    # the contest's eval settings, as `kf run` uses them (override: KF_EVAL_CONFIG)
    export KF_EVAL_CONFIG=${KF_EVAL_CONFIG:-$root/deploy/eval-contest.json}
    export KF_KERNELS_DIR=${KF_KERNELS_DIR:-$root/kernels}
    for ((d = 0; d < ngpu; d++)); do
        start "kf-worker[$d]" "$var/log/kf-worker-$d.log" bin/kf-worker --device "$d" \
            --cache "$var/cache" --worker-id "$(hostname)-gpu$d"
    done
fi

say "kernelfarm is up: http://$host:$port/  (KF_URL=http://$host:$port bin/kf submit FILE --wait)"
say "Ctrl-C stops everything"
# any process ending stops the rest
wait -n "${pids[@]}"
say "a process exited; see var/log/"
exit 1
