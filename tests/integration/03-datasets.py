"""Datasets: register, list, remove, and clone locally with maoctl."""

import os

from harness import check, check_eq, main, one_line_error

LOCAL = {"MAO_WORKING_ENVIRONMENT_ALLOW_LOCAL_REPOS": "true"}


def test_add_get_remove(env):
    env.start_coordinator(env.etcd())
    r = env.maoctl("dataset", "get")
    check(r.rc == 0 and "No datasets registered" in r.out, "empty", r)
    check(env.maoctl("dataset", "add", "d1", "https://example.org/d1.git").rc == 0, "add d1")
    check(env.maoctl("dataset", "add", "d2", "git@example.org:x/d2.git").rc == 0, "add d2")
    r = env.maoctl("dataset", "get")
    lines = r.out.splitlines()
    check_eq(lines[0].split(), ["NAME", "URL"], "header")
    check_eq([l.split() for l in lines[1:]], [["d1", "https://example.org/d1.git"],
                                              ["d2", "git@example.org:x/d2.git"]], "rows")
    r = env.maoctl("dataset", "get", "d1")
    check("https://example.org/d1.git" in r.out, "one dataset", r)
    one_line_error(env.maoctl("dataset", "add", "d1", "https://example.org/other.git"),
                   "already registered")
    one_line_error(env.maoctl("dataset", "add", "d3", "ftp://example.org/x"), "scheme")
    one_line_error(env.maoctl("dataset", "add", "a/b", "https://example.org/x"),
                   "invalid dataset name")
    check(env.maoctl("dataset", "remove", "d1").rc == 0, "remove")
    one_line_error(env.maoctl("dataset", "get", "d1"), "not registered")


def test_clone_local_bare_repository(env):
    env.start_coordinator(env.etcd())
    repo = env.bare_repo("measurements", {"README.md": "data\n", "control-2026-01-01.csv": "10\n"})
    check(env.maoctl("dataset", "add", "measurements", repo).rc == 0, "register")
    target = os.path.join(env.dir, "here")
    r = env.maoctl("dataset", "clone", "measurements", target, env=LOCAL)
    check(r.rc == 0, "clone succeeds", r)
    check(os.path.isfile(os.path.join(target, "control-2026-01-01.csv")), "files arrived", r)
    check(os.path.isdir(os.path.join(target, ".git")), "a git clone", r)

    # The default folder is ./NAME.
    r = env.maoctl("dataset", "clone", "measurements", env=LOCAL)
    check(r.rc == 0 and os.path.isdir(os.path.join(env.dir, "measurements", ".git")),
          "clone into ./measurements", r)

    # An existing non-empty folder is refused and left as it was.
    busy = os.path.join(env.dir, "busy")
    os.makedirs(busy)
    with open(os.path.join(busy, "mine.txt"), "w") as f:
        f.write("keep me\n")
    r = env.maoctl("dataset", "clone", "measurements", busy, env=LOCAL)
    one_line_error(r, "not empty")
    check_eq(os.listdir(busy), ["mine.txt"], "the folder is untouched")

    # Without permission for local paths, maoctl refuses to clone one.
    r = env.maoctl("dataset", "clone", "measurements", os.path.join(env.dir, "nope"))
    one_line_error(r, "local path", "allow_local_repos")


def test_clone_unreachable_url(env):
    env.start_coordinator(env.etcd())
    check(env.maoctl("dataset", "add", "gone", "http://127.0.0.1:9/nothing.git").rc == 0, "add")
    target = os.path.join(env.dir, "gone")
    r = env.maoctl("dataset", "clone", "gone", target)
    one_line_error(r, "cannot clone http://127.0.0.1:9/nothing.git")
    check(not os.path.exists(target), "nothing is left behind")
    one_line_error(env.maoctl("dataset", "clone", "unknown"), "not registered")


if __name__ == "__main__":
    main(globals())
