/*
 * worker_job: the blocking steps of one run, in a thread of its own.
 *
 * Every step that can fail fills `status` and `reason` and jumps to the end:
 * the container is always removed, the result is always written to the spool
 * before the reactor hears of it, so a crash after this point loses nothing.
 */
#include "worker_job.h"
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_git.h"
#include "mao_log.h"
#include "mao_msg.h"
#include "mao_spike.h"
#include "worker_docker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_LOG_TAIL 16384 /* bytes of the container's log kept in the result */
#define S_WAIT_SLICE 2   /* seconds per wait, so a cancel is seen within that */
#define S_WATCHED_MAX 256 /* data folders a site keeps watched for the detector */
#define S_WATCH_RETRY_MS 60000 /* a watch set that could not be made is tried again after */

worker_job_t *worker_job_new(const char *run, long attempt, mao_tool_t *tool,
                             const worker_site_t *site)
{
    worker_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    snprintf(job->run, sizeof job->run, "%s", run);
    job->attempt = attempt;
    job->tool = *tool;
    memset(tool, 0, sizeof *tool);
    job->site = site;
    atomic_init(&job->cancel, 0);
    return job;
}

void worker_job_cancel(worker_job_t *job, const char *reason)
{
    if (atomic_load(&job->cancel))
        return;
    snprintf(job->cancel_reason, sizeof job->cancel_reason, "%s", reason);
    atomic_store(&job->cancel, 1);
}

int worker_job_spool_path(char *out, size_t size, const worker_site_t *site, const char *run)
{
    int n = snprintf(out, size, "%s/%s.json", site->spool, run);
    return n < 0 || (size_t)n >= size ? MAO_EINVAL : 0;
}

static json_t *s_base_result(const worker_site_t *site, const char *run, long attempt,
                             const char *tool)
{
    json_t *msg = mao_msg_new("result");
    if (!msg)
        return NULL;
    json_object_set_new(msg, "run", json_string(run));
    json_object_set_new(msg, "attempt", json_integer(attempt));
    json_object_set_new(msg, "tool", json_string(tool));
    json_object_set_new(msg, "worker", json_string(site->worker_id));
    json_object_set_new(msg, "site", json_string(site->site));
    return msg;
}

#define S_SPARE_PREFIX ".spare-"

static void s_spare_path(char *out, size_t size, const worker_site_t *site, int n)
{
    snprintf(out, size, "%s/" S_SPARE_PREFIX "%d", site->spool, n);
}

/* The result goes to the spool before it is sent: into a spare file when
 * there is one, else into a new file. */
static int s_spool(const worker_site_t *site, const char *run, json_t *result)
{
    worker_site_t *shared = (worker_site_t *)site; /* only the spares change */
    char path[4200], spare[4200];
    if (worker_job_spool_path(path, sizeof path, site, run) < 0)
        return MAO_EINVAL;
    char *text = json_dumps(result, JSON_COMPACT);
    if (!text)
        return MAO_ENOMEM;
    int n = -1, rc = MAO_ENOTFOUND;
    pthread_mutex_lock(&shared->spool_lock);
    if (shared->nspares > 0)
        n = shared->spares[--shared->nspares];
    pthread_mutex_unlock(&shared->spool_lock);
    if (n >= 0) {
        s_spare_path(spare, sizeof spare, site, n);
        if ((rc = mao_fs_write_into(spare, path, text, strlen(text))) < 0 && rc != MAO_ENOTFOUND)
            unlink(spare);
    }
    if (rc < 0)
        rc = mao_fs_write_replace(path, text, strlen(text), 0600);
    free(text);
    if (rc < 0)
        mao_log_error("job", "spool.failed run=%s detail=\"%s\"", run, mao_error_last());
    return rc;
}

int worker_job_spool_done(worker_site_t *site, const char *run)
{
    char path[4200], spare[4200];
    if (worker_job_spool_path(path, sizeof path, site, run) < 0)
        return 0;
    pthread_mutex_lock(&site->spool_lock);
    int room = site->nspares < (int)(sizeof site->spares / sizeof site->spares[0]);
    int n = room ? site->spare_next++ : -1;
    pthread_mutex_unlock(&site->spool_lock);
    if (n < 0)
        return unlink(path) == 0;
    s_spare_path(spare, sizeof spare, site, n);
    if (rename(path, spare) < 0)
        return 0;
    pthread_mutex_lock(&site->spool_lock);
    room = site->nspares < (int)(sizeof site->spares / sizeof site->spares[0]);
    if (room)
        site->spares[site->nspares++] = n;
    pthread_mutex_unlock(&site->spool_lock);
    if (!room)
        unlink(spare);
    return 1;
}

void worker_job_spool_sweep(worker_site_t *site)
{
    DIR *dir = opendir(site->spool);
    if (!dir)
        return;
    struct dirent *ent;
    char path[4200];
    while ((ent = readdir(dir)))
        if (strncmp(ent->d_name, S_SPARE_PREFIX, strlen(S_SPARE_PREFIX)) == 0) {
            snprintf(path, sizeof path, "%s/%s", site->spool, ent->d_name);
            unlink(path);
        }
    closedir(dir);
}

json_t *worker_job_refused(const worker_site_t *site, const char *run, long attempt,
                           const char *tool, const char *reason)
{
    json_t *result = s_base_result(site, run, attempt, tool ? tool : "");
    if (!result)
        return NULL;
    int64_t now = mao_now_ms();
    json_object_set_new(result, "status", json_string("failed"));
    json_object_set_new(result, "reason", json_string(reason));
    json_object_set_new(result, "started_at", json_integer(now));
    json_object_set_new(result, "finished_at", json_integer(now));
    s_spool(site, run, result);
    return result;
}

/* The outcome of the steps, gathered as they go. */
typedef struct {
    const char *status;     /* "succeeded", "failed", "timed_out" */
    const char *failure;    /* "infrastructure" (retried by schedules) or "tool" (not) */
    char reason[1024];      /* why it failed; "" when it did not */
    long exit_code;         /* -1 when the container never ran */
    char image_digest[600];
    char *log_tail;         /* owned */
    json_t *report;         /* the spike report, when the tool ran */
} s_outcome_t;

static void s_fail(s_outcome_t *o, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_fail(s_outcome_t *o, const char *status, const char *fmt, ...)
{
    va_list ap;
    o->status = status;
    o->failure = "tool";
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, ap);
    va_end(ap);
}

/* An opened Docker handle: an idle one from the site's pool, else a new one.
 * Opening costs a ping and a version request, so handles are kept. */
static int s_docker_borrow(worker_docker_t **out, worker_site_t *site)
{
    *out = NULL;
    pthread_mutex_lock(&site->docker_lock);
    if (site->docker_idle > 0)
        *out = site->docker_pool[--site->docker_idle];
    pthread_mutex_unlock(&site->docker_lock);
    if (*out)
        return 0;
    return worker_docker_open(out, site->docker);
}

static void s_docker_return(worker_site_t *site, worker_docker_t **docker, int healthy)
{
    if (!*docker)
        return;
    pthread_mutex_lock(&site->docker_lock);
    if (healthy && site->docker_idle < (int)(sizeof site->docker_pool / sizeof site->docker_pool[0])) {
        site->docker_pool[site->docker_idle++] = *docker;
        *docker = NULL;
    }
    pthread_mutex_unlock(&site->docker_lock);
    worker_docker_destroy(docker);
}

void worker_site_close(worker_site_t *site)
{
    pthread_mutex_lock(&site->docker_lock);
    while (site->docker_idle > 0)
        worker_docker_destroy(&site->docker_pool[--site->docker_idle]);
    pthread_mutex_unlock(&site->docker_lock);
    pthread_mutex_lock(&site->watch_lock);
    mao_spike_watches_destroy(&site->watches);
    pthread_mutex_unlock(&site->watch_lock);
}

/* A failure of what surrounds the tool (image, dataset, Docker): a schedule
 * retries those. */
static void s_infra(s_outcome_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_infra(s_outcome_t *o, const char *fmt, ...)
{
    va_list ap;
    o->status = "failed";
    o->failure = "infrastructure";
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, ap);
    va_end(ap);
}

/* Step 1: the image is here, or pulled. */
static int s_image(worker_job_t *job, worker_docker_t *docker, s_outcome_t *o)
{
    worker_docker_image_t info;
    const char *image = job->tool.image;
    int rc = worker_docker_image_inspect(docker, image, &info);
    if (rc == MAO_ENOTFOUND) {
        mao_log_info("job", "image.pull run=%s image=%s", job->run, image);
        rc = worker_docker_image_pull(docker, image, job->site->pull_timeout_s);
        if (rc == 0)
            rc = worker_docker_image_inspect(docker, image, &info);
    }
    if (rc < 0) {
        s_infra(o, "image %s: %s", image, mao_error_last());
        return rc;
    }
    snprintf(o->image_digest, sizeof o->image_digest, "%s", info.digest[0] ? info.digest : info.id);
    return 0;
}

/* Step 2: the dataset is cloned at <importdir>/<tool>. */
static int s_dataset(worker_job_t *job, const char *datadir, s_outcome_t *o)
{
    const worker_site_t *site = job->site;
    int rc = 0;
    char head[4300];
    struct stat st;
    /* A clone of ours has .git/HEAD: one stat instead of opening the
     * repository on every run. */
    snprintf(head, sizeof head, "%s/.git/HEAD", datadir);
    if (stat(head, &st) == 0 && S_ISREG(st.st_mode))
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&site->clone_lock);
    if (!mao_git_is_repo(datadir)) {
        if ((rc = mao_fs_mkdirs(site->importdir, 0755)) == 0) {
            mao_log_info("job", "dataset.clone run=%s url=%s dir=%s", job->run,
                         job->tool.data_repo, datadir);
            mao_git_opts_t opts = {.allow_local = site->allow_local,
                                   .timeout_s = site->clone_timeout_s};
            rc = mao_git_clone(job->tool.data_repo, datadir, &opts);
        }
        if (rc < 0)
            s_infra(o, "dataset: %s", mao_error_last());
    }
    pthread_mutex_unlock((pthread_mutex_t *)&site->clone_lock);
    return rc;
}

/* The smaller of two limits where 0 means none. */
static long long s_lower(long long site, long long tool)
{
    if (tool <= 0)
        return site;
    if (site <= 0)
        return tool;
    return tool < site ? tool : site;
}

/* Steps 3 to 5: run the container, wait, keep the log tail, remove it. */
static void s_container(worker_job_t *job, worker_docker_t *docker, const char *datadir,
                        s_outcome_t *o)
{
    const worker_site_t *site = job->site;
    worker_docker_spec_t spec;
    char id[65] = "";
    char name[96];
    char attempt[24];
    int rc;

    worker_docker_spec_init(&spec);
    snprintf(attempt, sizeof attempt, "%ld", job->attempt);
    worker_docker_label_t labels[] = {{"org.mao.worker", site->worker_id},
                                      {"org.mao.site", site->site},
                                      {"org.mao.attempt", attempt}};
    spec.image = job->tool.image;
    spec.command = (const char *const *)job->tool.command;
    spec.env = (const char *const *)job->tool.env;
    spec.host_dir = datadir;
    spec.user = site->user;
    spec.run_id = job->run;
    spec.tool = job->tool.name;
    spec.labels = labels;
    spec.label_count = sizeof labels / sizeof labels[0];
    /* A tool may ask for less than the site's limits, never for more. */
    const mao_limits_t *want = &job->tool.limits;
    spec.memory_bytes = s_lower(site->memory_bytes, want->memory_bytes);
    spec.nano_cpus = s_lower(site->nano_cpus, want->nano_cpus);
    spec.pids_limit = s_lower(site->pids, want->pids);
    spec.network_mode = site->network;
    spec.readonly_rootfs = !want->writable_root;
    for (size_t i = 0; i < want->capabilities_len; i++) {
        char needle[48];
        snprintf(needle, sizeof needle, ",%s,", want->capabilities[i]);
        if (!strstr(site->allow_caps, needle)) {
            s_fail(o, "failed", "the tool asks for capability %s, which this site does not "
                                "allow ([WORKER] allow_capabilities)",
                   want->capabilities[i]);
            o->failure = "tool";
            return;
        }
    }
    spec.cap_add = (const char *const *)want->capabilities;
    snprintf(name, sizeof name, "mao-%s-%ld", job->run, job->attempt);

    rc = worker_docker_create(docker, &spec, name, id);
    if (rc == MAO_ECONFLICT) {
        /* Left over from a worker that died mid-run: this attempt is ours now. */
        worker_docker_remove(docker, name, 1);
        rc = worker_docker_create(docker, &spec, name, id);
    }
    if (rc < 0) {
        s_infra(o, "cannot create the container: %s", mao_error_last());
        return;
    }
    mao_log_info("job", "container.start run=%s tool=%s container=%.12s", job->run,
                 job->tool.name, id);
    if ((rc = worker_docker_start(docker, id)) < 0) {
        /* Docker refuses to start a command that cannot run: the tool's fault. */
        if (rc == MAO_EINVAL)
            s_fail(o, "failed", "cannot start the container: %s", mao_error_last());
        else
            s_infra(o, "cannot start the container: %s", mao_error_last());
        goto remove;
    }
    long timeout = job->timeout_s > 0   ? job->timeout_s
                   : job->tool.timeout_s > 0 ? job->tool.timeout_s
                                             : site->timeout_s;
    time_t deadline = time(NULL) + timeout;
    int oom = 0;
    for (;;) {
        long left = (long)(deadline - time(NULL));
        long slice = left < S_WAIT_SLICE ? (left > 0 ? left : 1) : S_WAIT_SLICE;
        rc = worker_docker_wait(docker, id, slice, &o->exit_code, &oom);
        if (rc != MAO_ETIMEOUT)
            break;
        if (atomic_load(&job->cancel)) {
            worker_docker_kill(docker, id);
            worker_docker_wait(docker, id, 30, &o->exit_code, NULL);
            s_fail(o, "failed", "cancelled: %s", job->cancel_reason);
            goto logs;
        }
        if (time(NULL) >= deadline) {
            worker_docker_kill(docker, id);
            worker_docker_wait(docker, id, 30, &o->exit_code, NULL);
            s_fail(o, "timed_out", "ran longer than its timeout of %ld s and was stopped",
                   timeout);
            goto logs;
        }
    }
    if (rc == MAO_EFAIL) {
        s_fail(o, "failed", "the container could not run: %s", mao_error_last());
    } else if (rc < 0) {
        s_infra(o, "lost track of the container: %s", mao_error_last());
    } else if (oom) {
        s_fail(o, "failed", "killed for using more than its memory limit of %lld MiB",
               (long long)spec.memory_bytes / (1024 * 1024));
    } else if (o->exit_code != 0) {
        s_fail(o, "failed", "the tool exited with code %ld", o->exit_code);
    }
logs:
    if (worker_docker_logs_tail(docker, id, S_LOG_TAIL, &o->log_tail) < 0)
        o->log_tail = NULL;
remove:
    if (worker_docker_remove(docker, id, 1) < 0)
        mao_log_warn("job", "container.remove.failed run=%s container=%.12s detail=\"%s\"",
                     job->run, id, mao_error_last());
}

/* Appends `n` bytes to a tail that keeps its last S_LOG_TAIL bytes. */
static void s_tail_append(char *tail, size_t *len, const char *buf, size_t n)
{
    if (n > S_LOG_TAIL) {
        buf += n - S_LOG_TAIL;
        n = S_LOG_TAIL;
    }
    if (*len + n > S_LOG_TAIL) {
        size_t drop = *len + n - S_LOG_TAIL;
        memmove(tail, tail + drop, *len - drop);
        *len -= drop;
    }
    memcpy(tail + *len, buf, n);
    *len += n;
}

/* The file `name` names: itself when it holds a '/', else the first
 * executable of that name in the tools' PATH. */
static int s_find_program(char *out, size_t size, const char *name)
{
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    static const char *dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(out, size, "%s/%s", dirs[i], name);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}

/* Steps 1 and 3 to 5 for a site whose runtime is exec: the tool's command
 * runs as a local process of the worker's user in the dataset folder, with
 * the tool's environment, its own process group (killed whole on timeout or
 * cancel), and its output's tail kept.  No image is involved. */
static void s_exec_run(worker_job_t *job, const char *datadir, s_outcome_t *o)
{
    const worker_site_t *site = job->site;
    char **argv = job->tool.command;
    int out[2] = {-1, -1};
    if (!argv || !argv[0]) {
        s_fail(o, "failed", "this site runs tools as local commands (runtime = exec) and tool "
                            "%s has no command",
               job->tool.name);
        o->failure = "tool";
        return;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        s_infra(o, "cannot make a pipe: %s", strerror(errno));
        return;
    }
    /* posix_spawn: exec errors come back here, and nothing of ours runs in a
     * copy of this process.  The command is looked up in the tool's PATH. */
    char path[4096];
    if (s_find_program(path, sizeof path, argv[0]) < 0) {
        close(out[0]);
        close(out[1]);
        s_fail(o, "failed", "the command could not run: %s is not an executable file%s",
               argv[0], strchr(argv[0], '/') ? "" : " in /usr/local/bin, /usr/bin or /bin");
        o->failure = "tool";
        return;
    }
    char *envp[MAO_ENV_MAX + 4];
    size_t n = 0;
    envp[n++] = "PATH=/usr/local/bin:/usr/bin:/bin";
    envp[n++] = "MAO_DATA=.";
    for (size_t i = 0; i < job->tool.env_len && n < MAO_ENV_MAX + 3; i++)
        envp[n++] = job->tool.env[i];
    envp[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDERR_FILENO);
    posix_spawn_file_actions_addchdir_np(&fa, datadir);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid;
    int err = posix_spawn(&pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (err) {
        close(out[0]);
        close(out[1]);
        s_fail(o, "failed", "the command could not run: %s: %s", argv[0], strerror(err));
        o->failure = "tool";
        return;
    }
    close(out[1]);
    long timeout = job->timeout_s > 0   ? job->timeout_s
                   : job->tool.timeout_s > 0 ? job->tool.timeout_s
                                             : site->timeout_s;
    int64_t deadline = mao_now_ms() + (int64_t)timeout * 1000;
    char tail[S_LOG_TAIL + 1];
    size_t tail_len = 0;
    int status = 0, done = 0, killed = 0;
    /* The output and the process itself (a pidfd is readable once it has
     * exited), so the end is seen at once; without a pidfd (kernels before
     * 5.3) the exit is looked for every 5 ms once the output is closed. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd pfds[2] = {{.fd = out[0], .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
    struct pollfd *pfd = &pfds[0];
    while (!done) {
        int64_t now = mao_now_ms();
        if (!killed && (atomic_load(&job->cancel) || now >= deadline)) {
            kill(-pid, SIGKILL);
            killed = atomic_load(&job->cancel) ? 2 : 1;
        }
        int wait_ms = pfd->fd < 0 && pidfd < 0 ? 5 : 100;
        if (poll(pfds, 2, wait_ms) > 0 && pfd->fd >= 0 && pfd->revents) {
            char buf[4096];
            ssize_t r = read(out[0], buf, sizeof buf);
            if (r <= 0)
                pfd->fd = -1;
            else
                s_tail_append(tail, &tail_len, buf, (size_t)r);
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid && pfd->fd < 0)
            done = 1;
        else if (w == pid) {
            /* Exited; drain what is left of its output. */
            pfd->fd = out[0];
            while (poll(pfd, 1, 0) > 0) {
                char buf[4096];
                ssize_t r = read(out[0], buf, sizeof buf);
                if (r <= 0)
                    break;
                s_tail_append(tail, &tail_len, buf, (size_t)r);
            }
            done = 1;
        }
    }
    close(out[0]);
    if (pidfd >= 0)
        close(pidfd);
    kill(-pid, SIGKILL); /* whatever it left behind in its group */
    tail[tail_len] = '\0';
    o->log_tail = strdup(tail);
    o->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (killed == 2)
        s_fail(o, "failed", "cancelled: %s", job->cancel_reason);
    else if (killed)
        s_fail(o, "timed_out", "ran longer than its timeout of %ld s and was stopped", timeout);
    else if (o->exit_code != 0)
        s_fail(o, "failed", "the tool exited with code %ld", o->exit_code);
}

/* Step 6: the spike detector over the control files.  The site's folders
 * are kept watched between runs (mao_spike_watches, the S_WATCHED_MAX used
 * last), so after the first look the detector reads only what changed and
 * the newest files, however many the folder holds; without inotify, the
 * folder is listed each time. */
static void s_detect(worker_job_t *job, const char *datadir, s_outcome_t *o)
{
    worker_site_t *site = (worker_site_t *)job->site;
    mao_spike_params_t params = mao_spike_params_default();
    mao_spike_report_t report;
    if (mao_spike_params_apply(&params, &job->tool.spike) < 0) {
        o->report = json_pack("{s:s, s:s}", "datapath", datadir, "error", mao_error_last());
        return;
    }
    pthread_mutex_lock(&site->watch_lock);
    /* Without an inotify instance (the user's are all taken), tried again a
     * minute later rather than at every run. */
    int64_t now = mao_now_ms();
    if (!site->watches && now >= site->watches_retry_ms &&
        mao_spike_watches_new(&site->watches, S_WATCHED_MAX, 0) < 0) {
        if (!site->watches_retry_ms)
            mao_log_warn("job", "watch.unavailable detail=\"%s\" effect=\"data folders are "
                                "listed after every run; tried again every minute\"",
                         mao_error_last());
        site->watches_retry_ms = now + S_WATCH_RETRY_MS;
    }
    if (site->watches)
        mao_spike_watches_run(&report, site->watches, datadir, &params);
    else
        mao_spike_run(&report, datadir, &params);
    pthread_mutex_unlock(&site->watch_lock);
    o->report = mao_spike_report_to_json(&report);
}

static json_t *s_run(worker_job_t *job)
{
    const worker_site_t *site = job->site;
    s_outcome_t o = {.status = "succeeded", .exit_code = -1};
    worker_docker_t *docker = NULL;
    char datadir[4200];
    int64_t started = mao_now_ms();

    snprintf(datadir, sizeof datadir, "%s/%s", site->importdir, job->tool.name);
    if (site->runtime == WORKER_RUNTIME_EXEC) {
        if (s_dataset(job, datadir, &o) < 0)
            goto done;
        s_exec_run(job, datadir, &o);
        if (strcmp(o.status, "succeeded") == 0)
            s_detect(job, datadir, &o);
        goto done;
    }
    if (s_docker_borrow(&docker, (worker_site_t *)site) < 0) {
        s_infra(&o, "%s", mao_error_last());
        goto done;
    }
    if (s_image(job, docker, &o) < 0 || s_dataset(job, datadir, &o) < 0)
        goto done;
    if (atomic_load(&job->cancel)) {
        s_fail(&o, "failed", "cancelled: %s", job->cancel_reason);
        goto done;
    }
    s_container(job, docker, datadir, &o);
    if (strcmp(o.status, "succeeded") == 0)
        s_detect(job, datadir, &o);
done:
    /* A handle that just failed may hold a broken connection: do not keep it. */
    s_docker_return((worker_site_t *)site, &docker, strcmp(o.status, "succeeded") == 0);
    json_t *result = s_base_result(site, job->run, job->attempt, job->tool.name);
    if (result) {
        json_object_set_new(result, "status", json_string(o.status));
        if (o.reason[0])
            json_object_set_new(result, "reason", json_string(o.reason));
        if (atomic_load(&job->cancel) && strcmp(o.status, "succeeded") != 0) {
            /* Stopped on purpose: not the tool's finding; the coordinator
             * decides what happens to the run. */
            json_object_set_new(result, "cancelled", json_true());
            o.failure = "infrastructure";
        }
        if (o.failure && strcmp(o.status, "succeeded") != 0)
            json_object_set_new(result, "failure", json_string(o.failure));
        if (o.exit_code >= 0)
            json_object_set_new(result, "exit_code", json_integer(o.exit_code));
        json_object_set_new(result, "started_at", json_integer(started));
        json_object_set_new(result, "finished_at", json_integer(mao_now_ms()));
        json_object_set_new(result, "image", json_string(job->tool.image));
        json_object_set_new(result, "runtime", json_string(site->runtime == WORKER_RUNTIME_EXEC
                                                               ? "exec"
                                                               : "docker"));
        if (o.image_digest[0])
            json_object_set_new(result, "image_digest", json_string(o.image_digest));
        json_object_set_new(result, "datadir", json_string(datadir));
        if (o.log_tail) {
            /* Logs are bytes; the wire carries UTF-8 text. */
            json_t *tail = json_string(o.log_tail);
            if (!tail) {
                for (unsigned char *p = (unsigned char *)o.log_tail; *p; p++)
                    if (*p >= 0x80)
                        *p = '?';
                tail = json_string(o.log_tail);
            }
            if (tail)
                json_object_set_new(result, "log_tail", tail);
        }
        if (o.report)
            json_object_set_new(result, "report", o.report);
        else
            json_decref(o.report);
        o.report = NULL;
        s_spool(site, job->run, result);
    }
    json_decref(o.report);
    free(o.log_tail);
    mao_log_info("job", "finished run=%s tool=%s status=%s exit_code=%ld%s%s", job->run,
                 job->tool.name, o.status, o.exit_code, o.reason[0] ? " reason=" : "",
                 o.reason);
    return result;
}

/* ---- the pool ------------------------------------------------------------------ */

struct worker_pool_t {
    pthread_mutex_t lock;
    pthread_cond_t work;       /* a job was queued, or stop */
    pthread_cond_t done;       /* a job is done */
    worker_job_t *head, *tail; /* jobs not yet taken by a thread */
    size_t queued;             /* how many */
    pthread_t *threads;
    size_t nthreads, cap;
    size_t idle;               /* threads waiting for a job */
    int nice;                  /* added to each thread's niceness */
    int stop;
};

static void *s_thread(void *arg)
{
    worker_pool_t *pool = arg;
    if (pool->nice > 0) {
        /* Per thread on Linux; what the thread starts inherits it. */
        id_t self = (id_t)gettid();
        errno = 0;
        int now = getpriority(PRIO_PROCESS, self);
        if ((now == -1 && errno) ||
            setpriority(PRIO_PROCESS, self, now + pool->nice > 19 ? 19 : now + pool->nice) < 0)
            mao_log_warn("job", "nice.failed error=\"%s\" effect=\"this thread's runs go at the "
                                "worker's own priority\"",
                         strerror(errno));
    }
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->head && !pool->stop) {
            pool->idle++;
            pthread_cond_wait(&pool->work, &pool->lock);
            pool->idle--;
        }
        worker_job_t *job = pool->head;
        if (!job)
            break; /* stopping, and nothing left */
        pool->head = job->next;
        pool->queued--;
        if (!pool->head)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);

        job->result = s_run(job);
        int fd = job->done_fd;
        pthread_mutex_lock(&pool->lock);
        atomic_store(&job->done, 1);
        pthread_cond_broadcast(&pool->done);
        pthread_mutex_unlock(&pool->lock);
        /* From here the reactor may free the job: only `fd` (which outlives
         * the pool) is used. */
        uint64_t one = 1;
        if (write(fd, &one, sizeof one) < 0 && errno != EAGAIN)
            mao_log_error("job", "wake.failed error=\"%s\"", strerror(errno));
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int worker_pool_new(worker_pool_t **out, int nice)
{
    worker_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool)
        return MAO_ENOMEM;
    pool->nice = nice;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->done, NULL);
    *out = pool;
    return 0;
}

void worker_pool_destroy(worker_pool_t **pool_p)
{
    if (!pool_p || !*pool_p)
        return;
    worker_pool_t *pool = *pool_p;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->done);
    free(pool);
    *pool_p = NULL;
}

int worker_job_start(worker_job_t *job, worker_pool_t *pool, int done_fd)
{
    job->done_fd = done_fd;
    job->next = NULL;
    pthread_mutex_lock(&pool->lock);
    /* A thread for it: an idle one not yet woken for another job, else one
     * more. */
    if (pool->idle <= pool->queued) {
        if (pool->nthreads == pool->cap) {
            size_t cap = pool->cap ? pool->cap * 2 : 8;
            pthread_t *t = realloc(pool->threads, cap * sizeof *t);
            if (!t) {
                pthread_mutex_unlock(&pool->lock);
                return MAO_ENOMEM;
            }
            pool->threads = t;
            pool->cap = cap;
        }
        if (pthread_create(&pool->threads[pool->nthreads], NULL, s_thread, pool) != 0) {
            pthread_mutex_unlock(&pool->lock);
            return MAO_ENOMEM;
        }
        pool->nthreads++;
    }
    job->pool = pool;
    if (pool->tail)
        pool->tail->next = job;
    else
        pool->head = job;
    pool->tail = job;
    pool->queued++;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    return 0;
}

void worker_job_wait(worker_job_t *job)
{
    worker_pool_t *pool = job->pool;
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    while (!atomic_load(&job->done))
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    job->pool = NULL;
}

void worker_job_destroy(worker_job_t **job_p)
{
    if (!job_p || !*job_p)
        return;
    worker_job_t *job = *job_p;
    worker_job_wait(job);
    mao_tool_clear(&job->tool);
    json_decref(job->result);
    free(job);
    *job_p = NULL;
}
