#!/usr/bin/env python3
"""test_server_durability.py: nothing is lost across restarts of kf-server
and of redis-server (AOF); Redis down -> 503 then recovery; graceful
SIGTERM answers waiting long-polls with 503 + Retry-After; reclaim of a
dead consumer's task after the lease and dead-letter after 3 deliveries
(a stand-in consumer following docs/queue.md plays the workers)."""
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()


def wait_until(fn, tries=300, delay=0.05):
    for _ in range(tries):
        v = fn()
        if v:
            return v
        time.sleep(delay)
    return fn()


def status_of(s, tid):
    r = s.http("GET", "/tasks/" + tid)
    return r.json()["status"] if r.status == 200 else r.status


def test_restarts(s, redis, uuids):
    sol = K.example_solution()
    r = s.http("POST", "/solutions", body=sol)
    R.check("submit", r.status == 202, r.data)
    tid = r.json()["task_id"]

    # kf-server restart: it holds no state
    R.check("kf-server stops cleanly", s.stop() == 0)
    s.start()
    r = s.http("GET", "/tasks/" + tid)
    R.check("task survives a kf-server restart", r.status == 200
            and r.json()["status"] == "pending")

    # Redis goes away: 503 with a JSON error, then back (AOF) with everything
    redis.stop(kill=True)
    r = s.http("GET", "/tasks/" + tid)
    R.check("Redis down: GET /tasks -> 503 + Retry-After", r.status == 503
            and r.json()["error"]["code"] and r.header("Retry-After"), r.data)
    r = s.http("POST", "/solutions?rerun=1", body=sol)
    R.check("Redis down: POST /solutions -> 503", r.status == 503)
    # the /health view is rebuilt every 250 ms
    r = wait_until(lambda: (lambda x: x if x.status == 503 else None)(s.http("GET", "/health"))) \
        or s.http("GET", "/health")
    R.check("Redis down: /health unavailable", r.status == 503
            and r.json()["status"] == "unavailable")
    r = s.http("GET", "/definitions")
    R.check("Redis down: dataset routes still answer", r.status == 200)
    redis.start()
    r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(s.http("GET", "/tasks/" + tid)))
    R.check("Redis back (AOF): the task is still there, server reconnected",
            r is not None and r.status == 200 and r.json()["status"] == "pending")

    # the queue entry survived too: a consumer can take it
    c = K.Consumer(redis.sock, "after-restart")
    t = c.claim()
    R.check("queue entry survives a redis-server restart", t and t["id"] == tid)
    c.complete(t)
    c.close()
    R.check("completed after the restarts", wait_until(lambda: status_of(s, tid) == "completed"))

    # restart Redis again after completion: the result is kept
    redis.stop()
    redis.start()
    r = wait_until(lambda: (lambda x: x if x.status == 200 else None)(s.http("GET", "/tasks/" + tid)))
    R.check("traces survive a redis-server restart", r is not None
            and r.json()["status"] == "completed" and len(r.json()["traces"]) == 3)


def test_longpoll_across_redis_restart(s, redis):
    """A long-poll waiting while Redis restarts still wakes on completion."""
    sol = dict(K.example_solution(), name="lp_restart")
    tid = s.http("POST", "/solutions", body=sol).json()["task_id"]
    box = {}

    def poll():
        box["r"] = s.http("GET", "/tasks/%s?timeout=60" % tid)
    th = threading.Thread(target=poll)
    th.start()
    wait_until(lambda: b"kf_longpoll_waiting 1" in s.http("GET", "/metrics").data)
    redis.stop()
    redis.start()
    c = K.Consumer(redis.sock, "lp-worker")
    t = c.claim()
    c.complete(t)
    c.close()
    th.join(60)
    r = box.get("r")
    R.check("long-poll survives a Redis restart and wakes on completion", r is not None
            and r.status == 200 and r.json()["status"] == "completed",
            r.data[:200] if r else "no answer")


def test_reclaim(s, redis):
    sol = dict(K.example_solution(), name="reclaim")
    tid = s.http("POST", "/solutions", body=sol).json()["task_id"]
    lease = 200
    a = K.Consumer(redis.sock, "dies-1", lease_ms=lease)
    t = a.claim()
    R.check("consumer 1 takes the task", t and t["id"] == tid and t["deliveries"] == 1)
    a.close()   # dies without acknowledging
    b = K.Consumer(redis.sock, "dies-2", lease_ms=lease)
    R.check("within the lease nobody else gets it", b.claim(block_ms=10) is None)
    time.sleep(lease / 1000.0 + 0.1)
    t = b.claim(block_ms=10)
    R.check("after the lease consumer 2 reclaims it (delivery 2)", t and t["id"] == tid
            and t["deliveries"] == 2)
    r = s.http("GET", "/tasks/" + tid).json()
    R.check("task shows the new worker and attempt", r["worker"] == "dies-2" and r["attempts"] == 2)
    b.close()
    time.sleep(lease / 1000.0 + 0.1)
    c = K.Consumer(redis.sock, "dies-3", lease_ms=lease)
    t = c.claim(block_ms=10)
    R.check("third delivery", t and t["deliveries"] == 3)
    c.close()
    time.sleep(lease / 1000.0 + 0.1)
    d = K.Consumer(redis.sock, "survivor", lease_ms=lease)
    t = d.claim(block_ms=10)
    R.check("after 3 deliveries the entry is dead-lettered", t and t.get("dead"))
    r = s.http("GET", "/tasks/" + tid).json()
    R.check("dead-lettered task is failed with its reason", r["status"] == "failed"
            and "dead-letter" in (r["error"] or ""), r)
    R.check("dead-letter stream holds it", d.r.cmd("XLEN", "kf:tasks:dead") == 1)
    R.check("nothing left running or queued", d.r.cmd("ZCARD", "kf:queue:running") == 0
            and d.r.cmd("ZCARD", "kf:queue:fair") == 0)
    m = s.http("GET", "/metrics").data.decode()
    R.check("/metrics counts the dead letter", "kf_dead_letter_total 1" in m)
    d.close()


def test_graceful_shutdown(s):
    sol = dict(K.example_solution(), name="shutdown")
    tid = s.http("POST", "/solutions", body=sol).json()["task_id"]
    box = {}

    def poll():
        box["r"] = s.http("GET", "/tasks/%s?timeout=600" % tid)
    th = threading.Thread(target=poll)
    th.start()
    wait_until(lambda: b"kf_longpoll_waiting 1" in s.http("GET", "/metrics").data)
    rc = s.stop(signal.SIGINT)
    th.join(30)
    r = box.get("r")
    R.check("SIGINT answers waiting long-polls with 503 + Retry-After", r is not None
            and r.status == 503 and r.header("Retry-After")
            and r.json()["error"]["code"] == "shutting_down",
            (r.status, r.data) if r else "no answer")
    R.check("kf-server exits 0 after SIGINT", rc == 0, rc)


def test_shutdown_route(s):
    s.start()
    r = s.http("POST", "/shutdown", body={})
    R.check("POST /shutdown -> {status: shutting_down}", r.status == 200
            and r.json() == {"status": "shutting_down"}, r.data)
    try:
        rc = s.proc.wait(30)
    except Exception:
        rc = None
    s.proc = None
    R.check("POST /shutdown: kf-server exits 0", rc == 0, rc)


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-durability-")
    redis = K.Redis(tmp, aof=True)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    uuids = K.build_dataset(ds)
    s = K.Server(tmp, redis, ds, "--rate-limit", "0")
    try:
        s.start()
        R.run("restarts", test_restarts, s, redis, uuids)
        R.run("long-poll across a Redis restart", test_longpoll_across_redis_restart, s, redis)
        R.run("reclaim", test_reclaim, s, redis)
        R.run("graceful shutdown", test_graceful_shutdown, s)
        R.run("POST /shutdown", test_shutdown_route, s)
    finally:
        if s.proc:
            s.stop(signal.SIGKILL)
        redis.stop()
        if R.failed:
            print("logs kept in", tmp)
            for f in os.listdir(tmp):
                if f.endswith(".log"):
                    print("--- %s\n%s" % (f, open(os.path.join(tmp, f)).read()[-3000:]))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
