"""Malformed, truncated and oversized messages sent to the coordinator's and
to a worker's ZeroMQ sockets are logged and dropped; both keep serving.  And
what a worker of an older version is sent."""

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


def test_acknowledgements_alone_or_together(env):
    """A worker that does not say `batched_acks` (an older one) gets one
    result_ack per result; one that does gets them together, in jobs or in
    one result_ack; every result is acknowledged either way."""
    coord = env.start_coordinator(env.etcd())
    env.tool("quick", "none", command=["true"])
    ctx = zmq.Context()

    def serve(name, batched, runs):
        peer = ctx.socket(zmq.DEALER)
        peer.setsockopt(zmq.IDENTITY, name.encode())
        peer.setsockopt(zmq.LINGER, 0)
        peer.connect(coord.cfg["COORDINATOR"]["workers"])
        hello = {"v": 1, "type": "hello", "worker": name, "site": "x", "capacity": 4}
        if batched:
            hello["batched_acks"] = True
        peer.send(msgpack.packb(hello))
        wait_for(f"{name} to be up", lambda: any(
            w["id"] == name and w["state"] == "up" for w in env.http("GET", "/v1/workers")[1]))
        ids = env.queue_runs("quick", runs)
        acked, acks, jobs_with_acks = [], [], 0
        deadline = time.time() + 30
        while set(acked) != set(ids) and time.time() < deadline:
            if not peer.poll(200):
                continue
            msg = msgpack.unpackb(peer.recv())
            if msg["type"] == "job":
                jobs_with_acks += bool(msg.get("acks"))
                acked += msg.get("acks", [])
                now = int(time.time() * 1000)
                peer.send(msgpack.packb({"v": 1, "type": "accepted", "run": msg["run"],
                                         "ok": True}))
                peer.send(msgpack.packb({
                    "v": 1, "type": "result", "run": msg["run"], "attempt": msg["attempt"],
                    "tool": "quick", "worker": name, "site": "x", "status": "succeeded",
                    "exit_code": 0, "started_at": now, "finished_at": now}))
            elif msg["type"] == "result_ack":
                acks.append(msg)
                acked += [msg["run"]] + msg.get("runs", [])
        check_eq(sorted(acked), sorted(ids), f"{name}: every result acknowledged once")
        for run in ids:
            check_eq(env.http("GET", f"/v1/runs/{run}")[1]["status"], "succeeded",
                     f"{name}: run {run} recorded")
        peer.send(msgpack.packb({"v": 1, "type": "heartbeat", "stopping": True}))
        peer.close()
        return acks, jobs_with_acks

    acks, jobs_with_acks = serve("older", False, 4)
    check(len(acks) == 4 and not any("runs" in a for a in acks) and jobs_with_acks == 0,
          "an older worker: one result_ack per result", acks)
    acks, jobs_with_acks = serve("newer", True, 4)
    check(len(acks) + jobs_with_acks < 4, "a newer worker: fewer messages than results", acks)
    ctx.term()
    coord.stop_clean()


if __name__ == "__main__":
    main(globals())
