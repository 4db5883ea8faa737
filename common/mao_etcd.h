/*
 * mao_etcd: an etcd v3 client over etcd's JSON gateway (/v3/...), with libcurl;
 * transactions go to etcd's gRPC service (HTTP/2), the gateway as fallback.
 *
 * Central idea: every key is relative to the client's prefix (default /mao/),
 * so several federations can share one etcd.  Requests go to the endpoint that
 * last answered; a refused or timed-out connection moves on to the next
 * endpoint, so a cluster with one member down keeps serving.  Unary requests
 * are bounded by `timeout_ms`; a stopped or frozen etcd yields
 * MAO_EUNAVAILABLE / MAO_ETIMEOUT in that time, never a hang.
 *
 * Thread safety: one mao_etcd_t may be shared by any number of threads; each
 * request borrows a curl handle (and its kept-alive connection) from a pool.
 */
#ifndef MAO_ETCD_H
#define MAO_ETCD_H

#include <stddef.h>
#include <stdint.h>

typedef struct mao_etcd_t mao_etcd_t;

/* One key-value pair as etcd holds it.  `key` is relative to the prefix;
 * `value` is NUL-terminated for convenience (it may hold NULs too). */
typedef struct {
    char *key;
    char *value;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} mao_etcd_kv_t;

/* A list of pairs, owned by the caller; free with mao_etcd_kvs_free(). */
typedef struct {
    mao_etcd_kv_t *items;
    size_t count;
    int64_t revision; /* the store's revision the list was read at */
} mao_etcd_kvs_t;

typedef struct {
    const char *endpoints; /* comma-separated URLs, e.g. "http://127.0.0.1:2379" */
    const char *prefix;    /* key prefix, e.g. "/mao/"; "" for none */
    long timeout_ms;       /* bound on one unary request; 0 means 3000 */
    const char *cacert;    /* https: CA certificates (PEM) to trust; NULL or "": the system's */
    const char *cert;      /* https: client certificate (PEM), for client-cert-auth */
    const char *key;       /* its key */
    const char *user;      /* etcd authentication: user and password; NULL or "": none */
    const char *password;
    long grpc_min_ops;     /* transactions of at least this many operations go to
                            * etcd's gRPC service, others through the gateway;
                            * 0: 1 when libcurl keeps HTTP/2 connections without
                            * TLS (8.0 and later), else 4; 65 or more: none */
} mao_etcd_opts_t;

/* Opens a client (no connection is made yet).  Returns 0, MAO_EINVAL when
 * an endpoint is not an http(s) URL, or MAO_ENOMEM. */
int mao_etcd_open(mao_etcd_t **out, const mao_etcd_opts_t *opts);

/* Frees the client; accepts NULL and sets *self_p to NULL. */
void mao_etcd_destroy(mao_etcd_t **self_p);

/* Builds the endpoint list from the [ETCD] keys of the config: `endpoints`
 * when set, else http://host:port.  Writes into `out`; returns 0 or MAO_EINVAL. */
int mao_etcd_endpoints_from(char *out, size_t size, const char *endpoints, const char *host,
                            const char *port);

/* The endpoint the client will try first (for messages). */
const char *mao_etcd_endpoint(mao_etcd_t *self);

/* The prefix every key is relative to. */
const char *mao_etcd_prefix(mao_etcd_t *self);

/* Asks a member for its status.  Returns 0 when a member answered. */
int mao_etcd_ping(mao_etcd_t *self);

/* Puts a value (lease 0: none).  `revision` (may be NULL) gets the new
 * store revision; `existed` (may be NULL) whether the key held a value before.
 * Returns 0 or a negative code. */
int mao_etcd_put(mao_etcd_t *self, const char *key, const char *value, size_t len, int64_t lease,
                 int64_t *revision, int *existed);

/* Reads one key into `out` (free with mao_etcd_kv_free).  Returns 0, or
 * MAO_ENOTFOUND when the key does not exist. */
int mao_etcd_get(mao_etcd_t *self, const char *key, mao_etcd_kv_t *out);

/* Reads every key that starts with `prefix`, in key order, paging through
 * `page` keys per request (0: 500) at one consistent revision.  With
 * `keys_only` the values are left empty.  Returns 0 (an empty list is not an
 * error) or a negative code. */
int mao_etcd_list(mao_etcd_t *self, const char *prefix, size_t page, int keys_only,
                  mao_etcd_kvs_t *out);

/* The same, one pair at a time, without holding the whole list: calls
 * fn(kv, arg) for each pair in key order; `fn` owns the pair (free it with
 * mao_etcd_kv_free) and returns 0 to go on or a negative code to stop, which
 * mao_etcd_list_each then returns.  *revision (may be NULL) gets the
 * revision read at.  Pages of a few thousand keys are much faster on big
 * ranges: etcd counts the rest of the range on every page. */
typedef int mao_etcd_each_fn(mao_etcd_kv_t *kv, void *arg);
int mao_etcd_list_each(mao_etcd_t *self, const char *prefix, size_t page, int keys_only,
                       mao_etcd_each_fn *fn, void *arg, int64_t *revision);

/* Asks, in one small request, how many keys start with `prefix` (*count) and
 * whether any of them was modified at or after `min_mod_revision` (*newer).
 * Cheap next to mao_etcd_list: nothing but a count and at most one key comes
 * back.  Returns 0 or a negative code. */
int mao_etcd_probe(mao_etcd_t *self, const char *prefix, int64_t min_mod_revision, int64_t *count,
                   int *newer);

/* Deletes one key, or every key under `key` when `prefix`.  `deleted` (may be
 * NULL) gets the count.  Deleting nothing is not an error. */
int mao_etcd_delete(mao_etcd_t *self, const char *key, int prefix, int64_t *deleted);

/* Compare-and-swap, each in one round trip:
 *  create: puts only when the key does not exist, else MAO_ECONFLICT and, when
 *          `current` is given, the existing pair in it;
 *  swap:   puts only when the key's mod_revision equals `expected` (0: the key
 *          must not exist), else MAO_ECONFLICT;
 *  delete_if: deletes only when mod_revision equals `expected`, else
 *          MAO_ECONFLICT (MAO_ENOTFOUND when the key is gone). */
int mao_etcd_create(mao_etcd_t *self, const char *key, const char *value, size_t len,
                    int64_t lease, mao_etcd_kv_t *current);
int mao_etcd_swap(mao_etcd_t *self, const char *key, const char *value, size_t len,
                  int64_t expected, int64_t lease);
int mao_etcd_delete_if(mao_etcd_t *self, const char *key, int64_t expected);

/* One operation of a batch. */
typedef struct {
    int del;            /* 0: put `value`; 1: delete `key` */
    const char *key;
    const char *value;  /* for puts */
    size_t len;
    int64_t lease;      /* for puts: attached to this lease; 0: none */
} mao_etcd_op_t;

/* A condition of a transaction: the key's create revision (0: the key does
 * not exist), mod revision, version, or value equals the one given. */
typedef enum {
    MAO_ETCD_CREATE = 0,
    MAO_ETCD_MOD,
    MAO_ETCD_VERSION,
    MAO_ETCD_VALUE,
} mao_etcd_target_t;

typedef struct {
    const char *key;
    mao_etcd_target_t target;
    int64_t number;     /* CREATE, MOD, VERSION */
    const char *value;  /* VALUE (a string) */
} mao_etcd_cmp_t;

/* Applies the ops (as mao_etcd_batch) when every condition holds, in one
 * transaction.  *succeeded says whether they held (then the ops were
 * applied); *revision (may be NULL) gets the store's revision after it.
 * Returns 0 (whether or not the conditions held) or a negative code. */
int mao_etcd_txn(mao_etcd_t *self, const mao_etcd_cmp_t *cmps, size_t ncmps,
                 const mao_etcd_op_t *ops, size_t nops, int *succeeded, int64_t *revision);

/* 1 once transactions go through the gateway only: etcd's gRPC service did
 * not answer three of them in a row (see grpc_min_ops); else 0. */
int mao_etcd_grpc_off(mao_etcd_t *self);

/* The most operations one transaction may hold: etcd's default
 * --max-txn-ops.  An etcd started with less refuses larger transactions
 * ("too many operations in txn request", MAO_EINVAL). */
#define MAO_ETCD_TXN_OPS 128

/* Applies up to MAO_ETCD_TXN_OPS puts and deletes in one transaction (all or none).  When
 * a key appears more than once only its last operation is sent (etcd refuses
 * a key twice in one transaction).  Returns 0 or a negative code. */
int mao_etcd_batch(mao_etcd_t *self, const mao_etcd_op_t *ops, size_t count);

/* Leases.  grant: a new lease of `ttl_s` seconds into `id`.  keepalive:
 * renews it, `ttl_left` (may be NULL) gets the new TTL; MAO_ENOTFOUND when the
 * lease has expired.  revoke: ends it and deletes its keys; MAO_ENOTFOUND when
 * it no longer exists. */
int mao_etcd_lease_grant(mao_etcd_t *self, long ttl_s, int64_t *id);
int mao_etcd_lease_keepalive(mao_etcd_t *self, int64_t id, long *ttl_left);
int mao_etcd_lease_revoke(mao_etcd_t *self, int64_t id);

typedef enum { MAO_ETCD_PUT = 0, MAO_ETCD_DELETE = 1 } mao_etcd_event_type_t;

/* Called once per watch event; `kv` is valid during the call only.  Return 0
 * to go on watching, non-zero to stop. */
typedef int(mao_etcd_watch_fn)(mao_etcd_event_type_t type, const mao_etcd_kv_t *kv, void *arg);

/* Watches `key` (or every key under it when `prefix`) from `start_revision`
 * (0: from now), calling `fn` for each event, until `fn` returns non-zero
 * (returns 0), `*stop` becomes non-zero (returns 0), `max_ms` pass (returns
 * MAO_ETIMEOUT), or the stream breaks (a negative code).  `next_revision`
 * (may be NULL) gets the revision to resume from.  Blocks the calling thread. */
int mao_etcd_watch(mao_etcd_t *self, const char *key, int prefix, int64_t start_revision,
                   long max_ms, volatile int *stop, mao_etcd_watch_fn *fn, void *arg,
                   int64_t *next_revision);

void mao_etcd_kv_free(mao_etcd_kv_t *kv);
void mao_etcd_kvs_free(mao_etcd_kvs_t *kvs);

#endif
