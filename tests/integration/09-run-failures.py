"""Runs that go wrong end failed with the reason in their report and leave no
container behind; an absent image is pulled from a registry; the files a tool
writes belong to the worker's user."""

import grp
import os
import subprocess

from harness import (Worker, build_images, check, check_eq, docker_containers, free_port, main,
                     run)


def test_failures_have_reasons_and_leave_nothing(env):
    build_images()
    registry = env.registry()
    coord = env.start_coordinator(env.etcd())
    worker = env.start_worker()
    env.tool("fails", "mao-test/writer:1", env={"EXIT": "3"})
    env.tool("slow", "mao-test/writer:1", env={"SLEEP": "60"}, timeout_s=2)
    env.tool("nowhere", f"{registry.host}/mao-test/never-pushed:1")
    env.tool("refused", f"127.0.0.1:{free_port()}/mao-test/writer:1")
    env.tool("noclone", "mao-test/writer:1", data_repo=f"http://127.0.0.1:{free_port()}/d.git")
    env.tool("badcmd", "mao-test/writer:1", command=["/no/such/program"])
    cases = [("fails", "failed", "exited with code 3"),
             ("slow", "timed_out", "timeout of 2 s"),
             ("nowhere", "failed", "image "),
             ("refused", "failed", "image "),
             ("noclone", "failed", "dataset: cannot clone"),
             ("badcmd", "failed", "cannot start the container")]
    for tool, status, reason in cases:
        r = env.maoctl("tool", "run", tool)
        check_eq(r.rc, 1, f"{tool}: maoctl exits 1")
        check(f"Status           {status}" in r.out, f"{tool}: status {status}", r)
        reason_line = next((l for l in r.out.splitlines() if l.startswith("Reason")), "")
        check(reason in reason_line, f"{tool}: the reason says {reason!r}", r)
        record = env.maoctl("run", "list", "--tool", tool, "-o", "json").json()[0]
        check_eq(record["status"], status, f"{tool}: the recorded status")
    r = env.maoctl("run", "logs", env.maoctl("run", "list", "--tool", "fails", "-o",
                                             "json").json()[0]["id"])
    check("a line on stderr" in r.out and "control file 0 written" in r.out,
          "the log tail of a failed run keeps stdout and stderr", r)
    check_eq(docker_containers(f"org.mao.worker={worker.id}"), [],
             "no container with our labels is left")
    worker.stop_clean()
    coord.stop_clean()


def test_absent_image_is_pulled_from_a_registry(env):
    build_images()
    registry = env.registry()
    image = f"{registry.host}/mao-test/pulled:{os.getpid()}"
    run(["docker", "tag", "mao-test/writer:1", image])
    run(["docker", "push", image])
    run(["docker", "rmi", image])
    check(subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0,
          "the image is not here before the run")
    try:
        env.start_coordinator(env.etcd())
        env.start_worker()
        env.tool("pulled", image)
        r = env.maoctl("tool", "run", "pulled", "-o", "json")
        check(r.rc == 0 and r.json()["status"] == "succeeded", "the run succeeds", r)
        check(r.json()["image_digest"].startswith(f"{registry.host}/mao-test/pulled@sha256:"),
              "the result names the pulled digest", r)
        check(subprocess.run(["docker", "image", "inspect", image],
                             capture_output=True).returncode == 0, "the image is here now")
    finally:
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True)


def test_files_belong_to_the_workers_user(env):
    build_images()
    uid = gid = 23456
    docker_gid = grp.getgrnam("docker").gr_gid
    os.chmod(env.dir, 0o755)  # the worker's user reads its config and the repository
    coord = env.start_coordinator(env.etcd())
    # As an operator would: the worker's folders belong to its user.
    worker = Worker(env, coord, run_as=(uid, gid, [docker_gid]))
    for folder in (worker.importdir, worker.spool):
        os.makedirs(folder)
        os.chown(folder, uid, gid)
    worker.start()
    env.tool("owned", "mao-test/writer:1")
    for _ in range(2):
        r = env.maoctl("tool", "run", "owned")
        check(r.rc == 0, "the run succeeds", r)
    data = os.path.join(worker.importdir, "owned")
    names = sorted(os.listdir(data))
    check("control-000001.csv" in names, "the tool wrote its files", names)
    for name in names:
        st = os.lstat(os.path.join(data, name))
        check_eq((st.st_uid, st.st_gid), (uid, gid), f"{name} belongs to the worker's user")
    worker.stop_clean()
    coord.stop_clean()


if __name__ == "__main__":
    main(globals())
