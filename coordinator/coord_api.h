/*
 * coord_api: the coordinator's HTTP API (libmicrohttpd, one thread per
 * connection), JSON in and out.  Routes and shapes are documented in
 * docs/api.md: /v1/... for mao's own API, /healthz, and the original
 * orchestrator's endpoints (/regtools, /datasets, /register, /regdata,
 * /retrieve) with their request and response shapes.
 */
#ifndef COORD_API_H
#define COORD_API_H

#include "coord_server.h"

#define COORD_API_MAX_BODY (1024 * 1024) /* a larger request body is refused (413) */

/* Listens on `bind` ("host:port") and serves `server` until stopped.
 * Returns 0, or MAO_EINVAL / MAO_EFAIL with a detail (bad address, in use). */
int coord_api_start(coord_api_t **out, coord_server_t *server, const char *bind);

/* The port actually bound (useful when `bind` asked for port 0). */
int coord_api_port(coord_api_t *self);

/* Stops serving (waits for the connection threads) and frees; accepts NULL. */
void coord_api_stop(coord_api_t **self_p);

#endif
