/*
 * worker_docker: the Docker Engine API over its unix socket, with libcurl.
 *
 * Central idea: every call is one HTTP request through s_call(), which bounds
 * it in time, hands the body of a 2xx answer to a sink (a bounded buffer, the
 * pull progress parser, or the log demultiplexer) and keeps the body of any
 * other answer as Docker's message, so that mapping statuses to codes happens
 * in one place (s_status_error).
 *
 * Invariants: every caller-given path or query component is percent-encoded
 * (s_escape); no reply grows a buffer past its bound; the handle's one curl
 * easy handle keeps its connection alive, and curl opens a new one when Docker
 * closed it or a timeout aborted it.
 */
#include "worker_docker.h"
#include "mao_error.h"
#include "mao_http.h"
#include "mao_log.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_MAX_ERROR (64u * 1024)  /* kept of a non-2xx body */
#define S_MAX_LINE (1024u * 1024) /* one line of pull progress */
#define S_MAX_TEXT 1024           /* a reference, id, name or label from a caller */
#define S_MAX_PATH (4 * S_MAX_TEXT)
#define S_SHORT_ID 12 /* characters of an id shown in messages */

struct worker_docker_t {
    CURL *curl;                   /* reused; keeps its connection to dockerd alive */
    char *socket_path;            /* where dockerd listens */
    char api[16];                 /* API version in URLs ("1.41"); "" until known */
    char server[64];              /* dockerd's version, for logs */
    struct curl_slist *hdrs;      /* Content-Type: application/json, no Expect */
    char errbuf[CURL_ERROR_SIZE]; /* curl's reason for the last failure */
};

/* Takes a chunk of a 2xx body; returns 0 to go on, or a negative code (detail
 * set) to abort the transfer. */
typedef int(s_sink_fn)(const char *data, size_t len, void *arg);

/* A growing buffer with a bound. */
typedef struct {
    char *data; /* NUL-terminated when not NULL */
    size_t len;
    size_t cap;
    size_t max; /* refuse to hold more than this */
} s_buf_t;

/* What came back, whatever the status. */
typedef struct {
    long status;   /* HTTP status */
    char *message; /* Docker's message from a non-2xx answer; NULL for 2xx */
} s_reply_t;

/* One transfer in flight, seen by s_on_body. */
typedef struct {
    CURL *curl;
    s_sink_fn *sink; /* NULL: the 2xx body is dropped */
    void *arg;
    long status;   /* known once the body starts */
    int sink_rc;   /* what the sink aborted with; 0 when it did not */
    s_buf_t error; /* the body of a non-2xx answer, truncated to S_MAX_ERROR */
} s_xfer_t;

/* Pull progress, parsed a line at a time. */
typedef struct {
    s_buf_t line;     /* the line being received */
    char *error;      /* the first error the stream reported; NULL when none */
    char status[256]; /* the last status line, for the log */
} s_pull_t;

/* Log frames of a non-TTY container: 8-byte header (stream, 0, 0, 0, size
 * big-endian) then the payload.  The last `max` bytes of payload are kept. */
typedef struct {
    int raw;               /* TTY container: no frame headers */
    unsigned char head[8]; /* header being received */
    size_t head_len;
    size_t payload_left; /* bytes of the current frame still to come */
    char *data;          /* kept bytes; room for 2 * max + 1 */
    size_t len;
    size_t max;
} s_logs_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- small helpers --------------------------------------------------------- */

/* True when `id` is 64 lowercase hex digits. */
static int s_is_id(const char *id)
{
    return id && strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64;
}

/* strerror, safe in threads (GNU strerror_r returns the text to use). */
static const char *s_strerror(int errnum, char *buf, size_t size)
{
    return strerror_r(errnum, buf, size);
}

/* Appends to a bounded buffer.  Returns 0, MAO_EMALFORMED past the bound, or
 * MAO_ENOMEM. */
static int s_buf_add(s_buf_t *b, const char *data, size_t len)
{
    if (len > b->max - b->len) {
        mao_error_set("docker reply larger than %zu bytes", b->max);
        return MAO_EMALFORMED;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            mao_error_set("out of memory");
            return MAO_ENOMEM;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static int s_buf_sink(const char *data, size_t len, void *arg)
{
    return s_buf_add(arg, data, len);
}

/* Percent-encodes a caller's text for a URL; `what` names it in the detail.
 * Returns 0 or MAO_EINVAL. */
static int s_escape(char *out, size_t size, const char *text, const char *what)
{
    if (!text || !text[0] || strlen(text) >= S_MAX_TEXT) {
        mao_error_set("docker: %s is empty or longer than %d bytes", what, S_MAX_TEXT - 1);
        return MAO_EINVAL;
    }
    if (mao_http_escape(out, size, text) < 0) {
        mao_error_set("docker: %s too long for a URL", what);
        return MAO_EINVAL;
    }
    return 0;
}

/* snprintf that refuses to truncate; for URL paths.  Returns 0 or MAO_EINVAL. */
static int s_format(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_format(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        mao_error_set("docker: request path too long");
        return MAO_EINVAL;
    }
    return 0;
}

/* Copies a JSON string member into a fixed buffer (truncating); "" when absent. */
static void s_copy_str(char *out, size_t size, json_t *obj, const char *name)
{
    const char *text = json_string_value(json_object_get(obj, name));
    snprintf(out, size, "%s", text ? text : "");
}

/* A timeout in seconds as milliseconds for curl.  Returns 0 or MAO_EINVAL. */
static int s_timeout_ms(long timeout_s, long *ms)
{
    if (timeout_s <= 0 || timeout_s > LONG_MAX / 1000) {
        mao_error_set("docker: timeout must be between 1 and %ld seconds", LONG_MAX / 1000);
        return MAO_EINVAL;
    }
    *ms = timeout_s * 1000;
    return 0;
}

/* ---- one request ----------------------------------------------------------- */

static size_t s_on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    s_xfer_t *x = user;
    size_t n = size * nmemb;

    if (x->status == 0)
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
    if (x->status < 200 || x->status > 299) {
        /* Docker's message; a longer body is cut, never refused. */
        size_t room = x->error.max - x->error.len;
        if (s_buf_add(&x->error, ptr, n < room ? n : room) < 0)
            x->sink_rc = MAO_ENOMEM;
        return x->sink_rc ? 0 : n;
    }
    if (!x->sink)
        return n;
    int rc = x->sink(ptr, n, x->arg);
    if (rc < 0) {
        x->sink_rc = rc;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Docker's message out of an error body: the "message" member of its JSON, or
 * the body itself, trimmed.  Returns a new string, or NULL when out of memory. */
static char *s_error_message(const s_buf_t *body)
{
    json_t *j = NULL;
    char *msg = NULL;
    size_t len = body->len;

    if (len > 0)
        j = json_loadb(body->data, len, 0, NULL);
    const char *text = json_string_value(json_object_get(j, "message"));
    while (!text && len > 0 && strchr("\r\n ", body->data[len - 1]))
        len--;
    if (text)
        msg = strdup(text);
    else if (len > 0)
        msg = strndup(body->data, len);
    else
        msg = strdup("no message");
    json_decref(j);
    return msg;
}

static void s_reply_clear(s_reply_t *reply)
{
    free(reply->message);
    memset(reply, 0, sizeof *reply);
}

/* Says how long in words: "30 s" or "1500 ms". */
static const char *s_duration(char *out, size_t size, long ms)
{
    if (ms % 1000 == 0)
        snprintf(out, size, "%ld s", ms / 1000);
    else
        snprintf(out, size, "%ld ms", ms);
    return out;
}

/* Sends `method` `path` (below the API version once it is known; `path` holds
 * only escaped caller text) with the JSON text `body` (NULL: none), bounded by
 * WORKER_DOCKER_CONNECT_MS and `timeout_ms`.  The body of a 2xx answer goes to
 * `sink`; any other answer fills reply->message.  `what` names the call in a
 * detail ("start 3f2a1b9c0d4e").  Returns 0 when an answer came, whatever its
 * status (reply->status); MAO_EUNAVAILABLE when dockerd cannot be reached or
 * the connection broke; MAO_ETIMEOUT; a sink's code; or MAO_ENOMEM. */
static int s_call(worker_docker_t *self, const char *what, const char *method, const char *path,
                  const char *body, long timeout_ms, s_sink_fn *sink, void *arg, s_reply_t *reply)
{
    char url[S_MAX_PATH + 64];
    char took[32];
    int rc = 0;
    s_xfer_t x = {.curl = self->curl, .sink = sink, .arg = arg, .error.max = S_MAX_ERROR};
    CURL *h = self->curl;

    memset(reply, 0, sizeof *reply);
    if (self->api[0])
        rc = s_format(url, sizeof url, "http://docker/v%s%s", self->api, path);
    else
        rc = s_format(url, sizeof url, "http://docker%s", path);
    if (rc < 0)
        goto cleanup;

    curl_easy_reset(h);
    self->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, self->errbuf);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, self->socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, WORKER_DOCKER_CONNECT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, self->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, body ? (long)strlen(body) : 0L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_WRITE_ERROR && x.sink_rc < 0) {
        rc = x.sink_rc; /* the sink's detail stands */
        goto cleanup;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        mao_error_set("docker: %s: no answer within %s", what,
                      s_duration(took, sizeof took, timeout_ms));
        rc = MAO_ETIMEOUT;
        goto cleanup;
    }
    if (cc == CURLE_OUT_OF_MEMORY) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if (cc != CURLE_OK) {
        long os_errno = 0;
        char ebuf[128];
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        if (cc == CURLE_COULDNT_CONNECT && os_errno != 0)
            /* curl's own text speaks of "port 80"; the socket's errno is clearer */
            mao_error_set("cannot reach Docker at %s: %s", self->socket_path,
                          s_strerror((int)os_errno, ebuf, sizeof ebuf));
        else
            mao_error_set("cannot reach Docker at %s: %s", self->socket_path,
                          self->errbuf[0] ? self->errbuf : curl_easy_strerror(cc));
        rc = MAO_EUNAVAILABLE;
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
    if (reply->status < 200 || reply->status > 299) {
        if (!(reply->message = s_error_message(&x.error))) {
            mao_error_set("out of memory");
            rc = MAO_ENOMEM;
            goto cleanup;
        }
    }
    mao_log_debug("docker", "request method=%s path=%s status=%ld", method, path, reply->status);

cleanup:
    free(x.error.data);
    return rc;
}

/* Turns a non-2xx answer into a code and a detail. */
static int s_status_error(const char *what, const s_reply_t *reply)
{
    mao_error_set("docker: %s: %s (HTTP %ld)", what, reply->message ? reply->message : "no message",
                  reply->status);
    switch (reply->status) {
    case 400:
        return MAO_EINVAL;
    case 404:
        return MAO_ENOTFOUND;
    case 409:
        return MAO_ECONFLICT;
    default:
        return MAO_EFAIL;
    }
}

/* One request with a JSON answer, bounded to WORKER_DOCKER_MAX_JSON.  For a
 * 2xx answer, *out (when out is not NULL) is the parsed body, owned by the
 * caller; NULL for other statuses.  Returns what s_call returns, or
 * MAO_EMALFORMED when a wanted body is not JSON. */
static int s_json(worker_docker_t *self, const char *what, const char *method, const char *path,
                  const char *body, long timeout_ms, json_t **out, s_reply_t *reply)
{
    s_buf_t buf = {.max = WORKER_DOCKER_MAX_JSON};
    json_error_t jerr;
    int rc;

    if (out)
        *out = NULL;
    if ((rc = s_call(self, what, method, path, body, timeout_ms, s_buf_sink, &buf, reply)) < 0)
        goto cleanup;
    if (out && reply->status >= 200 && reply->status <= 299) {
        if (!buf.data || !(*out = json_loadb(buf.data, buf.len, 0, &jerr))) {
            mao_error_set("docker: %s: reply is not JSON: %s", what,
                          buf.data ? jerr.text : "empty body");
            rc = MAO_EMALFORMED;
            goto cleanup;
        }
    }

cleanup:
    free(buf.data);
    return rc;
}

/* ---- open / destroy -------------------------------------------------------- */

/* Parses "1.41" into 1 and 41.  Returns 0 or MAO_EMALFORMED. */
static int s_api_parse(const char *text, long *major, long *minor)
{
    char *end = NULL;
    errno = 0;
    *major = strtol(text, &end, 10);
    if (errno || end == text || *end != '.')
        return MAO_EMALFORMED;
    const char *rest = end + 1;
    *minor = strtol(rest, &end, 10);
    if (errno || end == rest || *end != '\0' || *major < 0 || *minor < 0)
        return MAO_EMALFORMED;
    return 0;
}

int worker_docker_open(worker_docker_t **out, const char *socket_path)
{
    worker_docker_t *self = NULL;
    json_t *version = NULL;
    s_reply_t reply = {0};
    long major, minor, max_major, max_minor, min_major, min_minor;
    int rc = 0;

    if (!out) {
        mao_error_set("docker: open needs somewhere to put the handle");
        return MAO_EINVAL;
    }
    *out = NULL;
    if (!socket_path)
        socket_path = WORKER_DOCKER_SOCKET;
    pthread_once(&s_once, s_global_init);

    struct stat st;
    char ebuf[128];
    if (stat(socket_path, &st) < 0) {
        mao_error_set("cannot reach Docker at %s: %s", socket_path,
                      s_strerror(errno, ebuf, sizeof ebuf));
        return MAO_EUNAVAILABLE;
    }
    if (!S_ISSOCK(st.st_mode)) {
        mao_error_set("cannot reach Docker at %s: not a socket", socket_path);
        return MAO_EUNAVAILABLE;
    }

    if (!(self = calloc(1, sizeof *self)) || !(self->socket_path = strdup(socket_path)) ||
        !(self->curl = curl_easy_init()) ||
        !(self->hdrs = curl_slist_append(NULL, "Content-Type: application/json"))) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    struct curl_slist *grown = curl_slist_append(self->hdrs, "Expect:");
    if (!grown) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    self->hdrs = grown;

    if ((rc = s_call(self, "ping", "GET", "/_ping", NULL, WORKER_DOCKER_CALL_MS, NULL, NULL,
                     &reply)) < 0)
        goto cleanup;
    if (reply.status != 200) {
        mao_error_set("cannot reach Docker at %s: /_ping answered HTTP %ld: %s", socket_path,
                      reply.status, reply.message ? reply.message : "");
        rc = MAO_EUNAVAILABLE;
        goto cleanup;
    }
    s_reply_clear(&reply);

    if ((rc = s_json(self, "version", "GET", "/version", NULL, WORKER_DOCKER_CALL_MS, &version,
                     &reply)) < 0)
        goto cleanup;
    if (reply.status != 200) {
        rc = s_status_error("version", &reply);
        goto cleanup;
    }
    const char *api = json_string_value(json_object_get(version, "ApiVersion"));
    if (!api || s_api_parse(api, &major, &minor) < 0) {
        mao_error_set("docker: /version has no usable ApiVersion");
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    s_api_parse(WORKER_DOCKER_API_MAX, &max_major, &max_minor);
    s_api_parse(WORKER_DOCKER_API_MIN, &min_major, &min_minor);
    if (major < min_major || (major == min_major && minor < min_minor)) {
        mao_error_set("docker: the daemon at %s speaks API %s, older than the %s mao needs",
                      socket_path, api, WORKER_DOCKER_API_MIN);
        rc = MAO_EFAIL;
        goto cleanup;
    }
    if (major > max_major || (major == max_major && minor > max_minor))
        snprintf(self->api, sizeof self->api, "%s", WORKER_DOCKER_API_MAX);
    else
        snprintf(self->api, sizeof self->api, "%ld.%ld", major, minor);
    s_copy_str(self->server, sizeof self->server, version, "Version");
    mao_log_debug("docker", "open socket=%s server=%s api=%s", socket_path, self->server,
                  self->api);

    *out = self;
    self = NULL;

cleanup:
    s_reply_clear(&reply);
    json_decref(version);
    worker_docker_destroy(&self);
    return rc;
}

void worker_docker_destroy(worker_docker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    worker_docker_t *self = *self_p;
    if (self->curl)
        curl_easy_cleanup(self->curl);
    curl_slist_free_all(self->hdrs);
    free(self->socket_path);
    free(self);
    *self_p = NULL;
}

const char *worker_docker_api_version(worker_docker_t *self)
{
    return self->api;
}

const char *worker_docker_server_version(worker_docker_t *self)
{
    return self->server;
}

int worker_docker_ping(worker_docker_t *self)
{
    s_reply_t reply = {0};
    int rc;

    /* once the version is known, /_ping is asked as /v1.41/_ping, which Docker serves too */
    if ((rc = s_call(self, "ping", "GET", "/_ping", NULL, WORKER_DOCKER_CALL_MS, NULL, NULL,
                     &reply)) < 0)
        goto cleanup;
    if (reply.status != 200)
        rc = s_status_error("ping", &reply);

cleanup:
    s_reply_clear(&reply);
    return rc;
}

/* ---- images ---------------------------------------------------------------- */

static int s_ref_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':' || c == '/' || c == '@';
}

/* Copies `len` bytes of `text` NUL-terminated into out.  Returns 0 or MAO_EINVAL. */
static int s_put(char *out, size_t size, const char *text, size_t len, const char *ref)
{
    if (len + 1 > size) {
        mao_error_set("docker: image reference '%s' too long", ref);
        return MAO_EINVAL;
    }
    memcpy(out, text, len);
    out[len] = '\0';
    return 0;
}

int worker_docker_ref_split(const char *ref, char *repo, size_t repo_size, char *tag,
                            size_t tag_size)
{
    if (!ref || !ref[0] || strlen(ref) >= S_MAX_TEXT || !repo || !tag) {
        mao_error_set("docker: image reference is empty or too long");
        return MAO_EINVAL;
    }
    for (const char *p = ref; *p; p++) {
        if (!s_ref_char(*p)) {
            mao_error_set("docker: image reference '%s' has a character not allowed in one", ref);
            return MAO_EINVAL;
        }
    }

    const char *at = strchr(ref, '@');
    size_t name_len = at ? (size_t)(at - ref) : strlen(ref);
    const char *digest = at ? at + 1 : NULL;
    if (digest) {
        /* algorithm ':' hex, e.g. sha256:<64 hex> */
        const char *colon = strchr(digest, ':');
        size_t hex = colon ? strlen(colon + 1) : 0;
        int ok = colon && colon > digest && hex >= 32 && !strchr(digest, '@') &&
                 strspn(colon + 1, "0123456789abcdef") == hex;
        if (ok && strncmp(digest, "sha256:", 7) == 0)
            ok = hex == 64;
        if (!ok) {
            mao_error_set("docker: image reference '%s' has a bad digest", ref);
            return MAO_EINVAL;
        }
    }

    /* A tag is what follows the last ':' after the last '/': a ':' before a
     * '/' belongs to the registry host's port. */
    const char *tag_start = NULL;
    for (size_t i = 0; i < name_len; i++) {
        if (ref[i] == '/')
            tag_start = NULL;
        else if (ref[i] == ':')
            tag_start = ref + i + 1;
    }
    size_t repo_len = tag_start ? (size_t)(tag_start - 1 - ref) : name_len;
    size_t tag_len = tag_start ? name_len - (size_t)(tag_start - ref) : 0;
    if (repo_len == 0 || ref[0] == '/' || ref[repo_len - 1] == '/' || (tag_start && !tag_len) ||
        memmem(ref, repo_len, "//", 2)) {
        mao_error_set("docker: image reference '%s' has an empty part", ref);
        return MAO_EINVAL;
    }

    int rc;
    if ((rc = s_put(repo, repo_size, ref, repo_len, ref)) < 0)
        return rc;
    if (digest) /* the Engine takes a digest in the tag parameter; it wins over a tag */
        return s_put(tag, tag_size, digest, strlen(digest), ref);
    if (tag_start)
        return s_put(tag, tag_size, tag_start, tag_len, ref);
    return s_put(tag, tag_size, "latest", strlen("latest"), ref);
}

int worker_docker_image_inspect(worker_docker_t *self, const char *image,
                                worker_docker_image_t *info)
{
    char esc[3 * S_MAX_TEXT + 1];
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    json_t *j = NULL;
    s_reply_t reply = {0};
    int rc;

    if (info)
        memset(info, 0, sizeof *info);
    if ((rc = s_escape(esc, sizeof esc, image, "image")) < 0)
        goto cleanup;
    snprintf(what, sizeof what, "inspect image %s", image);
    if ((rc = s_format(path, sizeof path, "/images/%s/json", esc)) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "GET", path, NULL, WORKER_DOCKER_CALL_MS, &j, &reply)) < 0)
        goto cleanup;
    if (reply.status != 200) {
        rc = s_status_error(what, &reply);
        goto cleanup;
    }
    const char *id = json_string_value(json_object_get(j, "Id"));
    if (!id) {
        mao_error_set("docker: %s: reply has no Id", what);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    if (info) {
        snprintf(info->id, sizeof info->id, "%s", id);
        const char *digest =
            json_string_value(json_array_get(json_object_get(j, "RepoDigests"), 0));
        snprintf(info->digest, sizeof info->digest, "%s", digest ? digest : "");
    }

cleanup:
    s_reply_clear(&reply);
    json_decref(j);
    return rc;
}

/* Takes one progress line: {"status": ...} or {"error": ..., "errorDetail":
 * {"message": ...}}.  Returns 0, MAO_EMALFORMED or MAO_ENOMEM. */
static int s_pull_line(s_pull_t *p, const char *line, size_t len)
{
    json_t *j = NULL;
    json_error_t jerr;
    int rc = 0;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return 0;
    if (!(j = json_loadb(line, len, 0, &jerr))) {
        mao_error_set("docker: pull progress line is not JSON: %s", jerr.text);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    const char *error =
        json_string_value(json_object_get(json_object_get(j, "errorDetail"), "message"));
    if (!error)
        error = json_string_value(json_object_get(j, "error"));
    if (error && !p->error && !(p->error = strdup(error))) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    /* keep the last line that is not a progress bar, e.g. "Status: Downloaded newer image" */
    const char *status = json_string_value(json_object_get(j, "status"));
    if (status && json_object_size(json_object_get(j, "progressDetail")) == 0)
        snprintf(p->status, sizeof p->status, "%s", status);

cleanup:
    json_decref(j);
    return rc;
}

/* Splits the pull stream into lines, each bounded to S_MAX_LINE. */
static int s_pull_sink(const char *data, size_t len, void *arg)
{
    s_pull_t *p = arg;
    int rc;

    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if ((rc = s_buf_add(&p->line, data, take)) < 0)
            return rc;
        if (!nl)
            break;
        if ((rc = s_pull_line(p, p->line.data ? p->line.data : "", p->line.len)) < 0)
            return rc;
        p->line.len = 0;
        data += take + 1;
        len -= take + 1;
    }
    return 0;
}

/* Sorts a pull failure's message into a code; sets the detail. */
static int s_pull_error(const char *what, const char *message, long status)
{
    static const char *const unreachable[] = {"connection refused",
                                              "no such host",
                                              "i/o timeout",
                                              "network is unreachable",
                                              "no route to host",
                                              "connection reset",
                                              "TLS handshake timeout",
                                              "Client.Timeout",
                                              "server misbehaving",
                                              "dial tcp",
                                              NULL};
    static const char *const missing[] = {"manifest unknown",
                                          "not found",
                                          "does not exist",
                                          "pull access denied",
                                          "name unknown",
                                          "repository name not known",
                                          NULL};
    int rc = MAO_EFAIL;

    if (status == 400)
        rc = MAO_EINVAL;
    for (size_t i = 0; rc == MAO_EFAIL && unreachable[i]; i++)
        if (strstr(message, unreachable[i]))
            rc = MAO_EUNAVAILABLE;
    for (size_t i = 0; rc == MAO_EFAIL && missing[i]; i++)
        if (strstr(message, missing[i]))
            rc = MAO_ENOTFOUND;
    if (rc == MAO_EFAIL && status == 404)
        rc = MAO_ENOTFOUND;
    if (status)
        mao_error_set("docker: %s: %s (HTTP %ld)", what, message, status);
    else
        mao_error_set("docker: %s: %s", what, message);
    return rc;
}

int worker_docker_image_pull(worker_docker_t *self, const char *image, long timeout_s)
{
    char repo[S_MAX_TEXT], tag[S_MAX_TEXT];
    char repo_esc[3 * S_MAX_TEXT + 1], tag_esc[3 * S_MAX_TEXT + 1];
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    s_pull_t p = {.line.max = S_MAX_LINE};
    s_reply_t reply = {0};
    long timeout_ms;
    int rc;

    if ((rc = s_timeout_ms(timeout_s, &timeout_ms)) < 0)
        goto cleanup;
    if ((rc = worker_docker_ref_split(image, repo, sizeof repo, tag, sizeof tag)) < 0)
        goto cleanup;
    snprintf(what, sizeof what, "pull %s", image);
    if ((rc = s_escape(repo_esc, sizeof repo_esc, repo, "image")) < 0 ||
        (rc = s_escape(tag_esc, sizeof tag_esc, tag, "tag")) < 0)
        goto cleanup;
    if ((rc = s_format(path, sizeof path, "/images/create?fromImage=%s&tag=%s", repo_esc,
                       tag_esc)) < 0)
        goto cleanup;
    mao_log_info("docker", "pull image=%s", image);
    if ((rc = s_call(self, what, "POST", path, NULL, timeout_ms, s_pull_sink, &p, &reply)) < 0)
        goto cleanup;
    if (reply.status < 200 || reply.status > 299) {
        rc = s_pull_error(what, reply.message ? reply.message : "no message", reply.status);
        goto cleanup;
    }
    if (p.line.len > 0 && (rc = s_pull_line(&p, p.line.data, p.line.len)) < 0)
        goto cleanup;
    if (p.error) {
        rc = s_pull_error(what, p.error, 0);
        goto cleanup;
    }
    mao_log_info("docker", "pulled image=%s status=\"%s\"", image, p.status);

cleanup:
    s_reply_clear(&reply);
    free(p.line.data);
    free(p.error);
    return rc;
}

int worker_docker_image_remove(worker_docker_t *self, const char *image, int force)
{
    char esc[3 * S_MAX_TEXT + 1];
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    s_reply_t reply = {0};
    int rc;

    if ((rc = s_escape(esc, sizeof esc, image, "image")) < 0)
        goto cleanup;
    snprintf(what, sizeof what, "remove image %s", image);
    if ((rc = s_format(path, sizeof path, "/images/%s?force=%d", esc, force ? 1 : 0)) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "DELETE", path, NULL, WORKER_DOCKER_CALL_MS, NULL, &reply)) < 0)
        goto cleanup;
    if (reply.status != 200 && reply.status != 404)
        rc = s_status_error(what, &reply);

cleanup:
    s_reply_clear(&reply);
    return rc;
}

/* ---- containers ------------------------------------------------------------ */

void worker_docker_spec_init(worker_docker_spec_t *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->memory_bytes = WORKER_DOCKER_DEFAULT_MEMORY;
    spec->nano_cpus = WORKER_DOCKER_DEFAULT_NANO_CPUS;
    spec->pids_limit = WORKER_DOCKER_DEFAULT_PIDS;
    spec->readonly_rootfs = 1;
    spec->tmpfs_bytes = WORKER_DOCKER_DEFAULT_TMPFS;
    spec->network_mode = "bridge";
}

/* A JSON array of the strings of a NULL-terminated vector; NULL on no memory. */
static json_t *s_strv(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++) {
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Refuses a spec that cannot make a safe, labelled container.  Returns 0 or
 * MAO_EINVAL. */
static int s_spec_check(const worker_docker_spec_t *spec)
{
    const char *bad = NULL;

    if (!spec)
        bad = "no spec";
    else if (!spec->image || !spec->image[0])
        bad = "no image";
    else if (!spec->run_id || !spec->run_id[0] || !spec->tool || !spec->tool[0])
        bad = "run_id and tool are required (they label the container)";
    else if (spec->host_dir && spec->host_dir[0] != '/')
        bad = "host_dir must be an absolute path";
    else if (spec->container_dir && spec->container_dir[0] != '/')
        bad = "container_dir must be an absolute path";
    else if (spec->memory_bytes < 0 || spec->nano_cpus < 0 || spec->pids_limit < 0 ||
             spec->tmpfs_bytes < 0)
        bad = "a limit is negative";
    else if (spec->user && !spec->user[0])
        bad = "user is empty";
    else if (spec->label_count && !spec->labels)
        bad = "label_count without labels";
    for (size_t i = 0; !bad && i < spec->label_count; i++)
        if (!spec->labels[i].key || !spec->labels[i].key[0] || !spec->labels[i].value)
            bad = "a label has no key or no value";
    if (bad) {
        mao_error_set("docker: create: %s", bad);
        return MAO_EINVAL;
    }
    return 0;
}

/* The JSON body of POST /containers/create.  Returns a new object, or NULL
 * when out of memory. */
static json_t *s_create_body(const worker_docker_spec_t *spec)
{
    char user[64];
    char tmpfs[128];
    int bad = 0;

    if (spec->user)
        snprintf(user, sizeof user, "%s", spec->user);
    else
        snprintf(user, sizeof user, "%u:%u", (unsigned)getuid(), (unsigned)getgid());

    json_t *body = json_object();
    json_t *host = json_object();
    json_t *labels = json_object();
    if (!body || !host || !labels) {
        json_decref(body);
        json_decref(host);
        json_decref(labels);
        return NULL;
    }
    bad |= json_object_set_new(body, "HostConfig", host);
    bad |= json_object_set_new(body, "Labels", labels);

    bad |= json_object_set_new(body, "Image", json_string(spec->image));
    if (spec->command)
        bad |= json_object_set_new(body, "Cmd", s_strv(spec->command));
    bad |= json_object_set_new(body, "Env", s_strv(spec->env));
    bad |= json_object_set_new(body, "User", json_string(user));
    bad |= json_object_set_new(body, "WorkingDir", json_string(WORKER_DOCKER_WORKDIR));
    bad |= json_object_set_new(body, "Tty", json_false());
    bad |= json_object_set_new(body, "OpenStdin", json_false());
    bad |= json_object_set_new(body, "AttachStdin", json_false());
    bad |= json_object_set_new(body, "AttachStdout", json_false());
    bad |= json_object_set_new(body, "AttachStderr", json_false());

    for (size_t i = 0; i < spec->label_count; i++)
        bad |= json_object_set_new(labels, spec->labels[i].key, json_string(spec->labels[i].value));
    /* set last, so that extra labels cannot replace them */
    bad |= json_object_set_new(labels, WORKER_DOCKER_LABEL_RUN, json_string(spec->run_id));
    bad |= json_object_set_new(labels, WORKER_DOCKER_LABEL_TOOL, json_string(spec->tool));

    if (spec->host_dir) {
        json_t *mount = json_pack(
            "{s:s, s:s, s:s, s:b}", "Type", "bind", "Source", spec->host_dir, "Target",
            spec->container_dir ? spec->container_dir : WORKER_DOCKER_DATA_DIR, "ReadOnly", 0);
        json_t *mounts = json_array();
        bad |= json_array_append_new(mounts, mount);
        bad |= json_object_set_new(host, "Mounts", mounts);
    }
    if (spec->memory_bytes > 0) {
        bad |= json_object_set_new(host, "Memory", json_integer(spec->memory_bytes));
        bad |= json_object_set_new(host, "MemorySwap", json_integer(spec->memory_bytes));
    }
    if (spec->nano_cpus > 0)
        bad |= json_object_set_new(host, "NanoCpus", json_integer(spec->nano_cpus));
    if (spec->pids_limit > 0)
        bad |= json_object_set_new(host, "PidsLimit", json_integer(spec->pids_limit));
    bad |= json_object_set_new(host, "ReadonlyRootfs", json_boolean(spec->readonly_rootfs));
    if (spec->readonly_rootfs) {
        /* mode 1777: the tool's user is not root, and must write there */
        snprintf(tmpfs, sizeof tmpfs, "rw,nosuid,nodev,size=%lld,mode=1777",
                 (long long)(spec->tmpfs_bytes ? spec->tmpfs_bytes : WORKER_DOCKER_DEFAULT_TMPFS));
        bad |= json_object_set_new(host, "Tmpfs", json_pack("{s:s}", "/tmp", tmpfs));
    }
    bad |= json_object_set_new(host, "NetworkMode",
                               json_string(spec->network_mode ? spec->network_mode : "bridge"));
    bad |= json_object_set_new(host, "CapDrop", json_pack("[s]", "ALL"));
    bad |= json_object_set_new(host, "CapAdd", s_strv(spec->cap_add));
    bad |= json_object_set_new(host, "SecurityOpt", json_pack("[s]", "no-new-privileges"));
    bad |= json_object_set_new(host, "Privileged", json_false());
    bad |= json_object_set_new(host, "AutoRemove", json_false());

    if (bad) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int worker_docker_create(worker_docker_t *self, const worker_docker_spec_t *spec, const char *name,
                         char id[65])
{
    char esc[3 * S_MAX_TEXT + 1];
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    json_t *body = NULL, *j = NULL;
    char *text = NULL;
    s_reply_t reply = {0};
    int rc;

    if (!id) {
        mao_error_set("docker: create needs somewhere to put the id");
        return MAO_EINVAL;
    }
    id[0] = '\0';
    if ((rc = s_spec_check(spec)) < 0)
        goto cleanup;
    snprintf(what, sizeof what, "create %s", name ? name : spec->image);
    if (name) {
        if ((rc = s_escape(esc, sizeof esc, name, "container name")) < 0 ||
            (rc = s_format(path, sizeof path, "/containers/create?name=%s", esc)) < 0)
            goto cleanup;
    } else if ((rc = s_format(path, sizeof path, "/containers/create")) < 0) {
        goto cleanup;
    }
    if (!(body = s_create_body(spec)) || !(text = json_dumps(body, JSON_COMPACT))) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if ((rc = s_json(self, what, "POST", path, text, WORKER_DOCKER_CALL_MS, &j, &reply)) < 0)
        goto cleanup;
    if (reply.status != 201 && reply.status != 200) {
        rc = s_status_error(what, &reply);
        goto cleanup;
    }
    const char *new_id = json_string_value(json_object_get(j, "Id"));
    if (!s_is_id(new_id)) {
        mao_error_set("docker: %s: reply has no container id", what);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    memcpy(id, new_id, 65);
    size_t i;
    json_t *warning;
    json_array_foreach(json_object_get(j, "Warnings"), i, warning)
    {
        if (json_string_value(warning) && json_string_value(warning)[0])
            mao_log_warn("docker", "create warning container=%.12s: %s", id,
                         json_string_value(warning));
    }
    mao_log_debug("docker", "created container=%.12s image=%s run=%s", id, spec->image,
                  spec->run_id);

cleanup:
    s_reply_clear(&reply);
    json_decref(body);
    json_decref(j);
    free(text);
    return rc;
}

/* Builds "/containers/<escaped id><suffix>" and names the call in `what`.
 * Returns 0 or MAO_EINVAL. */
static int s_container_path(char *path, size_t size, char *what, size_t what_size, const char *verb,
                            const char *id, const char *suffix)
{
    char esc[3 * S_MAX_TEXT + 1];
    int rc;

    if ((rc = s_escape(esc, sizeof esc, id, "container id")) < 0)
        return rc;
    /* a full id is shortened as docker ps does; a name is kept whole */
    snprintf(what, what_size, "%s %.*s", verb, s_is_id(id) ? S_SHORT_ID : S_MAX_TEXT, id);
    return s_format(path, size, "/containers/%s%s", esc, suffix);
}

int worker_docker_start(worker_docker_t *self, const char *id)
{
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    s_reply_t reply = {0};
    int rc;

    if ((rc = s_container_path(path, sizeof path, what, sizeof what, "start", id, "/start")) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "POST", path, NULL, WORKER_DOCKER_CALL_MS, NULL, &reply)) < 0)
        goto cleanup;
    if (reply.status != 204 && reply.status != 304) /* 304: running already */
        rc = s_status_error(what, &reply);

cleanup:
    s_reply_clear(&reply);
    return rc;
}

int worker_docker_wait(worker_docker_t *self, const char *id, long timeout_s, long *exit_code,
                       int *oom_killed)
{
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    json_t *j = NULL;
    s_reply_t reply = {0};
    worker_docker_state_t state;
    long timeout_ms;
    int rc;

    if (exit_code)
        *exit_code = -1;
    if (oom_killed)
        *oom_killed = 0;
    if ((rc = s_timeout_ms(timeout_s, &timeout_ms)) < 0)
        goto cleanup;
    if ((rc = s_container_path(path, sizeof path, what, sizeof what, "wait", id,
                               "/wait?condition=not-running")) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "POST", path, NULL, timeout_ms, &j, &reply)) < 0)
        goto cleanup;
    if (reply.status != 200) {
        rc = s_status_error(what, &reply);
        goto cleanup;
    }
    json_t *code = json_object_get(j, "StatusCode");
    if (!json_is_integer(code)) {
        mao_error_set("docker: %s: reply has no StatusCode", what);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    if (exit_code)
        *exit_code = (long)json_integer_value(code);
    /* set when the container never ran (its start failed) */
    const char *error = json_string_value(json_object_get(json_object_get(j, "Error"), "Message"));
    if (error && error[0]) {
        mao_error_set("docker: %s: %s", what, error);
        rc = MAO_EFAIL;
        goto cleanup;
    }
    if (oom_killed) {
        if ((rc = worker_docker_inspect_state(self, id, &state)) < 0)
            goto cleanup;
        *oom_killed = state.oom_killed;
    }

cleanup:
    s_reply_clear(&reply);
    json_decref(j);
    return rc;
}

int worker_docker_kill(worker_docker_t *self, const char *id)
{
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    s_reply_t reply = {0};
    int rc;

    if ((rc = s_container_path(path, sizeof path, what, sizeof what, "kill", id,
                               "/kill?signal=SIGKILL")) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "POST", path, NULL, WORKER_DOCKER_CALL_MS, NULL, &reply)) < 0)
        goto cleanup;
    /* 409: not running (any more), which is what the caller wants */
    if (reply.status != 204 && reply.status != 409)
        rc = s_status_error(what, &reply);

cleanup:
    s_reply_clear(&reply);
    return rc;
}

/* GET /containers/{id}/json, parsed.  Returns 0 or a code as the others. */
static int s_inspect(worker_docker_t *self, const char *id, json_t **out)
{
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    s_reply_t reply = {0};
    int rc;

    *out = NULL;
    if ((rc = s_container_path(path, sizeof path, what, sizeof what, "inspect", id, "/json")) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "GET", path, NULL, WORKER_DOCKER_CALL_MS, out, &reply)) < 0)
        goto cleanup;
    if (reply.status != 200)
        rc = s_status_error(what, &reply);

cleanup:
    s_reply_clear(&reply);
    return rc;
}

int worker_docker_inspect_state(worker_docker_t *self, const char *id, worker_docker_state_t *state)
{
    json_t *j = NULL;
    int rc;

    if (!state) {
        mao_error_set("docker: inspect needs somewhere to put the state");
        return MAO_EINVAL;
    }
    memset(state, 0, sizeof *state);
    if ((rc = s_inspect(self, id, &j)) < 0)
        goto cleanup;
    json_t *s = json_object_get(j, "State");
    if (!json_is_object(s)) {
        mao_error_set("docker: inspect: reply has no State");
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    s_copy_str(state->status, sizeof state->status, s, "Status");
    s_copy_str(state->error, sizeof state->error, s, "Error");
    state->running = json_is_true(json_object_get(s, "Running"));
    state->oom_killed = json_is_true(json_object_get(s, "OOMKilled"));
    state->exit_code = (long)json_integer_value(json_object_get(s, "ExitCode"));

cleanup:
    json_decref(j);
    return rc;
}

int worker_docker_inspect_json(worker_docker_t *self, const char *id, char **out)
{
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    s_buf_t buf = {.max = WORKER_DOCKER_MAX_JSON};
    s_reply_t reply = {0};
    int rc;

    if (!out) {
        mao_error_set("docker: inspect needs somewhere to put the JSON");
        return MAO_EINVAL;
    }
    *out = NULL;
    if ((rc = s_container_path(path, sizeof path, what, sizeof what, "inspect", id, "/json")) < 0)
        goto cleanup;
    if ((rc = s_call(self, what, "GET", path, NULL, WORKER_DOCKER_CALL_MS, s_buf_sink, &buf,
                     &reply)) < 0)
        goto cleanup;
    if (reply.status != 200) {
        rc = s_status_error(what, &reply);
        goto cleanup;
    }
    if (!buf.data) {
        mao_error_set("docker: %s: empty reply", what);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    *out = buf.data;
    buf.data = NULL;

cleanup:
    s_reply_clear(&reply);
    free(buf.data);
    return rc;
}

/* Keeps the last `max` bytes of what the log says. */
static void s_logs_keep(s_logs_t *l, const char *data, size_t len)
{
    if (len >= l->max) {
        memcpy(l->data, data + len - l->max, l->max);
        l->len = l->max;
        return;
    }
    if (l->len + len > 2 * l->max) {
        size_t keep = l->max - len; /* < l->len here */
        memmove(l->data, l->data + l->len - keep, keep);
        l->len = keep;
    }
    memcpy(l->data + l->len, data, len);
    l->len += len;
}

/* Strips the 8-byte frame headers of a non-TTY log stream. */
static int s_logs_sink(const char *data, size_t len, void *arg)
{
    s_logs_t *l = arg;

    if (l->raw) {
        s_logs_keep(l, data, len);
        return 0;
    }
    while (len > 0) {
        if (l->payload_left == 0) {
            size_t take = sizeof l->head - l->head_len;
            if (take > len)
                take = len;
            memcpy(l->head + l->head_len, data, take);
            l->head_len += take;
            data += take;
            len -= take;
            if (l->head_len < sizeof l->head)
                break;
            if (l->head[0] > 2 || l->head[1] || l->head[2] || l->head[3]) {
                mao_error_set("docker: logs: bad stream frame header");
                return MAO_EMALFORMED;
            }
            l->payload_left = (size_t)l->head[4] << 24 | (size_t)l->head[5] << 16 |
                              (size_t)l->head[6] << 8 | (size_t)l->head[7];
            l->head_len = 0;
            continue;
        }
        size_t take = l->payload_left < len ? l->payload_left : len;
        s_logs_keep(l, data, take);
        l->payload_left -= take;
        data += take;
        len -= take;
    }
    return 0;
}

int worker_docker_logs_tail(worker_docker_t *self, const char *id, size_t max_bytes, char **out)
{
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    char suffix[96];
    json_t *j = NULL;
    s_logs_t l = {.max = max_bytes};
    s_reply_t reply = {0};
    int rc;

    if (!out) {
        mao_error_set("docker: logs needs somewhere to put them");
        return MAO_EINVAL;
    }
    *out = NULL;
    if (max_bytes > WORKER_DOCKER_MAX_LOGS) {
        mao_error_set("docker: logs: at most %u bytes can be kept", WORKER_DOCKER_MAX_LOGS);
        rc = MAO_EINVAL;
        goto cleanup;
    }
    /* A TTY container's log has no frame headers. */
    if ((rc = s_inspect(self, id, &j)) < 0)
        goto cleanup;
    l.raw = json_is_true(json_object_get(json_object_get(j, "Config"), "Tty"));
    if (!(l.data = malloc(2 * max_bytes + 1))) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if (max_bytes > 0) {
        /* Every line holds at least one byte, so max_bytes lines hold the last
         * max_bytes bytes; Docker need not send more. */
        snprintf(suffix, sizeof suffix, "/logs?stdout=1&stderr=1&tail=%zu", max_bytes);
        if ((rc = s_container_path(path, sizeof path, what, sizeof what, "logs", id, suffix)) < 0)
            goto cleanup;
        if ((rc = s_call(self, what, "GET", path, NULL, WORKER_DOCKER_CALL_MS, s_logs_sink, &l,
                         &reply)) < 0)
            goto cleanup;
        if (reply.status != 200) {
            rc = s_status_error(what, &reply);
            goto cleanup;
        }
    }
    if (l.len > max_bytes) {
        memmove(l.data, l.data + l.len - max_bytes, max_bytes);
        l.len = max_bytes;
    }
    l.data[l.len] = '\0';
    *out = l.data;
    l.data = NULL;

cleanup:
    s_reply_clear(&reply);
    json_decref(j);
    free(l.data);
    return rc;
}

int worker_docker_remove(worker_docker_t *self, const char *id, int force)
{
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    s_reply_t reply = {0};
    int rc;

    if ((rc = s_container_path(path, sizeof path, what, sizeof what, "remove", id,
                               force ? "?v=1&force=1" : "?v=1&force=0")) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "DELETE", path, NULL, WORKER_DOCKER_CALL_MS, NULL, &reply)) < 0)
        goto cleanup;
    if (reply.status != 204 && reply.status != 404) /* 404: gone already */
        rc = s_status_error(what, &reply);

cleanup:
    s_reply_clear(&reply);
    return rc;
}

void worker_docker_ids_free(char ***ids_p)
{
    if (!ids_p || !*ids_p)
        return;
    for (char **p = *ids_p; *p; p++)
        free(*p);
    free(*ids_p);
    *ids_p = NULL;
}

int worker_docker_list(worker_docker_t *self, const char *label, char ***ids, size_t *count)
{
    char esc[3 * S_MAX_TEXT + 1];
    char path[S_MAX_PATH];
    char what[S_MAX_TEXT + 32];
    json_t *filters = NULL, *j = NULL;
    char *text = NULL;
    char **found = NULL;
    s_reply_t reply = {0};
    size_t n = 0;
    int rc;

    if (!ids) {
        mao_error_set("docker: list needs somewhere to put the ids");
        return MAO_EINVAL;
    }
    *ids = NULL;
    if (count)
        *count = 0;
    if (!label || !label[0] || label[0] == '=' || strlen(label) >= S_MAX_TEXT) {
        mao_error_set("docker: list: the label must be \"key\" or \"key=value\"");
        rc = MAO_EINVAL;
        goto cleanup;
    }
    snprintf(what, sizeof what, "list containers with label %s", label);
    if (!(filters = json_pack("{s:[s]}", "label", label)) ||
        !(text = json_dumps(filters, JSON_COMPACT))) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if ((rc = s_escape(esc, sizeof esc, text, "label filter")) < 0 ||
        (rc = s_format(path, sizeof path, "/containers/json?all=1&filters=%s", esc)) < 0)
        goto cleanup;
    if ((rc = s_json(self, what, "GET", path, NULL, WORKER_DOCKER_CALL_MS, &j, &reply)) < 0)
        goto cleanup;
    if (reply.status != 200) {
        rc = s_status_error(what, &reply);
        goto cleanup;
    }
    if (!json_is_array(j)) {
        mao_error_set("docker: %s: reply is not a list", what);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    if (!(found = calloc(json_array_size(j) + 1, sizeof *found))) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    size_t i;
    json_t *c;
    json_array_foreach(j, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "Id"));
        if (!s_is_id(id)) {
            mao_error_set("docker: %s: an entry has no container id", what);
            rc = MAO_EMALFORMED;
            goto cleanup;
        }
        if (!(found[n] = strdup(id))) {
            mao_error_set("out of memory");
            rc = MAO_ENOMEM;
            goto cleanup;
        }
        n++;
    }
    *ids = found;
    found = NULL;
    if (count)
        *count = n;

cleanup:
    s_reply_clear(&reply);
    worker_docker_ids_free(&found);
    json_decref(filters);
    json_decref(j);
    free(text);
    return rc;
}
