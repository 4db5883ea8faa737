/*
 * mao_tool: checking and converting registry records.
 */
#include "mao_tool.h"
#include "mao_error.h"
#include "mao_name.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *s_tool_fields[] = {"name",      "author",   "image",       "data_repo",
                                      "code_repo", "artefact", "description", "command",
                                      "env",       "timeout_s", "spike",      "resources",
                                      "capabilities", "writable_root",       NULL};

/* Linux capabilities, without CAP_, as Docker names them. */
static const char *s_capabilities[] = {
    "AUDIT_CONTROL", "AUDIT_READ",     "AUDIT_WRITE",     "BLOCK_SUSPEND",    "BPF",
    "CHECKPOINT_RESTORE", "CHOWN",     "DAC_OVERRIDE",    "DAC_READ_SEARCH",  "FOWNER",
    "FSETID",        "IPC_LOCK",       "IPC_OWNER",       "KILL",             "LEASE",
    "LINUX_IMMUTABLE", "MAC_ADMIN",    "MAC_OVERRIDE",    "MKNOD",            "NET_ADMIN",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW",       "PERFMON",          "SETFCAP",
    "SETGID",        "SETPCAP",        "SETUID",          "SYS_ADMIN",        "SYS_BOOT",
    "SYS_CHROOT",    "SYS_MODULE",     "SYS_NICE",        "SYS_PACCT",        "SYS_PTRACE",
    "SYS_RAWIO",     "SYS_RESOURCE",   "SYS_TIME",        "SYS_TTY_CONFIG",   "SYSLOG",
    "WAKE_ALARM",    NULL};
static const char *s_dataset_fields[] = {"name", "url", NULL};

json_t *mao_json_parse(const char *text, size_t len, const char *what)
{
    json_error_t err;
    json_t *json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!json)
        mao_error_set("%s is not valid JSON: %s (line %d, column %d)", what, err.text, err.line,
                      err.column);
    return json;
}

static int s_unknown_fields(json_t *json, const char **known, const char *what)
{
    const char *key;
    json_t *value;
    json_object_foreach(json, key, value) {
        int found = 0;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0)
                found = 1;
        if (!found) {
            char shown[80];
            mao_error_set("unknown field \"%s\" in %s", mao_text_quote(shown, sizeof shown, key),
                          what);
            return MAO_EINVAL;
        }
    }
    return 0;
}

enum { S_TEXT_ANY = 0, S_TEXT_LINE = 1, S_TEXT_MULTILINE = 2 };

/* Copies a string field.  `required`: must be present; `nonempty`: must not
 * be "".  `text`: S_TEXT_LINE refuses control characters, S_TEXT_MULTILINE
 * allows newlines and tabs only, S_TEXT_ANY leaves the check to the caller. */
static int s_string(char **out, json_t *json, const char *field, int required, int nonempty,
                    int text)
{
    json_t *v = json_object_get(json, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            mao_error_set("missing field \"%s\"", field);
            return MAO_EINVAL;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        mao_error_set("field \"%s\" must be a string", field);
        return MAO_EINVAL;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len) {
        mao_error_set("field \"%s\" contains a NUL character", field);
        return MAO_EINVAL;
    }
    if (len > MAO_FIELD_MAX) {
        mao_error_set("field \"%s\" is longer than %d characters", field, MAO_FIELD_MAX);
        return MAO_EINVAL;
    }
    if (nonempty && len == 0) {
        mao_error_set("field \"%s\" is empty", field);
        return MAO_EINVAL;
    }
    if (text == S_TEXT_LINE && !mao_text_is_clean(s)) {
        mao_error_set("field \"%s\" contains control characters", field);
        return MAO_EINVAL;
    }
    if (text == S_TEXT_MULTILINE) {
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f) {
                mao_error_set("field \"%s\" contains control characters", field);
                return MAO_EINVAL;
            }
    }
    if (!(*out = strdup(s)))
        return MAO_ENOMEM;
    return 0;
}

static void s_free_list(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

static int s_image_check(const char *image)
{
    if (strlen(image) > 255) {
        mao_error_set("field \"image\" is longer than 255 characters");
        return MAO_EINVAL;
    }
    /* A Docker image reference: [registry[:port]/]repo[:tag][@digest]. */
    for (const unsigned char *p = (const unsigned char *)image; *p; p++)
        if (!isalnum(*p) && !strchr("._-/:@", *p)) {
            mao_error_set("field \"image\" must be a Docker image reference (letters, digits, "
                          "'.', '_', '-', '/', ':', '@')");
            return MAO_EINVAL;
        }
    if (image[0] == '-') {
        mao_error_set("field \"image\" must not start with '-'");
        return MAO_EINVAL;
    }
    return 0;
}

static int s_command(mao_tool_t *tool, json_t *json)
{
    json_t *v = json_object_get(json, "command");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MAO_COMMAND_MAX) {
        mao_error_set("field \"command\" must be a list of 1 to %d strings", MAO_COMMAND_MAX);
        return MAO_EINVAL;
    }
    size_t n = json_array_size(v);
    if (!(tool->command = calloc(n + 1, sizeof *tool->command)))
        return MAO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(v, i);
        const char *s = json_string_value(item);
        if (!s || strlen(s) != json_string_length(item) || strlen(s) > MAO_FIELD_MAX) {
            mao_error_set("field \"command\" must be a list of strings without NUL characters");
            return MAO_EINVAL;
        }
        if (!(tool->command[i] = strdup(s)))
            return MAO_ENOMEM;
        tool->command_len++;
    }
    return 0;
}

static int s_env_name_ok(const char *name)
{
    if (!*name || isdigit((unsigned char)*name))
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    return strlen(name) <= 128;
}

static int s_env(mao_tool_t *tool, json_t *json)
{
    json_t *v = json_object_get(json, "env");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v) || json_object_size(v) > MAO_ENV_MAX) {
        mao_error_set("field \"env\" must be an object of at most %d NAME: \"value\" pairs",
                      MAO_ENV_MAX);
        return MAO_EINVAL;
    }
    size_t n = json_object_size(v);
    if (!(tool->env = calloc(n + 1, sizeof *tool->env)))
        return MAO_ENOMEM;
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value) {
        char shown[80];
        const char *s = json_string_value(value);
        if (!s_env_name_ok(key)) {
            mao_error_set("field \"env\": \"%s\" is not a valid variable name",
                          mao_text_quote(shown, sizeof shown, key));
            return MAO_EINVAL;
        }
        if (!s || strlen(s) != json_string_length(value) || strlen(s) > MAO_FIELD_MAX) {
            mao_error_set("field \"env\": the value of %s must be a string", key);
            return MAO_EINVAL;
        }
        size_t len = strlen(key) + strlen(s) + 2;
        if (!(tool->env[tool->env_len] = malloc(len)))
            return MAO_ENOMEM;
        snprintf(tool->env[tool->env_len++], len, "%s=%s", key, s);
    }
    return 0;
}

static int s_spike(mao_tool_t *tool, json_t *json)
{
    json_t *v = json_object_get(json, "spike");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        mao_error_set("field \"spike\" must be an object {\"method\", \"window\", \"threshold\"}");
        return MAO_EINVAL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value) {
        if (strcmp(key, "method") == 0) {
            const char *m = json_string_value(value);
            if (!m || (strcmp(m, "gain") != 0 && strcmp(m, "mad") != 0)) {
                mao_error_set("field \"spike.method\" must be \"gain\" or \"mad\"");
                return MAO_EINVAL;
            }
            snprintf(tool->spike.method, sizeof tool->spike.method, "%s", m);
        } else if (strcmp(key, "window") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < 1 ||
                json_integer_value(value) > 10000) {
                mao_error_set("field \"spike.window\" must be a whole number from 1 to 10000");
                return MAO_EINVAL;
            }
            tool->spike.window = (long)json_integer_value(value);
        } else if (strcmp(key, "threshold") == 0) {
            double t = json_number_value(value);
            if (!json_is_number(value) || !isfinite(t) || t <= 0 || t > 1e9) {
                mao_error_set("field \"spike.threshold\" must be a positive number");
                return MAO_EINVAL;
            }
            tool->spike.threshold = t;
        } else {
            mao_error_set("unknown field \"spike.%.40s\" (use method, window, threshold)", key);
            return MAO_EINVAL;
        }
    }
    return 0;
}

int mao_size_parse(long long *out, const char *text)
{
    char *end = NULL;
    if (!text || !*text || isspace((unsigned char)*text))
        return MAO_EINVAL;
    double v = strtod(text, &end);
    double unit = 1;
    if (end == text || !isfinite(v) || v < 0)
        return MAO_EINVAL;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': unit = 1024.0; break;
        case 'm': case 'M': unit = 1024.0 * 1024; break;
        case 'g': case 'G': unit = 1024.0 * 1024 * 1024; break;
        default: return MAO_EINVAL;
        }
        if (end[1] && strcmp(end + 1, "b") != 0 && strcmp(end + 1, "B") != 0 &&
            strcmp(end + 1, "iB") != 0)
            return MAO_EINVAL;
    }
    if (v * unit > 9e18)
        return MAO_EINVAL;
    *out = (long long)(v * unit);
    return 0;
}

/* "resources": {"memory": "256m" or bytes, "cpus": 0.5, "pids": 64}. */
static int s_resources(mao_limits_t *l, json_t *json)
{
    json_t *v = json_object_get(json, "resources");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        mao_error_set("field \"resources\" must be an object {\"memory\", \"cpus\", \"pids\"}");
        return MAO_EINVAL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value) {
        if (strcmp(key, "memory") == 0) {
            long long bytes = 0;
            if (json_is_integer(value))
                bytes = json_integer_value(value);
            else if (!json_is_string(value) || mao_size_parse(&bytes, json_string_value(value)) < 0)
                bytes = -1;
            if (bytes < 4 * 1024 * 1024) {
                mao_error_set("field \"resources.memory\" must be a size of at least 4m, such "
                              "as \"256m\" or \"2g\"");
                return MAO_EINVAL;
            }
            l->memory_bytes = bytes;
        } else if (strcmp(key, "cpus") == 0) {
            double c = json_number_value(value);
            if (!json_is_number(value) || !isfinite(c) || c < 0.01 || c > 1024) {
                mao_error_set("field \"resources.cpus\" must be a number of CPUs from 0.01 to "
                              "1024");
                return MAO_EINVAL;
            }
            /* Rounded, not truncated: stored as nano_cpus / 1e9, a value must
             * read back to the same count. */
            l->nano_cpus = llround(c * 1e9);
        } else if (strcmp(key, "pids") == 0) {
            if (!json_is_integer(value) || json_integer_value(value) < 8 ||
                json_integer_value(value) > 1000000) {
                mao_error_set("field \"resources.pids\" must be a whole number from 8 to "
                              "1000000");
                return MAO_EINVAL;
            }
            l->pids = (long)json_integer_value(value);
        } else {
            mao_error_set("unknown field \"resources.%.40s\" (use memory, cpus, pids)", key);
            return MAO_EINVAL;
        }
    }
    return 0;
}

int mao_capability_name(char *out, size_t size, const char *name)
{
    char upper[40] = "";
    const char *n = name;
    if (n && strncasecmp(n, "CAP_", 4) == 0)
        n += 4;
    if (n && strlen(n) < sizeof upper)
        for (size_t k = 0; n[k]; k++)
            upper[k] = (char)toupper((unsigned char)n[k]);
    for (size_t k = 0; s_capabilities[k]; k++)
        if (strcmp(upper, s_capabilities[k]) == 0 && strlen(upper) < size) {
            snprintf(out, size, "%s", upper);
            return 0;
        }
    char shown[64];
    mao_error_set("\"%s\" is not a Linux capability",
                  name ? mao_text_quote(shown, sizeof shown, name) : "(not a string)");
    return MAO_EINVAL;
}

/* "capabilities": ["NET_RAW", "CAP_CHOWN"], stored without CAP_. */
static int s_capability_list(mao_limits_t *l, json_t *json)
{
    json_t *v = json_object_get(json, "capabilities");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > 16) {
        mao_error_set("field \"capabilities\" must be a list of at most 16 capability names");
        return MAO_EINVAL;
    }
    size_t n = json_array_size(v);
    if (!(l->capabilities = calloc(n + 1, sizeof *l->capabilities)))
        return MAO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(v, i));
        char upper[40];
        if (mao_capability_name(upper, sizeof upper, name) < 0) {
            mao_error_prefix("field \"capabilities\"");
            return MAO_EINVAL;
        }
        if (!(l->capabilities[i] = strdup(upper)))
            return MAO_ENOMEM;
        l->capabilities_len++;
    }
    return 0;
}

int mao_tool_from_json(mao_tool_t *out, json_t *json, mao_parse_mode_t mode, int allow_local)
{
    int rc;
    mao_tool_t tool = {0};
    memset(out, 0, sizeof *out);
    if (!json_is_object(json)) {
        mao_error_set("a tool must be a JSON object");
        return MAO_EINVAL;
    }
    if (mode == MAO_PARSE_STRICT && (rc = s_unknown_fields(json, s_tool_fields, "tool")) < 0)
        goto cleanup;
    if ((rc = s_string(&tool.name, json, "name", 1, 0, S_TEXT_ANY)) < 0 ||
        (rc = mao_name_check("tool", tool.name)) < 0 ||
        (rc = s_string(&tool.author, json, "author", 1, 0, S_TEXT_LINE)) < 0 ||
        (rc = s_string(&tool.image, json, "image", 1, 1, S_TEXT_LINE)) < 0 ||
        (rc = s_image_check(tool.image)) < 0 ||
        (rc = s_string(&tool.data_repo, json, "data_repo", 1, 1, S_TEXT_LINE)) < 0 ||
        (rc = s_string(&tool.code_repo, json, "code_repo", 1, 0, S_TEXT_LINE)) < 0 ||
        (rc = s_string(&tool.artefact, json, "artefact", 1, 0, S_TEXT_LINE)) < 0 ||
        (rc = s_string(&tool.description, json, "description", 0, 0, S_TEXT_MULTILINE)) < 0 ||
        (rc = s_command(&tool, json)) < 0 || (rc = s_env(&tool, json)) < 0 ||
        (rc = s_spike(&tool, json)) < 0 || (rc = s_resources(&tool.limits, json)) < 0 ||
        (rc = s_capability_list(&tool.limits, json)) < 0)
        goto cleanup;
    json_t *w = json_object_get(json, "writable_root");
    if (w && !json_is_null(w)) {
        if (!json_is_boolean(w)) {
            mao_error_set("field \"writable_root\" must be true or false");
            rc = MAO_EINVAL;
            goto cleanup;
        }
        tool.limits.writable_root = json_is_true(w);
    }
    if ((rc = mao_url_check(tool.data_repo, mode == MAO_PARSE_STORED || allow_local)) < 0) {
        mao_error_prefix("field \"data_repo\"");
        goto cleanup;
    }
    json_t *t = json_object_get(json, "timeout_s");
    if (t && !json_is_null(t)) {
        if (!json_is_integer(t) || json_integer_value(t) < 1 ||
            json_integer_value(t) > 7 * 24 * 3600) {
            mao_error_set("field \"timeout_s\" must be a whole number of seconds from 1 to "
                          "604800");
            rc = MAO_EINVAL;
            goto cleanup;
        }
        tool.timeout_s = (long)json_integer_value(t);
    }
    *out = tool;
    return 0;
cleanup:
    mao_tool_clear(&tool);
    return rc;
}

json_t *mao_tool_to_json(const mao_tool_t *tool)
{
    json_t *json = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", tool->name, "author",
                             tool->author, "image", tool->image, "data_repo", tool->data_repo,
                             "code_repo", tool->code_repo, "artefact", tool->artefact);
    if (!json)
        return NULL;
    if (tool->description)
        json_object_set_new(json, "description", json_string(tool->description));
    if (tool->command) {
        json_t *list = json_array();
        for (size_t i = 0; i < tool->command_len; i++)
            json_array_append_new(list, json_string(tool->command[i]));
        json_object_set_new(json, "command", list);
    }
    if (tool->env) {
        json_t *env = json_object();
        for (size_t i = 0; i < tool->env_len; i++) {
            const char *eq = strchr(tool->env[i], '=');
            char key[160];
            snprintf(key, sizeof key, "%.*s", (int)(eq - tool->env[i]), tool->env[i]);
            json_object_set_new(env, key, json_string(eq + 1));
        }
        json_object_set_new(json, "env", env);
    }
    if (tool->timeout_s)
        json_object_set_new(json, "timeout_s", json_integer(tool->timeout_s));
    if (tool->spike.method[0] || tool->spike.window || tool->spike.threshold > 0) {
        json_t *spike = json_object();
        if (tool->spike.method[0])
            json_object_set_new(spike, "method", json_string(tool->spike.method));
        if (tool->spike.window)
            json_object_set_new(spike, "window", json_integer(tool->spike.window));
        if (tool->spike.threshold > 0)
            json_object_set_new(spike, "threshold", json_real(tool->spike.threshold));
        json_object_set_new(json, "spike", spike);
    }
    const mao_limits_t *l = &tool->limits;
    if (l->memory_bytes || l->nano_cpus || l->pids) {
        json_t *r = json_object();
        if (l->memory_bytes)
            json_object_set_new(r, "memory", json_integer(l->memory_bytes));
        if (l->nano_cpus)
            json_object_set_new(r, "cpus", json_real((double)l->nano_cpus / 1e9));
        if (l->pids)
            json_object_set_new(r, "pids", json_integer(l->pids));
        json_object_set_new(json, "resources", r);
    }
    if (l->capabilities) {
        json_t *caps = json_array();
        for (size_t i = 0; i < l->capabilities_len; i++)
            json_array_append_new(caps, json_string(l->capabilities[i]));
        json_object_set_new(json, "capabilities", caps);
    }
    if (l->writable_root)
        json_object_set_new(json, "writable_root", json_true());
    return json;
}

void mao_tool_clear(mao_tool_t *tool)
{
    if (!tool)
        return;
    free(tool->name);
    free(tool->author);
    free(tool->image);
    free(tool->data_repo);
    free(tool->code_repo);
    free(tool->artefact);
    free(tool->description);
    s_free_list(tool->command);
    s_free_list(tool->env);
    s_free_list(tool->limits.capabilities);
    memset(tool, 0, sizeof *tool);
}

int mao_dataset_from_json(mao_dataset_t *out, json_t *json, mao_parse_mode_t mode,
                          int allow_local)
{
    int rc;
    mao_dataset_t ds = {0};
    memset(out, 0, sizeof *out);
    if (!json_is_object(json)) {
        mao_error_set("a dataset must be a JSON object");
        return MAO_EINVAL;
    }
    if (mode == MAO_PARSE_STRICT && (rc = s_unknown_fields(json, s_dataset_fields, "dataset")) < 0)
        goto cleanup;
    if ((rc = s_string(&ds.name, json, "name", 1, 0, S_TEXT_ANY)) < 0 ||
        (rc = mao_name_check("dataset", ds.name)) < 0 ||
        (rc = s_string(&ds.url, json, "url", 1, 1, S_TEXT_LINE)) < 0)
        goto cleanup;
    if ((rc = mao_url_check(ds.url, mode == MAO_PARSE_STORED || allow_local)) < 0) {
        mao_error_prefix("field \"url\"");
        goto cleanup;
    }
    *out = ds;
    return 0;
cleanup:
    mao_dataset_clear(&ds);
    return rc;
}

json_t *mao_dataset_to_json(const mao_dataset_t *dataset)
{
    return json_pack("{s:s, s:s}", "name", dataset->name, "url", dataset->url);
}

void mao_dataset_clear(mao_dataset_t *dataset)
{
    if (!dataset)
        return;
    free(dataset->name);
    free(dataset->url);
    memset(dataset, 0, sizeof *dataset);
}
