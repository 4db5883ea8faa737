#!/usr/bin/python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from real inputs.

Each seed is something mao meets in real life: the messages of
docs/protocol.md (encoded here with python3-msgpack, as a peer would), tool
and dataset records as the API gets them, control files as tools write
them, the schedules and cron expressions of the unit tests, configuration
files like the original's config.ini and packaging/mao.conf.example.  A few
seeds are wrong on purpose, at the edges the parsers check.

Run it from anywhere: /usr/bin/python3 fuzz/make_corpus.py.  It rewrites the
files it knows and leaves any other file in the corpus folders alone (inputs
merged in with `-merge=1`, see docs/development.md).
"""
import json
import os
import struct

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---- msg: one msgpack map per frame --------------------------------------

TOOL = {
    "name": "demo",
    "author": "alice",
    "image": "registry.example.org:5000/demo:1",
    "data_repo": "https://example.org/demo-data.git",
    "code_repo": "https://example.org/demo.git",
    "artefact": "csv",
}


def msg(**fields):
    m = {"v": 1}
    m.update(fields)
    return msgpack.packb(m, use_bin_type=True)


def messages():
    run = "01JABCDEFGHJKMNPQRSTVWXYZ0"
    write("msg", "hello", msg(type="hello", worker="zurich-host-1", site="zurich", capacity=2,
                              labels={"gpu": "no", "rack": "b2"}, version="0.1.0",
                              running=[run], spooled=[]))
    write("msg", "hello-minimal", msg(type="hello", worker="local-a", site="local", capacity=1))
    write("msg", "heartbeat-worker", msg(type="heartbeat", running=[run, "01JABCDEFGHJKMNPQRSTVWXYZ1"]))
    write("msg", "heartbeat-rehello", msg(type="heartbeat", rehello=True))
    write("msg", "heartbeat-empty", msg(type="heartbeat"))
    full = dict(TOOL, description="Counts things.\nTwice.", command=["sh", "-c", "echo 1"],
                env={"MODE": "fast"}, timeout_s=600,
                spike={"method": "mad", "window": 5, "threshold": 3.5},
                resources={"memory": 268435456, "cpus": 0.5, "pids": 64},
                capabilities=["NET_RAW"], writable_root=True)
    write("msg", "job", msg(type="job", run=run, tool=TOOL, attempt=1, timeout_s=3600))
    write("msg", "job-full-tool", msg(type="job", run=run, tool=full, attempt=2))
    write("msg", "job-local-repo", msg(type="job", run=run,
                                       tool=dict(TOOL, data_repo="/srv/repos/demo.git")))
    write("msg", "accepted", msg(type="accepted", run=run, ok=True))
    write("msg", "accepted-refused", msg(type="accepted", run=run, ok=False, reason="full"))
    report = {"datapath": "/var/lib/mao/data/demo", "snapshots": 3, "spike": False,
              "rolling_avg": 12.5, "control_metric": 13.0, "diff": 0.5, "gain": 4.0,
              "method": "gain", "window": 2, "threshold": 20.0, "newest": "control-3.csv"}
    write("msg", "result", msg(type="result", run=run, status="succeeded", attempt=1,
                               tool="demo", worker="zurich-host-1", site="zurich", exit_code=0,
                               runtime="docker", started_at=1767225600000,
                               finished_at=1767225660000.5, image="demo:1",
                               image_digest="sha256:" + "ab" * 32,
                               datadir="/var/lib/mao/data/demo", log_tail="ok\n",
                               report=report))
    write("msg", "result-failed", msg(type="result", run=run, status="failed", exit_code=137,
                                      failure="tool", reason="killed"))
    write("msg", "result-timed-out", msg(type="result", run=run, status="timed_out",
                                         failure="tool"))
    write("msg", "result-ack", msg(type="result_ack", run=run))
    write("msg", "cancel", msg(type="cancel", run=run, reason="cancelled by alice"))
    # Events, as maoctl watch decodes them.
    write("msg", "event-run-finished", msg(type="run.finished", time="2026-01-01T00:01:00Z",
                                           run=run, tool="demo", status="succeeded", attempt=1,
                                           verdict="no spike", control_value=13.0, reason=None))
    write("msg", "event-spike", msg(type="spike", run=run, tool="demo", site="zurich",
                                    worker="zurich-host-1", datapath="/d", control_value=99.0,
                                    rolling_avg=10.0, gain=890.0, method="gain",
                                    message="spike"))
    write("msg", "event-worker-up", msg(type="worker.up", worker="w", site="s", capacity=4))
    # At the edges the decoder checks.
    write("msg", "version-2", msgpack.packb({"v": 2, "type": "hello"}))
    write("msg", "unknown-type", msg(type="reboot"))
    write("msg", "binary-value", msgpack.packb({"v": 1, "type": "cancel", "run": b"\x00\x01"},
                                               use_bin_type=True))
    write("msg", "ext-value", msgpack.packb({"v": 1, "x": msgpack.ExtType(5, b"abc")}))
    write("msg", "integer-key", b"\x82\x01\x01\xa4type\xa5hello")
    write("msg", "nested-6", msg(type="heartbeat", a={"b": {"c": {"d": {"e": [1]}}}}))
    write("msg", "nested-7", msg(type="heartbeat", a={"b": {"c": {"d": {"e": {"f": [1]}}}}}))
    write("msg", "float32", b"\x83\xa1v\x01\xa4type\xa6result\xa1x\xca" + struct.pack(">f", 1.5))
    write("msg", "float-nan", b"\x82\xa1v\x01\xa1x\xcb" + struct.pack(">d", float("nan")))
    write("msg", "uint64-max", b"\x82\xa1v\x01\xa1x\xcf" + b"\xff" * 8)
    write("msg", "int64-min", b"\x82\xa1v\x01\xa1x\xd3\x80" + b"\x00" * 7)
    write("msg", "str32-key", b"\x81\xdb\x00\x00\x00\x01v\x01")
    write("msg", "map16-claims-many", b"\xde\xff\xff\xa1v\x01")
    write("msg", "array32-claims-many", b"\x81\xa1a\xdd\x00\x01\x00\x00\x01")
    write("msg", "truncated", msg(type="hello", worker="w", site="s", capacity=1)[:-3])
    write("msg", "trailing", msg(type="result_ack", run=run) + b"\xc0")
    write("msg", "not-a-map", msgpack.packb(["v", 1]))
    write("msg", "duplicate-key", b"\x82\xa1v\x01\xa1v\x01")
    write("msg", "invalid-utf8", b"\x82\xa1v\x01\xa1x\xa2\xc3\x28")
    write("msg", "bad-run-id", msg(type="result_ack", run="../../etc"))
    write("msg", "hello-bad-site", msg(type="hello", worker="w", site="a b", capacity=1))


# ---- tool: JSON records as the API and etcd hold them ---------------------

def tools():
    def put(name, value):
        write("tool", name, json.dumps(value, indent=None if "compact" in name else 1))

    put("tool-original", TOOL)
    put("tool-compact", TOOL)
    put("tool-optional-fields", dict(TOOL, description="says \"hello\" \\ and 'bye'\nline 2",
                                     command=["sh", "-c", "run.sh --fast"],
                                     env={"MODE": "fast", "LEVEL_2": "x=y"}, timeout_s=60,
                                     spike={"method": "mad", "window": 5, "threshold": 3.5}))
    put("tool-limits", dict(TOOL, resources={"memory": "256m", "cpus": 0.5, "pids": 64},
                            capabilities=["net_raw", "CAP_CHOWN"], writable_root=True))
    put("tool-memory-bytes", dict(TOOL, resources={"memory": 1073741824, "cpus": 2}))
    put("tool-memory-gib", dict(TOOL, resources={"memory": "1.5GiB", "cpus": 0.01}))
    put("tool-spike-gain", dict(TOOL, spike={"method": "gain", "threshold": 20}))
    put("tool-local-repo", dict(TOOL, data_repo="/srv/repos/demo.git"))
    put("tool-file-url", dict(TOOL, data_repo="file:///srv/repos/demo.git"))
    put("tool-scp-url", dict(TOOL, data_repo="git@example.org:team/demo.git"))
    put("tool-ssh-url", dict(TOOL, data_repo="ssh://git@example.org:22/team/demo.git"))
    put("tool-stored-newer-field", dict(TOOL, added_by_a_newer_site=True))
    put("tool-nulls", dict(TOOL, description=None, command=None, env=None, timeout_s=None))
    put("tool-bad-name", dict(TOOL, name="../../etc"))
    put("tool-bad-image", dict(TOOL, image="demo \"1\""))
    put("tool-control-author", dict(TOOL, author="bell\u0007"))
    put("tool-remote-helper", dict(TOOL, data_repo="ext::sh -c touch% /tmp/x"))
    put("tool-bad-env", dict(TOOL, env={"1BAD": "x"}))
    put("tool-caps-unknown", dict(TOOL, capabilities=["ALL"]))
    put("tool-timeout-max", dict(TOOL, timeout_s=604800))
    put("dataset", {"name": "d1", "url": "https://example.org/d.git"})
    put("dataset-local", {"name": "d1", "url": "file:///tmp/x"})
    put("dataset-scp", {"name": "data.v2", "url": "user@host.example:path/to/repo"})
    put("dataset-extra-field", {"name": "d1", "url": "git://example.org/d", "owner": "bob"})
    write("tool", "duplicate-key", '{"name":"a","name":"b"}')
    write("tool", "unicode-escapes", '{"name":"d\\u0031","url":"https://x.org/\\u00e9"}')
    write("tool", "nul-escape", '{"name":"a\\u0000b","url":"https://x.org/"}')
    write("tool", "array", '[{"name":"d1","url":"https://example.org/d.git"}]')


# ---- spike: control files ------------------------------------------------

SEP = "\x1e"  # fuzz_spike: separates the files of a data folder


def controls():
    seeds = {
        "plain": "12.5\n",
        "header": "value\n3\n",
        "crlf": "value\r\n42\r\n",
        "cr": "42\r",
        "bom": "\ufeffvalue\n1.25\n",
        "exponent": "6.02e23\n",
        "negative": "-0.5\n",
        "blank-lines": "\n\n  7  \n\n",
        "no-newline": "100",
        "empty": "",
        "only-blank": "\n \t\n",
        "header-only": "value\n",
        "two-values": "1\n2\n",
        "two-on-a-line": "1,2\n",
        "semicolon": "1;5\n",
        "decimal-comma": "1,5\n",
        "inf": "inf\n",
        "nan": "-NaN\n",
        "hex": "0x1p3\n",
        "overflow": "1e999\n",
        "underflow": "1e-999\n",
        "nul-byte": "1\x002\n",
        "text": "hello world\n",
        "header-then-text": "value\nnot a number\n",
        "folder-steady": "10\n" + SEP + "10\n" + SEP + "11\n",
        "folder-spike": "value\n10\n" + SEP + "value\n12\n" + SEP + "value\n50\n",
        "folder-zero-mean": "0\n" + SEP + "0\n" + SEP + "5\n",
        "folder-broken-newest": "1\n" + SEP + "2\n" + SEP + "x\n",
        "folder-huge": "1e308\n" + SEP + "1.7e308\n" + SEP + "-1.7e308\n",
        "folder-constant": "3\n" + SEP + "3\n" + SEP + "3\n" + SEP + "3.0000001\n",
        "folder-one": "5\n" + SEP,
    }
    for name, text in seeds.items():
        write("spike", name, text)


# ---- sched: schedules and cron expressions --------------------------------

def schedules():
    seeds = [
        "daily", "weekly", "  DAILY ", "every 15m", "every 1h30m", "every 90s", "every 2d",
        "every 1d2h3m4s", "every 0s", "every 367d", "every 15", "every 1h1h", "every 1h 30m",
        "daily at 9", "hourly", "15m", "1d12h",
        "cron:0 2 * * *", "cron:*/15 * * * *", "cron:0 9 * * MON-FRI", "cron: 0 9 * * mon-fri",
        "cron:0 0 1 JAN,jul *", "cron:0,20-21,40-59/15 * * * *", "cron:0 9-17/4 * * *",
        "cron:0 0 */2 * MON", "cron:0 0 29 2 *", "cron:0 0 29 2 */7", "cron:0 0 30 2 *",
        "cron:59 23 28-31 2 *", "cron:@hourly", "cron:@annually", "cron:@reboot",
        "cron:TZ=Europe/Zurich 30 2 * * *", "cron:TZ=America/New_York 30 1 * * *",
        "cron:CRON_TZ=America/New_York @hourly", "cron:tz=Etc/UTC 0 0 * * *",
        "cron:TZ=Australia/Lord_Howe 0 2 * * *", "cron:TZ=Pacific/Apia 0 0 30 12 *",
        "cron:TZ=Europe/Dublin 0 1 * * SUN", "cron:TZ=Africa/Casablanca 0 2 * * *",
        "cron:TZ=../../etc/passwd 0 0 * * *", "cron:TZ=/etc/localtime 0 0 * * *",
        "cron:TZ=Mars/Base 0 0 * * *", "cron:TZ= 0 0 * * *", "cron:TZ=right/UTC 0 0 * * *",
        "0 0 * JAN-MAR,dec mon-Fri", "1,2,3,30-32,50-59/5 0,12 1,15 6,12 0,3",
        "10-40/10 1-10/3 5/9 3/4 1-5/2", "*/15 */6 */10 */4 */2", "0 0 30,31 FEB */2",
        "  0\t0   *  *\t*  ", "0/3,1/3 0/3,1/3 1/3,2/3 1/3,2/3 0/3,1/3", "* * * * 8",
        "1-2-3 * * * *", "*/0 * * * *", "1,,2 * * * *", "@weekly",
    ]
    for i, text in enumerate(seeds):
        write("sched", "%02d" % i, text)


# ---- cfg: configuration files --------------------------------------------

def configs():
    write("cfg", "original-config-ini",
          "[WORKING_ENVIRONMENT]\nimportdir = /home/someone/importdir\n"
          "auditdir = /home/someone/audit\nuser = someone\n\n[ETCD]\nhost = localhost\n"
          "port = 2379\n\n[POSTGRES]\nuser = scheduler\npassword = password\ndb = schedule\n"
          "host = 127.0.0.1\n\n[DATA_REPOS]\nsample = https://github.com/example/sample.git\n"
          "spike = /home/someone/importdir/spike\n")
    with open(os.path.join(ROOT, "packaging", "mao.conf.example"), "rb") as f:
        write("cfg", "mao-conf-example", f.read())
    write("cfg", "federation",
          "[WORKING_ENVIRONMENT]\nimportdir = /var/lib/mao/data\n\n[ETCD]\n"
          "endpoints = http://10.0.0.1:2379,http://10.0.0.2:2379,http://10.0.0.3:2379\n"
          "prefix = /mao/\n\n[COORDINATOR]\napi = 127.0.0.1:8080\n\n"
          "; optional: schedules and run history in PostgreSQL\n[POSTGRES]\ndb = mao\n")
    write("cfg", "worker-site",
          "[WORKER]\nsite = zurich\ncapacity = 4\nlabels = gpu=no,rack=b2\nmemory = 1.5g\n"
          "cpus = 0.5\npids = 512\nallow_capabilities = NET_RAW, CHOWN\nruntime = exec\n"
          "[LOG]\nlevel = debug\n")
    write("cfg", "unknown-keys", "[ETCD]\nhots = 1.2.3.4\n[NOSUCH]\nkey = v\n")
    write("cfg", "env-override", "[ETCD]\nport = 2379\n[WORKER]\nsite = zurich\n")
    write("cfg", "bad-line", "[ETCD]\nthis line has no equals sign\n")
    write("cfg", "bad-section", "[ETCD\nport = 1\n")
    write("cfg", "case", "[etcd]\nPORT = 65536\n[Worker]\nCapacity = -1\n")
    write("cfg", "colon-and-comments", "[COORDINATOR]\ninsecure: yes ; inline\n# hash\n"
          "api_open_reads = off\nheartbeat_ms = 0x10\n")
    write("cfg", "continuation", "[NOTIFY]\nmail_to = a@example.org\n  b@example.org\n")
    write("cfg", "no-section", "port = 1\n")
    write("cfg", "empty", "")
    write("cfg", "crlf", "[ETCD]\r\nhost = h\r\n")
    write("cfg", "long-line", "[ETCD]\nprefix = " + "x" * 400 + "\n")
    write("cfg", "bom", "\ufeff[LOG]\nlevel = warn\n")
    write("cfg", "numbers", "[COORDINATOR]\nhistory = 9223372036854775808\n"
          "keep_finished = +10\nliveness_ms = 1e3\n")


# ---- text: instants, names, URLs, sizes ----------------------------------

def texts():
    seeds = [
        "2026-11-22T02:00:00Z", "2026-11-22T03:00+01:00", "2026-11-22 03:00:00.123456-05:30",
        "2024-02-29T00:00:00z", "2023-02-29T00:00:00Z", "2026-11-22T02:00:60Z",
        "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "2026-11-22T02:00:00",
        "2026-11-22T02:00:00,5+0100",
        "demo", "data.v2", "a_b-c", ".hidden", "-dash", "a..b", "a/b", "x" * 65,
        "https://example.org/d.git", "git@example.org:team/demo.git", "file:///tmp/x",
        "/srv/repo.git", "./repo", "ext::sh -c x", "-uhttps://x", "http://", "host:",
        "Europe/Zurich", "Etc/GMT+5", "../../etc/passwd", "/etc/localtime",
        "512m", "1.5g", "2GiB", "1e30g", "-1m", "12x",
        "net_raw", "CAP_CHOWN", "ALL", "01JABCDEFGHJKMNPQRSTVWXYZ0", "01JABCDEFGHJKMNPQRSTVWXYZI",
    ]
    for i, text in enumerate(seeds):
        write("text", "%02d" % i, text)


if __name__ == "__main__":
    messages()
    tools()
    controls()
    schedules()
    configs()
    texts()
