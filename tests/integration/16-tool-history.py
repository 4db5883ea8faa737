"""maoctl tool history on the jumping demo variant shows the values and
marks the spike; on a terminal, with a sparkline."""

import os
import pty
import subprocess

from harness import BIN, build_images, check, check_eq, main, sanitizer_env


def test_history_marks_the_spike(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker()
    env.tool("jumpy", "mao-demo:jump")
    for _ in range(3):  # the third triples: the spike
        check(env.maoctl("tool", "run", "jumpy").rc == 0, "a run")

    r = env.maoctl("tool", "history", "jumpy", "-o", "json")
    values = [h["control_value"] for h in reversed(r.json())]
    check_eq(values[:2], [None, None], "the first two runs had not enough data")
    check_eq(values[2], 3042, "then the jump")

    r = env.maoctl("tool", "history", "jumpy")
    rows = [l.split() for l in r.out.splitlines()[1:]]
    check_eq(len(rows), 3, "three runs, one line each")
    spike_rows = [row for row in rows if row[-1] == "*"]
    check_eq(len(spike_rows), 1, "one run is marked as a spike")
    check("3042" in spike_rows[0] and "spike" in spike_rows[0], "the marked one is the jump",
          spike_rows)

    # On a terminal: a sparkline of the values, the spike marked under it.
    main_fd, child_fd = pty.openpty()
    environ = dict(os.environ, MAO_SERVER=env.coordinator.url, **sanitizer_env())
    p = subprocess.run([os.path.join(BIN, "maoctl"), "tool", "history", "jumpy"],
                       stdout=child_fd, stderr=subprocess.PIPE, env=environ, timeout=30)
    os.close(child_fd)
    out = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main_fd)
    text = out.decode("utf-8", "replace")
    check(p.returncode == 0, "maoctl on a terminal", text)
    bars = next((l.strip() for l in text.splitlines() if "\u2581" in l or "\u2588" in l), "")
    check(len(bars) == 1, "a bar for each run with a value", text)
    marks = text.splitlines()[text.splitlines().index(next(
        l for l in text.splitlines() if "\u2581" in l or "\u2588" in l)) + 1]
    check("^" in marks and "(^ spike)" in marks, "the spike is marked under its bar", text)


if __name__ == "__main__":
    main(globals())
