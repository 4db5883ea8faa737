"""maoctl and the daemons as a user meets them: --help everywhere, exit codes
0/1/2, one readable line when something is wrong."""

import os
import subprocess

from harness import BIN, check, check_eq, free_port, main, one_line_error, write_config

VERBS = [["tool"], ["tool", "get"], ["tool", "add"], ["tool", "remove"],
         ["dataset"], ["dataset", "get"], ["dataset", "add"], ["dataset", "remove"],
         ["dataset", "clone"], ["spike"]]


def test_help_everywhere(env):
    for verb in [[]] + VERBS:
        r = env.maoctl(*verb, "--help")
        check_eq(r.rc, 0, f"maoctl {' '.join(verb)} --help exits 0")
        check(r.out.startswith("Usage: maoctl"), "prints its usage on stdout", r)
    r = env.maoctl("--version")
    check(r.rc == 0 and r.out.startswith("maoctl "), "--version", r)
    for daemon in ["mao-coordinator", "mao-worker"]:
        p = subprocess.run([os.path.join(BIN, daemon), "--help"], capture_output=True, text=True)
        check(p.returncode == 0 and p.stdout.startswith(f"Usage: {daemon}"), f"{daemon} --help",
              p.stdout, p.stderr)


def test_usage_errors_exit_2(env):
    cases = [[], ["nonsense"], ["tool"], ["tool", "frobnicate"], ["tool", "add", "only-one"],
             ["tool", "get", "a", "b"], ["tool", "get", "--bogus"], ["dataset", "add", "x"],
             ["-o", "yaml", "tool", "get"], ["--server", "ftp://x", "tool", "get"],
             ["tool", "add", "a", "b", "c", "d", "e", "f", "--timeout", "soon"]]
    for argv in cases:
        r = env.maoctl(*argv)
        check_eq(r.rc, 2, f"maoctl {' '.join(argv)}")
        check(r.err.strip(), "says something on stderr", r)
        check(r.out == "", "nothing on stdout", r)


def test_unreachable_coordinator(env):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    one_line_error(env.maoctl("--server", url, "tool", "get"), "cannot reach the coordinator",
                   url)
    one_line_error(env.maoctl("tool", "get", server=url), "cannot reach the coordinator", url)


def test_global_options_anywhere(env):
    env.start_coordinator(env.etcd())
    url = env.coordinator.url
    for argv in [["--server", url, "-o", "json", "tool", "get"],
                 ["tool", "get", "-o", "json", "--server", url],
                 ["tool", "--server", url, "get", "--output=json"]]:
        r = env.maoctl(*argv, server="http://127.0.0.1:1")
        check(r.rc == 0 and r.out.strip() == "[]", f"maoctl {' '.join(argv)}", r)


def test_coordinator_refuses_bad_config(env):
    def start(cfg):
        path = os.path.join(env.dir, "bad.conf")
        if isinstance(cfg, str):
            with open(path, "w") as f:
                f.write(cfg)
        else:
            write_config(path, cfg)
        return subprocess.run([os.path.join(BIN, "mao-coordinator"), "-c", path],
                              capture_output=True, text=True, timeout=30)

    p = start("[ETCD]\nthis is not ini\n")
    check(p.returncode == 1 and "bad.conf:2" in p.stderr, "a syntax error names the line",
          p.stderr)
    p = start({"ETCD": {"timeout_ms": "soon"}})
    check(p.returncode == 1 and "timeout_ms" in p.stderr, "a bad value names the key", p.stderr)
    p = start({"ETCD": {"endpoints": "ftp://x"}})
    check(p.returncode == 1 and "ftp://x" in p.stderr, "a bad endpoint", p.stderr)
    busy = free_port()
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", busy))
        s.listen()
        p = start({"COORDINATOR": {"api": f"127.0.0.1:{busy}"}})
    check(p.returncode == 1 and "cannot listen on" in p.stderr, "a busy port", p.stderr)
    p = subprocess.run([os.path.join(BIN, "mao-coordinator"), "-c", "/nonexistent.conf"],
                       capture_output=True, text=True)
    check(p.returncode == 1 and "/nonexistent.conf" in p.stderr, "a missing file", p.stderr)
    p = subprocess.run([os.path.join(BIN, "mao-coordinator"), "--bogus"], capture_output=True,
                       text=True)
    check_eq(p.returncode, 2, "an unknown option")


if __name__ == "__main__":
    main(globals())
