"""Registry of tools through maoctl and the HTTP API, against a real etcd."""

import json

from harness import check, check_eq, main, one_line_error

DEMO = ["demo", "alice", "demo:1", "https://example.org/d.git", "https://example.org/c.git", "csv"]
FIELDS = ["name", "author", "image", "data_repo", "code_repo", "artefact"]


def start(env):
    etcd = env.etcd()
    env.start_coordinator(etcd)
    return etcd


def test_add_get_and_etcd_key(env):
    etcd = start(env)
    r = env.maoctl("tool", "add", *DEMO)
    check(r.rc == 0, "tool add should succeed", r)

    r = env.maoctl("tool", "get")
    check(r.rc == 0, "tool get should succeed", r)
    lines = r.out.splitlines()
    check(lines[0].split() == ["NAME", "AUTHOR", "IMAGE", "ARTEFACT", "DATA_REPO"],
          "a table header", r)
    check(lines[1].split()[:4] == ["demo", "alice", "demo:1", "csv"], "the demo row", r)

    r = env.maoctl("tool", "get", "demo")
    check(r.rc == 0, "tool get demo should succeed", r)
    for field, value in zip(FIELDS, DEMO):
        check(any(l.split() == [field, value] for l in r.out.splitlines()),
              f"tool get demo should show {field} {value}", r)

    r = env.maoctl("-o", "json", "tool", "get")
    check(r.rc == 0, "-o json tool get should succeed", r)
    tools = json.loads(r.out)
    check_eq(tools, [dict(zip(FIELDS, DEMO))], "JSON listing")

    stored = json.loads(etcd.get(env.prefix + "tools/demo"))
    check_eq(stored, dict(zip(FIELDS, DEMO)), "the etcd key holds the tool's JSON")


def test_empty_registry_and_conflicts(env):
    start(env)
    r = env.maoctl("tool", "get")
    check(r.rc == 0 and "No tools registered" in r.out, "an empty registry lists as empty", r)
    r = env.maoctl("-o", "json", "tool", "get")
    check(r.rc == 0 and json.loads(r.out) == [], "empty JSON list", r)
    status, body = env.http("GET", "/v1/tools")
    check_eq((status, body), (200, []), "GET /v1/tools on an empty registry")
    status, body = env.http("GET", "/v1/datasets")
    check_eq((status, body), (200, []), "GET /v1/datasets on an empty registry")

    check(env.maoctl("tool", "add", *DEMO).rc == 0, "first add")
    r = env.maoctl("tool", "add", "demo", "bob", "other:2", "https://example.org/x.git", "c", "x")
    one_line_error(r, "already registered", "--replace")
    status, body = env.http("POST", "/v1/tools", dict(zip(FIELDS, DEMO)))
    check_eq(status, 409, "a second POST of the same name")
    check("already registered" in body["message"], "409 says why", body)
    r = env.maoctl("tool", "get", "demo", "-o", "json")
    check_eq(r.json()["author"], "alice", "the refused add changed nothing")

    r = env.maoctl("tool", "add", "demo", "bob", "other:2", "https://example.org/x.git", "c", "x",
                   "--replace")
    check(r.rc == 0, "an explicit replace succeeds", r)
    check_eq(env.maoctl("tool", "get", "demo", "-o", "json").json()["author"], "bob", "replaced")
    status, _ = env.http("PUT", "/v1/tools/demo", dict(zip(FIELDS, DEMO)))
    check_eq(status, 200, "PUT replaces")
    status, _ = env.http("PUT", "/v1/tools/fresh", dict(zip(FIELDS[1:], DEMO[1:])))
    check_eq(status, 201, "PUT of a new name creates")

    r = env.maoctl("tool", "remove", "demo")
    check(r.rc == 0 and "removed" in r.out, "remove", r)
    one_line_error(env.maoctl("tool", "remove", "demo"), "not registered")
    one_line_error(env.maoctl("tool", "get", "demo"), "not registered")
    status, body = env.http("GET", "/v1/tools/demo")
    check_eq(status, 404, "GET of a removed tool")


def test_bad_input_refused_and_nothing_written(env):
    etcd = start(env)
    bad_names = ["a/b", "../etc", "a..b", "has space", "tab\tname", "nl\nname", "x" * 65,
                 ".hidden", "-dash", "q\"uote", "back\\slash", ""]
    for name in bad_names:
        status, body = env.http("POST", "/v1/tools", dict(zip(FIELDS, [name] + DEMO[1:])))
        check_eq(status, 400, f"POST with name {name!r}")
        check("invalid tool name" in body["message"] or "empty" in body["message"],
              "the message names the problem", body)
        check_eq(sorted(body), ["error", "message"], "errors are {error, message}")
        if name and "\n" not in name:
            r = env.maoctl("tool", "add", "--", name, *DEMO[1:])
            one_line_error(r, "invalid tool name")

    # Quotes and backslashes: refused where a field has a syntax, kept intact elsewhere.
    tricky = 'say "hi" \\o/ it\'s'
    for field in FIELDS[1:]:
        record = dict(zip(FIELDS, DEMO))
        record["name"] = "q-" + field
        record[field] = tricky
        status, body = env.http("POST", "/v1/tools", record)
        if field in ("image", "data_repo"):
            check_eq(status, 400, f"quotes in {field}")
            check(field in body["message"], "the message names the field", body)
        else:
            check_eq(status, 201, f"quotes in {field} are fine")
            status, got = env.http("GET", "/v1/tools/q-" + field)
            check_eq(got[field], tricky, f"{field} round-trips")

    r = env.maoctl("tool", "add", "described", *DEMO[1:], "--description", 'a "quoted" \\ text')
    check(r.rc == 0, "add with a quoted description", r)
    got = env.maoctl("tool", "get", "described", "-o", "json").json()
    check_eq(got["description"], 'a "quoted" \\ text', "the description round-trips")
    check_eq(json.loads(etcd.get(env.prefix + "tools/described"))["description"],
             'a "quoted" \\ text', "as stored in etcd")

    for raw in [b"not json", b"{\"name\":", b"[1,2]", b"\"string\"", b"", b"\xff\xfe"]:
        status, body = env.http("POST", "/v1/tools", raw=raw)
        check_eq(status, 400, f"body {raw!r}")
        check(isinstance(body, dict) and body.get("message"), "a JSON message", body)

    for missing in FIELDS:
        record = dict(zip(FIELDS, ["m-" + missing] + DEMO[1:]))
        del record[missing]
        status, body = env.http("POST", "/v1/tools", record)
        check_eq(status, 400, f"missing {missing}")
        check(f'"{missing}"' in body["message"] or "name" in body["message"],
              "the message names the missing field", body)

    status, body = env.http("POST", "/v1/tools", raw=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    check_eq(status, 413, "an oversized body")

    keys = etcd.keys(env.prefix + "tools/")
    check_eq(sorted(keys), sorted(env.prefix + "tools/" + n for n in
                                  ["q-author", "q-code_repo", "q-artefact", "described"]),
             "only the valid records were written")


def test_records_written_by_others_are_checked(env):
    etcd = start(env)
    check(env.maoctl("tool", "add", *DEMO).rc == 0, "add")
    etcd.put(env.prefix + "tools/../../evil", json.dumps(dict(zip(FIELDS, ["../../evil"] + DEMO[1:]))))
    etcd.put(env.prefix + "tools/broken", "{not json")
    etcd.put(env.prefix + "tools/liar", json.dumps(dict(zip(FIELDS, ["other"] + DEMO[1:]))))
    r = env.maoctl("-o", "json", "tool", "get")
    check_eq([t["name"] for t in r.json()], ["demo"], "only the sound record is listed")
    status, body = env.http("GET", "/v1/tools/broken")
    check(status in (400, 500) and "damaged" in body["message"], "a damaged record says so", body)


def test_every_list_is_current(env):
    """Lists are served from memory only while etcd shows no change: every
    write, also one made directly in etcd by someone else, is seen at once."""
    etcd = start(env)

    def names():
        status, body = env.http("GET", "/v1/tools")
        check_eq(status, 200, "GET /v1/tools")
        return [t["name"] for t in body]

    def record(name, author="x"):
        return json.dumps(dict(zip(FIELDS, [name, author] + DEMO[2:])))

    check_eq(names(), [], "empty")
    check_eq(env.http("POST", "/v1/tools", dict(zip(FIELDS, DEMO)))[0], 201, "add demo")
    check_eq(names(), ["demo"], "after an add")
    check_eq(names(), ["demo"], "unchanged")
    etcd.put(env.prefix + "tools/other", record("other"))
    check_eq(names(), ["demo", "other"], "after a direct put")
    etcd.put(env.prefix + "tools/other", record("other", "changed"))
    status, body = env.http("GET", "/v1/tools")
    check_eq(body[1]["author"], "changed", "after a direct update")
    etcd._call("/v3/kv/deleterange", {"key": __import__("base64").b64encode(
        (env.prefix + "tools/other").encode()).decode()})
    check_eq(names(), ["demo"], "after a direct delete")
    check_eq(env.http("DELETE", "/v1/tools/demo")[0], 200, "remove demo")
    check_eq(env.http("POST", "/v1/tools", dict(zip(FIELDS, ["late"] + DEMO[1:])))[0], 201, "add")
    check_eq(names(), ["late"], "after a delete and a create")
    check_eq(env.http("GET", "/regtools")[1], ["/tools/late"], "the legacy listing too")


def test_unknown_paths_and_methods(env):
    start(env)
    status, body = env.http("GET", "/v1/nothing")
    check_eq(status, 404, "unknown path")
    check("message" in body, "JSON error", body)
    status, body = env.http("PATCH", "/v1/tools")
    check_eq(status, 405, "unknown method")
    status, body = env.http("GET", "/healthz")
    check_eq((status, body["status"]), (200, "ok"), "healthz")


if __name__ == "__main__":
    main(globals())
