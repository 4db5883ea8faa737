/*
 * coord_registry: the shared registry of tools and datasets, kept in etcd
 * under <prefix>tools/<name> and <prefix>datasets/<name>.
 *
 * Every call is one round trip to etcd (creating checks existence in the same
 * transaction).  Records that someone else wrote into etcd are checked like
 * API input: an entry with a bad name or bad JSON is skipped with a warning,
 * never served.
 */
#ifndef COORD_REGISTRY_H
#define COORD_REGISTRY_H

#include "mao_etcd.h"
#include "mao_tool.h"

#include <jansson.h>

typedef enum { COORD_TOOLS = 0, COORD_DATASETS = 1 } coord_kind_t;

/* "tool" or "dataset". */
const char *coord_registry_noun(coord_kind_t kind);

/* Every valid record of `kind`, as a JSON array (new reference) in name order.
 * Returns 0 (an empty registry is an empty array) or a negative code. */
int coord_registry_list(json_t **out, mao_etcd_t *etcd, coord_kind_t kind);

/* One record as JSON (new reference).  Returns 0, MAO_ENOTFOUND, or another
 * negative code. */
int coord_registry_get(json_t **out, mao_etcd_t *etcd, coord_kind_t kind, const char *name);

/* Checks `input` (strict) and stores it.  Without `replace` an existing name is
 * MAO_ECONFLICT; with it the record is overwritten.  `stored` (new reference)
 * gets the record as kept; `created` tells whether the name was new.
 * Returns 0, MAO_EINVAL (bad input, nothing written), MAO_ECONFLICT, or a
 * negative code from etcd. */
int coord_registry_put(json_t **stored, int *created, mao_etcd_t *etcd, coord_kind_t kind,
                       json_t *input, int replace, int allow_local);

/* Removes a record.  Returns 0, MAO_ENOTFOUND, MAO_EINVAL (bad name), or a
 * negative code from etcd. */
int coord_registry_remove(mao_etcd_t *etcd, coord_kind_t kind, const char *name);

/* The tool `name`, parsed (free with mao_tool_clear).  Returns 0, MAO_ENOTFOUND,
 * MAO_EMALFORMED (the stored record is damaged), or a negative code. */
int coord_registry_tool(mao_tool_t *out, mao_etcd_t *etcd, const char *name);

#endif
