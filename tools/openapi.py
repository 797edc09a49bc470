#!/usr/bin/env python3
"""tools/openapi.py [--check]: write schemas/openapi.json, the OpenAPI 3.1
description of kf-server's HTTP API that GET /openapi.json serves (embedded
by server/web.c), from the route list below and the JSON Schemas in
schemas/ (inlined under components.schemas, so the document stands alone).
--check: exit 1 if the committed file differs from what this writes.
tests/integration/test_openapi.py checks the document against the server's
route table (server/router.c) and every error body against it."""
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "schemas", "openapi.json")

# component name -> schema file (relative to schemas/)
SCHEMAS = {
    "Error": "api/error.json",
    "Definition": "definition.json",
    "Workload": "workload.json",
    "Solution": "solution.json",
    "Trace": "trace.json",
    "DefinitionsResponse": "api/definitions-response.json",
    "EvaluateRequest": "api/evaluate-request.json",
    "EvaluateResponse": "api/evaluate-response.json",
    "HealthResponse": "api/health-response.json",
    "ResultsResponse": "api/results-response.json",
    "SolutionsResponse": "api/solutions-response.json",
    "TaskResponse": "api/task-response.json",
    "TasksBatchRequest": "api/tasks-batch-request.json",
    "TasksBatchResponse": "api/tasks-batch-response.json",
    "BoardSolutionResponse": "api/board-solution-response.json",
    "BoardSubmissionsResponse": "api/board-submissions-response.json",
    "BoardHistoryResponse": "api/board-history-response.json",
    "AdminResponse": "api/admin-response.json",
}
FILE_TO_NAME = {os.path.basename(v): k for k, v in SCHEMAS.items()}

ERRORS = {
    400: "invalid: malformed JSON, a missing or wrong field, a bad query parameter",
    401: "unauthorized: auth is on and the bearer token is missing, malformed or unknown",
    403: "forbidden: the token lacks the role",
    404: "not_found: unknown definition, workload, task (or another team's), solution",
    405: "method_not_allowed: the path exists with another method (Allow header)",
    409: "conflict: a client task_id reused with another request",
    413: "too_large: the body is over --max-body (or a response over --max-response, a launch "
         "plan too costly to check); quota_exceeded: the team's --quota-bytes",
    415: "unsupported_media_type: an admin route without a token needs "
         "Content-Type: application/json (and the same origin)",
    429: "rate_limited: too many submissions in the window; quota_exceeded: the team's "
         "--quota-tasks (Retry-After)",
    503: "unavailable (Redis down, or request bodies over --body-memory), draining, or "
         "shutting_down (Retry-After)",
}
# role -> extra error statuses
ROLE_ERRORS = {"": [], "read": [401, 403], "submit": [401, 403], "admin": [401, 403, 415]}


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def json_body(name, desc):
    return {"description": desc, "content": {"application/json": {"schema": ref(name)}}}


def param(name, where, desc, schema=None, required=None):
    p = {"name": name, "in": where, "description": desc, "schema": schema or {"type": "string"}}
    if where == "path" or required:
        p["required"] = True
    return p


TIMEOUT = param("timeout", "query", "long-poll seconds, 0..3600 (0: answer at once)",
                {"type": "number", "minimum": 0, "maximum": 3600})

# (method, path, role, summary, params, request schema, {status: response}, extra errors)
ROUTES = [
    ("GET", "/", "", "The web board (HTML page)", [], None,
     {200: {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}},
     []),
    ("GET", "/openapi.json", "", "This document", [], None,
     {200: {"description": "OpenAPI 3.1", "content": {"application/json": {
         "schema": {"type": "object"}}}}}, []),
    ("GET", "/health", "", "Service status, workers and queue (flashinfer-bench)", [], None,
     {200: json_body("HealthResponse", "status"),
      503: json_body("HealthResponse", "Redis unreachable: status unavailable")}, []),
    ("GET", "/metrics", "", "Prometheus metrics", [], None,
     {200: {"description": "Prometheus text format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}}}}, []),
    ("GET", "/definitions", "", "List definitions (flashinfer-bench)", [], None,
     {200: json_body("DefinitionsResponse", "definitions")}, []),
    ("GET", "/definitions/{name}", "", "One definition (flashinfer-bench)",
     [param("name", "path", "definition name")], None,
     {200: json_body("Definition", "the Definition JSON")}, [404]),
    ("GET", "/definitions/{name}/workloads", "", "A definition's workloads (flashinfer-bench)",
     [param("name", "path", "definition name")], None,
     {200: {"description": "the workloads", "content": {"application/json": {
         "schema": {"type": "array", "items": ref("Workload")}}}}}, [404]),
    ("GET", "/workloads/{uuid}", "", "One workload (flashinfer-bench)",
     [param("uuid", "path", "workload uuid")], None,
     {200: json_body("Workload", "the Workload")}, [404]),
    ("POST", "/evaluate", "submit", "Queue an evaluation (flashinfer-bench)", [],
     "EvaluateRequest", {200: json_body("EvaluateResponse", "queued (or the existing task)")},
     [400, 409, 413, 429, 503]),
    ("POST", "/solutions", "submit", "Submit a solution.json",
     [param("workloads", "query", "comma-separated workload uuids to evaluate (default: all)"),
      param("rerun", "query", "1: evaluate again even if the same content was evaluated",
            {"enum": ["0", "1", "true", "false"]})],
     "Solution", {202: json_body("SolutionsResponse", "a new task, status pending"),
                  200: json_body("SolutionsResponse", "the existing task for the same content")},
     [400, 413, 429, 503]),
    ("GET", "/solutions/{name}", "read", "A stored solution (its team, or admins)",
     [param("name", "path", "normalized solution name")], None,
     {200: json_body("Solution", "the normalized solution")}, [404, 503]),
    ("POST", "/tasks/batch", "read", "Several tasks, optionally long-polled (flashinfer-bench)",
     [], "TasksBatchRequest", {200: json_body("TasksBatchResponse", "tasks in request order")},
     [400, 404, 413, 503]),
    ("GET", "/tasks/{id}", "read", "A task, optionally long-polled (flashinfer-bench)",
     [param("id", "path", "task id"), TIMEOUT], None,
     {200: json_body("TaskResponse", "the task")}, [400, 404, 503]),
    ("GET", "/tasks/{id}/traces", "read", "A task's traces so far as JSON Lines",
     [param("id", "path", "task id")], None,
     {200: {"description": "one FlashInfer-Trace per line",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}, [404, 503]),
    ("GET", "/results", "", "The leaderboard",
     [param("definition", "query", "only this definition"),
      param("hardware", "query", "only this GPU model, e.g. NVIDIA_H100")], None,
     {200: json_body("ResultsResponse", "ranked solutions per definition and GPU model")},
     [404, 503]),
    ("POST", "/drain", "admin", "Stop accepting tasks (POST /resume undoes it)", [], None,
     {200: json_body("AdminResponse", "status draining")}, [503]),
    ("POST", "/resume", "admin", "Accept tasks again after POST /drain", [], None,
     {200: json_body("AdminResponse", "status accepting")}, [503]),
    ("POST", "/shutdown", "admin", "Graceful exit", [], None,
     {200: json_body("AdminResponse", "status shutting_down")}, []),
    ("GET", "/board/solutions/{name}", "", "A solution's page: results per GPU model, "
     "one row per workload, the source when visible",
     [param("name", "path", "normalized solution name")], None,
     {200: json_body("BoardSolutionResponse", "the solution page data")}, [404, 503]),
    ("GET", "/board/traces/{task}/{n}", "", "The n-th trace of a task (0-based): public for "
     "a ranked result, else for its team and admins",
     [param("task", "path", "task id"),
      param("n", "path", "trace index", {"type": "integer", "minimum": 0})], None,
     {200: json_body("Trace", "the FlashInfer-Trace")}, [404, 503]),
    ("GET", "/board/submissions", "read", "The caller's team's 50 latest tasks with the reason "
     "of each failure (admins: every team)", [], None,
     {200: json_body("BoardSubmissionsResponse", "latest tasks, newest first")}, [503]),
    ("GET", "/board/history", "", "Best score per GPU model over time",
     [param("definition", "query", "definition name", required=True)], None,
     {200: json_body("BoardHistoryResponse", "history points per GPU model")}, [400, 404, 503]),
]


def load_schema(name, rel):
    """The schema file as a component: no $schema or $id; references to
    other schema files and to its own $defs point into this document."""
    with open(os.path.join(ROOT, "schemas", rel)) as f:
        s = json.load(f)
    s.pop("$schema", None)
    s.pop("$id", None)

    def fix(o):
        if isinstance(o, dict):
            r = o.get("$ref")
            f, _, frag = r.partition("#") if isinstance(r, str) else ("", "", "")
            if f and f in FILE_TO_NAME:
                o["$ref"] = "#/components/schemas/" + FILE_TO_NAME[f] + frag
            elif isinstance(r, str) and r.startswith("#/$defs/"):
                o["$ref"] = "#/components/schemas/%s/$defs/%s" % (name, r[len("#/$defs/"):])
            for v in o.values():
                fix(v)
        elif isinstance(o, list):
            for v in o:
                fix(v)
    fix(s)
    return s


def build():
    paths = {}
    for method, path, role, summary, params, req, resps, errs in ROUTES:
        op = {"summary": summary, "operationId": (method + path).lower()
              .replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")}
        if params:
            op["parameters"] = params
        if req:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": ref(req)}}}
        responses = {str(k): v for k, v in sorted(resps.items())}
        for st in sorted(set(errs + ROLE_ERRORS[role] + [405])):
            responses.setdefault(str(st), {"$ref": "#/components/responses/E%d" % st})
        op["responses"] = responses
        if role:
            op["security"] = [{"bearer": []}]
            op["x-kernelfarm-role"] = role
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "kernelfarm", "version": "0.1.0",
                 "description": "Remote benchmark service for GPU kernels: the "
                 "flashinfer-bench serve API plus kernelfarm's routes. Every error answer "
                 "is JSON {error: {code, message, path}} (docs/api.md). Unknown paths "
                 "answer 404 and known paths with another method 405, both with that body."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": {k: load_schema(k, v) for k, v in SCHEMAS.items()},
            "responses": {"E%d" % k: {"description": v, "content": {"application/json": {
                "schema": ref("Error")}}} for k, v in sorted(ERRORS.items())} |
            {"E405": {"description": ERRORS[405], "content": {"application/json": {
                "schema": ref("Error")}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "TOKEN of the tokens file or of "
                                           "the Redis hash kf:tokens (docs/server.md)"}},
        },
    }


def main():
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
    if sys.argv[1:] == ["--check"]:
        cur = open(OUT).read() if os.path.exists(OUT) else ""
        if cur != text:
            print("schemas/openapi.json is out of date: run tools/openapi.py", file=sys.stderr)
            sys.exit(1)
        return
    with open(OUT, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
