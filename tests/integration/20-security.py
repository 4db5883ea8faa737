"""Only members get in: workers and event listeners join with CURVE keys the
coordinator knows, sockets and the API reachable beyond the machine need keys
or a token, changes need the API token, and the API speaks TLS when given a
certificate.  Sockets here bind to loopback, except in a private network
namespace that nothing outside the test can reach."""

import json
import os
import shutil
import subprocess
import time

from harness import (BIN, Etcd, check, check_eq, free_port, main, one_line_error, run,
                     wait_for, write_config)

EXEC = {"WORKER": {"runtime": "exec"}}
TOKEN = "s3cret-token-for-the-tests-only"


def keygen(env, name):
    path = os.path.join(env.dir, name)
    r = env.maoctl("keygen", path, "-o", "json")
    check_eq(r.rc, 0, f"maoctl keygen {name}: {r.err}")
    return path, r.json()["public_key"]


def curve_coordinator(env, etcd):
    """A coordinator with keys, and its folder of allowed clients."""
    coord_cert, coord_key = keygen(env, "coordinator.cert")
    clients = os.path.join(env.dir, "clients")
    os.makedirs(clients)
    coord = env.start_coordinator(etcd, config={"COORDINATOR": {
        "curve_key": coord_cert, "curve_clients": clients}})
    return coord, coord_key, clients


def test_workers_join_with_known_keys_only(env):
    etcd = env.etcd()
    coord, coord_key, clients = curve_coordinator(env, etcd)
    status, info = env.http("GET", "/v1/info")
    check_eq(info["curve_public_key"], coord_key, "the coordinator announces its public key")

    known, known_key = keygen(env, "known.cert")
    shutil.copy(known, clients)
    good = env.start_worker(config={"WORKER": {"runtime": "exec", "curve_key": known,
                                               "coordinator_key": coord_key}})
    env.tool("quick", "none", command=["sh", "-c", "echo 41 > control-1.csv"])
    run_ = env.maoctl("tool", "run", "quick", "-o", "json").json()
    check_eq(run_["status"], "succeeded", "a run through an encrypted, known worker")

    stranger, stranger_key = keygen(env, "stranger.cert")
    bad = env.start_worker(wait_up=False, config={"WORKER": {
        "runtime": "exec", "curve_key": stranger, "coordinator_key": coord_key}})
    wait_for("the coordinator to log the refusal",
             lambda: f"client.refused key={stranger_key}" in coord.log(), timeout=20)
    wait_for("the worker to say why", lambda: "does not know this worker's key" in bad.log(),
             timeout=20)
    status, workers = env.http("GET", "/v1/workers")
    check_eq(sorted(w["id"] for w in workers), [good.id], "the stranger is not among the workers")

    # A worker that holds the wrong coordinator key fails the handshake, and says so.
    _, other_key = keygen(env, "other.cert")
    lost = env.start_worker(wait_up=False, config={"WORKER": {
        "runtime": "exec", "curve_key": known, "coordinator_key": other_key}})
    wait_for("the worker with the wrong coordinator key to say so",
             lambda: "coordinator_key" in lost.log() and "handshake" in lost.log(), timeout=20)

    # Allowing the stranger's key needs no restart.
    shutil.copy(stranger, clients)
    bad.wait_up(timeout=30)
    lost.kill()
    good.stop_clean()
    bad.stop_clean()
    coord.stop_clean()


def test_a_plain_worker_is_refused_by_a_coordinator_with_keys(env):
    etcd = env.etcd()
    coord, coord_key, clients = curve_coordinator(env, etcd)
    plain = env.start_worker(wait_up=False, config=EXEC)
    wait_for("the plain worker to say it needs keys",
             lambda: "asks for CURVE keys" in plain.log(), timeout=20)
    status, workers = env.http("GET", "/v1/workers")
    check_eq(workers, [], "no worker joined")
    plain.kill()
    coord.stop_clean()


def test_events_need_a_known_key(env):
    etcd = env.etcd()
    coord, coord_key, clients = curve_coordinator(env, etcd)
    r = env.maoctl("watch", "--count", "1", "--timeout", "5")
    one_line_error(r, "need a CURVE key", "maoctl keygen")
    listener, _ = keygen(env, "listener.cert")
    shutil.copy(listener, clients)
    watch = env.maoctl_bg("watch", "--count", "1", "--timeout", "30", "-o", "json",
                          env={"MAO_KEY": listener})
    time.sleep(1.0)  # the subscription is made before the event comes
    env.tool("quick", "none", command=["true"])
    deadline = time.time() + 25
    while watch.poll() is None and time.time() < deadline:
        env.http("POST", "/v1/tools/quick/runs", {})
        time.sleep(0.5)
    out, err = watch.communicate(timeout=30)
    check_eq(watch.returncode, 0, "maoctl watch with a known key: " + err)
    check(json.loads(out.splitlines()[0])["topic"].startswith("run."), "it got an event", out)
    coord.stop_clean()


def coordinator_config(env, etcd, **coordinator):
    cfg = {"WORKING_ENVIRONMENT": {"importdir": os.path.join(env.dir, "data")},
           "ETCD": {"endpoints": etcd.endpoint, "prefix": env.prefix},
           "COORDINATOR": {"api": f"127.0.0.1:{free_port()}",
                           "workers": f"tcp://127.0.0.1:{free_port()}",
                           "events": f"tcp://127.0.0.1:{free_port()}"}}
    cfg["COORDINATOR"].update(coordinator)
    path = os.path.join(env.dir, f"c-{len(os.listdir(env.dir))}.conf")
    write_config(path, cfg)
    return path


def test_open_endpoints_without_keys_are_refused(env):
    etcd = env.etcd()
    exe = os.path.join(BIN, "mao-coordinator")
    # The coordinator refuses before it binds anything: nothing is exposed.
    cases = [({"workers": "tcp://*:5570"}, "tcp://*:5570 is reachable beyond this machine"),
             ({"events": "tcp://0.0.0.0:5571"}, "curve_key"),
             ({"api": "0.0.0.0:8080"}, "api_token"),
             ({"curve_key": os.path.join(env.dir, "nope")}, "curve_clients"),
             ({"api_token": "short"}, "shorter than 16"),
             ({"tls_cert": "/nonexistent.pem"}, "tls_cert and tls_key go together")]
    for extra, fragment in cases:
        p = subprocess.run([exe, "-c", coordinator_config(env, etcd, **extra)],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode != 0 and fragment in p.stderr, f"refused: {extra}", p.stderr)


def test_changes_need_the_token(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd, config={"COORDINATOR": {"api_token": TOKEN}})
    body = {"name": "demo", "author": "a", "image": "i", "data_repo": "https://example.org/d.git",
            "code_repo": "https://example.org/c.git", "artefact": "csv"}
    status, reply = env.http("POST", "/v1/tools", body)
    check_eq(status, 401, "a change without the token")
    check("API token" in reply["message"], "says what is missing", reply)
    status, reply = env.http("POST", "/register", body)
    check_eq(status, 401, "the original's endpoints too")
    status, reply = env.http("POST", "/v1/tools", body,
                             headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
    check(status == 401 and "wrong" in reply["message"], "a wrong token", reply)
    check_eq(env.http("GET", "/v1/tools")[0], 200, "reads stay open")
    check_eq(env.http("GET", "/healthz")[0], 200, "health too")
    r = env.maoctl("tool", "add", "demo", "a", "i", "https://example.org/d.git",
                   "https://example.org/c.git", "csv")
    one_line_error(r, "MAO_TOKEN")
    r = env.maoctl("tool", "add", "demo", "a", "i", "https://example.org/d.git",
                   "https://example.org/c.git", "csv", env={"MAO_TOKEN": TOKEN})
    check_eq(r.rc, 0, "maoctl with MAO_TOKEN: " + r.err)
    token_file = os.path.join(env.dir, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    r = env.maoctl("tool", "remove", "demo", env={"MAO_TOKEN_FILE": token_file})
    check_eq(r.rc, 0, "maoctl with MAO_TOKEN_FILE: " + r.err)
    check("request.unauthorized" in coord.log(), "refusals are logged")
    coord.stop_clean()

    closed = env.start_coordinator(etcd, config={"COORDINATOR": {
        "api_token_file": token_file, "api_open_reads": "false"}})
    check_eq(env.http("GET", "/v1/tools", url=closed.url)[0], 401, "reads need it when closed")
    check_eq(env.http("GET", "/v1/tools", url=closed.url,
                      headers={"Authorization": "Bearer " + TOKEN})[0], 200, "with it")
    closed.stop_clean()


def test_api_beyond_loopback_in_a_private_network(env):
    """Bound to every address of a network namespace of its own, the API
    refuses changes without the token."""
    if os.geteuid() != 0:
        raise AssertionError("this test needs root to make a network namespace")
    holder = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up; exec sleep 600"],
                              stdin=subprocess.DEVNULL)
    try:
        ns = ["nsenter", f"--net=/proc/{holder.pid}/ns/net"]
        wait_for("the namespace's loopback", lambda: "UP" in subprocess.run(
            ns + ["ip", "link", "show", "lo"], capture_output=True, text=True).stdout)
        etcd = Etcd(env)
        etcd.argv = ns + etcd.argv
        etcd.start = lambda: (super(Etcd, etcd).start(), etcd)[1]
        etcd.start()
        inside = lambda *argv: subprocess.run(ns + list(argv), capture_output=True,  # noqa: E731
                                              text=True, timeout=30)
        wait_for("etcd in the namespace", lambda: inside(
            "curl", "-fsS", etcd.endpoint + "/health").returncode == 0, timeout=30)
        port = free_port()
        conf = coordinator_config(env, etcd, api=f"0.0.0.0:{port}", api_token=TOKEN)
        log = open(os.path.join(env.dir, "ns-coordinator.log"), "wb")
        coord = subprocess.Popen(ns + [os.path.join(BIN, "mao-coordinator"), "-c", conf],
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for("the coordinator in the namespace", lambda: inside(
                "curl", "-fsS", url + "/healthz").returncode == 0, timeout=30)
            body = json.dumps({"name": "demo", "author": "a", "image": "i",
                               "data_repo": "https://example.org/d.git",
                               "code_repo": "https://example.org/c.git", "artefact": "csv"})
            p = inside("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                       "-H", "Content-Type: application/json", "-d", body, url + "/v1/tools")
            check_eq(p.stdout, "401", "a change without the token")
            p = inside("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                       "-H", "Content-Type: application/json", "-H",
                       "Authorization: Bearer " + TOKEN, "-d", body, url + "/v1/tools")
            check_eq(p.stdout, "201", "with the token")
        finally:
            coord.terminate()
            coord.wait(timeout=30)
            log.close()
        etcd.kill()
    finally:
        holder.kill()
        holder.wait()


def test_the_api_speaks_tls(env):
    cert = os.path.join(env.dir, "api.pem")
    key = os.path.join(env.dir, "api.key")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
    etcd = env.etcd()
    coord = env.start_coordinator(etcd, config={"COORDINATOR": {"tls_cert": cert,
                                                                "tls_key": key}})
    https = coord.url.replace("http://", "https://")
    r = env.maoctl("tool", "get", server=https, env={"MAO_CACERT": cert})
    check_eq(r.rc, 0, "maoctl over https with the CA: " + r.err)
    r = env.maoctl("tool", "get", server=https)
    one_line_error(r, "certificate")
    coord.stop_clean()


if __name__ == "__main__":
    main(globals())
