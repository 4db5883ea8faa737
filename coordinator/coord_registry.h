/*
 * coord_registry: the shared registry of tools and datasets, kept in etcd
 * under <prefix>tools/<name> and <prefix>datasets/<name>.
 *
 * Every write is one round trip to etcd (creating checks existence in the
 * same transaction).  Records that someone else wrote into etcd are checked
 * like API input: an entry with a bad name or bad JSON is skipped with a
 * warning, never served.
 *
 * Listing keeps the last list of each kind in memory and serves it again after
 * one small linearizable probe shows that nothing under the prefix changed
 * (same count of keys, none modified after the newest one in the cache).  So a
 * list is always as current as etcd, and fails with etcd like every call.
 * Thread-safe: API threads share one coord_registry_t.
 */
#ifndef COORD_REGISTRY_H
#define COORD_REGISTRY_H

#include "mao_etcd.h"
#include "mao_tool.h"

#include <jansson.h>

typedef enum { COORD_TOOLS = 0, COORD_DATASETS = 1 } coord_kind_t;

typedef struct coord_registry_t coord_registry_t;

/* A registry on `etcd` (borrowed; it must outlive the registry).  NULL only
 * when out of memory. */
coord_registry_t *coord_registry_new(mao_etcd_t *etcd);

/* Frees the registry and its caches; accepts NULL, sets *self_p to NULL. */
void coord_registry_destroy(coord_registry_t **self_p);

/* "tool" or "dataset". */
const char *coord_registry_noun(coord_kind_t kind);

/* Every valid record of `kind`, as a JSON array in name order.  The array is
 * shared with the cache: the caller gets a new reference and must not change
 * it.  Returns 0 (an empty registry is an empty array) or a negative code. */
int coord_registry_list(json_t **out, coord_registry_t *self, coord_kind_t kind);

/* One record as JSON (new reference).  Returns 0, MAO_ENOTFOUND, or another
 * negative code. */
int coord_registry_get(json_t **out, coord_registry_t *self, coord_kind_t kind, const char *name);

/* Checks `input` (strict) and stores it.  Without `replace` an existing name is
 * MAO_ECONFLICT; with it the record is overwritten.  `stored` (new reference)
 * gets the record as kept; `created` tells whether the name was new.
 * Returns 0, MAO_EINVAL (bad input, nothing written), MAO_ECONFLICT, or a
 * negative code from etcd. */
int coord_registry_put(json_t **stored, int *created, coord_registry_t *self, coord_kind_t kind,
                       json_t *input, int replace, int allow_local);

/* Removes a record.  Returns 0, MAO_ENOTFOUND, MAO_EINVAL (bad name), or a
 * negative code from etcd. */
int coord_registry_remove(coord_registry_t *self, coord_kind_t kind, const char *name);

/* The tool `name`, parsed (free with mao_tool_clear).  Returns 0, MAO_ENOTFOUND,
 * MAO_EMALFORMED (the stored record is damaged), or a negative code. */
int coord_registry_tool(mao_tool_t *out, coord_registry_t *self, const char *name);

#endif
