"""The coordinator reaches an etcd that speaks only TLS, asks for a client
certificate and has authentication on: with the CA, its certificate and a
user limited to mao's prefix it works, keeps working when etcd restarts
(which forgets every token), and says clearly what is wrong otherwise."""

import os
import shutil
import subprocess

from harness import Proc, check, check_eq, free_port, main, one_line_error, run, wait_for

PASSWORD = "mao-test-password"


def make_certs(env):
    d = os.path.join(env.dir, "pki")
    os.makedirs(d)
    p = lambda name: os.path.join(d, name)  # noqa: E731
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"),
         "-out", p("ca.pem"), "-days", "2", "-subj", "/CN=mao test CA"])
    # etcd's JSON gateway refuses a client certificate with a Common Name when
    # authentication is on: the coordinator's has an organisation only.
    for name, subject, ext in (("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1"),
                               ("client", "/O=mao coordinator", "extendedKeyUsage=clientAuth")):
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p(name + ".key"),
             "-out", p(name + ".csr"), "-subj", subject])
        with open(p(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        run(["openssl", "x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"), "-CAkey",
             p("ca.key"), "-CAcreateserial", "-out", p(name + ".pem"), "-days", "2", "-extfile",
             p(name + ".ext")])
    return p


class SecureEtcd(Proc):
    def __init__(self, env, pki):
        self.port, peer = free_port(), free_port()
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self.pki = pki
        super().__init__(env, "etcd-tls", [
            shutil.which("etcd"), "--name", "tls", "--data-dir", os.path.join(env.dir, "etcd-tls"),
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"tls=http://127.0.0.1:{peer}",
            "--cert-file", pki("server.pem"), "--key-file", pki("server.key"),
            "--client-cert-auth", "--trusted-ca-file", pki("ca.pem"), "--log-level", "warn"])

    def ctl(self, *args, user=None):
        argv = ["etcdctl", "--endpoints", self.endpoint, "--cacert", self.pki("ca.pem"),
                "--cert", self.pki("client.pem"), "--key", self.pki("client.key")]
        if user:
            argv += ["--user", user]
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, ETCDCTL_API="3"))

    def start(self):
        super().start()
        wait_for("etcd with TLS", lambda: self.ctl("endpoint", "health").returncode == 0,
                 timeout=30)
        return self


def test_tls_client_certificate_and_authentication(env):
    pki = make_certs(env)
    etcd = SecureEtcd(env, pki).start()
    root = f"root:{PASSWORD}"
    for args in (("user", "add", "root", "--new-user-password", PASSWORD),
                 ("role", "add", "mao"),
                 ("role", "grant-permission", "mao", "--prefix=true", "readwrite", env.prefix),
                 ("user", "add", "mao", "--new-user-password", PASSWORD),
                 ("user", "grant-role", "mao", "mao"),
                 ("auth", "enable")):
        r = etcd.ctl(*args, user=root if args[0] != "user" or args[2] != "root" else None)
        check_eq(r.returncode, 0, f"etcdctl {' '.join(args)}: {r.stderr}")

    etcd_cfg = {"endpoints": etcd.endpoint, "prefix": env.prefix, "timeout_ms": "3000",
                "cacert": pki("ca.pem"), "cert": pki("client.pem"), "key": pki("client.key"),
                "user": "mao", "password": PASSWORD,
                "grpc_min_ops": "1"}  # every transaction over gRPC, through TLS and a token
    coord = env.start_coordinator(None, config={"ETCD": etcd_cfg})
    r = env.maoctl("tool", "add", "demo", "a", "demo:1", "https://example.org/d.git",
                   "https://example.org/c.git", "csv")
    check_eq(r.rc, 0, "registering through TLS and authentication: " + r.err)
    check("demo" in env.maoctl("tool", "get").out, "and reading")
    r = etcd.ctl("get", env.prefix + "tools/demo", "--print-value-only", user=root)
    check('"name":"demo"' in r.stdout.replace(" ", ""), "the record is in etcd", r.stdout)

    def schedule_stored():
        """A schedule goes to etcd in the recorder's transaction (gRPC)."""
        r = env.maoctl("tool", "schedule", "demo", "--every", "1h", "-o", "json")
        check_eq(r.rc, 0, "a schedule: " + r.err)
        key = env.prefix + "schedules/" + r.json()["id"]
        wait_for("the schedule in etcd", lambda: etcd.ctl("get", key, "--print-value-only",
                                                          user=root).stdout.strip(), 15)
    schedule_stored()

    # etcd restarts and forgets every token: the coordinator asks for a new one.
    etcd.stop()
    etcd.start()
    r = env.maoctl("tool", "add", "again", "a", "demo:1", "https://example.org/d.git",
                   "https://example.org/c.git", "csv")
    check_eq(r.rc, 0, "after etcd's restart: " + r.err)
    schedule_stored()
    check("etcd: grpc." not in coord.log(), "transactions went over gRPC throughout")
    coord.stop_clean()

    # A wrong password, a missing CA: the API answers 503 saying what is wrong.
    for change, fragment in (({"password": "wrong"}, "authentication"),
                             ({"cacert": ""}, "certificate")):
        bad = env.start_coordinator(None, config={"ETCD": dict(etcd_cfg, **change)})
        status, body = env.http("GET", "/v1/tools", url=bad.url)
        check(status == 503 and fragment in body["message"], f"with {change}: {status} {body}")
        bad.stop_clean()


if __name__ == "__main__":
    main(globals())
