#!/usr/bin/env python3
"""test_server.py: every kf-server route and error case against a real
redis-server (unix socket, temp dir) and a real bin/kf-server on a free port.
A stand-in consumer speaking docs/queue.md plays the worker."""
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()
SCHEMAS = os.path.join(K.ROOT, "schemas", "api")


def schema_ok(name, obj):
    """Validate obj against schemas/api/<name>.json (items of arrays whose
    schema is a $ref to task-response are checked against that one)."""
    import jsonschema
    sch = json.load(open(os.path.join(SCHEMAS, name + ".json")))
    if sch.get("items", {}).get("$ref"):
        item = json.load(open(os.path.join(SCHEMAS, sch["items"]["$ref"])))
        if not isinstance(obj, list):
            return False
        return all(schema_ok(sch["items"]["$ref"][:-5], x) for x in obj) and bool(item)
    try:
        jsonschema.validate(obj, sch)
        return True
    except jsonschema.ValidationError as e:
        print("# schema %s: %s" % (name, e.message))
        return False


def wait_until(fn, tries=200, delay=0.05):
    for _ in range(tries):
        v = fn()
        if v:
            return v
        time.sleep(delay)
    return fn()


def err_of(r):
    try:
        e = r.json()["error"]
        return e if isinstance(e, dict) and {"code", "message", "path"} <= set(e) else None
    except Exception:
        return None


def test_dataset_routes(s, uuids):
    r = s.http("GET", "/definitions")
    names = [d["name"] for d in r.json()] if r.status == 200 else []
    R.check("GET /definitions lists the dataset", r.status == 200 and K.GDN in names
            and schema_ok("definitions-response", r.json()), r.data[:200])
    r = s.http("GET", "/definitions/" + K.GDN)
    R.check("GET /definitions/{name}", r.status == 200 and r.json()["name"] == K.GDN
            and "inputs" in r.json() and "axes" in r.json())
    r = s.http("GET", "/definitions/nope")
    R.check("GET /definitions/{unknown} -> 404 JSON", r.status == 404 and err_of(r))
    r = s.http("GET", "/definitions/%s/workloads" % K.GDN)
    R.check("GET /definitions/{name}/workloads", r.status == 200
            and [w["uuid"] for w in r.json()] == uuids)
    r = s.http("GET", "/definitions/nope/workloads")
    R.check("GET /definitions/{unknown}/workloads -> 404", r.status == 404 and err_of(r))
    r = s.http("GET", "/workloads/" + uuids[1])
    R.check("GET /workloads/{uuid}", r.status == 200 and r.json()["uuid"] == uuids[1]
            and r.json()["axes"] == {"batch_size": 4})
    r = s.http("GET", "/workloads/nope")
    R.check("GET /workloads/{unknown} -> 404", r.status == 404 and err_of(r))
    r = s.http("GET", "/")
    R.check("GET / serves the leaderboard page", r.status == 200
            and b"leaderboard" in r.data and "text/html" in r.header("Content-Type"))


def test_errors(s, uuids):
    sol = K.example_solution()
    r = s.http("POST", "/evaluate", raw=b"{not json")
    e = err_of(r)
    R.check("malformed JSON -> 400 path $", r.status == 400 and e and e["path"] == "$"
            and schema_ok("error", r.json()), r.data)
    r = s.http("POST", "/evaluate", raw=b"")
    R.check("empty body -> 400", r.status == 400 and err_of(r))
    r = s.http("POST", "/evaluate", body={"workload_uuids": []})
    e = err_of(r)
    R.check("missing solution -> 400 path solution", r.status == 400 and e["path"] == "solution")
    bad = json.loads(json.dumps(sol))
    del bad["spec"]["entry_point"]
    r = s.http("POST", "/evaluate", body={"solution": bad})
    e = err_of(r)
    R.check("missing solution field -> 400 with its path", r.status == 400 and e
            and e["path"].startswith("solution.spec"), r.data)
    r = s.http("POST", "/solutions", body=bad)
    e = err_of(r)
    R.check("POST /solutions missing field -> 400 path spec...", r.status == 400 and e
            and e["path"].startswith("spec"), r.data)
    bad = dict(sol, definition="no_such_definition")
    r = s.http("POST", "/evaluate", body={"solution": bad})
    e = err_of(r)
    R.check("unknown definition -> 400 path solution.definition", r.status == 400 and e
            and e["path"] == "solution.definition", r.data)
    bad = json.loads(json.dumps(sol))
    bad["spec"]["launch"][0]["args"][0] = "no_such_tensor"
    r = s.http("POST", "/solutions", body=bad)
    e = err_of(r)
    R.check("bad launch plan (unknown argument) -> 400 path spec.launch[0]...",
            r.status == 400 and e and e["path"].startswith("spec.launch[0]"), r.data)
    bad = json.loads(json.dumps(sol))
    bad["spec"]["launch"][0]["grid"] = ["batch_size * no_such_axis"]
    r = s.http("POST", "/solutions", body=bad)
    e = err_of(r)
    R.check("bad launch plan (unknown axis in grid) -> 400", r.status == 400 and e
            and "launch" in e["path"], r.data)
    r = s.http("POST", "/evaluate", body={"solution": sol, "workload_uuids": ["nope"]})
    e = err_of(r)
    R.check("unknown workload uuid -> 400 path workload_uuids[0]", r.status == 400 and e
            and e["path"] == "workload_uuids[0]", r.data)
    r = s.http("POST", "/solutions?workloads=%s,nope" % uuids[0], body=sol)
    e = err_of(r)
    R.check("unknown ?workloads uuid -> 400 path workloads[1]", r.status == 400 and e
            and e["path"] == "workloads[1]", r.data)
    big = b'{"solution": "' + b"x" * (8 * 1024 * 1024 + 1) + b'"}'
    head = b"POST /evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
           b"Content-Length: %d\r\n\r\n" % len(big)
    st, data = K.raw_request(s.port, head, big)
    R.check("8 MiB + 1 body -> 413 JSON (before reading it)", st == 413 and b"too_large" in data,
            data[:200])
    body = b"x" * (8 * 1024 * 1024 + 1)
    head = b"POST /solutions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    st, data = K.raw_request(s.port, head, body)
    R.check("8 MiB + 1 body on /solutions -> 413", st == 413 and b"too_large" in data)
    # chunked upload without Content-Length: capped while reading
    chunk = b"y" * (1024 * 1024)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(9)) + b"0\r\n\r\n"
    head = b"POST /solutions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    st, data = K.raw_request(s.port, head, body)
    R.check("chunked body over the cap -> 413", st == 413 and b"too_large" in data, data[:200])
    r = s.http("POST", "/evaluate", raw=b" " * (8 * 1024 * 1024 - 10) + b"{}")
    R.check("a body just under the cap is read (400 missing solution)", r.status == 400
            and err_of(r)["path"] == "solution")
    r = s.http("DELETE", "/definitions")
    R.check("wrong method -> 405 JSON with Allow", r.status == 405 and err_of(r)
            and r.header("Allow") == "GET")
    r = s.http("GET", "/evaluate")
    R.check("GET on a POST route -> 405", r.status == 405 and err_of(r))
    r = s.http("GET", "/no/such/route")
    R.check("unknown route -> 404 JSON", r.status == 404 and err_of(r))
    r = s.http("GET", "/tasks/00000000000000000000000000000000")
    R.check("unknown task -> 404 JSON", r.status == 404 and err_of(r))
    r = s.http("GET", "/tasks/%2e%2e%2fkf:tasks")
    R.check("odd task id -> 404", r.status == 404 and err_of(r))
    r = s.http("GET", "/tasks/00000000000000000000000000000000/traces")
    R.check("traces of an unknown task -> 404", r.status == 404 and err_of(r))
    r = s.http("POST", "/tasks/batch", body={"task_ids": "x"})
    R.check("batch with bad task_ids -> 400", r.status == 400 and err_of(r))
    r = s.http("GET", "/solutions/nope_12345678")
    R.check("unknown solution -> 404", r.status == 404 and err_of(r))
    r = s.http("POST", "/evaluate", body={"solution": sol, "task_id": "bad id!"})
    R.check("invalid client task_id -> 400", r.status == 400 and err_of(r))
    r = s.http("GET", "/results?definition=nope")
    R.check("results of an unknown definition -> 404", r.status == 404 and err_of(r))
    r = s.http("GET", "/health")
    R.check("server still healthy after the error cases", r.status == 200)


def test_flow(s, sock, uuids):
    sol = K.example_solution()
    c = K.Consumer(sock, "test-worker-0")
    c.heartbeat()
    # the /health view is rebuilt every --health-cache-ms (250 ms)
    r = wait_until(lambda: (lambda x: x if x.json()["status"] == "ok" else None)(
        s.http("GET", "/health"))) or s.http("GET", "/health")
    h = r.json()
    R.check("GET /health fields", r.status == 200 and h["status"] == "ok"
            and h["healthy_workers"] == 1 and h["workers"][0]["device"] == "cuda:0"
            and schema_ok("health-response", h), r.data)

    # the flashinfer-bench flow: POST /evaluate, then poll
    r = s.http("POST", "/evaluate", body={"solution": sol, "workload_uuids": [uuids[0]]})
    ev = r.json()
    R.check("POST /evaluate -> {task_id, normalized_solution_name}", r.status == 200
            and schema_ok("evaluate-response", ev), r.data)
    R.check("normalized name = flashinfer-bench with_unique_name",
            ev["normalized_solution_name"] == K.fib_name(sol),
            "%s vs %s" % (ev["normalized_solution_name"], K.fib_name(sol)))
    tid = ev["task_id"]
    r = s.http("POST", "/evaluate", body={"solution": sol, "workload_uuids": [uuids[0]]})
    R.check("same content + workloads -> same task (idempotent)", r.json()["task_id"] == tid)
    r = s.http("GET", "/tasks/" + tid)
    t = r.json()
    R.check("GET /tasks/{id} pending", r.status == 200 and t["status"] == "pending"
            and t["traces"] is None and t["error"] is None and t["definition"] == K.GDN
            and t["solution"] == ev["normalized_solution_name"]
            and schema_ok("task-response", t), r.data)
    r = s.http("GET", "/tasks/%s?timeout=0" % tid)
    R.check("timeout=0 answers at once", r.status == 200 and r.json()["status"] == "pending")
    for bad in ("-1", "3601", "abc", "nan"):
        r = s.http("GET", "/tasks/%s?timeout=%s" % (tid, bad))
        R.check("timeout=%s -> 400" % bad, r.status == 400 and err_of(r)["path"] == "timeout")
    t0 = time.monotonic()
    r = s.http("GET", "/tasks/%s?timeout=1" % tid)
    R.check("long-poll timeout: answers pending, not before the deadline",
            r.status == 200 and r.json()["status"] == "pending" and time.monotonic() - t0 >= 0.95)

    # long-poll wake-up: the consumer finishes the task while the poll waits
    box = {}

    def poll():
        box["r"] = s.http("GET", "/tasks/%s?timeout=60" % tid)
    th = threading.Thread(target=poll)
    th.start()
    wait_until(lambda: b"kf_longpoll_waiting 1" in s.http("GET", "/metrics").data)
    task = c.claim()
    R.check("consumer claims the task", task and task["id"] == tid and task["deliveries"] == 1)
    r = s.http("GET", "/tasks/" + tid)
    R.check("task running with worker", r.json()["status"] == "running"
            and r.json()["worker"] == "test-worker-0")
    c.complete(task)
    th.join(30)
    r = box.get("r")
    R.check("long-poll woken by completion", r is not None and r.status == 200
            and r.json()["status"] == "completed" and len(r.json()["traces"]) == 1
            and r.json()["traces"][0]["evaluation"]["status"] == "PASSED"
            and schema_ok("task-response", r.json()),
            r.data[:300] if r else "no answer")
    r = s.http("GET", "/tasks/%s/traces" % tid)
    lines = [json.loads(x) for x in r.data.decode().splitlines() if x]
    R.check("GET /tasks/{id}/traces is JSONL", r.status == 200 and len(lines) == 1
            and lines[0]["workload"]["uuid"] == uuids[0]
            and "ndjson" in r.header("Content-Type"))

    # POST /solutions over all workloads, batch long-poll, leaderboard
    r = s.http("POST", "/solutions", body=sol)
    p = r.json()
    R.check("POST /solutions -> 202 {task_id, solution, status_url}", r.status == 202
            and p["solution"] == K.fib_name(sol) and p["status_url"] == "/tasks/" + p["task_id"]
            and schema_ok("solutions-response", p),
            r.data)
    tid2 = p["task_id"]
    r = s.http("POST", "/solutions", body=sol)
    R.check("resubmission returns the existing task", r.json()["task_id"] == tid2)
    r = s.http("POST", "/solutions?rerun=1", body=sol)
    tid3 = r.json()["task_id"]
    R.check("?rerun=1 -> a new task", r.status == 202 and tid3 != tid2)
    r = s.http("POST", "/solutions?workloads=%s,%s" % (uuids[2], uuids[1]), body=sol)
    R.check("?workloads= subset, kept in dataset order (a set)", r.status == 202
            and s.http("GET", "/tasks/" + r.json()["task_id"]).json()["workloads"]
            == [uuids[1], uuids[2]])
    r = s.http("POST", "/tasks/batch", body={"task_ids": [tid2, tid, tid2], "timeout": 0})
    b = r.json()
    R.check("POST /tasks/batch keeps order and duplicates", r.status == 200
            and [x["task_id"] for x in b] == [tid2, tid, tid2]
            and b[0]["status"] == "pending" and b[1]["status"] == "completed"
            and schema_ok("tasks-batch-response", b))
    r = s.http("POST", "/tasks/batch", body={"task_ids": [tid, "0" * 32]})
    R.check("POST /tasks/batch unknown id -> 404 (fail-fast)", r.status == 404 and err_of(r))

    def bpoll():
        box["b"] = s.http("POST", "/tasks/batch", body={"task_ids": [tid2, tid], "timeout": 60})
    th = threading.Thread(target=bpoll)
    th.start()
    wait_until(lambda: b"kf_longpoll_waiting 1" in s.http("GET", "/metrics").data)
    task = c.claim()
    R.check("consumer claims the next task", task and task["id"] == tid2)
    c.complete(task, speedup=3.0)
    th.join(30)
    r = box.get("b")
    R.check("batch long-poll woken when all are done", r is not None and r.status == 200
            and [x["status"] for x in r.json()] == ["completed", "completed"]
            and len(r.json()[0]["traces"]) == 3)

    def board():
        x = s.http("GET", "/results?definition=" + K.GDN).json()
        bs = x["definitions"][0]["boards"]
        return bs if bs and bs[0]["ranking"] else None
    bs = wait_until(board)
    R.check("GET /results ranks the solution that passed every workload",
            bs and bs[0]["hardware"] == "NVIDIA_H100" and len(bs[0]["ranking"]) == 1
            and bs[0]["ranking"][0]["rank"] == 1 and bs[0]["ranking"][0]["mean_speedup"] == 3.0
            and bs[0]["ranking"][0]["workloads_passed"] == 3, bs)
    R.check("leaderboard entries carry public fields only",
            bs and "team" not in bs[0]["ranking"][0] and "task_id" not in bs[0]["ranking"][0])
    r = s.http("GET", "/results?definition=%s&hardware=NVIDIA_B200" % K.GDN)
    R.check("GET /results?hardware= filters", r.status == 200
            and r.json()["definitions"][0]["boards"] == [])
    r = s.http("GET", "/results")
    R.check("GET /results lists every definition", r.status == 200
            and schema_ok("results-response", r.json())
            and [d["definition"] for d in r.json()["definitions"]] == sorted([K.GDN, K.EMPTY_DEF]))
    r = s.http("GET", "/solutions/" + K.fib_name(sol))
    R.check("GET /solutions/{name}", r.status == 200 and r.json()["name"] == K.fib_name(sol)
            and r.json()["sources"] == sol["sources"])

    # a definition without workloads: task created, failed
    empty = dict(sol, definition=K.EMPTY_DEF, name="empty")
    empty["spec"] = dict(sol["spec"], launch=[], workspace=[])
    empty["spec"]["launch"] = [{"kernel": "gdn_decode_fast", "grid": [1], "block": [32],
                                "args": ["q", "k", "v", "state", "A_log", "a", "dt_bias", "b",
                                         "scale", "cu_seqlens", "output", "new_state"]}]
    r = s.http("POST", "/evaluate", body={"solution": empty})
    if r.status == 200:
        t = s.http("GET", "/tasks/" + r.json()["task_id"]).json()
        R.check("no workloads -> task created and failed", t["status"] == "failed"
                and "no workloads" in t["error"], t)
    else:
        R.check("no workloads -> task created and failed (submission refused: %s)" % r.data,
                False)

    # client task ids (flashinfer-bench idempotent retry)
    body = {"solution": sol, "workload_uuids": [uuids[1]], "task_id": "client-retry-1"}
    r1 = s.http("POST", "/evaluate", body=body)
    r2 = s.http("POST", "/evaluate", body=body)
    R.check("client task_id reused with the same request -> same task", r1.status == 200
            and r1.json()["task_id"] == "client-retry-1" and r2.json()["task_id"] == "client-retry-1")
    body["workload_uuids"] = [uuids[2]]
    r = s.http("POST", "/evaluate", body=body)
    R.check("client task_id reused with another request -> 409", r.status == 409 and err_of(r))

    # fib's minimal example: a python solution with a syntax error is accepted
    fib = {"name": "docs_compile_error", "definition": K.GDN, "author": "docs",
           "spec": {"language": "python", "target_hardware": ["cuda"],
                    "entry_point": "pkg/main.py::kernel", "destination_passing_style": False},
           "sources": [{"path": "pkg/main.py", "content": "def kernel(\n    return 0\n"}]}
    r = s.http("POST", "/evaluate", body={"solution": fib, "workload_uuids": [uuids[0]]})
    R.check("flashinfer-bench example submission accepted", r.status == 200
            and r.json()["normalized_solution_name"] == K.fib_name(fib), r.data)

    r = s.http("GET", "/metrics")
    m = r.data.decode()
    R.check("GET /metrics Prometheus text", r.status == 200
            and 'kf_http_requests_total{route="evaluate",status="200"}' in m
            and 'kf_http_requests_total{route="unmatched",status="404"}' in m
            and "kf_queue_depth " in m and 'kf_tasks{state="completed"} 2' in m
            and 'kf_task_evaluation_seconds_bucket{le="+Inf"}' in m
            and "kf_workers_live 1" in m, m[-1500:])
    # tvm-ffi solutions with kernelfarm's compile_options: part of the name; off-list refused
    tv = {"name": "tv_opts", "definition": K.GDN, "author": "docs",
          "spec": {"language": "cuda", "target_hardware": ["cuda"],
                   "entry_point": "k.cu::gdn", "compile_options": ["-O3", "-DBLOCK=128"]},
          "sources": [{"path": "k.cu", "content": "// tvm-ffi\n"}]}
    r = s.http("POST", "/evaluate", body={"solution": tv, "workload_uuids": [uuids[0]]})
    n1 = r.json().get("normalized_solution_name") if r.status == 200 else None
    R.check("compile_options accepted and hashed into the normalized name", r.status == 200
            and n1 == K.fib_name(tv), r.data)
    tv["spec"]["compile_options"] = ["-O2", "-DBLOCK=128"]
    r = s.http("POST", "/evaluate", body={"solution": tv, "workload_uuids": [uuids[0]]})
    R.check("other compile_options -> another normalized name", r.status == 200
            and r.json()["normalized_solution_name"] not in (n1, None), r.data)
    tv["spec"]["compile_options"] = ["-O3", "-I/etc"]
    r = s.http("POST", "/solutions", body=tv)
    e = err_of(r)
    R.check("compile option off the allow-list -> 400 naming it", r.status == 400 and e
            and e.get("path") == "spec.compile_options[1]" and "-I/etc" in e.get("message", ""),
            r.data)

    r = s.http("POST", "/drain", body={})
    R.check("POST /drain", r.status == 200 and r.json()["status"] == "draining")
    r = s.http("POST", "/solutions?rerun=1", body=sol)
    R.check("draining: submissions -> 503 + Retry-After", r.status == 503 and err_of(r)
            and r.header("Retry-After"))
    R.check("draining: /health says so", s.http("GET", "/health").json()["status"] == "draining")
    c.close()


def test_auth(tmp, redis, ds, uuids):
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("# token name team roles\n"
                "tok-alice alice team-a submit\n"
                "tok-bob bob team-b submit\n"
                "tok-reader reader team-a read\n"
                "tok-admin admin - admin\n")
    s = K.Server(tmp, redis, ds, "--auth", "on", "--tokens-file", tokens, "--rate-limit", "3",
                 "--rate-window", "3600", name="auth-server")
    s.start()
    try:
        sol = dict(K.example_solution(), name="authsol")
        A = {"Authorization": "Bearer tok-alice"}
        r = s.http("POST", "/solutions", body=sol)
        R.check("auth: no token -> 401", r.status == 401 and err_of(r)
                and r.header("WWW-Authenticate"))
        r = s.http("POST", "/solutions", body=sol, headers={"Authorization": "Bearer wrong"})
        R.check("auth: bad token -> 401", r.status == 401 and err_of(r))
        r = s.http("GET", "/definitions", headers={"Authorization": "Bearer wrong"})
        R.check("auth: bad token on a public route -> 401", r.status == 401)
        r = s.http("POST", "/solutions", body=sol, headers={"Authorization": "Bearer tok-reader"})
        R.check("auth: read role cannot submit -> 403", r.status == 403 and err_of(r))
        r = s.http("POST", "/solutions", body=sol, headers=A)
        R.check("auth: submit role -> 202", r.status == 202, r.data)
        tid = r.json()["task_id"]
        r = s.http("GET", "/tasks/" + tid, headers=A)
        R.check("auth: owner reads its task", r.status == 200)
        r = s.http("GET", "/tasks/" + tid)
        R.check("auth: reading a task needs a token", r.status == 401)
        r = s.http("GET", "/tasks/" + tid, headers={"Authorization": "Bearer tok-bob"})
        R.check("auth: another team cannot see the task (404)", r.status == 404)
        r = s.http("GET", "/tasks/%s/traces" % tid, headers={"Authorization": "Bearer tok-bob"})
        R.check("auth: nor its traces", r.status == 404)
        r = s.http("GET", "/solutions/" + K.fib_name(sol), headers={"Authorization": "Bearer tok-bob"})
        R.check("auth: nor its solution", r.status == 404)
        r = s.http("GET", "/tasks/" + tid, headers={"Authorization": "Bearer tok-reader"})
        R.check("auth: same team reader sees it", r.status == 200)
        r = s.http("GET", "/tasks/" + tid, headers={"Authorization": "Bearer tok-admin"})
        R.check("auth: admin sees it", r.status == 200)
        r = s.http("GET", "/results")
        R.check("auth: leaderboard is public", r.status == 200)
        r = s.http("POST", "/drain", headers=A)
        R.check("auth: /drain needs admin", r.status == 403)
        codes = []
        for i in range(3):
            x = s.http("POST", "/solutions?rerun=1", body=sol, headers=A)
            codes.append(x.status)
        R.check("rate limit: the 4th submission in the window -> 429 + Retry-After",
                codes[:2] == [202, 202] and codes[2] == 429 and err_of(x)
                and int(x.header("Retry-After")) > 0, codes)
        r = s.http("POST", "/solutions?rerun=1", body=sol, headers={"Authorization": "Bearer tok-bob"})
        R.check("rate limit is per token", r.status == 202)
        r = s.http("POST", "/solutions?rerun=1&priority=1", body=sol,
                   headers={"Authorization": "Bearer tok-bob"})
        R.check("priority: a submit token cannot ask for it -> 403",
                r.status == 403 and err_of(r)["path"] == "priority", r.data)
        r = s.http("POST", "/solutions?rerun=1&priority=1", body=sol,
                   headers={"Authorization": "Bearer tok-admin"})
        R.check("priority: an admin can -> 202", r.status == 202, r.data)
        ptid = r.json()["task_id"]
        rc = K.RESP(redis.sock)
        R.check("priority: the task is on the priority list, not its team's queue",
                rc.cmd("LRANGE", "kf:queue:prio", 0, -1) == [ptid])
        rc.close()
    finally:
        s.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="kf-test-server-")
    redis = K.Redis(tmp)
    redis.start()
    ds = os.path.join(tmp, "dataset")
    uuids = K.build_dataset(ds)
    s = K.Server(tmp, redis, ds, "--rate-limit", "0")
    try:
        s.start()
        R.run("dataset routes", test_dataset_routes, s, uuids)
        R.run("error cases", test_errors, s, uuids)
        R.run("flow", test_flow, s, redis.sock, uuids)
        R.run("auth", test_auth, tmp, redis, ds, uuids)
        rc = s.stop()
        R.check("kf-server exits 0 on SIGTERM", rc == 0, rc)
    finally:
        s.stop(signal_kill()) if s.proc else None
        redis.stop()
        if R.failed:
            print("logs kept in", tmp)
            for f in os.listdir(tmp):
                if f.endswith(".log"):
                    print("--- %s\n%s" % (f, open(os.path.join(tmp, f)).read()[-3000:]))
        else:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


def signal_kill():
    import signal
    return signal.SIGKILL


if __name__ == "__main__":
    main()
