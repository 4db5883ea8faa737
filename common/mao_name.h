/*
 * mao_name: what a tool, dataset, site or worker may be called, and which
 * dataset URLs a site will clone.
 *
 * A name becomes a folder (<importdir>/<tool>) and an etcd key, so the rule is
 * strict: 1 to 64 of letters, digits, '.', '_' and '-', not starting with '.'
 * or '-', and never containing "..".  Every entry point (HTTP API, CLI, wire
 * messages, records read back from etcd) checks names with mao_name_check().
 */
#ifndef MAO_NAME_H
#define MAO_NAME_H

#include <stddef.h>

#define MAO_NAME_MAX 64

/* Returns 0 when `name` is acceptable; MAO_EINVAL otherwise, with a detail
 * that starts with "invalid <what> name" and says what is allowed. */
int mao_name_check(const char *what, const char *name);

/* Checks a dataset URL against the site's policy: https, http, ssh, git and
 * scp-like user@host:path are always allowed; file:// and local paths only
 * when `allow_local`.  Returns 0, or MAO_EINVAL with a detail. */
int mao_url_check(const char *url, int allow_local);

/* True when `text` holds no control characters (bytes below 0x20, and 0x7f). */
int mao_text_is_clean(const char *text);

/* Writes `text` into `out` with control characters and quotes escaped (as in
 * C), truncated to fit `size` with "..." marking the cut.  For error messages
 * that repeat hostile input.  Returns `out`. */
char *mao_text_quote(char *out, size_t size, const char *text);

#endif
