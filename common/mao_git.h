/*
 * mao_git: datasets are git repositories; this clones them with libgit2.
 *
 * A clone lands in a folder that must not exist or be empty; when a clone
 * fails, whatever it created is removed again, so a retry starts clean.  The
 * site's URL policy (mao_url_check) is applied before any network access.
 */
#ifndef MAO_GIT_H
#define MAO_GIT_H

#include <stddef.h>

/* Progress while cloning: objects received of total, and bytes so far. */
typedef void(mao_git_progress_fn)(size_t received, size_t total, size_t bytes, void *arg);

typedef struct {
    int allow_local;          /* file:// and local paths allowed */
    long timeout_s;           /* give up after this long; 0: no limit */
    mao_git_progress_fn *progress; /* may be NULL */
    void *arg;
} mao_git_opts_t;

/* Clones `url` into `dir`.  Returns 0; MAO_EINVAL when the URL is refused by
 * policy or `dir` exists and is not empty; MAO_ETIMEOUT; MAO_EFAIL with
 * libgit2's reason otherwise. */
int mao_git_clone(const char *url, const char *dir, const mao_git_opts_t *opts);

/* 1 when `dir` holds a git work tree (or bare repository), else 0. */
int mao_git_is_repo(const char *dir);

#endif
