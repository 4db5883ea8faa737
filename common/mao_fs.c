/*
 * mao_fs: small filesystem helpers.
 */
#include "mao_fs.h"
#include "mao_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mao_fs_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        mao_error_set("cannot create folder '%s': bad length", path);
        return MAO_EFAIL;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, mode) < 0 && errno != EEXIST) {
                mao_error_set("cannot create folder '%s': %s", buf, strerror(errno));
                return MAO_EFAIL;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        mao_error_set("'%s' exists and is not a folder", path);
        return MAO_EFAIL;
    }
    return 0;
}

static int s_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (remove(path) < 0 && errno != ENOENT) {
        mao_error_set("cannot remove '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int mao_fs_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (mao_error_set("cannot remove '%s': %s", path,
                                                    strerror(errno)),
                                      MAO_EFAIL);
    if (nftw(path, s_remove_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
        return MAO_EFAIL;
    return 0;
}

int mao_fs_dir_empty(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir) {
        if (errno == ENOENT)
            return MAO_ENOTFOUND;
        mao_error_set("'%s' is not a folder I can read: %s", path, strerror(errno));
        return MAO_EINVAL;
    }
    int empty = 1;
    struct dirent *ent;
    while ((ent = readdir(dir))) {
        if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(dir);
    return empty;
}

/* Writes all of `data` to `fd`.  Returns 0, or -1 with errno. */
static int s_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int s_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int sync)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        mao_error_set("path too long: %s", path);
        return MAO_EFAIL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        mao_error_set("cannot write '%s': %s", tmp, strerror(errno));
        return MAO_EFAIL;
    }
    if (s_write_all(fd, data, len) < 0) {
        mao_error_set("cannot write '%s': %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return MAO_EFAIL;
    }
    if ((sync && fsync(fd) < 0) || close(fd) < 0) {
        mao_error_set("cannot flush '%s': %s", tmp, strerror(errno));
        unlink(tmp);
        return MAO_EFAIL;
    }
    if (rename(tmp, path) < 0) {
        mao_error_set("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        unlink(tmp);
        return MAO_EFAIL;
    }
    return 0;
}

int mao_fs_write_into(const char *spare, const char *path, const void *data, size_t len)
{
    int fd = open(spare, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        mao_error_set("cannot write '%s': %s", spare, strerror(e));
        return e == ENOENT ? MAO_ENOTFOUND : MAO_EFAIL;
    }
    if (s_write_all(fd, data, len) < 0) {
        mao_error_set("cannot write '%s': %s", spare, strerror(errno));
        close(fd);
        return MAO_EFAIL;
    }
    /* Cut what is left of the old content (no block is freed when the new
     * content is as long). */
    int ok = ftruncate(fd, (off_t)len) == 0;
    int e = errno;
    if (close(fd) < 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        mao_error_set("cannot write '%s': %s", spare, strerror(e));
        return MAO_EFAIL;
    }
    if (rename(spare, path) < 0) {
        mao_error_set("cannot rename '%s' to '%s': %s", spare, path, strerror(errno));
        return MAO_EFAIL;
    }
    return 0;
}

int mao_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    return s_write_atomic(path, data, len, mode, 1);
}

int mao_fs_write_replace(const char *path, const void *data, size_t len, mode_t mode)
{
    return s_write_atomic(path, data, len, mode, 0);
}

int mao_fs_read(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        mao_error_set("cannot read '%s': %s", path, strerror(e));
        return e == ENOENT ? MAO_ENOTFOUND : MAO_EFAIL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return MAO_ENOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max + 1) {
                free(buf);
                close(fd);
                mao_error_set("'%s' is larger than %zu bytes", path, max);
                return MAO_EINVAL;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                close(fd);
                return MAO_ENOMEM;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            mao_error_set("cannot read '%s': %s", path, strerror(errno));
            free(buf);
            close(fd);
            return MAO_EFAIL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(buf);
        mao_error_set("'%s' is larger than %zu bytes", path, max);
        return MAO_EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}
