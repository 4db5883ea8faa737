/*
 * mao_http: blocking HTTP requests with one reused curl handle.
 */
#include "mao_http.h"
#include "mao_error.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_REPLY (256u * 1024 * 1024)

struct mao_http_t {
    CURL *curl;              /* reused, so its connection is kept alive */
    struct curl_slist *hdrs; /* sent with every request */
    char *cainfo;            /* CA certificates to trust, or NULL */
};

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

mao_http_t *mao_http_new(void)
{
    pthread_once(&s_once, s_init);
    mao_http_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->curl = curl_easy_init();
    self->hdrs = curl_slist_append(NULL, "Expect:");
    if (!self->curl || !self->hdrs) {
        mao_http_destroy(&self);
        return NULL;
    }
    return self;
}

void mao_http_destroy(mao_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mao_http_t *self = *self_p;
    if (self->curl)
        curl_easy_cleanup(self->curl);
    curl_slist_free_all(self->hdrs);
    free(self->cainfo);
    free(self);
    *self_p = NULL;
}

int mao_http_add_header(mao_http_t *self, const char *line)
{
    struct curl_slist *grown = curl_slist_append(self->hdrs, line);
    if (!grown)
        return MAO_ENOMEM;
    self->hdrs = grown;
    return 0;
}

int mao_http_set_cainfo(mao_http_t *self, const char *path)
{
    free(self->cainfo);
    self->cainfo = path ? strdup(path) : NULL;
    return path && !self->cainfo ? MAO_ENOMEM : 0;
}

static size_t s_on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    mao_http_reply_t *r = user;
    size_t n = size * nmemb;
    if (r->len + n + 1 > S_MAX_REPLY)
        return 0;
    char *grown = realloc(r->body, r->len + n + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

int mao_http_request(mao_http_t *self, const char *method, const char *url, const char *body,
                     size_t len, long timeout_ms, mao_http_reply_t *reply)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = self->curl;
    struct curl_slist *hdrs = self->hdrs;
    struct curl_slist *with_type = NULL;

    memset(reply, 0, sizeof *reply);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
        with_type = curl_slist_append(NULL, "Content-Type: application/json");
        for (struct curl_slist *p = self->hdrs; p && with_type; p = p->next)
            with_type = curl_slist_append(with_type, p->data);
        if (with_type)
            hdrs = with_type;
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (self->cainfo)
        curl_easy_setopt(h, CURLOPT_CAINFO, self->cainfo);
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(with_type);
    if (cc != CURLE_OK) {
        mao_error_set("%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        mao_http_reply_clear(reply);
        return cc == CURLE_OPERATION_TIMEDOUT ? MAO_ETIMEOUT : MAO_EUNAVAILABLE;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
    if (!reply->body && !(reply->body = calloc(1, 1)))
        return MAO_ENOMEM;
    return 0;
}

void mao_http_reply_clear(mao_http_reply_t *reply)
{
    if (!reply)
        return;
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}

int mao_http_escape(char *out, size_t size, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (n + (plain ? 1 : 3) + 1 > size) {
            mao_error_set("text too long to put in a URL");
            return MAO_EINVAL;
        }
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n + 1 > size)
        return MAO_EINVAL;
    out[n] = '\0';
    return 0;
}
