/*
 * mao_fs: the few filesystem operations mao needs beyond stdio: making a
 * folder with its parents, removing a tree, asking whether a folder is empty,
 * and writing a file atomically (temporary file, fsync, rename).
 */
#ifndef MAO_FS_H
#define MAO_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Makes `path` and its missing parents with `mode`.  Returns 0 (also when it
 * exists as a folder) or MAO_EFAIL with a detail. */
int mao_fs_mkdirs(const char *path, mode_t mode);

/* Removes `path` and everything below it, without following symlinks.
 * Returns 0 (also when it did not exist) or MAO_EFAIL. */
int mao_fs_rmtree(const char *path);

/* 1 when `path` is a folder with no entries, 0 when it has entries, MAO_ENOTFOUND
 * when it does not exist, MAO_EINVAL when it is not a folder. */
int mao_fs_dir_empty(const char *path);

/* Writes `len` bytes to `path` through a temporary file in the same folder,
 * fsync, rename; readers see the old or the new content, never a mix.
 * Returns 0 or MAO_EFAIL. */
int mao_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* The same without the fsync: readers still see the old or the new
 * content, and the file outlives the process at once, but it reaches the
 * disk with the system's writeback (a power cut may lose it). */
int mao_fs_write_replace(const char *path, const void *data, size_t len, mode_t mode);

/* Writes `len` bytes into the existing file `spare` (what it held is
 * replaced) and renames it to `path`, with mao_fs_write_replace's guarantees
 * but no file made: a folder whose files come and go by the thousand spares
 * the file system an inode allocated and freed each time.  Returns 0,
 * MAO_ENOTFOUND when `spare` does not exist, or MAO_EFAIL. */
int mao_fs_write_into(const char *spare, const char *path, const void *data, size_t len);

/* Reads a whole file of at most `max` bytes into a new NUL-terminated buffer.
 * Returns 0, MAO_ENOTFOUND, MAO_EINVAL (larger than max) or MAO_EFAIL. */
int mao_fs_read(const char *path, size_t max, char **out, size_t *len);

#endif
