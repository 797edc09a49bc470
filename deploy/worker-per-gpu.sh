#!/usr/bin/env bash
# deploy/worker-per-gpu.sh [kf-worker flags...]: the worker image's entry
# point. Starts one kf-worker per GPU this container (or host) sees, so adding
# GPUs needs no new service:
#   - KF_DEVICE set (Kubernetes: one GPU per pod): exec one kf-worker for it;
#   - else KF_DEVICES="0,2,3" if set, else every GPU `nvidia-smi -L` lists.
# Worker ids are "${KF_WORKER_PREFIX:-$(hostname)}-gpu<N>": stable across
# restarts when the prefix is (compose sets it), so a restarted worker takes
# back its own tasks. SIGTERM/SIGINT go to every worker (each releases its
# task); when one worker exits, the others are stopped too and the script
# exits with that worker's status, so the container restarts as a whole.
# KF_WORKER_BIN overrides the binary (tests).
set -u
bin=${KF_WORKER_BIN:-/opt/kernelfarm/bin/kf-worker}
say() { printf '%s worker-per-gpu: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

if [ -n "${KF_DEVICE:-}" ]; then
    exec "$bin" "$@"
fi
if [ -n "${KF_DEVICES:-}" ]; then
    IFS=', ' read -r -a devices <<<"$KF_DEVICES"
else
    command -v nvidia-smi >/dev/null 2>&1 || {
        say "nvidia-smi not found and neither KF_DEVICE nor KF_DEVICES set: no GPU to serve"
        exit 1
    }
    mapfile -t devices < <(nvidia-smi -L 2>/dev/null | sed -n 's/^GPU \([0-9]\+\):.*/\1/p')
fi
if [ ${#devices[@]} -eq 0 ]; then
    say "no GPU visible (nvidia-smi -L lists none): is the NVIDIA container toolkit set up?"
    exit 1
fi
for d in "${devices[@]}"; do
    case $d in ''|*[!0-9]*) say "bad device '$d' in KF_DEVICES (want numbers)"; exit 2;; esac
done
prefix=${KF_WORKER_PREFIX:-$(hostname)}
pids=()
stopping=0
stop_all() {
    stopping=1
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
}
trap 'say "stop requested"; stop_all' TERM INT
for d in "${devices[@]}"; do
    KF_DEVICE=$d "$bin" --device "$d" --worker-id "$prefix-gpu$d" "$@" &
    pids+=($!)
    say "kf-worker device=$d id=$prefix-gpu$d pid=$!"
done
# Wait for the first worker to end (or a signal), then stop the rest.
status=0
ended=
while :; do
    ended=
    wait -n -p ended "${pids[@]}"
    status=$?
    [ -n "${ended:-}" ] && break     # a worker ended
    [ "$stopping" -eq 1 ] && break  # a signal interrupted the wait
done
if [ "$stopping" -eq 0 ]; then
    say "kf-worker pid=$ended exited with status $status: stopping the others"
    stop_all
fi
final=$status
[ -n "${ended:-}" ] || final=0
for p in "${pids[@]}"; do
    [ "$p" = "${ended:-}" ] && continue
    wait "$p"
    s=$?
    [ "$s" -ne 0 ] && [ "$final" -eq 0 ] && final=$s
done
exit "$final"
