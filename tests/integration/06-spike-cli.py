"""maoctl spike DIR: the detector on a local folder, as tool authors use it to
check their tool's output: the report, the JSON and the exit codes."""

import json
import os

from harness import check, check_eq, main


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_reports_and_exit_codes(env):
    d = os.path.join(env.dir, "data")
    os.makedirs(d)
    write(os.path.join(d, "control-2025-01-01.csv"), "10\n")
    r = env.maoctl("spike", d)
    check(r.rc == 0 and "Verdict: not enough data yet (1 of 3 snapshots)" in r.out,
          "one snapshot: not enough data, exit 0", r)

    write(os.path.join(d, "control-2025-01-02.csv"), "10\n")
    write(os.path.join(d, "control-2025-01-03.csv"), "value\r\n13\r\n")
    r = env.maoctl("spike", d)
    check(r.rc == 0 and "Gain: +30.00 %" in r.out and "Verdict: spike" in r.out,
          "a spike is a finding, exit 0", r)
    r = env.maoctl("spike", d, "--threshold", "50")
    check(r.rc == 0 and "Verdict: no spike" in r.out, "a higher threshold", r)
    r = env.maoctl("spike", d, "-o", "json")
    report = json.loads(r.out)
    check_eq((report["spike"], report["rolling_avg"], report["control_metric"],
              report["snapshots"], report["newest"]),
             (True, 10.0, 13.0, 3, "control-2025-01-03.csv"), "the JSON report")
    r = env.maoctl("spike", "--method", "mad", "--window", "2", d)
    check(r.rc == 0 and "Method: mad, window 2, threshold 3.5" in r.out, "mad", r)
    r = env.maoctl("spike", d, "--window=3")
    check("not enough data yet (3 of 4 snapshots)" in r.out, "a wider window", r)

    write(os.path.join(d, "control-2025-01-03.csv"), "13\n14\n")
    r = env.maoctl("spike", d)
    check(r.rc == 1 and "more than one value" in r.err, "a bad file is an error, exit 1", r)
    r = env.maoctl("spike", d, "-o", "json")
    check(r.rc == 1 and "more than one value" in json.loads(r.out)["error"], "error in JSON", r)
    r = env.maoctl("spike", os.path.join(env.dir, "missing"))
    check(r.rc == 1 and "does not exist" in r.err, "a missing folder", r)


def test_hostile_names_never_reach_the_terminal(env):
    e = os.path.join(env.dir, "esc")
    os.makedirs(e)
    write(os.path.join(e, "control-\x1b[2J.csv"), "x\n")
    r = env.maoctl("spike", e)
    check(r.rc == 1 and "\x1b" not in r.out + r.err and "control-\\x1b[2J.csv" in r.out,
          "the escape is shown escaped", r)


def test_usage_errors(env):
    d = os.path.join(env.dir, "d")
    os.makedirs(d)
    for argv, say in [([], "spike needs one DIR"), ([d, d], ""),
                      ([d, "--window", "0"], "--window needs a whole number"),
                      ([d, "--window", "10001"], ""), ([d, "--window", "3x"], ""),
                      ([d, "--threshold", "-1"], ""), ([d, "--threshold", "nan"], ""),
                      ([d, "--method", "zscore"], "--method is gain or mad"), ([d, "--bogus"], "")]:
        r = env.maoctl("spike", *argv)
        check(r.rc == 2 and say in r.err, f"maoctl spike {argv}", r)
    r = env.maoctl("spike", "--help")
    check(r.rc == 0 and "Tool compliance" in r.out and "control-<value>.csv" in r.out, "help", r)


if __name__ == "__main__":
    main(globals())
