"""Integration-test harness for mao: real servers, real binaries.

Every test gets a fresh TestEnv: a temporary folder, its own etcd (and later
PostgreSQL, docker-registry, git repositories) on free loopback ports, and the
real mao binaries started with generated configs.  Every process a test starts
is killed when the test ends, and also by the kernel if the test itself dies
(PR_SET_PDEATHSIG).  A missing server binary is a failure, never a skip.

Run one file directly (python3 tests/integration/01-registry-tools.py) or all
through ctest.  MAO_BIN points at the built binaries (default build/bin).
"""

import base64
import ctypes
import fcntl
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

SOURCE = os.environ.get("MAO_SOURCE") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("MAO_BIN") or os.path.join(SOURCE, "build", "bin")
SANITIZE = os.environ.get("MAO_SANITIZE", "").lower() in ("1", "on", "true", "yes")
KEEP = os.environ.get("MAO_TEST_KEEP") == "1"  # keep the temporary folder for debugging
# MAO_VALGRIND=1: the mao daemons run under valgrind (memcheck); a daemon that
# stops with an invalid access or a leak fails its test (stop_clean).
VALGRIND = os.environ.get("MAO_VALGRIND", "").lower() in ("1", "on", "true", "yes")

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgrp()


PORTS_DIR = os.path.join(tempfile.gettempdir(), "mao-test-ports")
_held_ports = {}  # port -> the open lock file that keeps it ours while this process lives


def _claim_port(port):
    """Whether `port` is ours now: neither this process nor another test
    process (tests run in parallel) handed it out before.  A lock file per
    port, held until this process ends."""
    if port in _held_ports:
        return False
    try:
        os.makedirs(PORTS_DIR, mode=0o1777, exist_ok=True)
        f = open(os.path.join(PORTS_DIR, str(port)), "a")
    except OSError:
        return True  # no lock files here: the bind check alone
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return False
    _held_ports[port] = f
    return True


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago and that no other
    call, in this process or another test's, has handed out; below the
    kernel's range of ephemeral ports: one from that range may be taken,
    before the server binds it, as the local port of some process's outgoing
    connection (a coordinator's own, to etcd or PostgreSQL, made before it
    binds)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if _claim_port(port):
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=30.0, interval=0.05):
    """Polls predicate() until it is true; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - a probe may fail until ready
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def sanitizer_env():
    return {
        "ASAN_OPTIONS": "detect_leaks=1:exitcode=23:abort_on_error=0:detect_stack_use_after_return=0",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=24",
        "LSAN_OPTIONS": "print_suppressions=0:suppressions=" + os.path.join(
            SOURCE, "tests", "sanitizer", "lsan.supp"),
    }


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


class Proc:
    """A child process with its output in a log file."""

    def __init__(self, env, name, argv, extra_env=None, cwd=None):
        self.env = env
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(env.dir, f"{name}.log")
        self.extra_env = extra_env or {}
        self.cwd = cwd
        self.popen = None
        env.procs.append(self)

    def start(self):
        environ = dict(os.environ)
        environ.update(sanitizer_env())
        environ.update(self.extra_env)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=environ, cwd=self.cwd,
                                      preexec_fn=_die_with_parent)
        log.close()
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def running(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        """Sends `sig`; after SIGSTOP, returns once every thread has stopped
        (kill() returns before the process is frozen)."""
        if not self.running():
            return
        os.kill(self.popen.pid, sig)
        if sig == signal.SIGSTOP:
            wait_for(f"{self.name} to stop", self._all_stopped, timeout=10, interval=0.01)

    def _all_stopped(self):
        task = f"/proc/{self.popen.pid}/task"
        for tid in os.listdir(task):
            try:
                with open(f"{task}/{tid}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] != "T":
                        return False
            except FileNotFoundError:
                pass
        return True

    def kill(self):
        """kill -9, as a crash would."""
        if self.popen is not None:
            if self.running():
                os.kill(self.popen.pid, signal.SIGCONT)
                os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit code."""
        if self.popen is None:
            return None
        if self.running():
            os.kill(self.popen.pid, signal.SIGCONT)
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout} s of SIGTERM")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop_clean(self):
        """Stops a mao daemon and checks it exits 0 with no sanitizer report."""
        rc = self.stop(timeout=120 if VALGRIND else 20)
        if VALGRIND:
            report = valgrind_reports(self.env, self.name)
            if report.strip() or rc == 99:
                raise AssertionError(f"{self.name}: valgrind found errors:\n{report[-8000:]}")
        text = self.log()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise AssertionError(f"{self.name}: sanitizer report in its log:\n{text[-4000:]}")
        if rc != 0:
            raise AssertionError(f"{self.name} exited with {rc} on SIGTERM:\n{text[-3000:]}")


class Etcd(Proc):
    """A single-member etcd on free loopback ports, data in the test's folder."""

    def __init__(self, env, name="etcd", args=()):
        self.client_port = free_port()
        self.peer_port = free_port()
        self.data = os.path.join(env.dir, name + "-data")
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        exe = shutil.which("etcd")
        if not exe:
            raise AssertionError("etcd is not installed (Debian package etcd-server)")
        super().__init__(env, name, [
            exe, "--name", name, "--data-dir", self.data,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{name}={peer}", "--log-level", "warn", *args])
        self.endpoint = client

    def start(self):
        super().start()
        wait_for("etcd to answer", self.healthy, timeout=30)
        return self

    def healthy(self):
        try:
            with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        except Exception:  # noqa: BLE001
            return False

    def _call(self, path, body):
        req = urllib.request.Request(self.endpoint + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def get(self, key):
        """The value at an absolute key (bytes), or None."""
        reply = self._call("/v3/kv/range", {"key": _b64(key)})
        kvs = reply.get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def keys(self, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        reply = self._call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end),
                                            "keys_only": True})
        return [base64.b64decode(kv["key"]).decode() for kv in reply.get("kvs") or []]

    def put(self, key, value):
        if isinstance(value, str):
            value = value.encode()
        self._call("/v3/kv/put", {"key": _b64(key), "value": base64.b64encode(value).decode()})


class EtcdCluster:
    """Three etcd members on free loopback ports; `endpoint` lists them all."""

    def __init__(self, env, size=3):
        self.env = env
        peers = [(f"m{i}", free_port(), free_port()) for i in range(size)]
        cluster = ",".join(f"{n}=http://127.0.0.1:{pp}" for n, _, pp in peers)
        self.members = []
        for name, cp, pp in peers:
            m = Proc(env, f"etcd-{name}", [
                shutil.which("etcd"), "--name", name,
                "--data-dir", os.path.join(env.dir, f"etcd-{name}-data"),
                "--listen-client-urls", f"http://127.0.0.1:{cp}",
                "--advertise-client-urls", f"http://127.0.0.1:{cp}",
                "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"mao-test-{os.getpid()}", "--log-level", "warn"])
            m.endpoint = f"http://127.0.0.1:{cp}"
            self.members.append(m)
        self.endpoint = ",".join(m.endpoint for m in self.members)

    def start(self):
        for m in self.members:
            if not m.running():
                m.start()
        wait_for("the etcd cluster to have a leader", self.healthy, timeout=60)
        return self

    def healthy(self):
        up = [m for m in self.members if m.running()]
        for m in up:
            try:
                with urllib.request.urlopen(m.endpoint + "/health", timeout=1) as r:
                    if json.load(r).get("health") != "true":
                        return False
            except Exception:  # noqa: BLE001
                return False
        return bool(up)

    def stop(self):
        for m in self.members:
            m.stop()

    def keys(self, prefix):
        for m in self.members:
            if m.running():
                probe = Etcd.__new__(Etcd)
                probe.endpoint = m.endpoint
                return Etcd.keys(probe, prefix)
        raise AssertionError("no etcd member runs")


def valgrind_argv(env, name):
    """memcheck in front of a daemon: every invalid access is an error, and so
    are definite and indirect leaks at exit (exit code 99)."""
    return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
            "--num-callers=30", "--suppressions=" + os.path.join(
                SOURCE, "tests", "sanitizer", "valgrind.supp"),
            "--log-file=" + os.path.join(env.valgrind_dir(), name + ".valgrind.%p")]


# Debian 12's valgrind (3.19) does not know pidfd_open (434): it answers
# ENOSYS, which the worker handles (it then looks for a command's exit every
# 5 ms), and says so in five lines that are no finding about mao.
_VALGRIND_NO_PIDFD = re.compile(r"--\d+-- WARNING: unhandled amd64-linux syscall: 434\n"
                                r"(--\d+-- .*\n){4}")


def valgrind_reports(env, name):
    """What valgrind said about a daemon's runs (empty when clean)."""
    text = ""
    folder = env.valgrind_dir()
    for f in sorted(os.listdir(folder)):
        if f.startswith(name + ".valgrind."):
            with open(os.path.join(folder, f), errors="replace") as fh:
                text += _VALGRIND_NO_PIDFD.sub("", fh.read())
    return text


def _b64(text):
    return base64.b64encode(text.encode()).decode()


class Daemon(Proc):
    """A mao daemon started with a generated config file."""

    def __init__(self, env, name, exe, config, extra_env=None):
        self.config_path = os.path.join(env.dir, name + ".conf")
        write_config(self.config_path, config)
        argv = [os.path.join(BIN, exe), "-c", self.config_path]
        if VALGRIND:
            argv = valgrind_argv(env, name) + argv
        super().__init__(env, name, argv, extra_env=extra_env)


class Coordinator(Daemon):
    def __init__(self, env, etcd, name="coordinator", config=None, extra_env=None):
        self.api_port = free_port()
        cfg = {
            "WORKING_ENVIRONMENT": {"importdir": os.path.join(env.dir, name + "-data"),
                                    "allow_local_repos": "true"},
            "ETCD": {"endpoints": etcd.endpoint if etcd else "http://127.0.0.1:1",
                     "prefix": env.prefix, "timeout_ms": "2000"},
            "COORDINATOR": {"api": f"127.0.0.1:{self.api_port}",
                            "workers": f"tcp://127.0.0.1:{free_port()}",
                            "events": f"tcp://127.0.0.1:{free_port()}",
                            "heartbeat_ms": "200", "liveness_ms": "2000",
                            "dispatch_timeout_ms": "5000"},
            "LOG": {"level": "debug"},
        }
        _merge(cfg, config or {})
        self.cfg = cfg
        super().__init__(env, name, "mao-coordinator", cfg, extra_env)
        self.url = f"http://127.0.0.1:{self.api_port}"

    def start(self):
        super().start()
        wait_for("the coordinator's API", lambda: port_open(self.api_port) or self._dead())
        return self

    def _dead(self):
        if not self.running():
            raise AssertionError(f"{self.name} exited early:\n{self.log()[-3000:]}")
        return False


class Worker(Daemon):
    """A mao-worker for a coordinator, with its own importdir and spool."""

    def __init__(self, env, coordinator, site="local", capacity=2, config=None, name=None,
                 run_as=None, extra_env=None):
        env.worker_count += 1
        name = name or f"worker-{site}-{env.worker_count}"
        self.id = f"t{os.getpid()}-{env.worker_count}-{site}"
        self.importdir = os.path.join(env.dir, name + "-data")
        self.spool = os.path.join(env.dir, name + "-spool")
        cfg = {
            "WORKING_ENVIRONMENT": {"importdir": self.importdir, "allow_local_repos": "true"},
            "WORKER": {"coordinator": coordinator.cfg["COORDINATOR"]["workers"], "site": site,
                       "capacity": str(capacity), "spool": self.spool, "id": self.id,
                       "heartbeat_ms": "200", "liveness_ms": "2000"},
            "LOG": {"level": "debug"},
        }
        _merge(cfg, config or {})
        self.cfg = cfg
        self.coordinator = coordinator
        super().__init__(env, name, "mao-worker", cfg, extra_env)
        if run_as is not None:
            uid, gid, groups = run_as
            self.argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}",
                         f"--groups={','.join(str(g) for g in groups)}"] + self.argv
        env.worker_ids.append(self.id)

    def start(self, wait_up=True):
        super().start()
        if wait_up:
            self.wait_up()
        return self

    def wait_up(self, timeout=30):
        def up():
            if not self.running():
                raise AssertionError(f"{self.name} exited early:\n{self.log()[-3000:]}")
            status, workers = self.env.http("GET", "/v1/workers", url=self.coordinator.url)
            return status == 200 and any(w["id"] == self.id and w["state"] == "up"
                                         for w in workers)
        wait_for(f"{self.name} to be up", up, timeout=timeout)


def _merge(into, extra):
    for section, values in extra.items():
        into.setdefault(section, {}).update(values)


def write_config(path, cfg):
    with open(path, "w") as f:
        for section, values in cfg.items():
            f.write(f"[{section}]\n")
            for k, v in values.items():
                f.write(f"{k} = {v}\n")
            f.write("\n")


_images_built = False


def build_images():
    """Builds the demo tool and the test tools (offline, from busybox-static);
    images that exist are kept."""
    global _images_built
    if _images_built:
        return
    run([os.path.join(SOURCE, "compose", "demo", "build.sh")])
    run([os.path.join(SOURCE, "tests", "fixtures", "images", "build.sh")])
    _images_built = True


def docker_containers(label):
    """Ids of containers (running or not) carrying `label` ("key=value")."""
    p = run(["docker", "ps", "-a", "-q", "--filter", f"label={label}"])
    return p.stdout.split()


class WebhookReceiver:
    """An HTTP server on loopback that keeps every JSON body POSTed to it."""

    def __init__(self, fail_first=0):
        receiver = self
        self.received = []
        self.fail_first = fail_first

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """A minimal SMTP server on loopback that keeps every message it is given."""

    def __init__(self):
        receiver = self
        self.messages = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 test smtp\r\n")
                mail = {"from": None, "to": [], "data": ""}
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("utf-8", "replace").strip()
                    verb = cmd[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.wfile.write(b"250 test\r\n")
                    elif verb == "MAIL":
                        mail["from"] = cmd.split(":", 1)[1].strip()
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == "RCPT":
                        mail["to"].append(cmd.split(":", 1)[1].strip())
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == "DATA":
                        self.wfile.write(b"354 go on\r\n")
                        data = []
                        while True:
                            l = self.rfile.readline()
                            if not l or l in (b".\r\n", b".\n"):
                                break
                            data.append(l.decode("utf-8", "replace"))
                        mail["data"] = "".join(data)
                        receiver.messages.append(dict(mail))
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"smtp://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _pg_bin(name):
    import glob
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise AssertionError("PostgreSQL is not installed (Debian package postgresql)")
    return found[-1]


class Postgres(Proc):
    """A PostgreSQL server of the test's own, on a free loopback port, run as
    the postgres user (it refuses root), with password authentication."""

    password = "mao-test-secret"

    def __init__(self, env):
        import pwd
        self.port = free_port()
        self.dir = os.path.join(env.dir, "pg")
        pw = pwd.getpwnam("postgres")
        os.chmod(env.dir, 0o755)
        os.makedirs(self.dir)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self.as_postgres = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                            "--init-groups"]
        run(self.as_postgres + [_pg_bin("initdb"), "-D", os.path.join(self.dir, "data"), "-U",
                                "postgres", f"--pwfile={pwfile}", "-A", "scram-sha-256",
                                "--no-sync"], env=dict(os.environ, LC_ALL="C"))
        super().__init__(env, "postgres", self.as_postgres + [
            _pg_bin("postgres"), "-D", os.path.join(self.dir, "data"), "-p", str(self.port),
            "-k", self.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])

    def start(self):
        super().start()
        wait_for("PostgreSQL", lambda: self.psql("SELECT 1", db="postgres") == "1", timeout=30)
        self.psql("CREATE DATABASE mao", db="postgres")
        return self

    def psql(self, sql, db="mao"):
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", db, "-Atqc", sql], capture_output=True, text=True,
                           env=dict(os.environ, PGPASSWORD=self.password))
        if p.returncode != 0:
            raise AssertionError(f"psql failed: {p.stderr}")
        return p.stdout.strip()

    def config(self):
        return {"POSTGRES": {"host": "127.0.0.1", "port": str(self.port), "user": "postgres",
                             "password": self.password, "db": "mao"}}


class Registry(Proc):
    """Debian's docker-registry on a free loopback port, storage in the test's folder."""

    def __init__(self, env):
        self.port = free_port()
        root = os.path.join(env.dir, "registry")
        cfg = os.path.join(env.dir, "registry.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\n"
                    f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{self.port}\n"
                    "log:\n  level: warn\n")
        exe = shutil.which("docker-registry")
        if not exe:
            raise AssertionError("docker-registry is not installed (Debian package docker-registry)")
        super().__init__(env, "registry", [exe, "serve", cfg])
        self.host = f"127.0.0.1:{self.port}"

    def start(self):
        super().start()
        wait_for("the registry", lambda: port_open(self.port))
        return self


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def __repr__(self):
        return f"<{' '.join(self.argv)} rc={self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}>"

    def json(self):
        return json.loads(self.out)


class TestEnv:
    """Everything one test starts; torn down when the test ends."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"mao-it-{name}-")
        self.procs = []
        self.prefix = "/mao-test/"
        self.coordinator = None
        self.worker_count = 0
        self.worker_ids = []
        self.closers = []

    # ---- servers ----
    def etcd(self, name="etcd", args=()):
        """A single-member etcd; `args`: more of its options."""
        return Etcd(self, name, args).start()

    def start_coordinator(self, etcd, **kw):
        c = Coordinator(self, etcd, **kw).start()
        if self.coordinator is None:
            self.coordinator = c
        return c

    def start_worker(self, coordinator=None, wait_up=True, **kw):
        return Worker(self, coordinator or self.coordinator, **kw).start(wait_up=wait_up)

    def webhook(self, **kw):
        w = WebhookReceiver(**kw)
        self.closers.append(w.close)
        return w

    def smtp(self):
        m = SmtpReceiver()
        self.closers.append(m.close)
        return m

    def registry(self):
        return Registry(self).start()

    def postgres(self):
        return Postgres(self).start()

    # ---- clients ----
    def maoctl(self, *args, server=None, env=None, cwd=None, timeout=120, input=None):
        environ = dict(os.environ)
        environ.update(sanitizer_env())
        environ["MAO_SERVER"] = server or (self.coordinator.url if self.coordinator else "")
        environ.pop("MAO_CONFIG", None)
        environ.update(env or {})
        argv = [os.path.join(BIN, "maoctl")] + [str(a) for a in args]
        p = subprocess.run(argv, capture_output=True, text=True, env=environ, cwd=cwd or self.dir,
                           timeout=timeout, input=input)
        for marker in SANITIZER_MARKERS:
            if marker in p.stderr:
                raise AssertionError(f"sanitizer report from maoctl:\n{p.stderr}")
        return Result(argv, p.returncode, p.stdout, p.stderr)

    def maoctl_bg(self, *args, env=None):
        """maoctl in the background; returns the Popen (text mode, output piped)."""
        environ = dict(os.environ)
        environ.update(sanitizer_env())
        environ["MAO_SERVER"] = self.coordinator.url
        environ.update(env or {})
        return subprocess.Popen([os.path.join(BIN, "maoctl")] + [str(a) for a in args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=environ, preexec_fn=_die_with_parent)

    def tool(self, name, image, data_repo=None, **extra):
        """Registers a tool through the API (its dataset: a new bare repository)."""
        record = {"name": name, "author": "test", "image": image,
                  "data_repo": data_repo or self.bare_repo(name + "-data"),
                  "code_repo": "https://example.org/code.git", "artefact": "test"}
        record.update(extra)
        status, body = self.http("POST", "/v1/tools", record)
        check(status == 201, f"registering {name}", status, body)
        return record

    def queue_runs(self, tool, n):
        """Queues n runs of a tool through the API (each answered 201 once
        stored); returns their ids."""
        ids = []
        for _ in range(n):
            status, body = self.http("POST", f"/v1/tools/{tool}/runs", {})
            check_eq(status, 201, "a run is queued, and stored")
            ids.append(body["id"])
        return ids

    def http(self, method, path, body=None, raw=None, url=None, timeout=30, headers=None):
        """(status, parsed JSON or None) from the coordinator."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request((url or self.coordinator.url) + path, data=data,
                                     method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                text = r.read()
                if not r.headers.get("Content-Type", "").startswith("application/json"):
                    return r.status, text.decode("utf-8", "replace")
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode("utf-8", "replace")

    # ---- git ----
    def bare_repo(self, name, files=None):
        """A bare repository with one commit holding `files` ({path: text})."""
        work = os.path.join(self.dir, "git-work-" + name)
        bare = os.path.join(self.dir, "repos", name + ".git")
        os.makedirs(work)
        for path, text in (files or {"README.md": f"dataset {name}\n"}).items():
            full = os.path.join(work, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        git = ["git", "-c", "user.name=mao-test", "-c", "user.email=test@mao.invalid",
               "-c", "init.defaultBranch=main"]
        run(git + ["init", "-q", work])
        run(git + ["-C", work, "add", "-A"])
        run(git + ["-C", work, "commit", "-q", "-m", "initial data"])
        run(git + ["clone", "-q", "--bare", work, bare])
        return bare

    def valgrind_dir(self):
        """Where valgrind writes its reports: a folder any user may write to,
        for workers that run as another user."""
        if not getattr(self, "_valgrind_dir", None):
            self._valgrind_dir = tempfile.mkdtemp(prefix=f"mao-vg-{self.name}-")
            os.chmod(self._valgrind_dir, 0o1777)
            self.closers.append(lambda: shutil.rmtree(self._valgrind_dir, ignore_errors=True))
        return self._valgrind_dir

    # ---- teardown ----
    def stop_daemons_under_valgrind(self):
        """Stops the mao daemons still running with SIGTERM, so that valgrind
        checks them for leaks too, and fails on any report (of those stopped
        earlier as well)."""
        reports = []
        for p in self.procs:
            if not isinstance(p, Daemon):
                continue
            if p.running():
                try:
                    p.stop(timeout=120)
                except AssertionError as e:
                    reports.append(str(e))
            text = valgrind_reports(self, p.name)
            if text.strip():
                reports.append(f"----- valgrind: {p.name} -----\n{text[-8000:]}")
        if reports:
            raise AssertionError("\n".join(reports))

    def close(self, failed):
        for close in self.closers:
            try:
                close()
            except Exception:  # noqa: BLE001
                pass
        for p in reversed(self.procs):
            try:
                p.kill()
            except Exception:  # noqa: BLE001
                pass
        for worker_id in self.worker_ids:
            try:
                ids = docker_containers(f"org.mao.worker={worker_id}")
            except AssertionError:
                break  # no dockerd (workers with runtime = exec only): no containers of ours
            if ids:
                subprocess.run(["docker", "rm", "-f"] + ids, capture_output=True)
        if failed:
            for p in self.procs:
                text = p.log()
                if text:
                    print(f"----- {p.name} log (last 60 lines) -----")
                    print("\n".join(text.splitlines()[-60:]))
        if KEEP or failed and os.environ.get("MAO_TEST_KEEP_FAILED") == "1":
            print(f"(kept {self.dir})")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def run(argv, env=None, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, env=env, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def check(cond, message, *context):
    """Fails the test with `message` (and context) unless cond holds."""
    if not cond:
        detail = "\n".join(repr(c) for c in context)
        raise AssertionError(message + ("\n" + detail if detail else ""))


def check_eq(got, want, message=""):
    if got != want:
        raise AssertionError(f"{message}: got {got!r}, want {want!r}" if message
                             else f"got {got!r}, want {want!r}")


def one_line_error(result, *fragments):
    """maoctl failed with exit 1 and one readable line naming the problem."""
    check(result.rc == 1, "maoctl should exit 1", result)
    lines = [l for l in result.err.splitlines() if l.strip()]
    check(len(lines) == 1, "maoctl should say why in one line", result)
    check(lines[0].startswith("maoctl: "), "the line should start with 'maoctl: '", result)
    for f in fragments:
        check(f.lower() in lines[0].lower(), f"the error should mention {f!r}", result)


def main(namespace):
    """Runs every test_* function of the calling module, each in a fresh env."""
    only = sys.argv[1:]
    tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
    failures = 0
    for name, fn in tests:
        if only and name not in only:
            continue
        env = TestEnv(name)
        start = time.monotonic()
        failed = False
        try:
            fn(env)
            if VALGRIND:
                env.stop_daemons_under_valgrind()
            print(f"ok   {name} ({time.monotonic() - start:.1f} s)", flush=True)
        except Exception:  # noqa: BLE001
            failed = True
            failures += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
        finally:
            env.close(failed)
    sys.exit(1 if failures else 0)
