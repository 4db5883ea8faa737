/*
 * coord_notify: the delivery thread.
 *
 * Invariant: each queued delivery is one (notification, channel) pair with
 * the time of its next attempt; the thread sleeps until the earliest one.
 */
#include "coord_notify.h"
#include "mao_error.h"
#include "mao_http.h"
#include "mao_log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_MAX_ATTEMPTS 10
#define S_MAX_BACKOFF_MS 300000

typedef enum { S_WEBHOOK = 0, S_MAIL = 1 } s_channel_t;

typedef struct s_delivery_t {
    struct s_delivery_t *next;
    s_channel_t channel;
    json_t *notification;
    int attempts;
    int64_t due_ms;
} s_delivery_t;

struct coord_notify_t {
    char *webhook, *smtp_url, *mail_from, *mail_to; /* owned copies */
    pthread_t thread;
    pthread_mutex_t lock;  /* guards the list and stop */
    pthread_cond_t more;
    s_delivery_t *list;    /* unordered; small */
    size_t pending;
    int stop;
    mao_http_t *http;      /* used by the thread only */
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_queue(coord_notify_t *self, s_channel_t channel, json_t *n)
{
    s_delivery_t *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->channel = channel;
    d->notification = json_incref(n);
    d->due_ms = s_now_ms();
    d->next = self->list;
    self->list = d;
    self->pending++;
}

void coord_notify_send(coord_notify_t *self, json_t *notification)
{
    pthread_mutex_lock(&self->lock);
    if (self->webhook[0])
        s_queue(self, S_WEBHOOK, notification);
    if (self->smtp_url[0] && self->mail_to[0])
        s_queue(self, S_MAIL, notification);
    pthread_cond_signal(&self->more);
    pthread_mutex_unlock(&self->lock);
}

size_t coord_notify_pending(coord_notify_t *self)
{
    pthread_mutex_lock(&self->lock);
    size_t n = self->pending;
    pthread_mutex_unlock(&self->lock);
    return n;
}

static int s_webhook(coord_notify_t *self, json_t *n)
{
    char *body = json_dumps(n, JSON_COMPACT);
    mao_http_reply_t reply;
    if (!body)
        return MAO_ENOMEM;
    int rc = mao_http_request(self->http, "POST", self->webhook, body, strlen(body), 10000, &reply);
    free(body);
    if (rc < 0) {
        mao_error_prefix("webhook %s", self->webhook);
        return rc;
    }
    long status = reply.status;
    mao_http_reply_clear(&reply);
    if (status < 200 || status >= 300) {
        mao_error_set("webhook %s answered HTTP %ld", self->webhook, status);
        return MAO_EFAIL;
    }
    return 0;
}

typedef struct {
    const char *text;
    size_t left;
} s_upload_t;

static size_t s_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    s_upload_t *u = arg;
    size_t n = size * nmemb < u->left ? size * nmemb : u->left;
    memcpy(buf, u->text, n);
    u->text += n;
    u->left -= n;
    return n;
}

static int s_mail(coord_notify_t *self, json_t *n)
{
    char date[64], msg[8192], errbuf[CURL_ERROR_SIZE] = "";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    const char *tool = json_string_value(json_object_get(n, "tool")) ?: "?";
    const char *text = json_string_value(json_object_get(n, "message")) ?: "";
    char *details = json_dumps(n, JSON_INDENT(2));
    snprintf(msg, sizeof msg,
             "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: [mao] spike in %s\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n\r\n%s\r\n",
             date, self->mail_from, self->mail_to, tool, text, details ? details : "");
    free(details);

    CURL *h = curl_easy_init();
    struct curl_slist *rcpt = NULL;
    char *list = strdup(self->mail_to);
    char *save = NULL;
    for (char *a = strtok_r(list, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
        rcpt = curl_slist_append(rcpt, a);
    free(list);
    s_upload_t up = {msg, strlen(msg)};
    curl_easy_setopt(h, CURLOPT_URL, self->smtp_url);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, self->mail_from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, s_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK) {
        mao_error_set("mail through %s: %s", self->smtp_url,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return MAO_EFAIL;
    }
    return 0;
}

static void *s_thread(void *arg)
{
    coord_notify_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        /* The earliest due delivery. */
        s_delivery_t **best = NULL;
        for (s_delivery_t **p = &self->list; *p; p = &(*p)->next)
            if (!best || (*p)->due_ms < (*best)->due_ms)
                best = p;
        int64_t now = s_now_ms();
        if (!best || (*best)->due_ms > now) {
            if (!best) {
                pthread_cond_wait(&self->more, &self->lock);
            } else {
                int64_t due = (*best)->due_ms;
                struct timespec until = {.tv_sec = due / 1000,
                                         .tv_nsec = (long)(due % 1000) * 1000000};
                pthread_cond_timedwait(&self->more, &self->lock, &until);
            }
            continue;
        }
        s_delivery_t *d = *best;
        *best = d->next;
        pthread_mutex_unlock(&self->lock);

        int rc = d->channel == S_WEBHOOK ? s_webhook(self, d->notification)
                                         : s_mail(self, d->notification);
        const char *name = d->channel == S_WEBHOOK ? "webhook" : "mail";
        const char *tool = json_string_value(json_object_get(d->notification, "tool")) ?: "";
        d->attempts++;
        pthread_mutex_lock(&self->lock);
        if (rc == 0 || d->attempts >= S_MAX_ATTEMPTS) {
            if (rc == 0)
                mao_log_info("notify", "%s.delivered tool=%s attempts=%d", name, tool, d->attempts);
            else
                mao_log_error("notify", "%s.given_up tool=%s attempts=%d detail=\"%s\"", name,
                              tool, d->attempts, mao_error_last());
            json_decref(d->notification);
            free(d);
            self->pending--;
            continue;
        }
        int64_t backoff = 1000LL << (d->attempts - 1);
        if (backoff > S_MAX_BACKOFF_MS)
            backoff = S_MAX_BACKOFF_MS;
        d->due_ms = s_now_ms() + backoff;
        mao_log_warn("notify", "%s.failed tool=%s attempt=%d retry_in_ms=%lld detail=\"%s\"", name,
                     tool, d->attempts, (long long)backoff, mao_error_last());
        d->next = self->list;
        self->list = d;
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

int coord_notify_new(coord_notify_t **out, const coord_notify_opts_t *opts)
{
    coord_notify_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    self->webhook = strdup(opts->webhook ? opts->webhook : "");
    self->smtp_url = strdup(opts->smtp_url ? opts->smtp_url : "");
    self->mail_from = strdup(opts->mail_from && *opts->mail_from ? opts->mail_from
                                                                  : "mao@localhost");
    self->mail_to = strdup(opts->mail_to ? opts->mail_to : "");
    self->http = mao_http_new();
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->more, NULL);
    if (!self->webhook || !self->smtp_url || !self->mail_from || !self->mail_to || !self->http ||
        pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        mao_http_destroy(&self->http);
        free(self->webhook);
        free(self->smtp_url);
        free(self->mail_from);
        free(self->mail_to);
        free(self);
        return MAO_ENOMEM;
    }
    *out = self;
    return 0;
}

void coord_notify_destroy(coord_notify_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_notify_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = 1;
    pthread_cond_signal(&self->more);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    if (self->pending)
        mao_log_warn("notify", "stopped.undelivered deliveries=%zu", self->pending);
    while (self->list) {
        s_delivery_t *next = self->list->next;
        json_decref(self->list->notification);
        free(self->list);
        self->list = next;
    }
    mao_http_destroy(&self->http);
    free(self->webhook);
    free(self->smtp_url);
    free(self->mail_from);
    free(self->mail_to);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->more);
    free(self);
    *self_p = NULL;
}
