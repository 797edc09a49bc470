#!/usr/bin/env python3
"""test_openapi.py: GET /openapi.json against the server.

- schemas/openapi.json is what tools/openapi.py writes, and kf-server serves
  exactly that file;
- the document's paths and methods are the route table of server/router.c,
  both ways (a route missing from the document fails);
- requests to every route, on an auth-on server, a no-auth server and one
  whose Redis is down: every answer's status is documented for its
  operation, and every JSON body (each error body, and the successes)
  validates against the schema the document gives for it.
"""
import json
import time
import os
import re
import subprocess
import sys
import tempfile

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kfserver as K  # noqa: E402

R = K.Results()
ROOT = K.ROOT


def router_routes():
    src = open(os.path.join(ROOT, "server", "router.c")).read()
    table = src[src.index("api_routes[] = {"):src.index("};", src.index("api_routes[] = {"))]
    return {(m, p) for m, p in re.findall(r'\{"([A-Z]+)", "([^"]+)"', table)}


def doc_routes(doc):
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


def template_match(doc, path):
    path = path.split("?")[0]
    for p in doc["paths"]:
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "/?$"
        if re.match(rx, path):
            return p
    return None


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.seen = set()

    def validate(self, schema_ref, body):
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "components": self.doc["components"], "$ref": schema_ref}
        jsonschema.Draft202012Validator(schema).validate(body)

    def response_schema(self, method, path, status):
        """(documented?, schema $ref or None, media type)."""
        tp = template_match(self.doc, path)
        if tp is None:
            # unknown path: the document promises the error body
            return status == 404, "#/components/schemas/Error", "application/json"
        op = self.doc["paths"][tp].get(method.lower())
        if op is None:
            return status == 405, "#/components/schemas/Error", "application/json"
        resp = op["responses"].get(str(status))
        if resp is None:
            return False, None, None
        if "$ref" in resp:
            resp = self.doc["components"]["responses"][resp["$ref"].split("/")[-1]]
        media, content = next(iter(resp["content"].items()))
        return True, content["schema"].get("$ref"), media

    def check(self, srv, method, path, body=None, headers=None, raw=None, want=None):
        r = srv.http(method, path, body, headers, raw=raw)
        name = "%s %s -> %d" % (method, path[:60], r.status)
        documented, ref, media = self.response_schema(method, path, r.status)
        ok = documented and (want is None or r.status == want)
        detail = ""
        if ok and media == "application/json" and ref:
            try:
                self.validate(ref, r.json())
            except (ValueError, jsonschema.ValidationError) as e:
                ok = False
                detail = str(e).splitlines()[0]
        elif not documented:
            detail = "status not in the document"
        else:
            detail = "want %s" % want
        if r.status >= 400:
            name += " (error body)"
        R.check(name, ok, detail + " " + r.data[:200].decode(errors="replace"))
        self.seen.add((method, template_match(self.doc, path)))
        return r


def main():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "openapi.py"), "--check"],
                         capture_output=True, text=True)
    R.check("schemas/openapi.json is up to date (tools/openapi.py --check)",
            out.returncode == 0, out.stderr)
    doc = json.load(open(os.path.join(ROOT, "schemas", "openapi.json")))
    R.check("OpenAPI 3.1", doc.get("openapi") == "3.1.0")
    routes = router_routes()
    R.check("router.c has routes", len(routes) > 15, str(routes))
    missing = routes - doc_routes(doc)
    extra = doc_routes(doc) - routes
    R.check("every route of server/router.c is in the document", not missing, str(missing))
    R.check("every path of the document is a route", not extra, str(extra))
    # the comparison itself: a document without one route must fail it
    cut = json.loads(json.dumps(doc))
    del cut["paths"]["/board/history"]
    R.check("a route removed from the document is detected",
            routes - doc_routes(cut) == {("GET", "/board/history")})
    for comp in doc["components"]["schemas"]:
        jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"][comp])

    tmp = tempfile.mkdtemp(prefix="kf-openapi-")
    ds = os.path.join(tmp, "dataset")
    uuids = K.build_dataset(ds)
    redis = K.Redis(tmp, aof=False)
    redis.start()
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("tok-sub-0123456789 alice alpha submit\ntok-adm-0123456789 root ops admin\n")
    sub = {"Authorization": "Bearer tok-sub-0123456789"}
    adm = {"Authorization": "Bearer tok-adm-0123456789"}
    auth = K.Server(tmp, redis, ds, "--auth", "on", "--tokens-file", tokens, "--rate-limit", "2",
                    "--rate-window", "3600", "--max-body", "65536", name="auth")
    open_ = K.Server(tmp, redis, ds, "--results-cache-ms", "0", name="open")
    auth.start()
    open_.start()
    C = Checker(doc)
    try:
        served = C.check(open_, "GET", "/openapi.json", want=200)
        R.check("GET /openapi.json serves schemas/openapi.json",
                served.status == 200 and json.loads(served.data) == doc)
        sol = K.example_solution()
        gdn = K.GDN
        # ---- successes and errors without auth ----
        for p in ["/", "/health", "/metrics", "/definitions", "/definitions/" + gdn,
                  "/definitions/" + gdn + "/workloads", "/workloads/" + uuids[0],
                  "/results", "/results?definition=" + gdn, "/board/history?definition=" + gdn,
                  "/board/submissions"]:
            C.check(open_, "GET", p, want=200)
        for p in ["/definitions/nope", "/definitions/nope/workloads", "/workloads/nope",
                  "/results?definition=nope", "/board/history?definition=nope",
                  "/tasks/nope", "/tasks/nope/traces", "/solutions/nope",
                  "/board/solutions/nope", "/board/traces/nope/0", "/no/such/route"]:
            C.check(open_, "GET", p, want=404)
        C.check(open_, "GET", "/board/history", want=400)
        C.check(open_, "GET", "/evaluate", want=405)
        C.check(open_, "DELETE", "/results", want=405)
        C.check(open_, "POST", "/evaluate", raw=b"{not json", want=400)
        C.check(open_, "POST", "/solutions", raw=b"[]", want=400)
        C.check(open_, "POST", "/tasks/batch", {"task_ids": "x"}, want=400)
        C.check(open_, "POST", "/tasks/batch", {"task_ids": ["nope"], "timeout": 0}, want=404)
        a = C.check(open_, "POST", "/solutions", sol, want=202).json()
        C.check(open_, "POST", "/solutions", sol, want=200)
        tid = a["task_id"]
        C.check(open_, "GET", "/tasks/" + tid, want=200)
        C.check(open_, "GET", "/tasks/" + tid + "?timeout=-1", want=400)
        C.check(open_, "GET", "/tasks/" + tid + "/traces", want=200)
        C.check(open_, "POST", "/tasks/batch", {"task_ids": [tid], "timeout": 0}, want=200)
        C.check(open_, "GET", "/solutions/" + a["solution"], want=200)
        e = C.check(open_, "POST", "/evaluate", {"solution": sol, "task_id": "client-1"},
                    want=200)
        C.check(open_, "POST", "/evaluate",
                {"solution": sol, "task_id": "client-1", "workload_uuids": [uuids[0]]}, want=409)
        # a completed task: the board routes with data
        cons = K.Consumer(redis.sock, "w-openapi")
        cons.heartbeat()
        fixture = json.load(open(os.path.join(ROOT, "tests", "data", "schema", "valid",
                                              "trace_passed.json")))
        wl = {json.loads(line)["workload"]["uuid"]: json.loads(line)["workload"] for line in
              open(os.path.join(ds, "workloads", "gdn", gdn + ".jsonl"))}
        for _ in range(3):
            t = cons.claim()
            if t:
                cons.complete(t, speedup=2.5)
                # the stand-in's traces are minimal: store full FlashInfer-Trace ones
                cons.r.cmd("DEL", "kf:traces:" + t["id"])
                for u in t["workloads"]:
                    tr = dict(fixture, workload=wl[u], solution=t["solution"])
                    cons.r.cmd("RPUSH", "kf:traces:" + t["id"], json.dumps(tr))
        C.check(open_, "GET", "/results?definition=" + gdn, want=200)
        C.check(open_, "GET", "/board/solutions/" + a["solution"], want=200)
        C.check(open_, "GET", "/board/traces/%s/0" % tid, want=200)
        C.check(open_, "GET", "/board/traces/%s/99" % tid, want=404)
        C.check(open_, "GET", "/board/history?definition=" + gdn, want=200)
        C.check(open_, "GET", "/board/submissions", want=200)
        cons.close()
        R.check("the job used the evaluate answer", bool(e.json().get("task_id")))
        C.check(open_, "POST", "/drain", want=415)   # no token: JSON content type only
        C.check(open_, "POST", "/drain", {}, want=200)
        C.check(open_, "POST", "/solutions", sol, want=503)
        C.check(open_, "POST", "/resume", {}, want=200)
        C.check(open_, "POST", "/solutions?rerun=1", sol, want=202)
        # ---- auth: 401, 403, 413, 429 ----
        C.check(auth, "GET", "/tasks/" + tid, want=401)
        C.check(auth, "GET", "/board/submissions", want=401)
        C.check(auth, "GET", "/board/submissions", headers={"Authorization": "Basic x"}, want=401)
        C.check(auth, "POST", "/drain", headers=sub, want=403)
        C.check(auth, "POST", "/resume", headers=sub, want=403)
        C.check(auth, "POST", "/shutdown", headers=sub, want=403)
        C.check(auth, "POST", "/solutions", headers=sub, raw=b"x" * 70000, want=413)
        C.check(auth, "GET", "/board/submissions", headers=sub, want=200)
        C.check(auth, "GET", "/board/solutions/" + a["solution"], want=200)
        for _ in range(2):
            sol2 = json.loads(json.dumps(sol))
            sol2["name"] = "rl_%d" % _
            C.check(auth, "POST", "/solutions", sol2, headers=sub, want=202)
        sol2["name"] = "rl_x"
        C.check(auth, "POST", "/solutions", sol2, headers=sub, want=429)
        C.check(auth, "POST", "/resume", headers=adm, want=200)
        # ---- Redis down: 503 ----
        redis.stop()
        time.sleep(0.4)   # past the /health view's cache (--health-cache-ms, 250 ms)
        for p in ["/health", "/results", "/tasks/" + tid, "/board/submissions",
                  "/board/history?definition=" + gdn, "/board/solutions/x", "/solutions/x",
                  "/board/traces/%s/0" % tid]:
            C.check(open_, "GET", p, want=503)
        C.check(open_, "POST", "/tasks/batch", {"task_ids": [tid], "timeout": 0}, want=503)
        C.check(open_, "POST", "/solutions", sol, want=503)
        C.check(open_, "POST", "/evaluate", {"solution": sol}, want=503)
        C.check(open_, "POST", "/shutdown", {}, want=200)
        open_.proc.wait(20)
        open_.proc = None
        unexercised = {(m, p) for m, p in routes} - {(m, p) for m, p in C.seen}
        R.check("every route was exercised", not unexercised, str(unexercised))
    finally:
        auth.stop()
        open_.stop()
        redis.stop()
    R.finish()


if __name__ == "__main__":
    main()
