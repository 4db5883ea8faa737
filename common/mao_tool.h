/*
 * mao_tool: the registry's records, a tool and a dataset, and their JSON.
 *
 * A tool keeps the original orchestrator's six fields (name, author, image,
 * data_repo, code_repo, artefact) as they were, plus optional ones mao added.
 * Records are checked the same way wherever they come from: an API request, a
 * CLI argument, or an etcd entry someone else wrote.  Parsing is strict for
 * input (unknown fields refused) and tolerant for stored records (unknown
 * fields ignored, so that sites running a newer mao can add fields).
 */
#ifndef MAO_TOOL_H
#define MAO_TOOL_H

#include <jansson.h>
#include <stddef.h>

#define MAO_FIELD_MAX 4096  /* longest string field */
#define MAO_COMMAND_MAX 64  /* most command arguments */
#define MAO_ENV_MAX 64      /* most environment variables */

typedef enum { MAO_PARSE_STRICT = 0, MAO_PARSE_STORED = 1 } mao_parse_mode_t;

/* Per-tool spike detector settings; a field left at zero means "the default". */
typedef struct {
    char method[16];  /* "gain" (the original), "mad"; "" for the default */
    long window;      /* previous values compared against; 0 for the default */
    double threshold; /* percent (gain) or robust z-score (mad); 0 for the default */
} mao_spike_opts_t;

/* What a tool asks of its container: less than the site's limits (a tool
 * cannot get more than its site allows), named capabilities the site must
 * allow, a writable root file system. */
typedef struct {
    long long memory_bytes; /* 0: the site's limit */
    long long nano_cpus;    /* 0: the site's */
    long pids;              /* 0: the site's */
    char **capabilities;    /* NULL-terminated names without CAP_ ("NET_RAW"); NULL: none */
    size_t capabilities_len;
    int writable_root;      /* the root file system is writable (read-only otherwise) */
} mao_limits_t;

typedef struct {
    char *name;
    char *author;
    char *image;
    char *data_repo;
    char *code_repo;
    char *artefact;
    char *description;   /* optional, NULL when absent */
    char **command;      /* optional argument list, NULL-terminated; NULL when absent */
    size_t command_len;
    char **env;          /* optional "KEY=value" strings, NULL-terminated */
    size_t env_len;
    long timeout_s;      /* optional; 0 for the site's default */
    mao_spike_opts_t spike;
    mao_limits_t limits; /* optional "resources", "capabilities", "writable_root" */
} mao_tool_t;

typedef struct {
    char *name;
    char *url;
} mao_dataset_t;

/* Parses and checks a tool from JSON.  With `allow_local` local dataset paths
 * pass the data_repo check (stored records skip the site policy: it is
 * applied when cloning).  Returns 0 and fills `out` (free with
 * mao_tool_clear), or MAO_EINVAL with a detail naming the field and `out`
 * zeroed (safe to clear). */
int mao_tool_from_json(mao_tool_t *out, json_t *json, mao_parse_mode_t mode, int allow_local);

/* The tool as JSON (a new reference), the six original fields first. */
json_t *mao_tool_to_json(const mao_tool_t *tool);

void mao_tool_clear(mao_tool_t *tool);

/* The same for datasets: {"name","url"}. */
int mao_dataset_from_json(mao_dataset_t *out, json_t *json, mao_parse_mode_t mode,
                          int allow_local);
json_t *mao_dataset_to_json(const mao_dataset_t *dataset);
void mao_dataset_clear(mao_dataset_t *dataset);

/* Docker's name of a Linux capability ("NET_RAW") from "net_raw",
 * "CAP_NET_RAW", ... into `out` (at least 32 bytes).  Returns 0, or
 * MAO_EINVAL with a detail when it is not one. */
int mao_capability_name(char *out, size_t size, const char *name);

/* Reads a size: bytes, or a number with k, m, g (KiB, MiB, GiB; "512m",
 * "1.5g", "2GiB").  Returns 0, or MAO_EINVAL (no detail: callers name the
 * setting). */
int mao_size_parse(long long *out, const char *text);

/* Parses `len` bytes of JSON text into a new reference, or NULL with a detail
 * ("body is not JSON: ... at line 1 column 5"). */
json_t *mao_json_parse(const char *text, size_t len, const char *what);

#endif
