/*
 * coord_auth: who may connect to the coordinator's ZeroMQ sockets.
 *
 * With [COORDINATOR] curve_key set, the workers' ROUTER and the events' PUB
 * socket are CURVE servers with the coordinator's key pair, and a ZAP
 * handler (ZeroMQ's authentication protocol, RFC 27) in the reactor lets in
 * only clients whose public key has a certificate in the curve_clients
 * folder.  The folder is read again when it changes, so adding a worker's
 * certificate needs no restart.  Every refusal is logged with the key and
 * the peer's address.
 *
 * Without keys the sockets are plain, which the coordinator accepts only on
 * loopback, or with `insecure = true` said explicitly.
 */
#ifndef COORD_AUTH_H
#define COORD_AUTH_H

#include "mao_cfg.h"

#include <czmq.h>

typedef struct coord_auth_t coord_auth_t;

/* Reads the keys of `cfg`.  *out is NULL when CURVE is off (no curve_key).
 * Refuses (MAO_EINVAL, with a detail) a curve_key without curve_clients, an
 * unreadable key or folder, and plain sockets bound beyond loopback unless
 * `insecure` is true.  `workers` and `events` are the endpoints bound. */
int coord_auth_open(coord_auth_t **out, const mao_cfg_t *cfg, const char *workers,
                    const char *events);

/* Makes `sock` a CURVE server with the coordinator's keys (self may be NULL:
 * nothing to do).  Call before binding. */
void coord_auth_apply(coord_auth_t *self, zsock_t *sock);

/* Binds the ZAP handler and registers it with `loop`.  Returns 0 or a
 * negative code. */
int coord_auth_start(coord_auth_t *self, zloop_t *loop);

/* The coordinator's public key in Z85, or NULL when CURVE is off. */
const char *coord_auth_public_key(const coord_auth_t *self);

/* Clients let in and refused so far. */
uint64_t coord_auth_refused(const coord_auth_t *self);

void coord_auth_destroy(coord_auth_t **self_p);

#endif
