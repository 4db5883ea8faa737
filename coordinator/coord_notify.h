/*
 * coord_notify: telling people about a spike, by webhook and by mail.
 *
 * A thread of its own delivers each notification to every configured
 * channel: a JSON POST to the webhook URL, a mail through the SMTP server
 * (libcurl for both).  A delivery that fails is retried with exponential
 * backoff (1 s, 2 s, 4 s, ... at most 5 minutes apart, up to 10 attempts), so
 * a receiver that is down for a while still hears of it, and nothing the
 * reactor does ever waits for a receiver.
 */
#ifndef COORD_NOTIFY_H
#define COORD_NOTIFY_H

#include <jansson.h>

typedef struct coord_notify_t coord_notify_t;

typedef struct {
    const char *webhook;   /* URL, or "" for none */
    const char *smtp_url;  /* e.g. smtp://127.0.0.1:25, or "" */
    const char *mail_from;
    const char *mail_to;   /* comma-separated addresses */
} coord_notify_opts_t;

/* Starts the notifier.  Returns 0 or MAO_ENOMEM. */
int coord_notify_new(coord_notify_t **out, const coord_notify_opts_t *opts);

/* Queues a notification (a reference is taken) for every channel. */
void coord_notify_send(coord_notify_t *self, json_t *notification);

/* Deliveries waiting (first tries and retries). */
size_t coord_notify_pending(coord_notify_t *self);

/* Stops the thread (deliveries still waiting are dropped, and logged); accepts
 * NULL and sets *self_p to NULL. */
void coord_notify_destroy(coord_notify_t **self_p);

#endif
