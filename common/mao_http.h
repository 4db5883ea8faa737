/*
 * mao_http: a small HTTP client on libcurl, for maoctl talking to the
 * coordinator and for notifications (webhooks).  One mao_http_t keeps one
 * connection alive between requests; it is not shared between threads.
 */
#ifndef MAO_HTTP_H
#define MAO_HTTP_H

#include <stddef.h>

typedef struct mao_http_t mao_http_t;

typedef struct {
    long status;  /* HTTP status; 0 when no answer came */
    char *body;   /* NUL-terminated reply body, owned by the caller (free) */
    size_t len;
} mao_http_reply_t;

/* A new client; NULL only when out of memory. */
mao_http_t *mao_http_new(void);

/* Frees the client; accepts NULL and sets *self_p to NULL. */
void mao_http_destroy(mao_http_t **self_p);

/* Adds a header line ("Authorization: Bearer ...") sent with every request. */
int mao_http_add_header(mao_http_t *self, const char *line);

/* Trusts the CA certificates in `path` (PEM) for https URLs, besides none
 * other: for a coordinator with its own certificate.  NULL: the system's. */
int mao_http_set_cainfo(mao_http_t *self, const char *path);

/* Sends a request; `body` may be NULL (no body), `timeout_ms` 0 means none.
 * Returns 0 when an answer came (whatever its status), MAO_EUNAVAILABLE when
 * the server could not be reached, MAO_ETIMEOUT when it did not answer in time,
 * with curl's reason as the detail (callers say which server). */
int mao_http_request(mao_http_t *self, const char *method, const char *url, const char *body,
                     size_t len, long timeout_ms, mao_http_reply_t *reply);

void mao_http_reply_clear(mao_http_reply_t *reply);

/* Percent-encodes `text` for a URL path segment or query value into `out`.
 * Returns 0, or MAO_EINVAL when it does not fit. */
int mao_http_escape(char *out, size_t size, const char *text);

#endif
