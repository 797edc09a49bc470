#!/usr/bin/env python3
"""test_deploy.py: the deploy files, checked without Docker or a cluster.

- deploy/docker-compose.yml: validated against the Compose Specification's JSON
  Schema (pinned in tests/data/schemas/compose-spec.json), then: healthchecks on
  redis and kf-server, every depends_on waits for service_healthy, one worker
  service for all GPUs (no per-GPU copies), no default password.
- Dockerfile: the worker's cache folder is created, owned by the worker user,
  and is the VOLUME and KF_CACHE_DIR; CUDA_HOME is where the staged headers go;
  the entry point is deploy/worker-per-gpu.sh; the server image has a HEALTHCHECK.
  (tests/unit/test_image_headers.c compiles every kernel with those headers.)
- deploy/worker-per-gpu.sh: with a fake nvidia-smi and a fake kf-worker, one
  worker per GPU with stable ids, signals forwarded, one worker dying stops the
  rest, KF_DEVICE runs exactly one.
- deploy/k8s/: every object validated (strict) against the Kubernetes 1.32 schemas
  bundled in the PyPI package kubernetes-validate (offline); kubectl kustomize
  renders the set when kubectl is installed; then: Redis StatefulSet with AOF on
  its volume, ACL users whose kf-worker key patterns are lib/keys.h's
  KFK_ACL_WORKER, kf-server Deployment with >= 2 replicas and both probes,
  kf-worker one GPU per pod, a Prometheus scrape job for kf-server's /metrics.
- The ACL file the Redis init container writes, loaded into a real redis-server:
  kf-worker reaches the queue keys and runs scripts, and is refused tokens, rate
  limits, idempotency keys, writes to solutions and dangerous commands.
- kf-server refuses deploy/tokens.example and a default Redis password, and
  starts with --insecure-dev.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import kfserver as K  # noqa: E402

R = K.Results()
ROOT = K.ROOT
DEPLOY = os.path.join(ROOT, "deploy")

try:
    import yaml
except ImportError:
    yaml = None


def load_yaml_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


# ---- compose -------------------------------------------------------------------

def test_compose():
    import jsonschema
    path = os.path.join(DEPLOY, "docker-compose.yml")
    doc = load_yaml_all(path)[0]
    schema = json.load(open(os.path.join(ROOT, "tests/data/schemas/compose-spec.json")))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
    R.check("compose: valid against the Compose Specification schema", not errors,
            [e.message for e in errors[:3]])
    bad = json.loads(json.dumps(doc))
    bad["services"]["redis"]["healthchek"] = bad["services"]["redis"].pop("healthcheck")
    R.check("compose: the schema rejects a misspelt key (control)",
            list(jsonschema.Draft7Validator(schema).iter_errors(bad)) != [])
    sv = doc.get("services", {})
    R.check("compose: redis, kf-server, kf-worker services",
            {"redis", "kf-server", "kf-worker"} <= set(sv), list(sv))
    for name in ("redis", "kf-server"):
        hc = sv.get(name, {}).get("healthcheck", {})
        R.check("compose: %s has a healthcheck" % name, bool(hc.get("test")), hc)
    bad = []
    for name, s in sv.items():
        dep = s.get("depends_on", {})
        if isinstance(dep, list) or any(v.get("condition") != "service_healthy" for v in dep.values()):
            bad.append(name)
    R.check("compose: every depends_on waits for service_healthy", not bad, bad)
    R.check("compose: workers depend on redis and kf-server being healthy",
            set(sv.get("kf-worker", {}).get("depends_on", {})) == {"redis", "kf-server"})
    R.check("compose: one worker service for every GPU (no per-GPU copies)",
            not [n for n in sv if re.match(r"kf-worker-\d+$", n)])
    dev = sv["kf-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    R.check("compose: the worker reserves all GPUs (one kf-worker per GPU inside)",
            dev.get("count") == "all" and "gpu" in dev.get("capabilities", []), dev)
    text = open(path).read()
    server_mounts = " ".join(sv["kf-server"].get("volumes", []))
    R.check("compose: no default password, and the example tokens are not mounted",
            "change-me" not in text and "tokens.example" not in server_mounts, server_mounts)
    R.check("compose: the Redis password must be set",
            "${KF_REDIS_PASSWORD:?" in text)
    mounts = sv["kf-worker"].get("volumes", [])
    R.check("compose: the worker cache volume is mounted where the image's KF_CACHE_DIR is",
            "worker-cache:/var/cache/kernelfarm" in mounts
            and sv["kf-worker"]["environment"].get("KF_CACHE_DIR") == "/var/cache/kernelfarm",
            mounts)


# ---- Dockerfile ----------------------------------------------------------------

def stages(path):
    out, cur = {}, None
    for line in open(path):
        m = re.match(r"FROM \S+ AS ([\w.-]+)", line)
        if m:
            cur = m.group(1)
            out[cur] = ""
        elif cur:
            out[cur] += line
    return out


def test_dockerfile():
    st = stages(os.path.join(ROOT, "Dockerfile"))
    w, s = st.get("worker", ""), st.get("server", "")
    R.check("Dockerfile: worker cache folder created and owned by the worker user",
            "mkdir -p /var/cache/kernelfarm" in w
            and "chown kernelfarm:kernelfarm /var/cache/kernelfarm" in w)
    R.check("Dockerfile: the cache is the VOLUME and KF_CACHE_DIR",
            "VOLUME /var/cache/kernelfarm" in w and "KF_CACHE_DIR=/var/cache/kernelfarm" in w)
    R.check("Dockerfile: the worker runs as the non-root user 10001",
            re.search(r"^USER kernelfarm$", w, re.M) is not None and "--uid 10001" in w)
    R.check("Dockerfile: CUDA_HOME is where the staged NVRTC headers are copied",
            "CUDA_HOME=/opt/kernelfarm/cuda" in w
            and "COPY --from=build /opt/cuda-headers/include /opt/kernelfarm/cuda/include" in w)
    R.check("Dockerfile: the worker image has kf-runner beside kf-worker (the judge starts it "
            "from kf-worker's directory) and the Python lane's files",
            re.search(r"COPY --from=build [^\n]*/src/bin/kf-runner[^\n]*(\\\n[^\n]*)?/opt/kernelfarm/bin/", w)
            is not None and "/opt/kernelfarm/worker/python" in w)
    R.check("Dockerfile: the worker entry point starts one kf-worker per GPU",
            "worker-per-gpu.sh" in w and 'ENTRYPOINT ["/opt/kernelfarm/bin/worker-per-gpu.sh"]' in w)
    R.check("Dockerfile: the server image has a HEALTHCHECK on /health",
            "HEALTHCHECK" in s and "/health" in s)
    # the python-lane variant: the worker image plus torch and triton from PyPI
    src = open(os.path.join(ROOT, "Dockerfile")).read()
    p = st.get("worker-python", "")
    R.check("Dockerfile: a worker-python stage built FROM the worker stage",
            re.search(r"^FROM worker AS worker-python$", src, re.M) is not None, list(st))
    R.check("Dockerfile: worker-python pip-installs torch and triton into a venv (pinnable "
            "build args) and checks that they import",
            re.search(r"ARG TORCH_SPEC=torch\b", p) is not None
            and re.search(r"ARG TRITON_SPEC=triton\b", p) is not None
            and "python3 -m venv /opt/kernelfarm/venv" in p
            and re.search(r'pip install [^\n]*"\$\{TORCH_SPEC\}" "\$\{TRITON_SPEC\}"', p)
            and "import torch, triton" in p, p)
    R.check("Dockerfile: worker-python points kf-worker at that python (KF_PYTHON) and runs "
            "as the worker user again",
            "KF_PYTHON=/opt/kernelfarm/venv/bin/python" in p
            and re.findall(r"^USER (\S+)$", p, re.M)[-1:] == ["kernelfarm"], p)


# ---- worker-per-gpu.sh ---------------------------------------------------------

def test_worker_per_gpu(tmp):
    fake = os.path.join(tmp, "fakebin")
    os.makedirs(fake)
    log = os.path.join(tmp, "wpg.log")
    with open(os.path.join(fake, "nvidia-smi"), "w") as f:
        f.write("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-a)'\n"
                "echo 'GPU 1: NVIDIA H100 (UUID: GPU-b)'\necho 'GPU 2: NVIDIA H100 (UUID: GPU-c)'\n")
    with open(os.path.join(fake, "kf-worker"), "w") as f:
        f.write("#!/bin/bash\necho \"start $KF_DEVICE $*\" >> \"$WPG_LOG\"\n"
                "trap 'echo \"term $KF_DEVICE\" >> \"$WPG_LOG\"; exit 0' TERM\n"
                "if [ \"$KF_DEVICE\" = \"${WPG_DIE:-x}\" ]; then sleep 0.5; exit 3; fi\n"
                "while :; do sleep 0.05; done\n")
    for n in ("nvidia-smi", "kf-worker"):
        os.chmod(os.path.join(fake, n), 0o755)
    env = dict(os.environ, PATH=fake + ":" + os.environ["PATH"], WPG_LOG=log,
               KF_WORKER_BIN=os.path.join(fake, "kf-worker"), KF_WORKER_PREFIX="box")
    for k in ("KF_DEVICE", "KF_DEVICES"):
        env.pop(k, None)
    script = os.path.join(DEPLOY, "worker-per-gpu.sh")

    def lines():
        return open(log).read().split("\n") if os.path.exists(log) else []

    p = subprocess.Popen([script, "--heartbeat", "1"], env=env, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if len([x for x in lines() if x.startswith("start")]) == 3:
            break
        time.sleep(0.05)
    starts = sorted(x for x in lines() if x.startswith("start"))
    R.check("worker-per-gpu: one kf-worker per GPU nvidia-smi lists, stable ids, flags passed",
            starts == ["start %d --device %d --worker-id box-gpu%d --heartbeat 1" % (i, i, i)
                       for i in range(3)], starts)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(10)
    time.sleep(0.2)
    R.check("worker-per-gpu: SIGTERM reaches every worker; exit 0 when they stop cleanly",
            rc == 0 and sorted(x for x in lines() if x.startswith("term")) ==
            ["term 0", "term 1", "term 2"], (rc, lines()))
    os.unlink(log)
    r = subprocess.run([script], env=dict(env, WPG_DIE="1"), stderr=subprocess.DEVNULL, timeout=20)
    time.sleep(0.2)
    R.check("worker-per-gpu: one worker dying stops the others and passes its status on",
            r.returncode == 3 and sorted(x for x in lines() if x.startswith("term")) ==
            ["term 0", "term 2"], (r.returncode, lines()))
    os.unlink(log)
    p = subprocess.Popen([script], env=dict(env, KF_DEVICES="2"), stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    R.check("worker-per-gpu: KF_DEVICES picks the GPUs",
            [x for x in lines() if x.startswith("start")] ==
            ["start 2 --device 2 --worker-id box-gpu2"], lines())
    os.unlink(log)
    p = subprocess.Popen([script, "--x"], env=dict(env, KF_DEVICE="0"), stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    R.check("worker-per-gpu: with KF_DEVICE (k8s) it runs exactly one kf-worker itself",
            [x for x in lines() if x.startswith("start")] == ["start 0 --x"], lines())
    r = subprocess.run([script], env=dict(env, PATH="/usr/bin:/bin"), capture_output=True,
                       text=True, timeout=20)
    R.check("worker-per-gpu: no nvidia-smi and no device named: exit 1 saying so",
            r.returncode == 1 and "nvidia-smi not found" in r.stderr, r.stderr)


# ---- Kubernetes ----------------------------------------------------------------

def k8s_docs():
    out = []
    for f in sorted(os.listdir(os.path.join(DEPLOY, "k8s"))):
        if f.endswith(".yaml") and f != "kustomization.yaml":
            out += [(f, d) for d in load_yaml_all(os.path.join(DEPLOY, "k8s", f))]
    return out


def keys_h_acl_worker():
    text = open(os.path.join(ROOT, "lib/keys.h")).read()
    m = re.search(r"#define KFK_ACL_WORKER((?:.|\n)*?)\n(?!\s)", text)
    return set(" ".join(re.findall(r'"([^"]*)"', m.group(1))).split())


K8S_SCHEMAS = os.path.join(ROOT, "tests/data/schemas/k8s-v1.32.0-strict")


def k8s_validator(doc):
    """A Draft 2020-12 validator for doc's kind from the pinned copy of the
    Kubernetes 1.32 strict schemas (tests/data/schemas/README.md)."""
    import jsonschema
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    path = os.path.join(K8S_SCHEMAS, "%s-%s.json" % (doc["kind"].lower(), group))
    if not os.path.exists(path):
        raise FileNotFoundError("no pinned schema %s for %s %s (add it from kubernetes-validate)"
                                % (os.path.basename(path), doc["apiVersion"], doc["kind"]))
    schema = json.load(open(path))
    defs = json.load(open(os.path.join(K8S_SCHEMAS, "_definitions.json")))
    try:
        from referencing import Registry, Resource
        registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
        return jsonschema.Draft202012Validator(schema, registry=registry)
    except ImportError:   # jsonschema < 4.18
        resolver = jsonschema.RefResolver.from_schema(schema, store={defs["$id"]: defs})
        return jsonschema.Draft202012Validator(schema, resolver=resolver)


def test_k8s(tmp):
    docs = k8s_docs()
    failures = []
    for f, d in docs:
        try:
            errs = list(k8s_validator(d).iter_errors(d))
            if errs:
                failures.append("%s %s: %s at %s" % (f, d["kind"], errs[0].message[:200],
                                                     list(errs[0].absolute_path)))
        except Exception as e:
            failures.append("%s %s: %s" % (f, d.get("kind"), e))
    R.check("k8s: %d objects valid (strict) against the pinned Kubernetes 1.32 schemas (offline)"
            % len(docs), len(docs) >= 8 and not failures, failures)
    bad = json.loads(json.dumps([d for _, d in docs if d["kind"] == "Deployment"][0]))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbee"] = {}
    bad2 = dict(bad, spec={"replicas": "two"})
    R.check("k8s: the validator rejects a misspelt field and a wrong type (controls)",
            list(k8s_validator(bad).iter_errors(bad)) != []
            and list(k8s_validator(bad2).iter_errors(bad2)) != [])
    try:
        import kubernetes_validate
    except ImportError:
        print("NOT RUN: cross-check with the PyPI package kubernetes-validate (not installed; "
              "tools/deps.sh installs it)")
    else:
        failures = []
        for f, d in docs:
            try:
                kubernetes_validate.validate(d, "1.32.0", strict=True)
            except Exception as e:  # ValidationError and friends
                failures.append("%s %s: %s" % (f, d.get("kind"), str(e)[:300]))
        R.check("k8s: the same objects pass kubernetes-validate %s (strict, 1.32)"
                % kubernetes_validate.__version__, not failures, failures)
    kust = load_yaml_all(os.path.join(DEPLOY, "k8s", "kustomization.yaml"))[0]
    R.check("k8s: kustomization lists every manifest",
            sorted(kust["resources"]) == sorted({f for f, _ in docs}), kust["resources"])
    if shutil.which("kubectl"):
        r = subprocess.run(["kubectl", "kustomize", os.path.join(DEPLOY, "k8s")],
                           capture_output=True, text=True, timeout=60)
        R.check("k8s: kubectl kustomize renders the set (offline)",
                r.returncode == 0 and r.stdout.count("\nkind: ") + r.stdout.startswith("kind: ") >= 8,
                r.stderr[-300:])
    else:
        print("NOT RUN: kubectl kustomize (kubectl not installed)")

    by = {(d["kind"], d["metadata"]["name"]): d for _, d in docs}
    cm = by[("ConfigMap", "redis-config")]["data"]
    conf = cm["redis.conf"]
    rs = by[("StatefulSet", "redis")]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in rs["template"]["spec"]["containers"][0]["volumeMounts"]}
    R.check("k8s: Redis is a StatefulSet with AOF in /data on its persistent volume",
            "appendonly yes" in conf and "dir /data" in conf
            and [t["metadata"]["name"] for t in rs["volumeClaimTemplates"]] == ["data"]
            and mounts.get("data") == "/data", conf)
    acl_lines = [ln for ln in cm["make-acl.sh"].split("\n") if ln.startswith("user ")]
    users = {ln.split()[1]: ln for ln in acl_lines}
    R.check("k8s: ACL users admin, kf-server, kf-worker; default off",
            set(users) == {"default", "admin", "kf-server", "kf-worker"}
            and users["default"].split()[2] == "off", acl_lines)
    pats = {t for t in users.get("kf-worker", "").split() if t.startswith("~") or t.startswith("%R~")}
    want = keys_h_acl_worker()
    R.check("k8s: the kf-worker user's key patterns are lib/keys.h's KFK_ACL_WORKER",
            pats == want and "~*" not in pats and "~kf:*" not in pats, (pats ^ want))
    dep = by[("Deployment", "kf-server")]["spec"]
    c = dep["template"]["spec"]["containers"][0]
    R.check("k8s: kf-server Deployment with >= 2 replicas, readiness and liveness probes",
            dep["replicas"] >= 2 and c.get("readinessProbe") and c.get("livenessProbe"))
    R.check("k8s: kf-server readiness on /health",
            c["readinessProbe"]["httpGet"]["path"] == "/health")
    ws = by[("StatefulSet", "kf-worker")]["spec"]
    wc = ws["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in wc["env"]}
    R.check("k8s: kf-worker one GPU per pod (nvidia.com/gpu: 1)",
            str(wc["resources"]["limits"].get("nvidia.com/gpu")) == "1")
    R.check("k8s: kf-worker id is the pod name (stable: reclaims its own tasks)",
            env["KF_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name")
    R.check("k8s: kf-worker connects as the ACL user kf-worker",
            env["KF_REDIS_URL"]["value"].startswith("redis://kf-worker:@"))
    R.check("k8s: kf-worker runs as uid 10001 with fsGroup for its cache volume",
            ws["template"]["spec"]["securityContext"].get("fsGroup") == 10001
            and {m["mountPath"] for m in wc["volumeMounts"]} >= {"/var/cache/kernelfarm"})
    prom = yaml.safe_load(by[("ConfigMap", "kernelfarm-prometheus")]["data"]["prometheus.yml"])
    job = prom["scrape_configs"][0]
    keep = [r for r in job.get("relabel_configs", []) if r.get("action") == "keep"]
    svc = by[("Service", "kf-server")]["spec"]
    R.check("k8s: Prometheus scrapes kf-server's /metrics through its 'http' port",
            job.get("metrics_path") == "/metrics" and keep and keep[0]["regex"] == "kf-server;http"
            and any(p["name"] == "http" for p in svc["ports"]), job)
    test_acl_live(tmp, cm["make-acl.sh"])


def test_acl_live(tmp, script):
    """Write the ACL file as the init container does and load it into redis-server."""
    d = os.path.join(tmp, "acl")
    os.makedirs(d)
    acl = os.path.join(d, "users.acl")
    env = dict(os.environ, ACL_FILE=acl, REDIS_ADMIN_PASSWORD="adm-pw-0123456789",
               REDIS_SERVER_PASSWORD="srv-pw-0123456789", REDIS_WORKER_PASSWORD="wrk-pw-0123456789")
    r = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=20)
    if not R.check("k8s: the init container's script writes the ACL file", r.returncode == 0, r.stderr):
        return
    sock = os.path.join(d, "redis.sock")
    port = K.free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--unixsocket", sock, "--save", "", "--aclfile", acl, "--dir", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        time.sleep(0.1)
        c = K.RESP(sock)

        def ok(*a):
            try:
                c.cmd(*a)
                return True
            except RuntimeError:
                return False

        R.check("ACL: the default user is off", not ok("PING"))
        c.cmd("AUTH", "kf-worker", "wrk-pw-0123456789")
        allowed = [("HSET", "kf:task:t1", "status", "running"), ("RPUSH", "kf:traces:t1", "{}"),
                   ("ZADD", "kf:queue:running", "1", "t1"), ("LPOP", "kf:queue:team:a"),
                   ("XADD", "kf:events", "*", "task_id", "t1"), ("HINCRBY", "kf:stats", "x", "1"),
                   ("HSET", "kf:board:d", "s|h", "{}"), ("GET", "kf:solution:s"),
                   ("SCRIPT", "LOAD", "return 1"),
                   ("EVAL", "return redis.call('RPUSH', KEYS[1], 'x')", "1", "kf:queue:team:b"),
                   ("BLPOP", "kf:queue:wake", "0.01"), ("TIME",)]
        bad = [a for a in allowed if not ok(*a)]
        R.check("ACL: kf-worker reaches the queue's keys and runs scripts", not bad, bad)
        denied = [("HGET", "kf:tokens", "x"), ("INCR", "kf:rl:a:1"), ("GET", "kf:idem:a:b"),
                  ("SADD", "kf:solteams:s", "t"), ("SET", "kf:solution:s", "{}"),
                  ("SET", "other", "1"), ("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*"),
                  ("EVAL", "return redis.call('HGET', 'kf:tokens', 'x')", "0")]
        leaked = [a for a in denied if ok(*a)]
        R.check("ACL: kf-worker is refused tokens, rate limits, idempotency, solution writes, "
                "other keys and dangerous commands", not leaked, leaked)
        c.close()
        c = K.RESP(sock)
        c.cmd("AUTH", "kf-server", "srv-pw-0123456789")
        R.check("ACL: kf-server reaches every kf:* key but no admin command",
                ok("HGET", "kf:tokens", "x") and ok("INCR", "kf:rl:a:1") and not ok("FLUSHALL")
                and not ok("SET", "other", "1"))
        c.close()
        test_acl_queue(port)
    finally:
        p.terminate()
        p.wait()


def test_acl_queue(port):
    """The real queue code (bench/queue_scale, a few tasks) under the ACL users:
    kf-server's user submits, kf-worker's user claims and finishes."""
    bench = os.path.join(ROOT, K.BUILD, "bench", "queue_scale")
    if not os.access(bench, os.X_OK):
        print("NOT RUN: ACL with the real queue code (build bench/queue_scale: make bench)")
        return
    r = subprocess.run([bench, "--redis-url", "redis://127.0.0.1:%d" % port,
                        "--server-auth", "kf-server:srv-pw-0123456789",
                        "--worker-auth", "kf-worker:wrk-pw-0123456789",
                        "--tasks", "40", "--teams", "4", "--workers", "4", "--kill-every", "0",
                        "--task-ms", "2"], capture_output=True, text=True, timeout=120)
    R.check("ACL: the queue's scripts run under the kf-server and kf-worker users "
            "(40 tasks, nothing lost or doubled)",
            r.returncode == 0 and "RESULT ok" in r.stdout, (r.returncode, r.stdout[-800:],
                                                           r.stderr[-800:]))


# ---- kf-server refuses placeholder secrets ---------------------------------------

def test_server_refuses(tmp):
    ds = os.path.join(tmp, "ds")
    K.build_dataset(ds)
    redis = K.Redis(tmp, aof=False)
    redis.start()
    try:
        base = [os.path.join(K.BIN, "kf-server"), "--port", "0", "--redis-url", redis.url,
                "--dataset", ds]
        r = subprocess.run(base + ["--tokens-file", os.path.join(DEPLOY, "tokens.example")],
                           capture_output=True, text=True, timeout=30)
        R.check("kf-server refuses deploy/tokens.example (exit 1, says why)",
                r.returncode != 0 and "example token" in r.stderr, r.stderr[-300:])
        r = subprocess.run(base + ["--redis-password", "change-me"], capture_output=True,
                           text=True, timeout=30)
        R.check("kf-server refuses the default Redis password",
                r.returncode != 0 and "well-known default" in r.stderr, r.stderr[-300:])
        s = K.Server(tmp, redis, ds, "--tokens-file", os.path.join(DEPLOY, "tokens.example"),
                     "--insecure-dev", name="insecure")
        s.start()
        st = s.http("GET", "/health").status
        rc = s.stop()
        log = open(s.log).read()
        R.check("kf-server starts with --insecure-dev, warning about it",
                st == 200 and rc == 0 and "insecure-dev" in log, (st, rc, log[-300:]))
    finally:
        redis.stop()


def main():
    if yaml is None:
        R.check("PyYAML is installed (tools/deps.sh)", False)
        R.finish()
    tmp = tempfile.mkdtemp(prefix="kf-itest-deploy-")
    try:
        R.run("compose", test_compose)
        R.run("dockerfile", test_dockerfile)
        R.run("worker-per-gpu", test_worker_per_gpu, tmp)
        R.run("k8s", test_k8s, tmp)
        R.run("server refuses", test_server_refuses, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
