"""The original orchestrator's HTTP endpoints keep their request and response
shapes, so its users' scripts keep working."""

import json
import os

from harness import check, check_eq, main

TOOL = {"name": "sar", "author": "panos", "image": "31f1c369c777",
        "data_repo": "https://github.com/example/sar-static-data.git",
        "code_repo": "https://github.com/example/sar-static-data.git", "artefact": "test"}


def test_register_regtools_regdata_datasets(env):
    etcd = env.etcd()
    env.start_coordinator(etcd)

    # What a script for the original does: POST /register, GET /regtools, ...
    status, body = env.http("POST", "/register", TOOL)
    check_eq(status, 200, "POST /register")
    check(isinstance(body, str), "/register answers a JSON string", body)
    check_eq(json.loads(body), TOOL, "the string holds the stored tool's JSON")
    check(body.startswith('{"name": "sar", "author": "panos"'),
          "the tool JSON is printed as the original printed it", body)

    status, body = env.http("GET", "/regtools")
    check_eq((status, body), (200, ["/tools/sar"]), "GET /regtools")

    status, body = env.http("POST", "/regdata", {"name": "sar-data",
                                                 "url": "https://github.com/example/d.git"})
    check_eq((status, body), (200, "https://github.com/example/d.git"), "POST /regdata")
    status, body = env.http("GET", "/datasets")
    check_eq((status, body), (200, ["/data/sar-data"]), "GET /datasets")

    # What was registered the old way is visible the new way, and in etcd.
    status, body = env.http("GET", "/v1/tools/sar")
    check_eq((status, body), (200, TOOL), "the same tool through /v1")
    check_eq(json.loads(etcd.get(env.prefix + "tools/sar")), TOOL, "etcd holds the tool")
    r = env.maoctl("dataset", "get", "-o", "json")
    check_eq(r.json(), [{"name": "sar-data", "url": "https://github.com/example/d.git"}],
             "maoctl sees the dataset")

    # Registering the same name again is refused unless replace is asked for.
    status, body = env.http("POST", "/register", TOOL)
    check_eq(status, 409, "a second /register of the same name")
    status, body = env.http("POST", "/register", dict(TOOL, author="someone", replace=True))
    check_eq(status, 200, "/register with replace")
    check_eq(json.loads(body)["author"], "someone", "replaced")

    # Bad input gets the same clear errors as the new API.
    status, body = env.http("POST", "/register", {"name": "x"})
    check(status == 400 and "missing field" in body["message"], "missing fields", body)
    status, body = env.http("POST", "/regdata", raw=b"nope")
    check(status == 400 and "not valid JSON" in body["message"], "not JSON", body)
    status, body = env.http("GET", "/register")
    check_eq(status, 405, "GET /register")


def test_empty_registry(env):
    env.start_coordinator(env.etcd())
    check_eq(env.http("GET", "/regtools"), (200, []), "GET /regtools when empty")
    check_eq(env.http("GET", "/datasets"), (200, []), "GET /datasets when empty")


def test_retrieve_clones_into_importdir(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    repo = env.bare_repo("retrieved", {"README.md": "hello\n", "data/a.csv": "1\n"})
    check_eq(env.http("POST", "/regdata", {"name": "retrieved", "url": repo})[0], 200, "regdata")
    status, body = env.http("POST", "/retrieve", {"name": "retrieved"})
    check_eq(status, 200, "POST /retrieve")
    check(isinstance(body, str) and "cloned" in body, "a JSON string message", body)
    importdir = coord.cfg["WORKING_ENVIRONMENT"]["importdir"]
    check(os.path.exists(os.path.join(importdir, "retrieved", "data", "a.csv")),
          "the dataset is in the coordinator's importdir")
    status, body = env.http("POST", "/retrieve", {"name": "retrieved"})
    check(status == 200 and "already" in body, "a second retrieve says it is there", body)
    status, body = env.http("POST", "/retrieve", {"name": "nothing"})
    check(status == 404 and "not registered" in body["message"], "unknown dataset", body)


if __name__ == "__main__":
    main(globals())
