"""Control files as tools really write them: real numbers, a header line, and
broken ones.  Each run reports a correct verdict or a clear detector error,
and no daemon crashes."""

from harness import build_images, check, check_eq, main

# Each case: the dataset starts with two earlier control files; the tool
# writes a third with CONTENT.
CASES = [
    # name, earlier values, what the run writes, want verdict, fragment of report/text
    ("float", ["10\n", "10\n"], "12.5\\n", "spike", "Gain             +25.00 %"),
    ("header", ["10\n", "10\n"], "value\\n11\\n", "no spike", "Gain             +10.00 %"),
    ("crlf", ["10\r\n", "10\r\n"], "10.5\\r\\n", "no spike", "Control value    10.5"),
    ("empty", ["10\n", "10\n"], "", "error", "empty"),
    ("word", ["10\n", "10\n"], "hello\\n", "error", "not a number"),
    ("zero-mean", ["0\n", "0\n"], "5\\n", "error", "is 0: the gain is undefined"),
]


def test_control_file_contents(env):
    build_images()
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    worker = env.start_worker()
    for name, earlier, content, verdict, fragment in CASES:
        files = {f"control-{i:06d}.csv": v for i, v in enumerate(earlier)}
        env.tool(name, "mao-test/writer:1", data_repo=env.bare_repo(name, files),
                 env={"CONTENT": content})
        r = env.maoctl("tool", "run", name)
        check_eq(r.rc, 0, f"{name}: the run succeeded, so exit 0 whatever the verdict")
        verdict_line = next((l for l in r.out.splitlines() if l.startswith("Verdict")), "")
        check(verdict_line.startswith(f"Verdict          {verdict}"), f"{name}: verdict {verdict}",
              r)
        where = verdict_line if verdict == "error" else r.out
        check(fragment in where, f"{name}: the report shows {fragment!r}", r)
        run = env.maoctl("run", "list", "--tool", name, "-o", "json").json()[0]
        check_eq(run["verdict"], verdict, f"{name}: the recorded verdict")
        if verdict == "error":
            check(fragment in run["report"]["error"], f"{name}: the error in the record", run)
    check(coord.running() and worker.running(), "both daemons are still up")
    worker.stop_clean()
    coord.stop_clean()


def test_no_control_file(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker()
    env.tool("silent", "mao-test/writer:1", env={"NOFILE": "1"})
    r = env.maoctl("tool", "run", "silent", "-o", "json")
    run = r.json()
    check_eq((run["status"], run["report"]["snapshots"], run["verdict"]),
             ("succeeded", 0, "not enough data"), "a run that wrote no control file")


if __name__ == "__main__":
    main(globals())
