/*
 * mao_git: cloning with libgit2.
 */
#include "mao_git.h"
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_name.h"

#include <errno.h>
#include <git2.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_init(void)
{
    git_libgit2_init();
    /* A clone needs nothing from anyone's git configuration, and a daemon's
     * HOME may not be readable by its user: read no global, XDG or system
     * config, so that clones behave the same on every machine. */
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
    git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_PROGRAMDATA, "");
    /* libgit2 refuses repositories owned by another user (git's answer to
     * CVE-2022-24765, which is about git running commands that another user's
     * repository configures).  A clone through libgit2 runs nothing from the
     * source's configuration, and a local source is cloned only where the site
     * allows local paths, so a worker running as its own user may clone a
     * repository someone else owns. */
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
}

typedef struct {
    const mao_git_opts_t *opts;
    time_t deadline;
    int timed_out;
} s_clone_t;

static int s_on_transfer(const git_indexer_progress *stats, void *payload)
{
    s_clone_t *c = payload;
    if (c->deadline && time(NULL) > c->deadline) {
        c->timed_out = 1;
        return -1;
    }
    if (c->opts->progress)
        c->opts->progress(stats->received_objects, stats->total_objects, stats->received_bytes,
                          c->opts->arg);
    return 0;
}

int mao_git_clone(const char *url, const char *dir, const mao_git_opts_t *opts)
{
    static const mao_git_opts_t none = {0};
    git_repository *repo = NULL;
    int created = 0;
    int rc;

    pthread_once(&s_once, s_init);
    if (!opts)
        opts = &none;
    if ((rc = mao_url_check(url, opts->allow_local)) < 0)
        return rc;
    int empty = mao_fs_dir_empty(dir);
    if (empty == MAO_ENOTFOUND) {
        created = 1;
    } else if (empty == 0) {
        mao_error_set("'%s' exists and is not empty", dir);
        return MAO_EINVAL;
    } else if (empty < 0) {
        return empty;
    }

    s_clone_t c = {.opts = opts, .deadline = opts->timeout_s ? time(NULL) + opts->timeout_s : 0};
    git_clone_options copts;
    git_clone_options_init(&copts, GIT_CLONE_OPTIONS_VERSION);
    copts.fetch_opts.callbacks.transfer_progress = s_on_transfer;
    copts.fetch_opts.callbacks.payload = &c;
    if (git_clone(&repo, url, dir, &copts) < 0) {
        const git_error *e = git_error_last();
        if (c.timed_out) {
            mao_error_set("cloning %s took longer than %ld s", url, opts->timeout_s);
            rc = MAO_ETIMEOUT;
        } else {
            mao_error_set("cannot clone %s: %s", url, e && e->message ? e->message : "unknown error");
            rc = MAO_EFAIL;
        }
        /* Leave nothing half-made behind: the folder goes back to how it was. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", mao_error_last());
        mao_fs_rmtree(dir);
        if (!created)
            mkdir(dir, 0755);
        mao_error_set("%s", saved);
        return rc;
    }
    git_repository_free(repo);
    return 0;
}

int mao_git_is_repo(const char *dir)
{
    pthread_once(&s_once, s_init);
    git_repository *repo = NULL;
    if (git_repository_open_ext(&repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
        return 0;
    git_repository_free(repo);
    return 1;
}
