/*
 * test_docker: worker_docker against the machine's real dockerd.
 *
 * No mocks and no skipping: when Docker cannot be reached every test fails
 * and says so.  The tool images come from tests/fixtures/images/build.sh
 * (offline, busybox-static); the pull tests start their own docker-registry on
 * a free loopback port and stop it again.
 *
 * Invariants: everything this test makes carries its own nonce: containers the
 * label org.mao.test=<nonce> and the name mao-test-<nonce>-<n>, images the
 * repository mao-test/pull-<nonce>, files a temporary folder.  The last test
 * checks that no container is left; the group teardown removes whatever a
 * failed test left behind, the registry, and the folder.
 */
#include "worker_docker.h"
#include "mao_error.h"
#include "mao_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef FIXTURES_DIR
#error "build with -DFIXTURES_DIR=\"/path/to/tests/fixtures\""
#endif

#define S_IMAGE "mao-test/busybox:1"
#define S_TOOL "test_docker"
#define S_USER_ID 12345
#define S_USER "12345:12345"
#define S_TEST_LABEL "org.mao.test"

/* What the whole group shares. */
typedef struct {
    char nonce[64];          /* unique to this run: "<pid>-<time>" */
    char label[128];         /* "org.mao.test=<nonce>" */
    char tmp[256];           /* temporary folder, removed at the end */
    int counter;             /* numbers containers and folders */
    pid_t registry;          /* docker-registry started by a pull test; 0: none */
    char pushed[3][256];     /* image references a pull test made locally */
    worker_docker_t *docker; /* opened per test */
} s_ctx_t;

/* ---- helpers --------------------------------------------------------------- */

/* Runs a shell command, its output kept out of the test's.  Returns its exit status. */
static int s_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int s_sh(const char *fmt, ...)
{
    char cmd[4096];
    char quiet[4200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    snprintf(quiet, sizeof quiet, "( %s ) >/dev/null 2>&1", cmd);
    int status = system(quiet);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A free TCP port on loopback (free when asked; good enough for tests). */
static int s_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A new folder below the group's, owned by uid:gid; written into `out`. */
static void s_mkdir(s_ctx_t *ctx, char *out, size_t size, uid_t uid, gid_t gid)
{
    snprintf(out, size, "%s/d%d", ctx->tmp, ++ctx->counter);
    assert_int_equal(mkdir(out, 0755), 0);
    assert_int_equal(chown(out, uid, gid), 0);
}

/* A spec with the test's labels, run as S_USER, no mount. */
static void s_spec(s_ctx_t *ctx, worker_docker_spec_t *spec, worker_docker_label_t *label,
                   char *run_id, size_t run_size)
{
    worker_docker_spec_init(spec);
    snprintf(run_id, run_size, "run-%s-%d", ctx->nonce, ++ctx->counter);
    label->key = S_TEST_LABEL;
    label->value = ctx->nonce;
    spec->image = S_IMAGE;
    spec->run_id = run_id;
    spec->tool = S_TOOL;
    spec->labels = label;
    spec->label_count = 1;
    spec->user = S_USER;
}

/* A unique container name. */
static const char *s_name(s_ctx_t *ctx, char *out, size_t size)
{
    snprintf(out, size, "mao-test-%s-%d", ctx->nonce, ++ctx->counter);
    return out;
}

/* Creates, starts and waits (30 s) for a container; leaves it for the caller
 * to inspect and remove.  Asserts each step. */
static void s_run(s_ctx_t *ctx, const worker_docker_spec_t *spec, char id[65], long *exit_code)
{
    char name[128];
    int rc = worker_docker_create(ctx->docker, spec, s_name(ctx, name, sizeof name), id);
    if (rc < 0)
        fail_msg("create: %s", mao_error_last());
    if ((rc = worker_docker_start(ctx->docker, id)) < 0)
        fail_msg("start: %s", mao_error_last());
    if ((rc = worker_docker_wait(ctx->docker, id, 30, exit_code, NULL)) < 0)
        fail_msg("wait: %s", mao_error_last());
}

static char *s_read(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (mao_fs_read(path, 1 << 20, &text, &len) < 0)
        fail_msg("reading %s: %s", path, mao_error_last());
    return text;
}

/* Stops the registry a pull test started, if any. */
static void s_registry_stop(s_ctx_t *ctx)
{
    if (ctx->registry > 0) {
        kill(ctx->registry, SIGTERM);
        waitpid(ctx->registry, NULL, 0);
        ctx->registry = 0;
    }
}

/* Starts docker-registry on a free loopback port, storing in the group's
 * folder; returns the port once it answers. */
static int s_registry_start(s_ctx_t *ctx)
{
    char dir[300], cfg[320], log[320];
    int port = s_free_port();

    snprintf(dir, sizeof dir, "%s/registry", ctx->tmp);
    snprintf(cfg, sizeof cfg, "%s/config.yml", dir);
    snprintf(log, sizeof log, "%s/registry.log", dir);
    assert_int_equal(mao_fs_mkdirs(dir, 0755), 0);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "version: 0.1\n"
            "log:\n  level: warn\n"
            "storage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\n"
            "http:\n  addr: 127.0.0.1:%d\n",
            dir, port);
    fclose(f);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives a crashed test */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg, (char *)NULL);
        _exit(127);
    }
    ctx->registry = pid;
    for (int i = 0; i < 100; i++) {
        if (s_sh("curl -sf --max-time 1 http://127.0.0.1:%d/v2/", port) == 0)
            return port;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            ctx->registry = 0;
            fail_msg("docker-registry exited; see %s", log);
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("docker-registry did not answer on 127.0.0.1:%d", port);
    return -1;
}

/* ---- group and per-test set-up ------------------------------------------- */

static int s_group_setup(void **state)
{
    worker_docker_t *docker = NULL;
    if (worker_docker_open(&docker, NULL) < 0) {
        fprintf(stderr,
                "test_docker: Docker must run for these tests (start it with: "
                "dockerd --iptables=false): %s\n",
                mao_error_last());
        return -1;
    }
    worker_docker_destroy(&docker);

    s_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -1;
    snprintf(ctx->nonce, sizeof ctx->nonce, "%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(ctx->label, sizeof ctx->label, "%s=%s", S_TEST_LABEL, ctx->nonce);
    snprintf(ctx->tmp, sizeof ctx->tmp, "/tmp/mao-test-docker-XXXXXX");
    if (!mkdtemp(ctx->tmp)) {
        fprintf(stderr, "test_docker: mkdtemp: %s\n", strerror(errno));
        free(ctx);
        return -1;
    }
    chmod(ctx->tmp, 0755); /* the containers' user walks through it */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s/images/build.sh >/dev/null", FIXTURES_DIR);
    int status = system(cmd); /* its complaints stay on stderr */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "test_docker: %s/images/build.sh failed\n", FIXTURES_DIR);
        mao_fs_rmtree(ctx->tmp);
        free(ctx);
        return -1;
    }
    *state = ctx;
    return 0;
}

static int s_group_teardown(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_t *docker = NULL;
    char **ids = NULL;

    if (!ctx) /* the group setup failed and said why */
        return 0;
    s_registry_stop(ctx);
    if (worker_docker_open(&docker, NULL) == 0) {
        if (worker_docker_list(docker, ctx->label, &ids, NULL) == 0)
            for (char **p = ids; *p; p++)
                worker_docker_remove(docker, *p, 1);
        worker_docker_ids_free(&ids);
        for (size_t i = 0; i < sizeof ctx->pushed / sizeof ctx->pushed[0]; i++)
            if (ctx->pushed[i][0])
                worker_docker_image_remove(docker, ctx->pushed[i], 1);
        worker_docker_destroy(&docker);
    }
    mao_fs_rmtree(ctx->tmp);
    free(ctx);
    return 0;
}

static int s_setup(void **state)
{
    s_ctx_t *ctx = *state;
    if (worker_docker_open(&ctx->docker, NULL) < 0)
        fail_msg("Docker must run for these tests (start it with: dockerd --iptables=false): %s",
                 mao_error_last());
    return 0;
}

static int s_teardown(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_destroy(&ctx->docker);
    assert_null(ctx->docker);
    return 0;
}

/* ---- open ------------------------------------------------------------------ */

static void test_docker__open_version(void **state)
{
    s_ctx_t *ctx = *state;
    /* this daemon is 20.10, API 1.41; a newer one would be capped to 1.41 */
    assert_string_equal(worker_docker_api_version(ctx->docker), WORKER_DOCKER_API_MAX);
    assert_true(strlen(worker_docker_server_version(ctx->docker)) > 0);
    assert_int_equal(worker_docker_ping(ctx->docker), 0);

    worker_docker_destroy(NULL);
    worker_docker_t *none = NULL;
    worker_docker_destroy(&none);
    assert_int_equal(worker_docker_open(NULL, NULL), MAO_EINVAL);
}

static void test_docker__open_absent_socket(void **state)
{
    s_ctx_t *ctx = *state;
    char path[300];
    worker_docker_t *d = (worker_docker_t *)1;

    snprintf(path, sizeof path, "%s/absent.sock", ctx->tmp);
    assert_int_equal(worker_docker_open(&d, path), MAO_EUNAVAILABLE);
    assert_null(d);
    char want[400];
    snprintf(want, sizeof want, "cannot reach Docker at %s: No such file or directory", path);
    assert_string_equal(mao_error_last(), want);
}

static void test_docker__open_refused_socket(void **state)
{
    s_ctx_t *ctx = *state;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    worker_docker_t *d = NULL;

    /* bound but never listening: connect(2) is refused */
    snprintf(a.sun_path, sizeof a.sun_path, "%s/refuse.sock", ctx->tmp);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    int rc = worker_docker_open(&d, a.sun_path);
    close(fd);
    unlink(a.sun_path);
    assert_int_equal(rc, MAO_EUNAVAILABLE);
    assert_null(d);
    char want[400];
    snprintf(want, sizeof want, "cannot reach Docker at %s: Connection refused", a.sun_path);
    assert_string_equal(mao_error_last(), want);
}

/* ---- references and images ------------------------------------------------- */

static void test_docker__ref_split(void **state)
{
    static const struct {
        const char *ref, *repo, *tag;
    } good[] = {
        {"busybox", "busybox", "latest"},
        {"mao-test/busybox:1", "mao-test/busybox", "1"},
        {"127.0.0.1:5000/team/tool", "127.0.0.1:5000/team/tool", "latest"},
        {"127.0.0.1:5000/team/tool:v2.1", "127.0.0.1:5000/team/tool", "v2.1"},
        {"registry.example.org/tool@sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "registry.example.org/tool",
         "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        {"localhost:5000/tool:1@sha256:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "localhost:5000/tool",
         "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    };
    static const char *const bad[] = {
        "",
        "tool:",
        ":1",
        "/tool",
        "tool/",
        "a//b",
        "tool name",
        "tool;rm",
        "tool@sha256:12",
        "tool@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "tool@",
    };
    char repo[256], tag[256];

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(worker_docker_ref_split(good[i].ref, repo, sizeof repo, tag, sizeof tag),
                         0);
        assert_string_equal(repo, good[i].repo);
        assert_string_equal(tag, good[i].tag);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (worker_docker_ref_split(bad[i], repo, sizeof repo, tag, sizeof tag) != MAO_EINVAL)
            fail_msg("'%s' was accepted as repo '%s' tag '%s'", bad[i], repo, tag);
    }
    assert_int_equal(worker_docker_ref_split("mao-test/busybox:1", repo, 5, tag, sizeof tag),
                     MAO_EINVAL);
}

static void test_docker__image_inspect_present(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_image_t info;

    assert_int_equal(worker_docker_image_inspect(ctx->docker, S_IMAGE, &info), 0);
    assert_int_equal(strncmp(info.id, "sha256:", 7), 0);
    assert_int_equal(strlen(info.id), 7 + 64);
    assert_int_equal(worker_docker_image_inspect(ctx->docker, S_IMAGE, NULL), 0);
}

static void test_docker__image_inspect_absent(void **state)
{
    s_ctx_t *ctx = *state;
    char image[128];
    worker_docker_image_t info;

    snprintf(image, sizeof image, "mao-test/absent-%s:1", ctx->nonce);
    assert_int_equal(worker_docker_image_inspect(ctx->docker, image, &info), MAO_ENOTFOUND);
    assert_non_null(strstr(mao_error_last(), "No such image"));
    assert_string_equal(info.id, "");
    assert_int_equal(worker_docker_image_inspect(ctx->docker, "", &info), MAO_EINVAL);
}

/* ---- running --------------------------------------------------------------- */

static void test_docker__run_writes_file_as_user(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    worker_docker_state_t st;
    char run[128], dir[300], file[400], id[65];
    const char *const cmd[] = {"sh", "-c", "echo 42 > data/control-20260101.csv", NULL};
    struct stat sb;
    long code = -1;

    s_mkdir(ctx, dir, sizeof dir, S_USER_ID, S_USER_ID);
    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = cmd;
    spec.host_dir = dir;
    s_run(ctx, &spec, id, &code);
    assert_int_equal(code, 0);

    snprintf(file, sizeof file, "%s/control-20260101.csv", dir);
    char *text = s_read(file);
    assert_string_equal(text, "42\n");
    free(text);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_uid, S_USER_ID);
    assert_int_equal(sb.st_gid, S_USER_ID);

    assert_int_equal(worker_docker_inspect_state(ctx->docker, id, &st), 0);
    assert_string_equal(st.status, "exited");
    assert_int_equal(st.running, 0);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(st.oom_killed, 0);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
}

static void test_docker__default_command(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    char run[128], dir[300], id[65];
    long code = -1;

    /* no command: the image's CMD, a compliant tool writing control-<date>.csv */
    s_mkdir(ctx, dir, sizeof dir, S_USER_ID, S_USER_ID);
    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.host_dir = dir;
    s_run(ctx, &spec, id, &code);
    assert_int_equal(code, 0);
    assert_int_equal(s_sh("test -n \"$(find %s -name 'control-*.csv' -user %d)\"", dir, S_USER_ID),
                     0);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
}

static void test_docker__exit_code_nonzero(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    worker_docker_state_t st;
    char run[128], id[65];
    const char *const cmd[] = {"sh", "-c", "exit 3", NULL};
    long code = -1;
    int oom = -1;

    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = cmd;
    s_run(ctx, &spec, id, &code);
    assert_int_equal(code, 3);
    /* waiting again on an exited container answers at once, with the OOM flag too */
    assert_int_equal(worker_docker_wait(ctx->docker, id, 5, &code, &oom), 0);
    assert_int_equal(code, 3);
    assert_int_equal(oom, 0);
    assert_int_equal(worker_docker_inspect_state(ctx->docker, id, &st), 0);
    assert_int_equal(st.exit_code, 3);
    assert_string_equal(st.status, "exited");
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
}

static void test_docker__command_and_env(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    char run[128], dir[300], file[400], id[65];
    const char *const cmd[] = {
        "sh", "-c",        "echo \"$GREETING|$1|$2|$EMPTY|$(pwd)|$(id -u):$(id -g)\" > data/out",
        "sh", "two words", "it's \"quoted\" $HOME",
        NULL};
    const char *const env[] = {"GREETING=hello=world", "EMPTY=", NULL};
    long code = -1;

    s_mkdir(ctx, dir, sizeof dir, S_USER_ID, S_USER_ID);
    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = cmd;
    spec.env = env;
    spec.host_dir = dir;
    s_run(ctx, &spec, id, &code);
    assert_int_equal(code, 0);
    snprintf(file, sizeof file, "%s/out", dir);
    char *text = s_read(file);
    assert_string_equal(text,
                        "hello=world|two words|it's \"quoted\" $HOME||/usr/src/app|12345:12345\n");
    free(text);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
}

static void test_docker__wait_timeout_kill(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    worker_docker_state_t st;
    char run[128], name[128], id[65];
    const char *const cmd[] = {"sleep", "600", NULL};
    long code = -1;

    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = cmd;
    assert_int_equal(worker_docker_create(ctx->docker, &spec, s_name(ctx, name, sizeof name), id),
                     0);
    assert_int_equal(worker_docker_start(ctx->docker, id), 0);
    assert_int_equal(worker_docker_start(ctx->docker, id), 0); /* running already: fine */

    assert_int_equal(worker_docker_wait(ctx->docker, id, 1, &code, NULL), MAO_ETIMEOUT);
    assert_non_null(strstr(mao_error_last(), "no answer within 1 s"));
    assert_int_equal(worker_docker_inspect_state(ctx->docker, id, &st), 0);
    assert_string_equal(st.status, "running");
    assert_int_equal(st.running, 1);
    /* a running container is not removed without force */
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), MAO_ECONFLICT);

    /* by name as well as by id */
    assert_int_equal(worker_docker_kill(ctx->docker, name), 0);
    assert_int_equal(worker_docker_wait(ctx->docker, id, 30, &code, NULL), 0);
    assert_int_equal(code, 137);
    assert_int_equal(worker_docker_inspect_state(ctx->docker, id, &st), 0);
    assert_string_equal(st.status, "exited");
    assert_int_equal(st.exit_code, 137);
    assert_int_equal(worker_docker_kill(ctx->docker, id), 0); /* not running: fine */
    assert_int_equal(worker_docker_wait(ctx->docker, id, 0, &code, NULL), MAO_EINVAL);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
}

static void test_docker__oom_killed(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    char run[128], name[128], id[65];
    /* holds 64 MiB in a shell variable, against a limit of 16 MiB */
    const char *const cmd[] = {"sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a)", NULL};
    long code = -1;
    int oom = 0;

    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = cmd;
    spec.memory_bytes = 16 * 1024 * 1024;
    assert_int_equal(worker_docker_create(ctx->docker, &spec, s_name(ctx, name, sizeof name), id),
                     0);
    assert_int_equal(worker_docker_start(ctx->docker, id), 0);
    assert_int_equal(worker_docker_wait(ctx->docker, id, 60, &code, &oom), 0);
    assert_int_equal(code, 137);
    assert_int_equal(oom, 1);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
}

static void test_docker__logs_tail(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    char run[128], id[65];
    const char *const both[] = {"sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2",
                                NULL};
    /* 3000 numbered lines on stdout, more than one 16 KiB log chunk, then no newline */
    const char *const many[] = {
        "sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; printf end",
        NULL};
    char *out = NULL;
    long code = -1;

    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = both;
    s_run(ctx, &spec, id, &code);
    assert_int_equal(code, 0);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, id, 4096, &out), 0);
    /* the two streams are copied separately, so only each one's order is certain */
    char *o1 = strstr(out, "out1\n"), *o2 = strstr(out, "out2\n");
    char *e1 = strstr(out, "err1\n"), *e2 = strstr(out, "err2\n");
    assert_true(o1 && o2 && e1 && e2 && o1 < o2 && e1 < e2);
    assert_int_equal(strlen(out), 20);
    free(out);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, id, 0, &out), 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);

    /* what the tool wrote, to compare with */
    size_t cap = 3000 * 12 + 8, len = 0;
    char *want = malloc(cap);
    assert_non_null(want);
    for (int i = 0; i < 3000; i++)
        len += (size_t)snprintf(want + len, cap - len, "line-%d\n", i);
    len += (size_t)snprintf(want + len, cap - len, "end");

    spec.command = many;
    s_run(ctx, &spec, id, &code);
    assert_int_equal(code, 0);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, id, 100, &out), 0);
    assert_int_equal(strlen(out), 100);
    assert_string_equal(out, want + len - 100);
    free(out);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, id, 1, &out), 0);
    assert_string_equal(out, "d");
    free(out);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, id, 1 << 20, &out), 0);
    assert_string_equal(out, want);
    free(out);
    free(want);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, id, WORKER_DOCKER_MAX_LOGS + 1, &out),
                     MAO_EINVAL);
    assert_null(out);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, id, 100, &out), MAO_ENOTFOUND);
    assert_null(out);

    /* a TTY container (mao never makes one; the CLI can) logs without frame
     * headers, and its terminal turns "\n" into "\r\n" */
    char name[128];
    s_name(ctx, name, sizeof name);
    assert_int_equal(s_sh("docker create -t --name %s --label %s %s sh -c 'echo tty-out; "
                          "printf end'",
                          name, ctx->label, S_IMAGE),
                     0);
    assert_int_equal(worker_docker_start(ctx->docker, name), 0);
    assert_int_equal(worker_docker_wait(ctx->docker, name, 30, &code, NULL), 0);
    assert_int_equal(code, 0);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, name, 1024, &out), 0);
    assert_string_equal(out, "tty-out\r\nend");
    free(out);
    assert_int_equal(worker_docker_logs_tail(ctx->docker, name, 5, &out), 0);
    assert_string_equal(out, "\r\nend");
    free(out);
    assert_int_equal(worker_docker_remove(ctx->docker, name, 0), 0);
}

static void test_docker__remove_twice(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    worker_docker_state_t st;
    char run[128], name[128], id[65];

    s_spec(ctx, &spec, &label, run, sizeof run);
    assert_int_equal(worker_docker_create(ctx->docker, &spec, s_name(ctx, name, sizeof name), id),
                     0);
    assert_int_equal(worker_docker_inspect_state(ctx->docker, id, &st), 0);
    assert_string_equal(st.status, "created");
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 1), 0);
    assert_int_equal(worker_docker_inspect_state(ctx->docker, id, &st), MAO_ENOTFOUND);
    assert_non_null(strstr(mao_error_last(), "No such container"));
    assert_int_equal(worker_docker_start(ctx->docker, id), MAO_ENOTFOUND);
    assert_int_equal(worker_docker_kill(ctx->docker, id), MAO_ENOTFOUND);
    assert_int_equal(worker_docker_wait(ctx->docker, id, 5, NULL, NULL), MAO_ENOTFOUND);
}

static void test_docker__list_by_label(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    char run1[128], run2[128], filter[300], name[128], id1[65], id2[65];
    char **ids = NULL;
    size_t n = 99;

    s_spec(ctx, &spec, &label, run1, sizeof run1);
    assert_int_equal(worker_docker_create(ctx->docker, &spec, s_name(ctx, name, sizeof name), id1),
                     0);
    s_spec(ctx, &spec, &label, run2, sizeof run2);
    assert_int_equal(worker_docker_create(ctx->docker, &spec, s_name(ctx, name, sizeof name), id2),
                     0);

    snprintf(filter, sizeof filter, "%s=%s", WORKER_DOCKER_LABEL_RUN, run1);
    assert_int_equal(worker_docker_list(ctx->docker, filter, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], id1);
    assert_null(ids[1]);
    worker_docker_ids_free(&ids);
    assert_null(ids);

    assert_int_equal(worker_docker_list(ctx->docker, ctx->label, &ids, &n), 0);
    assert_int_equal(n, 2);
    assert_true((strcmp(ids[0], id1) == 0 && strcmp(ids[1], id2) == 0) ||
                (strcmp(ids[0], id2) == 0 && strcmp(ids[1], id1) == 0));
    worker_docker_ids_free(&ids);

    snprintf(filter, sizeof filter, "%s=%s&x=\"y\" z", S_TEST_LABEL, ctx->nonce);
    assert_int_equal(worker_docker_list(ctx->docker, filter, &ids, &n), 0);
    assert_int_equal(n, 0);
    assert_null(ids[0]);
    worker_docker_ids_free(&ids);
    assert_int_equal(worker_docker_list(ctx->docker, "", &ids, &n), MAO_EINVAL);
    assert_null(ids);

    assert_int_equal(worker_docker_remove(ctx->docker, id1, 0), 0);
    assert_int_equal(worker_docker_remove(ctx->docker, id2, 0), 0);
}

/* Asserts that the JSON array `a` holds exactly the one string `s`. */
static void s_assert_only(json_t *a, const char *s)
{
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(json_string_value(json_array_get(a, 0)), s);
}

static void test_docker__security_settings(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    char run[128], id[65];
    const char *const caps[] = {"CHOWN", NULL};
    /* as root inside, to see that only CHOWN (bit 0) is left and nothing else */
    const char *const cmd[] = {"sh", "-c",
                               "touch /x 2>/dev/null && exit 10; touch /tmp/y || exit 11; "
                               "grep -q 'NoNewPrivs:.*1' /proc/self/status || exit 12; "
                               "grep -q 'CapEff:.*0000000000000001' /proc/self/status || exit 13; "
                               "grep -q 'CapBnd:.*0000000000000001' /proc/self/status || exit 14; "
                               "ls /sys/class/net | grep -qv '^lo$' && exit 15; exit 0",
                               NULL};
    char *text = NULL;
    long code = -1;

    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = cmd;
    spec.user = "0:0";
    spec.cap_add = caps;
    spec.memory_bytes = 64 * 1024 * 1024;
    spec.nano_cpus = 500000000;
    spec.pids_limit = 64;
    spec.network_mode = "none";
    s_run(ctx, &spec, id, &code);
    assert_int_equal(code, 0);

    assert_int_equal(worker_docker_inspect_json(ctx->docker, id, &text), 0);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    json_t *host = json_object_get(j, "HostConfig");
    json_t *config = json_object_get(j, "Config");
    s_assert_only(json_object_get(host, "CapDrop"), "ALL");
    s_assert_only(json_object_get(host, "CapAdd"), "CHOWN");
    s_assert_only(json_object_get(host, "SecurityOpt"), "no-new-privileges");
    assert_true(json_is_true(json_object_get(host, "ReadonlyRootfs")));
    assert_true(json_is_false(json_object_get(host, "Privileged")));
    assert_int_equal(json_integer_value(json_object_get(host, "PidsLimit")), 64);
    assert_int_equal(json_integer_value(json_object_get(host, "Memory")), 64 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(host, "NanoCpus")), 500000000);
    assert_string_equal(json_string_value(json_object_get(host, "NetworkMode")), "none");
    assert_non_null(json_object_get(json_object_get(host, "Tmpfs"), "/tmp"));
    assert_string_equal(json_string_value(json_object_get(config, "WorkingDir")),
                        WORKER_DOCKER_WORKDIR);
    assert_string_equal(json_string_value(json_object_get(config, "User")), "0:0");
    json_t *labels = json_object_get(config, "Labels");
    assert_string_equal(json_string_value(json_object_get(labels, WORKER_DOCKER_LABEL_RUN)), run);
    assert_string_equal(json_string_value(json_object_get(labels, WORKER_DOCKER_LABEL_TOOL)),
                        S_TOOL);
    json_decref(j);
    free(text);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);
    assert_int_equal(worker_docker_inspect_json(ctx->docker, id, &text), MAO_ENOTFOUND);
    assert_null(text);
}

static void test_docker__create_refused(void **state)
{
    s_ctx_t *ctx = *state;
    worker_docker_spec_t spec;
    worker_docker_label_t label;
    char run[128], name[128], image[128], dir[300], id[65];
    const char *const badcap[] = {"NO_SUCH_CAP", NULL};
    const char *const nocmd[] = {"/no/such/program", NULL};

    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.run_id = NULL;
    assert_int_equal(worker_docker_create(ctx->docker, &spec, NULL, id), MAO_EINVAL);
    assert_string_equal(id, "");
    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.host_dir = "relative/dir";
    assert_int_equal(worker_docker_create(ctx->docker, &spec, NULL, id), MAO_EINVAL);

    s_spec(ctx, &spec, &label, run, sizeof run);
    snprintf(image, sizeof image, "mao-test/absent-%s:1", ctx->nonce);
    spec.image = image;
    assert_int_equal(worker_docker_create(ctx->docker, &spec, NULL, id), MAO_ENOTFOUND);
    assert_non_null(strstr(mao_error_last(), "No such image"));

    /* a bind source that does not exist is refused, not made by Docker as root */
    s_spec(ctx, &spec, &label, run, sizeof run);
    snprintf(dir, sizeof dir, "%s/absent", ctx->tmp);
    spec.host_dir = dir;
    assert_int_equal(worker_docker_create(ctx->docker, &spec, NULL, id), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "does not exist"));
    assert_int_equal(access(dir, F_OK), -1);

    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.cap_add = badcap;
    assert_int_equal(worker_docker_create(ctx->docker, &spec, NULL, id), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "unknown capability"));

    s_spec(ctx, &spec, &label, run, sizeof run);
    assert_int_equal(worker_docker_create(ctx->docker, &spec, s_name(ctx, name, sizeof name), id),
                     0);
    char id2[65];
    assert_int_equal(worker_docker_create(ctx->docker, &spec, name, id2), MAO_ECONFLICT);
    assert_non_null(strstr(mao_error_last(), "already in use"));
    assert_int_equal(worker_docker_remove(ctx->docker, id, 0), 0);

    /* a command that cannot run fails at start, with Docker's reason */
    s_spec(ctx, &spec, &label, run, sizeof run);
    spec.command = nocmd;
    assert_int_equal(worker_docker_create(ctx->docker, &spec, s_name(ctx, name, sizeof name), id),
                     0);
    assert_int_equal(worker_docker_start(ctx->docker, id), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "no such file or directory"));
    worker_docker_state_t st;
    assert_int_equal(worker_docker_inspect_state(ctx->docker, id, &st), 0);
    assert_string_equal(st.status, "created");
    assert_non_null(strstr(st.error, "no such file or directory"));
    long code = -1;
    assert_int_equal(worker_docker_wait(ctx->docker, id, 5, &code, NULL), MAO_EFAIL);
    assert_int_equal(code, 127);
    assert_int_equal(worker_docker_remove(ctx->docker, id, 1), 0);
}

/* ---- pulling --------------------------------------------------------------- */

static void test_docker__pull_from_registry(void **state)
{
    s_ctx_t *ctx = *state;
    char ctxdir[300], repo[256], image[300], by_digest[600], missing[300];
    worker_docker_image_t info;

    int port = s_registry_start(ctx);

    /* an image of our own, with a layer nobody else has, pushed and then
     * deleted here, so that the pull must really fetch it */
    snprintf(ctxdir, sizeof ctxdir, "%s/pull-image", ctx->tmp);
    assert_int_equal(mao_fs_mkdirs(ctxdir, 0755), 0);
    assert_int_equal(s_sh("cd %s && echo %s > nonce && printf 'FROM %s\\nCOPY nonce /nonce\\n' "
                          "> Dockerfile",
                          ctxdir, ctx->nonce, S_IMAGE),
                     0);
    snprintf(repo, sizeof repo, "127.0.0.1:%d/mao-test/pull-%s", port, ctx->nonce);
    snprintf(image, sizeof image, "%s:1", repo);
    snprintf(ctx->pushed[0], sizeof ctx->pushed[0], "%s", image);
    assert_int_equal(
        s_sh("DOCKER_BUILDKIT=0 docker build --label %s -t %s %s", ctx->label, image, ctxdir), 0);
    assert_int_equal(s_sh("docker push %s", image), 0);
    assert_int_equal(worker_docker_image_remove(ctx->docker, image, 0), 0);
    assert_int_equal(worker_docker_image_inspect(ctx->docker, image, NULL), MAO_ENOTFOUND);

    if (worker_docker_image_pull(ctx->docker, image, 60) < 0)
        fail_msg("pull %s: %s", image, mao_error_last());
    assert_int_equal(worker_docker_image_inspect(ctx->docker, image, &info), 0);
    assert_int_equal(strncmp(info.digest, repo, strlen(repo)), 0);
    assert_int_equal(strncmp(info.digest + strlen(repo), "@sha256:", 8), 0);
    /* pulling what is present is a quick no-op */
    assert_int_equal(worker_docker_image_pull(ctx->docker, image, 60), 0);

    /* by digest: drop the image, fetch it back by what the registry calls it */
    snprintf(by_digest, sizeof by_digest, "%s", info.digest);
    snprintf(ctx->pushed[1], sizeof ctx->pushed[1], "%s", by_digest);
    assert_int_equal(worker_docker_image_remove(ctx->docker, image, 0), 0);
    assert_int_equal(worker_docker_image_inspect(ctx->docker, by_digest, NULL), MAO_ENOTFOUND);
    if (worker_docker_image_pull(ctx->docker, by_digest, 60) < 0)
        fail_msg("pull %s: %s", by_digest, mao_error_last());
    assert_int_equal(worker_docker_image_inspect(ctx->docker, by_digest, &info), 0);
    assert_string_equal(info.digest, by_digest);
    assert_int_equal(worker_docker_image_remove(ctx->docker, by_digest, 0), 0);
    assert_int_equal(worker_docker_image_inspect(ctx->docker, by_digest, NULL), MAO_ENOTFOUND);
    assert_int_equal(worker_docker_image_remove(ctx->docker, by_digest, 0), 0); /* gone: fine */

    /* the registry up, the image not in it */
    snprintf(missing, sizeof missing, "127.0.0.1:%d/mao-test/absent-%s:1", port, ctx->nonce);
    assert_int_equal(worker_docker_image_pull(ctx->docker, missing, 60), MAO_ENOTFOUND);
    assert_non_null(strstr(mao_error_last(), "manifest unknown"));
    snprintf(missing, sizeof missing, "%s:2", repo);
    assert_int_equal(worker_docker_image_pull(ctx->docker, missing, 60), MAO_ENOTFOUND);
    assert_int_equal(worker_docker_image_pull(ctx->docker, "Bad Name", 60), MAO_EINVAL);
    assert_int_equal(worker_docker_image_pull(ctx->docker, image, 0), MAO_EINVAL);

    s_registry_stop(ctx);
    /* the registry gone: its port refuses */
    assert_int_equal(worker_docker_image_pull(ctx->docker, image, 60), MAO_EUNAVAILABLE);
    assert_non_null(strstr(mao_error_last(), "connection refused"));
    ctx->pushed[0][0] = ctx->pushed[1][0] = '\0';
}

static void test_docker__pull_unreachable(void **state)
{
    s_ctx_t *ctx = *state;
    char image[128];

    snprintf(image, sizeof image, "127.0.0.1:%d/mao-test/nothing:1", s_free_port());
    assert_int_equal(worker_docker_image_pull(ctx->docker, image, 60), MAO_EUNAVAILABLE);
    assert_non_null(strstr(mao_error_last(), "connection refused"));
}

static void test_docker__pull_timeout(void **state)
{
    s_ctx_t *ctx = *state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    char image[128];

    /* a "registry" that accepts connections and never says a word */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(listen(fd, 16), 0);
    snprintf(image, sizeof image, "127.0.0.1:%d/mao-test/silent:1", ntohs(a.sin_port));
    int rc = worker_docker_image_pull(ctx->docker, image, 2);
    close(fd);
    assert_int_equal(rc, MAO_ETIMEOUT);
    assert_non_null(strstr(mao_error_last(), "no answer within 2 s"));
    /* the handle goes on working after an aborted call */
    assert_int_equal(worker_docker_ping(ctx->docker), 0);
}

/* ---- last ------------------------------------------------------------------ */

static void test_docker__nothing_left_behind(void **state)
{
    s_ctx_t *ctx = *state;
    char **ids = NULL;
    size_t n = 99;

    assert_int_equal(worker_docker_list(ctx->docker, ctx->label, &ids, &n), 0);
    assert_int_equal(n, 0);
    worker_docker_ids_free(&ids);
    for (size_t i = 0; i < sizeof ctx->pushed / sizeof ctx->pushed[0]; i++)
        assert_string_equal(ctx->pushed[i], "");
    assert_int_equal(ctx->registry, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_docker__open_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__open_absent_socket, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__open_refused_socket, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__ref_split, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__image_inspect_present, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__image_inspect_absent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__run_writes_file_as_user, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__default_command, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__exit_code_nonzero, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__command_and_env, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__wait_timeout_kill, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__oom_killed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__logs_tail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__remove_twice, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__list_by_label, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__security_settings, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__create_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__pull_from_registry, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__pull_unreachable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__pull_timeout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_docker__nothing_left_behind, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("test_docker", tests, s_group_setup, s_group_teardown);
}
