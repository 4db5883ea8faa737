/*
 * worker_docker: a small client of the Docker Engine API over its unix socket.
 *
 * The worker runs each tool in a container: make sure the image is present
 * (inspect, else pull), create the container with the tool's dataset folder
 * bound at /usr/src/app/data and every restriction set, start it, wait with a
 * timeout (kill when it passes), keep the tail of its log, remove it.
 *
 * One worker_docker_t is one libcurl handle speaking HTTP/1.1 to dockerd; its
 * connection is kept alive between calls.  A handle is used by one thread at
 * a time (it is not locked); opening one is cheap (two small requests on one
 * connection), so each job thread opens its own.
 *
 * Every call is bounded in time: WORKER_DOCKER_CONNECT_MS to connect, then
 * WORKER_DOCKER_CALL_MS for the answer, except wait and pull, which take the
 * caller's timeout.  JSON replies are bounded to WORKER_DOCKER_MAX_JSON bytes.
 * Every caller-given text put into a URL is percent-encoded.
 *
 * Errors: 0 on success, else a negative code with a one-line detail in
 * mao_error_last(), e.g. "docker: start 3f2a1b9c0d4e: <Docker's message> (HTTP 404)":
 *   MAO_EUNAVAILABLE  dockerd cannot be reached ("cannot reach Docker at PATH: ..."),
 *                     or, for a pull, the registry cannot be reached
 *   MAO_ETIMEOUT      no complete answer in time
 *   MAO_ENOTFOUND     HTTP 404: no such container or image
 *   MAO_ECONFLICT     HTTP 409: e.g. a container of that name exists already
 *   MAO_EINVAL        refused before any request, or HTTP 400 (Docker refused
 *                     an argument, e.g. an unknown capability)
 *   MAO_EMALFORMED    a reply is not what the API promises, or too large
 *   MAO_ENOMEM        out of memory
 *   MAO_EFAIL         HTTP 5xx or anything else, with Docker's message
 */
#ifndef WORKER_DOCKER_H
#define WORKER_DOCKER_H

#include <stddef.h>
#include <stdint.h>

#define WORKER_DOCKER_SOCKET "/var/run/docker.sock" /* used when open gets NULL */
#define WORKER_DOCKER_API_MAX "1.41"                /* newest API version spoken */
#define WORKER_DOCKER_API_MIN "1.30"                /* wait?condition= needs it */
#define WORKER_DOCKER_CONNECT_MS 5000L              /* bound on connecting */
#define WORKER_DOCKER_CALL_MS 30000L                /* bound on one ordinary call */
#define WORKER_DOCKER_MAX_JSON (8u * 1024 * 1024)   /* bound on one JSON reply */
#define WORKER_DOCKER_MAX_LOGS (64u * 1024 * 1024)  /* bound on a log tail */

#define WORKER_DOCKER_LABEL_RUN "org.mao.run"   /* label: the run id */
#define WORKER_DOCKER_LABEL_TOOL "org.mao.tool" /* label: the tool name */
#define WORKER_DOCKER_WORKDIR "/usr/src/app"    /* every tool's working dir */
#define WORKER_DOCKER_DATA_DIR "/usr/src/app/data"

/* Defaults set by worker_docker_spec_init(). */
#define WORKER_DOCKER_DEFAULT_MEMORY (1024LL * 1024 * 1024) /* 1 GiB, no swap on top */
#define WORKER_DOCKER_DEFAULT_NANO_CPUS 1000000000LL        /* one CPU */
#define WORKER_DOCKER_DEFAULT_PIDS 256LL
#define WORKER_DOCKER_DEFAULT_TMPFS (64LL * 1024 * 1024) /* /tmp when the root is read-only */

typedef struct worker_docker_t worker_docker_t;

/* One container label. */
typedef struct {
    const char *key;
    const char *value;
} worker_docker_label_t;

/* What to run and under which restrictions.  Borrowed: create copies what it
 * needs, the caller keeps ownership of every string.  Start from
 * worker_docker_spec_init(); a zero in a limit means "no limit". */
typedef struct {
    const char *image;                   /* required: reference, e.g. "mao-test/busybox:1" */
    const char *const *command;          /* argv, NULL-terminated; NULL: the image's CMD */
    const char *const *env;              /* "K=V" strings, NULL-terminated; NULL: none */
    const char *host_dir;                /* absolute folder bound read-write; NULL: no mount.
                                            It must exist (it is never created as root) */
    const char *container_dir;           /* where host_dir appears; NULL: WORKER_DOCKER_DATA_DIR */
    const char *user;                    /* "uid:gid" the tool runs as, so its files belong
                                            to that user; NULL: this process's uid:gid */
    const char *run_id;                  /* required: label org.mao.run */
    const char *tool;                    /* required: label org.mao.tool */
    const worker_docker_label_t *labels; /* more labels (e.g. org.mao.worker); may be NULL */
    size_t label_count;
    int64_t memory_bytes;       /* hard memory limit, swap not allowed on top; 0: none */
    int64_t nano_cpus;          /* CPU quota in 1e-9 CPUs; 0: none */
    int64_t pids_limit;         /* processes and threads at once; 0: none */
    int readonly_rootfs;        /* root filesystem read-only, with a tmpfs at /tmp */
    int64_t tmpfs_bytes;        /* size of that /tmp; 0: WORKER_DOCKER_DEFAULT_TMPFS */
    const char *network_mode;   /* "none", "bridge", "host" or a network; NULL: "bridge" */
    const char *const *cap_add; /* capabilities kept ("CHOWN", ...), NULL-terminated;
                                   every other one is dropped; NULL: none kept */
} worker_docker_spec_t;

/* What inspecting an image tells. */
typedef struct {
    char id[80];      /* "sha256:<64 hex>", the local image ID */
    char digest[512]; /* first RepoDigest ("repo@sha256:..."), "" when none
                         (an image built here and never pushed or pulled) */
} worker_docker_image_t;

/* A container's state, from inspect. */
typedef struct {
    char status[16]; /* "created", "running", "paused", "restarting", "removing",
                        "exited" or "dead" */
    int running;     /* 1 while running */
    long exit_code;  /* meaningful once exited; 137 after a kill */
    int oom_killed;  /* 1 when the kernel killed it for memory */
    char error[256]; /* Docker's own error (e.g. why start failed), usually "" */
} worker_docker_state_t;

/* Connects to dockerd at `socket_path` (NULL: WORKER_DOCKER_SOCKET): checks
 * /_ping, reads /version and speaks the daemon's API version capped at
 * WORKER_DOCKER_API_MAX.  On success *out is a new handle owned by the caller
 * (worker_docker_destroy).  Returns 0; MAO_EUNAVAILABLE when the socket is
 * absent or refuses ("cannot reach Docker at PATH: ..."); MAO_ETIMEOUT;
 * MAO_EFAIL when the daemon's API is older than WORKER_DOCKER_API_MIN;
 * MAO_EMALFORMED; MAO_EINVAL (out NULL); MAO_ENOMEM.  *out is NULL on failure. */
int worker_docker_open(worker_docker_t **out, const char *socket_path);

/* Closes the handle; accepts NULL and sets *self_p to NULL. */
void worker_docker_destroy(worker_docker_t **self_p);

/* The API version used in URLs, e.g. "1.41"; owned by the handle. */
const char *worker_docker_api_version(worker_docker_t *self);

/* dockerd's own version, e.g. "20.10.24+dfsg1"; owned by the handle. */
const char *worker_docker_server_version(worker_docker_t *self);

/* Asks /_ping.  Returns 0, MAO_EUNAVAILABLE, MAO_ETIMEOUT or MAO_EFAIL. */
int worker_docker_ping(worker_docker_t *self);

/* Splits an image reference into what POST /images/create takes: `repo`
 * (registry host with port, and path: "127.0.0.1:5000/team/tool") and `tag`
 * (the tag, "latest" when none, or the digest "sha256:..." when the reference
 * has "@sha256:..."; a digest wins over a tag).  Writes NUL-terminated text into
 * the caller's buffers.  Returns 0, or MAO_EINVAL (empty, characters outside a
 * reference's alphabet, an empty part, a bad digest, or a buffer too small). */
int worker_docker_ref_split(const char *ref, char *repo, size_t repo_size, char *tag,
                            size_t tag_size);

/* Looks the image up locally.  `info` may be NULL (only asks "is it here?").
 * Returns 0 (info filled), MAO_ENOTFOUND when the image is not present, or a
 * code from the list at the top. */
int worker_docker_image_inspect(worker_docker_t *self, const char *image,
                                worker_docker_image_t *info);

/* Pulls the image, reading Docker's streamed progress line by line; gives up
 * after `timeout_s` (> 0) seconds, which also cancels the pull in dockerd.
 * Returns 0; MAO_ENOTFOUND when no reachable registry has it ("manifest
 * unknown", "repository does not exist", ...); MAO_EUNAVAILABLE when the
 * registry cannot be reached ("connection refused", "no such host", ...);
 * MAO_ETIMEOUT; MAO_EINVAL for a bad reference or timeout; MAO_EFAIL for any
 * other failure the stream reports (e.g. "unauthorized"), with its message. */
int worker_docker_image_pull(worker_docker_t *self, const char *image, long timeout_s);

/* Removes a local image (the tag; the image too when no other tag holds it);
 * `force` also when containers use it.  An image already gone is success.
 * Returns 0, MAO_ECONFLICT when in use (and not forced), or a code above. */
int worker_docker_image_remove(worker_docker_t *self, const char *image, int force);

/* Fills `spec` with the defaults: no command, env, mount or labels; the
 * process's uid:gid; WORKER_DOCKER_DEFAULT_* limits; a read-only root with a
 * tmpfs /tmp; network "bridge"; no capabilities kept. */
void worker_docker_spec_init(worker_docker_spec_t *spec);

/* Creates (does not start) a container from `spec`, named `name` (NULL: Docker
 * picks one).  Always set, whatever the spec says: CapDrop ALL (then CapAdd the
 * spec's allow-list), SecurityOpt no-new-privileges, Privileged false, working
 * dir WORKER_DOCKER_WORKDIR, no TTY, no stdin, the labels org.mao.run and
 * org.mao.tool.  Writes the new container's 64-hex id, NUL-terminated, into
 * `id`.  Docker's warnings (e.g. a limit this kernel cannot apply) are logged.
 * Returns 0; MAO_EINVAL (spec incomplete, or Docker refused it: HTTP 400);
 * MAO_ENOTFOUND (no such image: pull first); MAO_ECONFLICT (the name is taken);
 * or a code above. */
int worker_docker_create(worker_docker_t *self, const worker_docker_spec_t *spec, const char *name,
                         char id[65]);

/* Starts a created container (`id`: an id or a name).  Returns 0 (also when it
 * was running already); MAO_ENOTFOUND (no such container, or no such network);
 * MAO_EINVAL when the command cannot be executed (Docker answers HTTP 400 with
 * runc's reason; the container stays, "created", for the caller to remove); or
 * a code above. */
int worker_docker_start(worker_docker_t *self, const char *id);

/* Waits until a started container is no longer running, at most `timeout_s`
 * (> 0) seconds.  Fills *exit_code and *oom_killed when not NULL (the latter
 * costs one inspect).  Returns 0; MAO_ETIMEOUT when it still runs after the
 * timeout (the caller then kills it, and may wait again); MAO_EFAIL with
 * Docker's reason when the container never ran (*exit_code is still filled:
 * 127 for a command not found); MAO_ENOTFOUND; MAO_EINVAL; or a code above.
 * Call it after start: a created container that never ran counts as "not
 * running" at once. */
int worker_docker_wait(worker_docker_t *self, const char *id, long timeout_s, long *exit_code,
                       int *oom_killed);

/* Sends SIGKILL.  Returns 0 (also when it was not running any more),
 * MAO_ENOTFOUND, or a code above. */
int worker_docker_kill(worker_docker_t *self, const char *id);

/* Reads the container's state into `state`.  Returns 0, MAO_ENOTFOUND, or a
 * code above. */
int worker_docker_inspect_state(worker_docker_t *self, const char *id,
                                worker_docker_state_t *state);

/* The whole inspect JSON of a container, as Docker sent it, in a new
 * NUL-terminated string owned by the caller (free).  Returns 0, MAO_ENOTFOUND,
 * or a code above; *out is NULL on failure. */
int worker_docker_inspect_json(worker_docker_t *self, const char *id, char **out);

/* The last `max_bytes` (at most WORKER_DOCKER_MAX_LOGS) of the container's
 * stdout and stderr, in the order Docker logged them (each stream's own order
 * is kept; between the two it is only close), frame headers removed, bytes
 * kept as Docker gives them (not necessarily valid UTF-8; a NUL byte stays, so
 * strlen may stop early; note the json-file log driver itself already turned
 * invalid UTF-8 into U+FFFD).  *out is a new NUL-terminated string owned by the
 * caller (free); "" when max_bytes is 0 or the log is empty.  Returns 0,
 * MAO_ENOTFOUND, MAO_EINVAL (max_bytes too large), MAO_EMALFORMED (a bad frame
 * header), or a code above; *out is NULL on failure. */
int worker_docker_logs_tail(worker_docker_t *self, const char *id, size_t max_bytes, char **out);

/* Removes the container and its anonymous volumes; `force` kills it first when
 * running.  A container already gone is success.  Returns 0, MAO_ECONFLICT
 * (running and not forced, or being removed already), or a code above. */
int worker_docker_remove(worker_docker_t *self, const char *id, int force);

/* Finds every container, running or not, carrying `label`: "key" (any value)
 * or "key=value".  *ids is a new NULL-terminated array of 64-hex ids owned by
 * the caller (worker_docker_ids_free); *count its length (count may be NULL).
 * Returns 0 (also when none match: an empty array), or a code above; *ids is
 * NULL on failure. */
int worker_docker_list(worker_docker_t *self, const char *label, char ***ids, size_t *count);

/* Frees an array from worker_docker_list; accepts NULL and sets *ids_p to NULL. */
void worker_docker_ids_free(char ***ids_p);

#endif
