/*
 * mao_etcd: etcd v3 over its JSON gateway, and transactions over gRPC.
 *
 * Through the gateway keys and values travel base64-encoded; 64-bit numbers
 * travel as JSON strings.  A request is a POST of one JSON object to
 * /v3/<service>/<call>; watch is one long POST whose reply streams one JSON
 * object per line.  A transaction is one gRPC call (below).
 *
 * Invariants: `current` is the index of the endpoint that last answered; a
 * request that fails to connect (or, when it is safe to repeat, times out)
 * moves on to the next endpoint, each tried at most once per request.
 */
#include "mao_etcd.h"
#include "mao_error.h"
#include "mao_log.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_MAX_REPLY (64u * 1024 * 1024) /* a reply larger than this is refused */
#define S_MAX_ENDPOINTS 16
#define S_EAUTH (-100) /* internal: the token was refused (expired); never returned */
#define S_NOT_GRPC (-101) /* internal: an endpoint did not answer gRPC; never returned */
#define S_NOT_GRPC_MAX 3  /* after this many such answers in a row, the gateway only */
#define S_GRPC_NEVER 65   /* grpc_min_ops from this on: no transaction over gRPC */

typedef struct {
    CURL **items;
    size_t count, cap;
} s_pool_t;

struct mao_etcd_t {
    char *endpoints[S_MAX_ENDPOINTS]; /* base URLs without trailing '/' */
    size_t endpoint_count;
    atomic_size_t current; /* endpoint tried first */
    char *prefix;          /* prepended to every key */
    size_t prefix_len;
    long timeout_ms;         /* bound on a unary request */
    pthread_mutex_t lock;    /* guards the pools below */
    s_pool_t pool;           /* idle handles for the gateway */
    s_pool_t grpc_pool;      /* idle handles for gRPC */
    struct curl_slist *hdrs; /* Content-Type, and no Expect: 100-continue */
    struct curl_slist *grpc_hdrs; /* gRPC's Content-Type and TE */
    atomic_int not_grpc;     /* gRPC answers missed in a row; S_NOT_GRPC_MAX: gateway only */
    long grpc_min_ops;       /* smaller transactions go through the gateway */
    char *cacert, *cert, *key; /* TLS files, or NULL */
    char *user, *password;   /* etcd authentication, or NULL */
    pthread_mutex_t auth_lock; /* guards `token` */
    char *token;             /* the current auth token, or NULL */
};

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} s_buf_t;

/* ---- base64 ---------------------------------------------------------------- */

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *s_b64_encode(const char *in, size_t len)
{
    size_t outlen = 4 * ((len + 2) / 3);
    char *out = malloc(outlen + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = s_b64[(v >> 18) & 63];
        out[o++] = s_b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? s_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? s_b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int s_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes into a new NUL-terminated buffer; NULL on bad input or no memory. */
static char *s_b64_decode(const char *in, size_t *outlen)
{
    size_t len = strlen(in);
    char *out = malloc(len / 4 * 3 + 4);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '=')
            break;
        int v = s_b64_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* ---- small helpers --------------------------------------------------------- */

static int64_t s_int64(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return 0;
}

static json_t *s_json_int64(int64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, v);
    return json_string(text);
}

/* A new string holding prefix + key. */
static char *s_full_key(mao_etcd_t *self, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    char *full = malloc(self->prefix_len + klen + 1);
    if (!full)
        return NULL;
    memcpy(full, self->prefix, self->prefix_len);
    memcpy(full + self->prefix_len, key, klen + 1);
    *len = self->prefix_len + klen;
    return full;
}

/* Sets obj[name] to base64(data); returns 0 or MAO_ENOMEM. */
static int s_set_b64(json_t *obj, const char *name, const char *data, size_t len)
{
    char *enc = s_b64_encode(data, len);
    if (!enc || json_object_set_new(obj, name, json_string(enc)) < 0) {
        free(enc);
        return MAO_ENOMEM;
    }
    free(enc);
    return 0;
}

static int s_set_key(mao_etcd_t *self, json_t *obj, const char *key)
{
    size_t len;
    char *full = s_full_key(self, key, &len);
    if (!full)
        return MAO_ENOMEM;
    int rc = s_set_b64(obj, "key", full, len);
    free(full);
    return rc;
}

/* The end of the range of every key starting with prefix + key. */
static int s_set_range_end(mao_etcd_t *self, json_t *obj, const char *key)
{
    size_t len;
    char *full = s_full_key(self, key, &len);
    if (!full)
        return MAO_ENOMEM;
    int rc;
    /* Increment the last byte that is not 0xff; an all-0xff key means "to the end". */
    while (len > 0 && (unsigned char)full[len - 1] == 0xff)
        len--;
    if (len == 0) {
        rc = s_set_b64(obj, "range_end", "\0", 1);
    } else {
        full[len - 1] = (char)((unsigned char)full[len - 1] + 1);
        rc = s_set_b64(obj, "range_end", full, len);
    }
    free(full);
    return rc;
}

/* Fills a kv from the gateway's JSON; strips the client prefix from the key. */
static int s_kv_from_json(mao_etcd_t *self, json_t *j, mao_etcd_kv_t *kv)
{
    memset(kv, 0, sizeof *kv);
    const char *k64 = json_string_value(json_object_get(j, "key"));
    const char *v64 = json_string_value(json_object_get(j, "value"));
    size_t klen = 0;
    char *key = s_b64_decode(k64 ? k64 : "", &klen);
    char *value = s_b64_decode(v64 ? v64 : "", &kv->value_len);
    if (!key || !value) {
        free(key);
        free(value);
        mao_error_set("etcd answered a key or value that is not base64");
        return MAO_EMALFORMED;
    }
    if (klen >= self->prefix_len && memcmp(key, self->prefix, self->prefix_len) == 0)
        memmove(key, key + self->prefix_len, klen - self->prefix_len + 1);
    kv->key = key;
    kv->value = value;
    kv->create_revision = s_int64(j, "create_revision");
    kv->mod_revision = s_int64(j, "mod_revision");
    kv->version = s_int64(j, "version");
    kv->lease = s_int64(j, "lease");
    return 0;
}

void mao_etcd_kv_free(mao_etcd_kv_t *kv)
{
    if (!kv)
        return;
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof *kv);
}

void mao_etcd_kvs_free(mao_etcd_kvs_t *kvs)
{
    if (!kvs)
        return;
    for (size_t i = 0; i < kvs->count; i++)
        mao_etcd_kv_free(&kvs->items[i]);
    free(kvs->items);
    memset(kvs, 0, sizeof *kvs);
}

/* ---- connection pool and requests ----------------------------------------- */

static size_t s_on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    s_buf_t *buf = user;
    size_t n = size * nmemb;
    if (buf->len + n + 1 > S_MAX_REPLY)
        return 0;
    if (buf->len + n + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        while (cap < buf->len + n + 1)
            cap *= 2;
        char *grown = realloc(buf->data, cap);
        if (!grown)
            return 0;
        buf->data = grown;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, ptr, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

/* A pool of idle curl handles, each with its kept-alive connection. */
static CURL *s_borrow(mao_etcd_t *self, s_pool_t *pool)
{
    CURL *h = NULL;
    pthread_mutex_lock(&self->lock);
    if (pool->count > 0)
        h = pool->items[--pool->count];
    pthread_mutex_unlock(&self->lock);
    if (!h)
        h = curl_easy_init();
    return h;
}

static void s_give_back(mao_etcd_t *self, s_pool_t *pool, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&self->lock);
    if (pool->count == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 8;
        CURL **grown = realloc(pool->items, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&self->lock);
            curl_easy_cleanup(h);
            return;
        }
        pool->items = grown;
        pool->cap = cap;
    }
    pool->items[pool->count++] = h;
    pthread_mutex_unlock(&self->lock);
}

static void s_pool_free(s_pool_t *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        curl_easy_cleanup(pool->items[i]);
    free(pool->items);
}

/* TLS files on a handle, when given. */
static void s_tls(mao_etcd_t *self, CURL *h)
{
    if (self->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, self->cacert);
    if (self->cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, self->cert);
    if (self->key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, self->key);
}

/* One request as it goes out. */
typedef struct {
    const char *path;
    const char *data;
    size_t len;
    int grpc;       /* to etcd's gRPC service over HTTP/2, else to the JSON gateway */
    int idempotent; /* may be repeated on another endpoint after a timeout (it is
                     * always repeated after a refused connection) */
    int auth;       /* carries the token (all but the authentication itself) */
} s_request_t;

/* What an endpoint answered. */
typedef struct {
    s_buf_t body;
    long status;
    int grpc_status; /* -1: none given */
    char grpc_message[200];
} s_answer_t;

/* Judges an answer: 0 (the caller's result is filled in from it) or a code;
 * MAO_EUNAVAILABLE asks the next endpoint when there is one. */
typedef int s_judge_fn(const s_answer_t *a, const char *endpoint, void *arg);

/* The headers of one request: the shared ones, plus the auth token when
 * etcd authentication is on (a new list the caller frees, else NULL with
 * *use pointing at the shared one). */
static struct curl_slist *s_headers(mao_etcd_t *self, const s_request_t *req,
                                    struct curl_slist **use)
{
    *use = req->grpc ? self->grpc_hdrs : self->hdrs;
    if (!self->user || !req->auth)
        return NULL;
    pthread_mutex_lock(&self->auth_lock);
    struct curl_slist *list = NULL;
    if (self->token) {
        char line[600];
        /* The gateway reads the token from Authorization, gRPC from metadata "token". */
        snprintf(line, sizeof line, "%s: %s", req->grpc ? "token" : "Authorization", self->token);
        list = curl_slist_append(NULL, req->grpc ? "Content-Type: application/grpc"
                                                 : "Content-Type: application/json");
        list = list ? curl_slist_append(list, req->grpc ? "TE: trailers" : "Expect:") : NULL;
        list = list ? curl_slist_append(list, line) : NULL;
    }
    pthread_mutex_unlock(&self->auth_lock);
    if (list)
        *use = list;
    return list;
}

/* Header lines, trailers included: gRPC's status comes in them. */
static size_t s_on_header(char *ptr, size_t size, size_t nmemb, void *user)
{
    s_answer_t *a = user;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(ptr, "grpc-status:", 12) == 0) {
        a->grpc_status = atoi(ptr + 12);
    } else if (n > 13 && strncasecmp(ptr, "grpc-message:", 13) == 0) {
        size_t k = 0;
        for (size_t i = 13; i < n && k + 1 < sizeof a->grpc_message; i++)
            if (ptr[i] >= 0x20 && ptr[i] < 0x7f && !(k == 0 && ptr[i] == ' '))
                a->grpc_message[k++] = ptr[i];
        a->grpc_message[k] = '\0';
    }
    return n;
}

/* libcurl before 8.0 fails a request on a reused HTTP/2 connection made
 * with prior knowledge (cleartext): such connections serve one request. */
static int s_h2c_reuse_broken(void)
{
    return curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
}

/* Sends one request to the endpoints in turn, from the one that last
 * answered, and judges the first answer.  S_NOT_GRPC: a gRPC request met a
 * server that does not speak it. */
static int s_send(mao_etcd_t *self, const s_request_t *req, s_judge_fn *judge, void *arg)
{
    int rc = MAO_EUNAVAILABLE;
    struct curl_slist *hdrs = NULL;
    struct curl_slist *own = s_headers(self, req, &hdrs);
    s_pool_t *pool = req->grpc ? &self->grpc_pool : &self->pool;
    CURL *h = s_borrow(self, pool);
    s_answer_t a = {0};
    char errbuf[CURL_ERROR_SIZE];
    char tried[512] = "";
    size_t tried_len = 0;

    if (!h) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    size_t start = atomic_load(&self->current);
    for (size_t i = 0; i < self->endpoint_count; i++) {
        size_t idx = (start + i) % self->endpoint_count;
        const char *endpoint = self->endpoints[idx];
        char url[512];
        snprintf(url, sizeof url, "%s%s", endpoint, req->path);
        a.body.len = 0;
        a.status = 0;
        a.grpc_status = -1;
        a.grpc_message[0] = '\0';
        errbuf[0] = '\0';
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->len);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        s_tls(self, h);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &a.body);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, self->timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         self->timeout_ms / 2 > 0 ? self->timeout_ms / 2 : 1L);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        if (req->grpc) {
            int tls = strncmp(endpoint, "https://", 8) == 0;
            curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                             tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
            if (!tls && s_h2c_reuse_broken())
                curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
            curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s_on_header);
            curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
        }
        CURLcode cc = curl_easy_perform(h);
        if (cc != CURLE_OK) {
            double connect_time = 0;
            curl_easy_getinfo(h, CURLINFO_CONNECT_TIME, &connect_time);
            int never_connected = connect_time <= 0.0;
            const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
            int n = snprintf(tried + tried_len, sizeof tried - tried_len, "%s%s: %s",
                             tried_len ? "; " : "", endpoint, why);
            if (n > 0 && tried_len + (size_t)n < sizeof tried)
                tried_len += (size_t)n;
            mao_log_debug("etcd", "request.failed endpoint=%s path=%s error=\"%s\"", endpoint,
                          req->path, why);
            if (req->grpc && !never_connected &&
                (cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM ||
                 cc == CURLE_WEIRD_SERVER_REPLY || cc == CURLE_UNSUPPORTED_PROTOCOL)) {
                mao_error_set("etcd at %s did not answer gRPC: %s", endpoint, why);
                rc = S_NOT_GRPC;
                goto cleanup;
            }
            if (cc == CURLE_OPERATION_TIMEDOUT && !never_connected && !req->idempotent) {
                mao_error_set("etcd did not answer in time (%s); the change may or may not "
                              "have been applied",
                              tried);
                rc = MAO_ETIMEOUT;
                goto cleanup;
            }
            continue;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
        rc = judge(&a, endpoint, arg);
        if (rc == MAO_EUNAVAILABLE && i + 1 < self->endpoint_count)
            continue; /* a member without a leader: ask another */
        if (rc == 0)
            atomic_store(&self->current, idx);
        goto cleanup;
    }
    mao_error_set("etcd unreachable (%s)", tried[0] ? tried : "no endpoint");
    rc = MAO_EUNAVAILABLE;
cleanup:
    curl_slist_free_all(own);
    s_give_back(self, pool, h);
    free(a.body.data);
    return rc;
}

/* Maps a gRPC status code to ours. */
static int s_grpc_code(long code, long http_status)
{
    switch (code) {
    case 5: return MAO_ENOTFOUND;     /* NOT_FOUND */
    case 4: return MAO_ETIMEOUT;      /* DEADLINE_EXCEEDED */
    case 14: return MAO_EUNAVAILABLE; /* UNAVAILABLE */
    case 3: return MAO_EINVAL;        /* INVALID_ARGUMENT */
    case 9: return MAO_ECONFLICT;     /* FAILED_PRECONDITION */
    case 8: return MAO_EUNAVAILABLE;  /* RESOURCE_EXHAUSTED */
    case 16: return S_EAUTH;          /* UNAUTHENTICATED: a token to renew */
    case 7: return MAO_EFAIL;         /* PERMISSION_DENIED */
    default: return http_status >= 500 ? MAO_EUNAVAILABLE : MAO_EFAIL;
    }
}

/* Maps an error body from the gateway ({"error","message","code"}) to a code. */
static int s_grpc_error(json_t *reply, long status, const char *endpoint)
{
    const char *msg = json_string_value(json_object_get(reply, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(reply, "error"));
    mao_error_set("etcd at %s: %s (HTTP %ld)", endpoint, msg ? msg : "error", status);
    return s_grpc_code((long)s_int64(reply, "code"), status);
}

/* Judges a gateway answer: its JSON object into *(json_t **)arg. */
static int s_judge_json(const s_answer_t *a, const char *endpoint, void *arg)
{
    json_t **reply = arg;
    json_error_t jerr;
    json_t *parsed = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, &jerr);
    if (!parsed || !json_is_object(parsed)) {
        json_decref(parsed);
        /* Say what it said (etcd's gateway answers some refusals in plain text). */
        char said[160] = "";
        size_t n = 0;
        for (size_t k = 0; a->body.data && k < a->body.len && n + 1 < sizeof said; k++)
            said[n++] = (a->body.data[k] >= 0x20 && a->body.data[k] < 0x7f) ? a->body.data[k] : ' ';
        said[n] = '\0';
        mao_error_set("etcd at %s answered HTTP %ld with a body that is not JSON%s%s", endpoint,
                      a->status, said[0] ? ": " : "", said);
        return MAO_EMALFORMED;
    }
    if (a->status != 200) {
        int rc = s_grpc_error(parsed, a->status, endpoint);
        json_decref(parsed);
        return rc;
    }
    *reply = parsed;
    return 0;
}

static int s_authenticate(mao_etcd_t *self);
static int s_has_token(mao_etcd_t *self);

/* Authenticates first when etcd authentication is on and no token is held;
 * when the token is refused (expired, or etcd restarted), gets a new one and
 * sends once more. */
static int s_exchange(mao_etcd_t *self, const s_request_t *req, s_judge_fn *judge, void *arg)
{
    int rc;
    if (self->user && !s_has_token(self) && (rc = s_authenticate(self)) < 0)
        return rc;
    rc = s_send(self, req, judge, arg);
    if (rc == S_EAUTH && self->user) {
        mao_error_clear();
        if ((rc = s_authenticate(self)) < 0)
            return rc;
        rc = s_send(self, req, judge, arg);
    }
    if (rc == S_EAUTH)
        rc = MAO_EFAIL;
    return rc;
}

/* Sends `body` to the gateway's `path` and parses the reply into `*reply`
 * (caller owns). */
static int s_call(mao_etcd_t *self, const char *path, json_t *body, int idempotent,
                  json_t **reply)
{
    *reply = NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return MAO_ENOMEM;
    s_request_t req = {.path = path, .data = text, .len = strlen(text),
                       .idempotent = idempotent, .auth = 1};
    int rc = s_exchange(self, &req, s_judge_json, reply);
    free(text);
    return rc;
}

/* Asks etcd for a token with the user and password (any thread). */
static int s_authenticate(mao_etcd_t *self)
{
    json_t *reply = NULL;
    json_t *body = json_pack("{s:s, s:s}", "name", self->user, "password", self->password);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return MAO_ENOMEM;
    s_request_t req = {.path = "/v3/auth/authenticate", .data = text, .len = strlen(text),
                       .idempotent = 1};
    int rc = s_send(self, &req, s_judge_json, &reply);
    free(text);
    if (rc < 0) {
        /* Whatever etcd said, it is not the caller's request that is wrong. */
        mao_error_prefix("etcd authentication as %s", self->user);
        return rc == MAO_ENOMEM ? rc : MAO_EUNAVAILABLE;
    }
    const char *token = json_string_value(json_object_get(reply, "token"));
    pthread_mutex_lock(&self->auth_lock);
    free(self->token);
    self->token = token ? strdup(token) : NULL;
    pthread_mutex_unlock(&self->auth_lock);
    json_decref(reply);
    if (!token) {
        mao_error_set("etcd authentication as %s gave no token", self->user);
        return MAO_EUNAVAILABLE;
    }
    return 0;
}

static int s_has_token(mao_etcd_t *self)
{
    pthread_mutex_lock(&self->auth_lock);
    int has = self->token != NULL;
    pthread_mutex_unlock(&self->auth_lock);
    return has;
}

/* ---- lifecycle -------------------------------------------------------------- */

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int mao_etcd_endpoints_from(char *out, size_t size, const char *endpoints, const char *host,
                            const char *port)
{
    int n;
    if (endpoints && *endpoints)
        n = snprintf(out, size, "%s", endpoints);
    else
        n = snprintf(out, size, "http://%s:%s", host && *host ? host : "127.0.0.1",
                     port && *port ? port : "2379");
    if (n < 0 || (size_t)n >= size) {
        mao_error_set("etcd endpoint list is too long");
        return MAO_EINVAL;
    }
    return 0;
}

int mao_etcd_open(mao_etcd_t **out, const mao_etcd_opts_t *opts)
{
    int rc = 0;
    char *list = NULL;
    mao_etcd_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    pthread_once(&s_curl_once, s_curl_init);
    pthread_mutex_init(&self->lock, NULL);
    pthread_mutex_init(&self->auth_lock, NULL);
    const char *given[] = {opts->cacert, opts->cert, opts->key, opts->user, opts->password};
    char **kept[] = {&self->cacert, &self->cert, &self->key, &self->user, &self->password};
    for (size_t i = 0; i < 5; i++)
        if (given[i] && *given[i] && !(*kept[i] = strdup(given[i]))) {
            rc = MAO_ENOMEM;
            goto cleanup;
        }
    if ((self->cert != NULL) != (self->key != NULL)) {
        mao_error_set("an etcd client certificate and its key go together");
        rc = MAO_EINVAL;
        goto cleanup;
    }
    if (self->user && !self->password) {
        mao_error_set("etcd user %s has no password", self->user);
        rc = MAO_EINVAL;
        goto cleanup;
    }
    self->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 3000;
    /* Without kept connections a gRPC call opens one: for a transaction of
     * one to three operations that costs etcd and us more than the gateway
     * does (measured: docs/benchmarks.md). */
    self->grpc_min_ops = opts->grpc_min_ops > 0 ? opts->grpc_min_ops
                         : s_h2c_reuse_broken() ? 4
                                                : 1;
    self->prefix = strdup(opts->prefix ? opts->prefix : "");
    list = strdup(opts->endpoints ? opts->endpoints : "");
    if (!self->prefix || !list) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    self->prefix_len = strlen(self->prefix);
    char *save = NULL;
    for (char *item = strtok_r(list, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        if (strncmp(item, "http://", 7) != 0 && strncmp(item, "https://", 8) != 0) {
            mao_error_set("etcd endpoint '%s' is not an http:// or https:// URL", item);
            rc = MAO_EINVAL;
            goto cleanup;
        }
        if (self->endpoint_count == S_MAX_ENDPOINTS) {
            mao_error_set("more than %d etcd endpoints", S_MAX_ENDPOINTS);
            rc = MAO_EINVAL;
            goto cleanup;
        }
        size_t len = strlen(item);
        while (len > 0 && item[len - 1] == '/')
            item[--len] = '\0';
        if (!(self->endpoints[self->endpoint_count++] = strdup(item))) {
            rc = MAO_ENOMEM;
            goto cleanup;
        }
    }
    if (self->endpoint_count == 0) {
        mao_error_set("no etcd endpoint given");
        rc = MAO_EINVAL;
        goto cleanup;
    }
    self->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    self->hdrs = curl_slist_append(self->hdrs, "Expect:");
    self->grpc_hdrs = curl_slist_append(NULL, "Content-Type: application/grpc");
    self->grpc_hdrs = curl_slist_append(self->grpc_hdrs, "TE: trailers");
    *out = self;
    self = NULL;
cleanup:
    free(list);
    mao_etcd_destroy(&self);
    return rc;
}

void mao_etcd_destroy(mao_etcd_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mao_etcd_t *self = *self_p;
    s_pool_free(&self->pool);
    s_pool_free(&self->grpc_pool);
    for (size_t i = 0; i < self->endpoint_count; i++)
        free(self->endpoints[i]);
    curl_slist_free_all(self->hdrs);
    curl_slist_free_all(self->grpc_hdrs);
    free(self->prefix);
    free(self->cacert);
    free(self->cert);
    free(self->key);
    free(self->user);
    free(self->password);
    free(self->token);
    pthread_mutex_destroy(&self->auth_lock);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

const char *mao_etcd_endpoint(mao_etcd_t *self)
{
    return self->endpoints[atomic_load(&self->current) % self->endpoint_count];
}

const char *mao_etcd_prefix(mao_etcd_t *self)
{
    return self->prefix;
}

/* ---- key-value --------------------------------------------------------------- */

int mao_etcd_ping(mao_etcd_t *self)
{
    json_t *body = json_object();
    json_t *reply = NULL;
    if (!body)
        return MAO_ENOMEM;
    int rc = s_call(self, "/v3/maintenance/status", body, 1, &reply);
    json_decref(body);
    json_decref(reply);
    return rc;
}

int mao_etcd_put(mao_etcd_t *self, const char *key, const char *value, size_t len, int64_t lease,
                 int64_t *revision, int *existed)
{
    int rc;
    json_t *reply = NULL;
    json_t *body = json_object();
    if (!body)
        return MAO_ENOMEM;
    if ((rc = s_set_key(self, body, key)) < 0 || (rc = s_set_b64(body, "value", value, len)) < 0)
        goto cleanup;
    if (lease)
        json_object_set_new(body, "lease", s_json_int64(lease));
    if (existed)
        json_object_set_new(body, "prev_kv", json_true());
    if ((rc = s_call(self, "/v3/kv/put", body, 1, &reply)) < 0)
        goto cleanup;
    if (revision)
        *revision = s_int64(json_object_get(reply, "header"), "revision");
    if (existed)
        *existed = json_object_get(reply, "prev_kv") != NULL;
cleanup:
    json_decref(body);
    json_decref(reply);
    return rc;
}

int mao_etcd_get(mao_etcd_t *self, const char *key, mao_etcd_kv_t *out)
{
    int rc;
    json_t *reply = NULL;
    json_t *body = json_object();
    if (!body)
        return MAO_ENOMEM;
    if ((rc = s_set_key(self, body, key)) < 0)
        goto cleanup;
    if ((rc = s_call(self, "/v3/kv/range", body, 1, &reply)) < 0)
        goto cleanup;
    json_t *kvs = json_object_get(reply, "kvs");
    if (!json_is_array(kvs) || json_array_size(kvs) == 0) {
        mao_error_set("key '%s%s' not found", self->prefix, key);
        rc = MAO_ENOTFOUND;
        goto cleanup;
    }
    rc = s_kv_from_json(self, json_array_get(kvs, 0), out);
cleanup:
    json_decref(body);
    json_decref(reply);
    return rc;
}

static int s_append_kv(mao_etcd_kvs_t *out, size_t *cap, mao_etcd_kv_t *kv)
{
    if (out->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        mao_etcd_kv_t *grown = realloc(out->items, ncap * sizeof *grown);
        if (!grown)
            return MAO_ENOMEM;
        out->items = grown;
        *cap = ncap;
    }
    out->items[out->count++] = *kv;
    return 0;
}

int mao_etcd_list_each(mao_etcd_t *self, const char *prefix, size_t page, int keys_only,
                       mao_etcd_each_fn *fn, void *arg, int64_t *revision)
{
    int rc = 0;
    int64_t rev = 0;
    json_t *body = json_object();
    json_t *reply = NULL;
    char *last = NULL; /* full key of the last pair read, to start the next page */
    size_t last_len = 0;

    if (!body)
        return MAO_ENOMEM;
    if (page == 0)
        page = 500;
    if ((rc = s_set_key(self, body, prefix)) < 0 || (rc = s_set_range_end(self, body, prefix)) < 0)
        goto cleanup;
    json_object_set_new(body, "limit", s_json_int64((int64_t)page));
    if (keys_only)
        json_object_set_new(body, "keys_only", json_true());
    for (;;) {
        if ((rc = s_call(self, "/v3/kv/range", body, 1, &reply)) < 0)
            goto cleanup;
        if (rev == 0) {
            /* Every later page reads the same snapshot. */
            rev = s_int64(json_object_get(reply, "header"), "revision");
            json_object_set_new(body, "revision", s_json_int64(rev));
        }
        json_t *kvs = json_object_get(reply, "kvs");
        size_t n = json_is_array(kvs) ? json_array_size(kvs) : 0;
        for (size_t i = 0; i < n; i++) {
            mao_etcd_kv_t kv;
            if ((rc = s_kv_from_json(self, json_array_get(kvs, i), &kv)) < 0)
                goto cleanup;
            if (i + 1 == n) {
                free(last);
                last = s_full_key(self, kv.key, &last_len);
                if (!last) {
                    mao_etcd_kv_free(&kv);
                    rc = MAO_ENOMEM;
                    goto cleanup;
                }
            }
            if ((rc = fn(&kv, arg)) < 0)
                goto cleanup;
            rc = 0;
        }
        int more = json_is_true(json_object_get(reply, "more"));
        json_decref(reply);
        reply = NULL;
        if (!more || n == 0)
            break;
        /* The next page starts just after the last key: that key plus a NUL byte. */
        char *next = malloc(last_len + 1);
        if (!next) {
            rc = MAO_ENOMEM;
            goto cleanup;
        }
        memcpy(next, last, last_len);
        next[last_len] = '\0';
        rc = s_set_b64(body, "key", next, last_len + 1);
        free(next);
        if (rc < 0)
            goto cleanup;
    }
    if (revision)
        *revision = rev;
cleanup:
    free(last);
    json_decref(body);
    json_decref(reply);
    return rc;
}

typedef struct {
    mao_etcd_kvs_t *out;
    size_t cap;
} s_collect_t;

static int s_collect(mao_etcd_kv_t *kv, void *arg)
{
    s_collect_t *c = arg;
    int rc = s_append_kv(c->out, &c->cap, kv);
    if (rc < 0)
        mao_etcd_kv_free(kv);
    return rc;
}

int mao_etcd_list(mao_etcd_t *self, const char *prefix, size_t page, int keys_only,
                  mao_etcd_kvs_t *out)
{
    s_collect_t c = {.out = out};
    memset(out, 0, sizeof *out);
    int rc = mao_etcd_list_each(self, prefix, page, keys_only, s_collect, &c, &out->revision);
    if (rc < 0)
        mao_etcd_kvs_free(out);
    return rc;
}

int mao_etcd_probe(mao_etcd_t *self, const char *prefix, int64_t min_mod_revision, int64_t *count,
                   int *newer)
{
    int rc;
    json_t *reply = NULL;
    json_t *body = json_object();
    if (!body)
        return MAO_ENOMEM;
    if ((rc = s_set_key(self, body, prefix)) < 0 || (rc = s_set_range_end(self, body, prefix)) < 0)
        goto cleanup;
    json_object_set_new(body, "keys_only", json_true());
    json_object_set_new(body, "limit", json_integer(1));
    json_object_set_new(body, "min_mod_revision", s_json_int64(min_mod_revision));
    if ((rc = s_call(self, "/v3/kv/range", body, 1, &reply)) < 0)
        goto cleanup;
    /* "count" is the number of keys in the range before the revision filter. */
    *count = s_int64(reply, "count");
    *newer = json_array_size(json_object_get(reply, "kvs")) > 0;
cleanup:
    json_decref(body);
    json_decref(reply);
    return rc;
}

int mao_etcd_delete(mao_etcd_t *self, const char *key, int prefix, int64_t *deleted)
{
    int rc;
    json_t *reply = NULL;
    json_t *body = json_object();
    if (!body)
        return MAO_ENOMEM;
    if ((rc = s_set_key(self, body, key)) < 0)
        goto cleanup;
    if (prefix && (rc = s_set_range_end(self, body, key)) < 0)
        goto cleanup;
    if ((rc = s_call(self, "/v3/kv/deleterange", body, 1, &reply)) < 0)
        goto cleanup;
    if (deleted)
        *deleted = s_int64(reply, "deleted");
cleanup:
    json_decref(body);
    json_decref(reply);
    return rc;
}

/* ---- transactions ------------------------------------------------------------ */

static json_t *s_compare(mao_etcd_t *self, const char *key, const char *target, int64_t value)
{
    json_t *cmp = json_object();
    if (!cmp || s_set_key(self, cmp, key) < 0) {
        json_decref(cmp);
        return NULL;
    }
    json_object_set_new(cmp, "target", json_string(target));
    json_object_set_new(cmp, "result", json_string("EQUAL"));
    const char *field = strcmp(target, "CREATE") == 0    ? "create_revision"
                        : strcmp(target, "VERSION") == 0 ? "version"
                                                         : "mod_revision";
    json_object_set_new(cmp, field, s_json_int64(value));
    return cmp;
}

static json_t *s_put_op(mao_etcd_t *self, const char *key, const char *value, size_t len,
                        int64_t lease)
{
    json_t *put = json_object();
    if (!put || s_set_key(self, put, key) < 0 || s_set_b64(put, "value", value, len) < 0) {
        json_decref(put);
        return NULL;
    }
    if (lease)
        json_object_set_new(put, "lease", s_json_int64(lease));
    return json_pack("{s:o}", "request_put", put);
}

static json_t *s_key_op(mao_etcd_t *self, const char *op, const char *key)
{
    json_t *req = json_object();
    if (!req || s_set_key(self, req, key) < 0) {
        json_decref(req);
        return NULL;
    }
    return json_pack("{s:o}", op, req);
}

/* Runs a one-compare txn (`failure` may be NULL: no failure branch);
 * *succeeded tells which branch ran.  The reply is kept in *reply for callers
 * that need the failure branch's range. */
static int s_txn(mao_etcd_t *self, json_t *cmp, json_t *success, json_t *failure, int *succeeded,
                 json_t **reply)
{
    int rc;
    json_t *body = NULL;
    *reply = NULL;
    if (!cmp || !success) {
        json_decref(cmp);
        json_decref(success);
        json_decref(failure);
        return MAO_ENOMEM;
    }
    body = failure ? json_pack("{s:[o], s:[o], s:[o]}", "compare", cmp, "success", success,
                               "failure", failure)
                   : json_pack("{s:[o], s:[o]}", "compare", cmp, "success", success);
    if (!body)
        return MAO_ENOMEM;
    rc = s_call(self, "/v3/kv/txn", body, 0, reply);
    json_decref(body);
    if (rc == 0)
        *succeeded = json_is_true(json_object_get(*reply, "succeeded"));
    return rc;
}

/* The first kv of the failure branch's range, if any. */
static int s_txn_range_kv(mao_etcd_t *self, json_t *reply, mao_etcd_kv_t *out)
{
    json_t *resp = json_array_get(json_object_get(reply, "responses"), 0);
    json_t *range = json_object_get(resp, "response_range");
    json_t *kv = json_array_get(json_object_get(range, "kvs"), 0);
    if (!kv)
        return MAO_ENOTFOUND;
    return s_kv_from_json(self, kv, out);
}

int mao_etcd_create(mao_etcd_t *self, const char *key, const char *value, size_t len,
                    int64_t lease, mao_etcd_kv_t *current)
{
    int ok = 0;
    json_t *reply = NULL;
    /* The cheapest transaction etcd offers for "create if absent": compare
     * the version, no failure branch.  The existing pair, when wanted, is read
     * only on the (rare) conflict path. */
    int rc = s_txn(self, s_compare(self, key, "VERSION", 0), s_put_op(self, key, value, len, lease),
                   NULL, &ok, &reply);
    if (rc == 0 && !ok) {
        if (current && mao_etcd_get(self, key, current) < 0)
            memset(current, 0, sizeof *current);
        mao_error_set("key '%s%s' exists already", self->prefix, key);
        rc = MAO_ECONFLICT;
    }
    json_decref(reply);
    return rc;
}

int mao_etcd_swap(mao_etcd_t *self, const char *key, const char *value, size_t len,
                  int64_t expected, int64_t lease)
{
    int ok = 0;
    json_t *reply = NULL;
    int rc = s_txn(self, s_compare(self, key, "MOD", expected),
                   s_put_op(self, key, value, len, lease), s_key_op(self, "request_range", key),
                   &ok, &reply);
    if (rc == 0 && !ok) {
        mao_error_set("key '%s%s' changed since revision %" PRId64, self->prefix, key, expected);
        rc = MAO_ECONFLICT;
    }
    json_decref(reply);
    return rc;
}

int mao_etcd_delete_if(mao_etcd_t *self, const char *key, int64_t expected)
{
    int ok = 0;
    json_t *reply = NULL;
    int rc = s_txn(self, s_compare(self, key, "MOD", expected),
                   s_key_op(self, "request_delete_range", key),
                   s_key_op(self, "request_range", key), &ok, &reply);
    if (rc == 0 && !ok) {
        mao_etcd_kv_t kv;
        if (s_txn_range_kv(self, reply, &kv) == 0) {
            mao_etcd_kv_free(&kv);
            mao_error_set("key '%s%s' changed since revision %" PRId64, self->prefix, key,
                          expected);
            rc = MAO_ECONFLICT;
        } else {
            mao_error_set("key '%s%s' not found", self->prefix, key);
            rc = MAO_ENOTFOUND;
        }
    }
    json_decref(reply);
    return rc;
}

int mao_etcd_batch(mao_etcd_t *self, const mao_etcd_op_t *ops, size_t count)
{
    int ok = 0;
    return mao_etcd_txn(self, NULL, 0, ops, count, &ok, NULL);
}

/* ---- transactions over gRPC ------------------------------------------------
 *
 * The recorder's batches are the bulk of what mao writes.  Through the
 * gateway etcd turns each JSON request into a gRPC call to itself; sent as
 * gRPC (protobuf in HTTP/2, framed by a 5-byte prefix) the same transaction
 * costs etcd about a quarter of the CPU.  Only what a transaction needs of
 * etcd's rpc.proto is written here. */

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed; /* out of memory */
} s_pb_t;

static void s_pb_raw(s_pb_t *b, const void *data, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void s_pb_varint(s_pb_t *b, uint64_t v)
{
    unsigned char out[10];
    size_t n = 0;
    do {
        out[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            out[n] |= 0x80;
        n++;
    } while (v);
    s_pb_raw(b, out, n);
}

/* A varint field (wire type 0). */
static void s_pb_number(s_pb_t *b, unsigned field, uint64_t v)
{
    s_pb_varint(b, (uint64_t)field << 3);
    s_pb_varint(b, v);
}

/* A length-delimited field (wire type 2): bytes or an embedded message. */
static void s_pb_bytes(s_pb_t *b, unsigned field, const void *data, size_t len)
{
    s_pb_varint(b, ((uint64_t)field << 3) | 2);
    s_pb_varint(b, len);
    s_pb_raw(b, data, len);
}

/* A key field: the prefix, then the key. */
static void s_pb_key(s_pb_t *b, mao_etcd_t *self, unsigned field, const char *key)
{
    size_t klen = strlen(key);
    s_pb_varint(b, ((uint64_t)field << 3) | 2);
    s_pb_varint(b, self->prefix_len + klen);
    s_pb_raw(b, self->prefix, self->prefix_len);
    s_pb_raw(b, key, klen);
}

static int s_pb_read_varint(const unsigned char *p, size_t n, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*pos >= n)
            return -1;
        unsigned char c = p[(*pos)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* One field of a message as read. */
typedef struct {
    uint64_t number;
    int wire;                   /* 0: varint (in `value`), 2: bytes; others skipped */
    uint64_t value;
    const unsigned char *bytes; /* `len` of them */
    size_t len;
} s_pb_field_t;

/* Reads the field at *pos of a message.  Returns 0, or -1 when the message
 * is malformed. */
static int s_pb_field(const unsigned char *p, size_t n, size_t *pos, s_pb_field_t *f)
{
    uint64_t tag, len;
    if (s_pb_read_varint(p, n, pos, &tag) < 0)
        return -1;
    f->number = tag >> 3;
    f->wire = (int)(tag & 7);
    switch (f->wire) {
    case 0:
        return s_pb_read_varint(p, n, pos, &f->value);
    case 1: /* fixed 64 bits */
    case 5: /* fixed 32 bits */
        len = f->wire == 1 ? 8 : 4;
        break;
    case 2:
        if (s_pb_read_varint(p, n, pos, &len) < 0)
            return -1;
        break;
    default:
        return -1;
    }
    if (len > n - *pos)
        return -1;
    f->bytes = p + *pos;
    f->len = (size_t)len;
    *pos += (size_t)len;
    return 0;
}

typedef struct {
    int succeeded;
    int64_t revision;
} s_txn_reply_t;

/* Judges a gRPC answer to a Txn: TxnResponse { header = 1 { revision = 3 },
 * succeeded = 2, ... } into *(s_txn_reply_t *)arg. */
static int s_judge_txn(const s_answer_t *a, const char *endpoint, void *arg)
{
    s_txn_reply_t *out = arg;
    if (a->grpc_status < 0) {
        mao_error_set("etcd at %s answered HTTP %ld without a gRPC status", endpoint, a->status);
        return S_NOT_GRPC;
    }
    if (a->grpc_status != 0) {
        mao_error_set("etcd at %s: %s (gRPC status %d)", endpoint,
                      a->grpc_message[0] ? a->grpc_message : "error", a->grpc_status);
        /* UNIMPLEMENTED: a gRPC server, but not etcd's KV service. */
        return a->grpc_status == 12 ? S_NOT_GRPC : s_grpc_code(a->grpc_status, 200);
    }
    const unsigned char *p = (const unsigned char *)a->body.data;
    size_t n = a->body.len;
    size_t len = n >= 5 ? ((size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4]) : 0;
    if (n < 5 || p[0] != 0 || len != n - 5) {
        mao_error_set("etcd at %s answered a transaction with %zu bytes that are not one "
                      "uncompressed gRPC message",
                      endpoint, n);
        return MAO_EMALFORMED;
    }
    size_t pos = 5;
    while (pos < n) {
        s_pb_field_t f;
        if (s_pb_field(p, n, &pos, &f) < 0)
            goto malformed;
        if (f.number == 2 && f.wire == 0)
            out->succeeded = f.value != 0;
        if (f.number == 1 && f.wire == 2) {
            size_t hpos = 0;
            while (hpos < f.len) {
                s_pb_field_t h;
                if (s_pb_field(f.bytes, f.len, &hpos, &h) < 0)
                    goto malformed;
                if (h.number == 3 && h.wire == 0)
                    out->revision = (int64_t)h.value;
            }
        }
    }
    return 0;
malformed:
    mao_error_set("etcd at %s answered a transaction with a malformed message", endpoint);
    return MAO_EMALFORMED;
}

/* Whether a later operation of the batch writes the same key (etcd refuses
 * a key twice in one transaction; the last one is sent). */
static int s_superseded(const mao_etcd_op_t *ops, size_t count, size_t i)
{
    for (size_t j = i + 1; j < count; j++)
        if (strcmp(ops[i].key, ops[j].key) == 0)
            return 1;
    return 0;
}

/* TxnRequest { compare = 1, success = 2 } in a gRPC frame into `out`. */
static int s_txn_message(mao_etcd_t *self, const mao_etcd_cmp_t *cmps, size_t ncmps,
                         const mao_etcd_op_t *ops, size_t count, s_pb_t *out)
{
    /* Compare.target: VERSION 0, CREATE 1, MOD 2, VALUE 3; the value's field
     * in Compare: version 4, create_revision 5, mod_revision 6, value 7. */
    static const unsigned target[] = {1, 2, 0, 3}, value_field[] = {5, 6, 4, 7};
    s_pb_t msg = {0}, part = {0}, op = {0};
    for (size_t i = 0; i < ncmps; i++) {
        part.len = 0;
        s_pb_number(&part, 1, 0); /* EQUAL */
        s_pb_number(&part, 2, target[cmps[i].target]);
        s_pb_key(&part, self, 3, cmps[i].key);
        if (cmps[i].target == MAO_ETCD_VALUE)
            s_pb_bytes(&part, 7, cmps[i].value, strlen(cmps[i].value));
        else
            s_pb_number(&part, value_field[cmps[i].target], (uint64_t)cmps[i].number);
        s_pb_bytes(&msg, 1, part.data, part.len);
    }
    for (size_t i = 0; i < count; i++) {
        if (s_superseded(ops, count, i))
            continue;
        /* RequestOp { request_put = 2 { key 1, value 2, lease 3 },
         *             request_delete_range = 3 { key 1 } } */
        part.len = 0;
        s_pb_key(&part, self, 1, ops[i].key);
        if (!ops[i].del) {
            s_pb_bytes(&part, 2, ops[i].value, ops[i].len);
            if (ops[i].lease)
                s_pb_number(&part, 3, (uint64_t)ops[i].lease);
        }
        op.len = 0;
        s_pb_bytes(&op, ops[i].del ? 3 : 2, part.data, part.len);
        s_pb_bytes(&msg, 2, op.data, op.len);
    }
    unsigned char frame[5] = {0, (unsigned char)(msg.len >> 24), (unsigned char)(msg.len >> 16),
                              (unsigned char)(msg.len >> 8), (unsigned char)msg.len};
    s_pb_raw(out, frame, sizeof frame);
    s_pb_raw(out, msg.data, msg.len);
    int failed = msg.failed || part.failed || op.failed || out->failed;
    free(msg.data);
    free(part.data);
    free(op.data);
    return failed ? MAO_ENOMEM : 0;
}

/* The same transaction through the gateway. */
static int s_txn_json(mao_etcd_t *self, const mao_etcd_cmp_t *cmps, size_t ncmps,
                      const mao_etcd_op_t *ops, size_t count, s_txn_reply_t *out)
{
    static const char *targets[] = {"CREATE", "MOD", "VERSION", "VALUE"};
    int rc = 0;
    json_t *reply = NULL;
    json_t *success = json_array();
    json_t *compare = json_array();
    if (!success || !compare) {
        json_decref(success);
        json_decref(compare);
        return MAO_ENOMEM;
    }
    for (size_t i = 0; i < ncmps; i++) {
        json_t *c;
        if (cmps[i].target == MAO_ETCD_VALUE) {
            c = json_object();
            if (c && (s_set_key(self, c, cmps[i].key) < 0 ||
                      s_set_b64(c, "value", cmps[i].value, strlen(cmps[i].value)) < 0)) {
                json_decref(c);
                c = NULL;
            }
            if (c) {
                json_object_set_new(c, "target", json_string("VALUE"));
                json_object_set_new(c, "result", json_string("EQUAL"));
            }
        } else {
            c = s_compare(self, cmps[i].key, targets[cmps[i].target], cmps[i].number);
        }
        if (!c || json_array_append_new(compare, c) < 0) {
            rc = MAO_ENOMEM;
            goto cleanup;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (s_superseded(ops, count, i))
            continue;
        json_t *op = ops[i].del ? s_key_op(self, "request_delete_range", ops[i].key)
                                : s_put_op(self, ops[i].key, ops[i].value, ops[i].len,
                                           ops[i].lease);
        if (!op || json_array_append_new(success, op) < 0) {
            rc = MAO_ENOMEM;
            goto cleanup;
        }
    }
    json_t *body = json_pack("{s:o, s:o}", "compare", compare, "success", success);
    compare = success = NULL;
    if (!body) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    /* Repeating it is safe: the conditions are evaluated again. */
    rc = s_call(self, "/v3/kv/txn", body, 1, &reply);
    json_decref(body);
    if (rc == 0) {
        out->succeeded = json_is_true(json_object_get(reply, "succeeded"));
        out->revision = s_int64(json_object_get(reply, "header"), "revision");
    }
cleanup:
    json_decref(compare);
    json_decref(success);
    json_decref(reply);
    return rc;
}

int mao_etcd_grpc_off(mao_etcd_t *self)
{
    return atomic_load(&self->not_grpc) >= S_NOT_GRPC_MAX;
}

int mao_etcd_txn(mao_etcd_t *self, const mao_etcd_cmp_t *cmps, size_t ncmps,
                 const mao_etcd_op_t *ops, size_t count, int *succeeded, int64_t *revision)
{
    *succeeded = 0;
    if (count > MAO_ETCD_TXN_OPS || ncmps > 8) {
        mao_error_set("a transaction holds at most %d operations and 8 conditions",
                      MAO_ETCD_TXN_OPS);
        return MAO_EINVAL;
    }
    s_txn_reply_t reply = {0};
    int rc = S_NOT_GRPC;
    if (self->grpc_min_ops < S_GRPC_NEVER && (long)(count + ncmps) >= self->grpc_min_ops &&
        atomic_load(&self->not_grpc) < S_NOT_GRPC_MAX) {
        s_pb_t msg = {0};
        if ((rc = s_txn_message(self, cmps, ncmps, ops, count, &msg)) < 0) {
            free(msg.data);
            return rc;
        }
        /* Repeating it is safe: the conditions are evaluated again. */
        s_request_t req = {.path = "/etcdserverpb.KV/Txn", .data = (const char *)msg.data,
                           .len = msg.len, .grpc = 1, .idempotent = 1, .auth = 1};
        rc = s_exchange(self, &req, s_judge_txn, &reply);
        free(msg.data);
        if (rc == S_NOT_GRPC) {
            int missed = atomic_fetch_add(&self->not_grpc, 1) + 1;
            if (missed == 1 || missed == S_NOT_GRPC_MAX)
                mao_log_warn("etcd", "grpc.%s error=\"%s\" (%s)",
                             missed == 1 ? "unanswered" : "off", mao_error_last(),
                             missed == 1 ? "this transaction goes through the gateway"
                                         : "transactions go through the gateway until a restart; "
                                           "[ETCD] grpc_min_ops = 65 sends them there at once");
        } else {
            atomic_store(&self->not_grpc, 0);
        }
    }
    if (rc == S_NOT_GRPC) {
        mao_error_clear();
        rc = s_txn_json(self, cmps, ncmps, ops, count, &reply);
    }
    if (rc == 0) {
        *succeeded = ncmps == 0 || reply.succeeded;
        if (revision)
            *revision = reply.revision;
    }
    return rc;
}

/* ---- leases ------------------------------------------------------------------ */

int mao_etcd_lease_grant(mao_etcd_t *self, long ttl_s, int64_t *id)
{
    json_t *reply = NULL;
    json_t *body = json_pack("{s:I}", "TTL", (json_int_t)ttl_s);
    if (!body)
        return MAO_ENOMEM;
    int rc = s_call(self, "/v3/lease/grant", body, 0, &reply);
    if (rc == 0) {
        *id = s_int64(reply, "ID");
        if (*id == 0) {
            mao_error_set("etcd granted no lease: %s",
                          json_string_value(json_object_get(reply, "error")) ?: "no ID");
            rc = MAO_EFAIL;
        }
    }
    json_decref(body);
    json_decref(reply);
    return rc;
}

int mao_etcd_lease_keepalive(mao_etcd_t *self, int64_t id, long *ttl_left)
{
    json_t *reply = NULL;
    json_t *body = json_pack("{s:o}", "ID", s_json_int64(id));
    if (!body)
        return MAO_ENOMEM;
    int rc = s_call(self, "/v3/lease/keepalive", body, 1, &reply);
    if (rc == 0) {
        json_t *result = json_object_get(reply, "result");
        int64_t ttl = s_int64(result, "TTL");
        if (!result || ttl <= 0) {
            mao_error_set("lease %" PRId64 " has expired", id);
            rc = MAO_ENOTFOUND;
        } else if (ttl_left) {
            *ttl_left = (long)ttl;
        }
    }
    json_decref(body);
    json_decref(reply);
    return rc;
}

int mao_etcd_lease_revoke(mao_etcd_t *self, int64_t id)
{
    json_t *reply = NULL;
    json_t *body = json_pack("{s:o}", "ID", s_json_int64(id));
    if (!body)
        return MAO_ENOMEM;
    int rc = s_call(self, "/v3/lease/revoke", body, 1, &reply);
    json_decref(body);
    json_decref(reply);
    return rc;
}

/* ---- watch ------------------------------------------------------------------- */

typedef struct {
    mao_etcd_t *self;
    s_buf_t line;      /* bytes of the line being received */
    mao_etcd_watch_fn *fn;
    void *arg;
    volatile int *stop;
    int64_t next;      /* revision to resume from */
    int created;       /* the gateway confirmed the watch */
    int stopped_by_fn; /* fn asked to stop */
    int failed;        /* a negative code when the stream said something wrong */
} s_watch_t;

static int s_watch_line(s_watch_t *w, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, 0, &jerr);
    if (!msg) {
        mao_error_set("etcd watch stream sent a line that is not JSON");
        w->failed = MAO_EMALFORMED;
        return -1;
    }
    json_t *result = json_object_get(msg, "result");
    if (!result) {
        w->failed = s_grpc_error(msg, 500, mao_etcd_endpoint(w->self));
        json_decref(msg);
        return -1;
    }
    int64_t header_rev = s_int64(json_object_get(result, "header"), "revision");
    if (json_is_true(json_object_get(result, "created"))) {
        w->created = 1;
        if (w->next == 0)
            w->next = header_rev + 1;
    }
    if (json_is_true(json_object_get(result, "canceled"))) {
        int64_t compact = s_int64(result, "compact_revision");
        mao_error_set("etcd cancelled the watch%s (revision %" PRId64 " is compacted)",
                      compact ? "" : " for another reason", w->next);
        w->failed = MAO_ENOTFOUND;
        json_decref(msg);
        return -1;
    }
    json_t *events = json_object_get(result, "events");
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *ev = json_array_get(events, i);
        mao_etcd_kv_t kv;
        if (s_kv_from_json(w->self, json_object_get(ev, "kv"), &kv) < 0) {
            w->failed = MAO_EMALFORMED;
            json_decref(msg);
            return -1;
        }
        const char *type = json_string_value(json_object_get(ev, "type"));
        mao_etcd_event_type_t t =
            type && strcmp(type, "DELETE") == 0 ? MAO_ETCD_DELETE : MAO_ETCD_PUT;
        if (kv.mod_revision >= w->next)
            w->next = kv.mod_revision + 1;
        int stop = w->fn(t, &kv, w->arg);
        mao_etcd_kv_free(&kv);
        if (stop) {
            w->stopped_by_fn = 1;
            json_decref(msg);
            return -1;
        }
    }
    json_decref(msg);
    return 0;
}

static size_t s_watch_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    s_watch_t *w = user;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] == '\n') {
            if (w->line.len > 0 && s_watch_line(w, w->line.data, w->line.len) < 0)
                return 0;
            w->line.len = 0;
        } else if (s_on_body(ptr + i, 1, 1, &w->line) != 1) {
            mao_error_set("etcd watch stream sent a line that is too long");
            w->failed = MAO_EMALFORMED;
            return 0;
        }
    }
    return n;
}

static int s_watch_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    s_watch_t *w = user;
    return w->stop && *w->stop ? 1 : 0;
}

int mao_etcd_watch(mao_etcd_t *self, const char *key, int prefix, int64_t start_revision,
                   long max_ms, volatile int *stop, mao_etcd_watch_fn *fn, void *arg,
                   int64_t *next_revision)
{
    int rc = MAO_EUNAVAILABLE;
    char *text = NULL;
    char errbuf[CURL_ERROR_SIZE];
    s_watch_t w = {.self = self, .fn = fn, .arg = arg, .stop = stop, .next = start_revision};
    struct curl_slist *watch_hdrs = NULL;
    json_t *req = json_object();
    CURL *h = curl_easy_init();

    if (!req || !h) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if ((rc = s_set_key(self, req, key)) < 0 || (prefix && (rc = s_set_range_end(self, req, key)) < 0))
        goto cleanup;
    if (start_revision > 0)
        json_object_set_new(req, "start_revision", s_json_int64(start_revision));
    json_t *body = json_pack("{s:o}", "create_request", req);
    req = NULL;
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    size_t start = atomic_load(&self->current);
    for (size_t i = 0; i < self->endpoint_count; i++) {
        const char *endpoint = self->endpoints[(start + i) % self->endpoint_count];
        char url[512];
        snprintf(url, sizeof url, "%s/v3/watch", endpoint);
        errbuf[0] = '\0';
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
        struct curl_slist *hdrs = NULL;
        if (self->user && !s_has_token(self) && (rc = s_authenticate(self)) < 0)
            goto cleanup;
        curl_slist_free_all(watch_hdrs);
        s_request_t watch_req = {.path = "/v3/watch", .auth = 1};
        watch_hdrs = s_headers(self, &watch_req, &hdrs);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        s_tls(self, h);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_watch_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, s_watch_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &w);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         self->timeout_ms / 2 > 0 ? self->timeout_ms / 2 : 1L);
        if (max_ms > 0)
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, max_ms);
        CURLcode cc = curl_easy_perform(h);
        if (w.stopped_by_fn || (stop && *stop)) {
            rc = 0;
            goto cleanup;
        }
        if (w.failed) {
            rc = w.failed;
            goto cleanup;
        }
        if (cc == CURLE_OPERATION_TIMEDOUT && w.created) {
            mao_error_set("watch ended after %ld ms", max_ms);
            rc = MAO_ETIMEOUT;
            goto cleanup;
        }
        if (w.created) {
            mao_error_set("etcd watch stream at %s broke: %s", endpoint,
                          errbuf[0] ? errbuf : curl_easy_strerror(cc));
            rc = MAO_EUNAVAILABLE;
            goto cleanup;
        }
        mao_error_set("etcd unreachable for watch at %s: %s", endpoint,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = MAO_EUNAVAILABLE;
    }
cleanup:
    if (rc < 0 && self->user && !w.created) {
        /* Perhaps the token expired: the next watch asks for a new one. */
        pthread_mutex_lock(&self->auth_lock);
        free(self->token);
        self->token = NULL;
        pthread_mutex_unlock(&self->auth_lock);
    }
    curl_slist_free_all(watch_hdrs);
    if (next_revision)
        *next_revision = w.next;
    free(w.line.data);
    free(text);
    json_decref(req);
    if (h)
        curl_easy_cleanup(h);
    return rc;
}
