"""Malformed, truncated and oversized messages sent to the coordinator's and
to a worker's ZeroMQ sockets are logged and dropped; both keep serving."""

import time

import msgpack
import zmq

from harness import Coordinator, build_images, check, check_eq, main, wait_for

MAX = 1024 * 1024


def garbage_frames():
    """What a hostile or broken peer might send, one message per item."""
    good_hello = {"v": 1, "type": "hello", "worker": "evil", "site": "x", "capacity": 1}
    return [
        [b""],
        [b"\xc1"],                                     # not msgpack
        [b"\x92\x01\x02"],                             # an array, not a map
        [msgpack.packb({"v": 1, "type": "hello"})[:-3]],  # truncated
        [msgpack.packb({"type": "hello"})],            # no version
        [msgpack.packb({"v": 99, "type": "hello"})],   # a future version
        [msgpack.packb({"v": 1, "type": "launch"})],   # unknown type
        [msgpack.packb({"v": 1, "type": "result", "run": "../../x", "status": "ok"})],
        [msgpack.packb({**good_hello, "worker": "someone-else"})],  # a hello that lies
        [msgpack.packb({**good_hello, "site": "../etc"})],
        [b"\xdf\xff\xff\xff\xff"],                     # a map claiming 4 billion entries
        [msgpack.packb({"v": 1, "type": "heartbeat"}), b"extra frame"],
        [msgpack.packb({"v": 1, "type": "job", "run": "r1", "tool": {"name": "../../etc"}})],
        [b"x" * (2 * MAX)],                            # larger than the socket allows
    ]


def test_coordinator_survives_hostile_workers(env):
    build_images()
    coord = env.start_coordinator(env.etcd())
    ctx = zmq.Context()
    evil = ctx.socket(zmq.DEALER)
    evil.setsockopt(zmq.IDENTITY, b"evil")
    evil.setsockopt(zmq.LINGER, 1000)
    evil.connect(coord.cfg["COORDINATOR"]["workers"])
    frames = garbage_frames()
    for message in frames:  # the oversized one is last: it ends the connection
        evil.send_multipart(message)
    evil.close()

    def dropped():
        status, metrics = env.http("GET", "/metrics")
        return int(next(l.split()[1] for l in metrics.splitlines()
                        if l.startswith("mao_messages_dropped_total")))

    # Every malformed message but the oversized one (which libzmq refuses at
    # the socket, closing the connection) is counted.
    wait_for(f"{len(frames) - 1} dropped messages", lambda: dropped() >= len(frames) - 1)
    check(coord.running(), "the coordinator is still running")
    check(coord.log().count("message.dropped") >= len(frames) - 1, "each was logged")
    status, workers = env.http("GET", "/v1/workers")
    check_eq(workers, [], "no hostile peer became a worker")
    # It still serves real workers.
    env.start_worker()
    env.tool("demo", "mao-demo:latest")
    r = env.maoctl("tool", "run", "demo")
    check(r.rc == 0, "a real run still works", r)
    ctx.term()
    coord.stop_clean()


def test_worker_survives_a_hostile_coordinator(env):
    build_images()
    ctx = zmq.Context()
    fake = ctx.socket(zmq.ROUTER)
    fake.setsockopt(zmq.LINGER, 0)
    port = fake.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    # A coordinator object only to generate the worker's config; not started.
    placeholder = Coordinator(env, None)
    placeholder.cfg["COORDINATOR"]["workers"] = endpoint
    worker = env.start_worker(placeholder, wait_up=False)
    poller = zmq.Poller()
    poller.register(fake, zmq.POLLIN)

    def hello():
        if poller.poll(200):
            ident, body = fake.recv_multipart()[:2]
            msg = msgpack.unpackb(body)
            return ident if msg.get("type") == "hello" else None
        return None

    ident = wait_for("the worker's hello", hello)
    garbage = garbage_frames()
    for frames in garbage[:-1]:  # the oversized one comes last, below
        fake.send_multipart([ident] + frames)
    # A job whose tool every site refuses: answered with a failed result.
    bad_job = {"v": 1, "type": "job", "run": "01M0000000000000000000000Z", "attempt": 1,
               "tool": {"name": "escape", "author": "", "image": "i", "code_repo": "",
                        "artefact": "", "data_repo": "ext::sh -c touch% /tmp/pwned"}}
    fake.send_multipart([ident, msgpack.packb(bad_job)])

    results = {}

    def both_results():
        while poller.poll(200):
            frames = fake.recv_multipart()
            msg = msgpack.unpackb(frames[1])
            if msg.get("type") == "result":
                results[msg["run"]] = msg
        return "r1" in results and bad_job["run"] in results

    # Both jobs every site refuses (a tool named ../../etc; a dataset URL in
    # git's ext:: form, which would run a command) end failed, with the reason.
    wait_for("the results of the refused jobs", both_results)
    for run in ("r1", bad_job["run"]):
        check_eq(results[run]["status"], "failed", f"job {run} failed")
        check("refuses the tool" in results[run]["reason"], "and says why", results[run])
    # Larger than its socket allows: libzmq drops the connection, the worker
    # reconnects.
    fake.send_multipart([ident] + garbage[-1])
    wait_for("the worker to say hello again", hello)
    check(worker.running(), "the worker is still running")
    check(worker.log().count("message.dropped") >= len(garbage) - 3,
          "the garbage was logged and dropped")

    # Still healthy: it keeps beating, and a real coordinator on its endpoint
    # gets it as a worker.
    fake.close()
    ctx.term()
    real = Coordinator(env, env.etcd())
    real.cfg["COORDINATOR"]["workers"] = endpoint
    from harness import write_config
    write_config(real.config_path, real.cfg)
    real.start()
    env.coordinator = real
    worker.coordinator = real
    worker.wait_up()
    env.tool("demo", "mao-demo:latest")
    r = env.maoctl("tool", "run", "demo")
    check(r.rc == 0, "the worker runs jobs for the real coordinator", r)
    worker.stop_clean()
    real.stop_clean()


if __name__ == "__main__":
    main(globals())
