/*
 * maoctl: option parsing, calls to the coordinator, output helpers.
 */
#include "ctl.h"
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_name.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

static const struct option s_global[] = {
    {"output", required_argument, NULL, 'o'}, {"server", required_argument, NULL, 'S'},
    {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
};
#define S_GLOBAL_COUNT (sizeof s_global / sizeof s_global[0])

int ctl_usage_error(const char *help, const char *fmt, ...)
{
    va_list ap;
    fputs("maoctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (help) {
        const char *nl = strchr(help, '\n');
        fprintf(stderr, "%.*s\nTry --help for more.\n", nl ? (int)(nl - help) : (int)strlen(help),
                help);
    }
    return CTL_USAGE;
}

int ctl_parse_name(ctl_t *ctl, int argc, char **argv, const char *help, const char *kind,
                   const char *verb, const char **name)
{
    int first;
    int rc = ctl_parse(ctl, argc, argv, help, NULL, NULL, NULL, &first);
    if (rc)
        return rc;
    if (argc - first != 1)
        return ctl_usage_error(help, "%s needs one NAME", verb);
    if (mao_name_check(kind, argv[first]) < 0)
        return ctl_fail("%s", mao_error_last());
    *name = argv[first];
    return 0;
}

int ctl_remove(ctl_t *ctl, int argc, char **argv, const char *help, const char *kind,
               const char *collection)
{
    const char *name = NULL;
    char verb[64], path[256];
    snprintf(verb, sizeof verb, "%s remove", kind);
    int rc = ctl_parse_name(ctl, argc, argv, help, kind, verb, &name);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    snprintf(path, sizeof path, "%s/%s", collection, name);
    json_t *reply = NULL;
    if ((rc = ctl_call(ctl, "DELETE", path, NULL, 30000, &reply)) != CTL_OK)
        return rc;
    if (ctl->json)
        ctl_print_json(reply);
    else
        printf("%s %s removed\n", kind, name);
    json_decref(reply);
    return CTL_OK;
}

int ctl_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("maoctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_FAIL;
}

void ctl_use_server(ctl_t *ctl, const char *url)
{
    snprintf(ctl->server, sizeof ctl->server, "%.*s", (int)strcspn(url, ","), url);
    size_t n = strlen(ctl->server);
    while (n > 0 && ctl->server[n - 1] == '/')
        ctl->server[--n] = '\0';
}

static int s_is_http_url(const char *url, size_t len)
{
    return (len > 7 && strncmp(url, "http://", 7) == 0) ||
           (len > 8 && strncmp(url, "https://", 8) == 0);
}

int ctl_set_servers(ctl_t *ctl, const char *list)
{
    if (strlen(list) >= sizeof ctl->servers)
        return ctl_usage_error(NULL, "--server: the list of URLs is longer than %zu bytes",
                               sizeof ctl->servers - 1);
    for (const char *p = list;; p++) {
        size_t len = strcspn(p, ",");
        if (!s_is_http_url(p, len))
            return ctl_usage_error(NULL, "--server '%.*s' must start with http:// or https:// "
                                         "(several coordinators: URLs separated by commas)",
                                   (int)len, p);
        p += len;
        if (!*p)
            break;
    }
    snprintf(ctl->servers, sizeof ctl->servers, "%s", list);
    ctl_use_server(ctl, list);
    return CTL_OK;
}

/* The URL after the current one in the --server list, or NULL. */
static const char *s_next_server(ctl_t *ctl, const char *after)
{
    size_t n = strlen(after);
    for (const char *p = ctl->servers; *p;) {
        size_t len = strcspn(p, ","), trimmed = len;
        while (trimmed > 0 && p[trimmed - 1] == '/')
            trimmed--;
        int same = trimmed == n && strncmp(p, after, n) == 0;
        p += len;
        if (*p == ',')
            p++;
        if (same)
            return *p ? p : NULL;
    }
    return NULL;
}

int ctl_parse(ctl_t *ctl, int argc, char **argv, const char *help, const struct option *extra,
              ctl_opt_fn *fn, void *arg, int *first)
{
    struct option opts[48];
    char shortopts[64] = "-o:c:h";
    size_t n = 0;
    for (size_t i = 0; i < S_GLOBAL_COUNT; i++)
        opts[n++] = s_global[i];
    for (size_t i = 0; extra && extra[i].name && n < 46; i++)
        opts[n++] = extra[i];
    memset(&opts[n], 0, sizeof opts[n]);

    /* Positionals are gathered in order; options may come anywhere. */
    char **positional = calloc((size_t)argc + 1, sizeof *positional);
    int count = 0;
    int rc = 0;
    if (!positional)
        return ctl_fail("out of memory");
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (opt == 1) {
            positional[count++] = optarg;
            continue;
        }
        switch (opt) {
        case 'h':
            fputs(help, stdout);
            rc = -1;
            goto done;
        case 'o':
            if (strcmp(optarg, "json") == 0)
                ctl->json = 1;
            else if (strcmp(optarg, "table") == 0 || strcmp(optarg, "text") == 0)
                ctl->json = 0;
            else {
                rc = ctl_usage_error(help, "unknown output format '%s' (use table or json)",
                                     optarg);
                goto done;
            }
            break;
        case 'S':
            if ((rc = ctl_set_servers(ctl, optarg)) != CTL_OK)
                goto done;
            break;
        case 'c': ctl->config_path = optarg; break;
        case '?':
        case ':':
            if (optopt)
                rc = ctl_usage_error(help, "option -%c %s", optopt,
                                     opt == ':' ? "needs a value" : "is not known here");
            else
                rc = ctl_usage_error(help, "option '%s' is not known here or needs a value",
                                     argv[optind - 1]);
            goto done;
        default:
            if (!fn || (rc = fn(opt, optarg, arg)) != CTL_OK)
                goto done;
            break;
        }
    }
    /* Anything after "--" is positional too. */
    for (int i = optind; i < argc; i++)
        positional[count++] = argv[i];
    for (int i = 0; i < count; i++)
        argv[argc - count + i] = positional[i];
    *first = argc - count;
done:
    free(positional);
    return rc;
}

int ctl_leading_globals(ctl_t *ctl, int argc, char **argv, int *index, const char *help,
                        int version)
{
    int i = *index;
    while (i < argc && argv[i][0] == '-') {
        const char *a = argv[i];
        if (version && (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)) {
            printf("maoctl %s\n", MAO_VERSION);
            return -1;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return -1;
        }
        int takes_value = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
                          strcmp(a, "--server") == 0 || strcmp(a, "-c") == 0 ||
                          strcmp(a, "--config") == 0;
        int has_inline = strncmp(a, "--output=", 9) == 0 || strncmp(a, "--server=", 9) == 0 ||
                         strncmp(a, "--config=", 9) == 0 || (strncmp(a, "-o", 2) == 0 && a[2]);
        if (!takes_value && !has_inline)
            return ctl_usage_error(help, "unknown option '%s'", a);
        if (takes_value && i + 1 >= argc)
            return ctl_usage_error(help, "option '%s' needs a value", a);
        char *sub[3] = {argv[0], argv[i], takes_value ? argv[i + 1] : NULL};
        int first;
        int rc = ctl_parse(ctl, takes_value ? 3 : 2, sub, help, NULL, NULL, NULL, &first);
        if (rc)
            return rc;
        i += takes_value ? 2 : 1;
    }
    *index = i;
    return 0;
}

mao_cfg_t *ctl_cfg(ctl_t *ctl)
{
    if (ctl->cfg)
        return ctl->cfg;
    if (mao_cfg_load(&ctl->cfg, mao_cfg_default_path(ctl->config_path)) < 0) {
        ctl_fail("%s", mao_error_last());
        return NULL;
    }
    return ctl->cfg;
}

/* The connection to the coordinator, with the token ($MAO_TOKEN, or the
 * file $MAO_TOKEN_FILE) and the CA to trust for https ($MAO_CACERT). */
static int s_http_open(ctl_t *ctl)
{
    if (!(ctl->http = mao_http_new()))
        return ctl_fail("out of memory");
    const char *token = getenv("MAO_TOKEN");
    const char *token_file = getenv("MAO_TOKEN_FILE");
    const char *cacert = getenv("MAO_CACERT");
    char *from_file = NULL;
    if ((!token || !*token) && token_file && *token_file) {
        size_t len = 0;
        if (mao_fs_read(token_file, 1 << 16, &from_file, &len) < 0)
            return ctl_fail("MAO_TOKEN_FILE: %s", mao_error_last());
        while (len > 0 && (from_file[len - 1] == '\n' || from_file[len - 1] == '\r' ||
                           from_file[len - 1] == ' '))
            from_file[--len] = '\0';
        token = from_file;
    }
    if (token && *token) {
        if (strpbrk(token, "\r\n")) {
            free(from_file);
            return ctl_fail("the API token holds a line break");
        }
        char line[1024];
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        mao_http_add_header(ctl->http, line);
    }
    free(from_file);
    if (cacert && *cacert)
        mao_http_set_cainfo(ctl->http, cacert);
    return CTL_OK;
}

/* One request to ctl->server.  Returns CTL_OK with *status and *json, 1 when
 * the coordinator could not be reached (the detail in mao_error_last()), or
 * CTL_FAIL after saying why. */
static int s_call_once(ctl_t *ctl, const char *method, const char *path, const char *text,
                       long timeout_ms, long *status, json_t **json)
{
    char url[1024];
    mao_http_reply_t r;
    snprintf(url, sizeof url, "%s%s", ctl->server, path);
    if (mao_http_request(ctl->http, method, url, text, text ? strlen(text) : 0, timeout_ms, &r) <
        0)
        return 1;
    *status = r.status;
    json_error_t err;
    *json = r.len ? json_loadb(r.body, r.len, JSON_DECODE_ANY, &err) : json_null();
    mao_http_reply_clear(&r);
    if (!*json)
        return ctl_fail("the server at %s answered HTTP %ld with something that is not JSON "
                        "(is it a mao coordinator?)",
                        ctl->server, *status);
    return CTL_OK;
}

int ctl_call_status(ctl_t *ctl, const char *method, const char *path, json_t *body,
                    long timeout_ms, long *status, json_t **reply)
{
    char *text = NULL;
    json_t *json = NULL;
    int rc;

    if (reply)
        *reply = NULL;
    if (!ctl->http && (rc = s_http_open(ctl)) != CTL_OK)
        return rc;
    if (body && !(text = json_dumps(body, JSON_COMPACT)))
        return ctl_fail("out of memory");
    /* At most one hop to the leader a standby names, besides the list. */
    for (int hops = 0;;) {
        rc = s_call_once(ctl, method, path, text, timeout_ms, status, &json);
        if (rc == 1) {
            const char *next = s_next_server(ctl, ctl->server);
            if (next) {
                ctl_use_server(ctl, next);
                continue;
            }
            rc = ctl_fail("cannot reach the coordinator at %s: %s (is mao-coordinator "
                          "running? set --server or MAO_SERVER)",
                          ctl->server, mao_error_last());
            break;
        }
        if (rc != CTL_OK)
            break;
        const char *leader = json_string_value(json_object_get(json, "leader"));
        const char *error = json_string_value(json_object_get(json, "error"));
        if (*status == 503 && error && strcmp(error, "standby") == 0 && leader &&
            s_is_http_url(leader, strlen(leader)) && !strchr(leader, ',') && hops++ == 0 &&
            strcmp(leader, ctl->server) != 0) {
            ctl_use_server(ctl, leader);
            json_decref(json);
            json = NULL;
            continue;
        }
        break;
    }
    free(text);
    if (rc != CTL_OK) {
        json_decref(json);
        return rc;
    }
    if (reply)
        *reply = json;
    else
        json_decref(json);
    return CTL_OK;
}

int ctl_call(ctl_t *ctl, const char *method, const char *path, json_t *body, long timeout_ms,
             json_t **reply)
{
    long status = 0;
    json_t *json = NULL;
    int rc = ctl_call_status(ctl, method, path, body, timeout_ms, &status, &json);
    if (rc != CTL_OK)
        return rc;
    if (status < 200 || status >= 300) {
        const char *msg = json_string_value(json_object_get(json, "message"));
        rc = ctl_fail("%s", msg ? msg : "the coordinator refused the request");
        if (!msg)
            fprintf(stderr, "maoctl: (HTTP %ld)\n", status);
        json_decref(json);
        return rc;
    }
    if (reply)
        *reply = json;
    else
        json_decref(json);
    return CTL_OK;
}

void ctl_print_json(json_t *json)
{
    char *text = json_dumps(json, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (text) {
        puts(text);
        free(text);
    }
}

void ctl_print_safe(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n' || *p == '\t')
            fputc(*p, out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
}

/* ---- tables ---------------------------------------------------------------- */

struct ctl_table_t {
    size_t columns;
    size_t rows;
    char **cells; /* rows+1 (headers first) times columns, each a sanitised copy */
    size_t *width;
};

/* Display width of UTF-8 text (one column per code point, enough for tables). */
static size_t s_width(const char *text)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & 0xc0) != 0x80)
            w++;
    return w;
}

static char *s_clean_cell(const char *text)
{
    char *copy = strdup(text ? text : "");
    if (copy)
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    return copy;
}

ctl_table_t *ctl_table_new(size_t columns, const char *const *headers)
{
    ctl_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->columns = columns;
    t->width = calloc(columns, sizeof *t->width);
    if (!t->width) {
        free(t);
        return NULL;
    }
    ctl_table_add(t, headers);
    return t;
}

void ctl_table_add(ctl_table_t *t, const char *const *cells)
{
    char **grown = realloc(t->cells, (t->rows + 1) * t->columns * sizeof *grown);
    if (!grown)
        return;
    t->cells = grown;
    for (size_t c = 0; c < t->columns; c++) {
        char *cell = s_clean_cell(cells[c]);
        t->cells[t->rows * t->columns + c] = cell;
        size_t w = cell ? s_width(cell) : 0;
        if (w > t->width[c])
            t->width[c] = w;
    }
    t->rows++;
}

void ctl_table_print(ctl_table_t *t, FILE *out)
{
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->columns; c++) {
            const char *cell = t->cells[r * t->columns + c];
            cell = cell ? cell : "";
            fputs(cell, out);
            if (c + 1 < t->columns)
                for (size_t pad = s_width(cell); pad < t->width[c] + 2; pad++)
                    fputc(' ', out);
        }
        fputc('\n', out);
    }
}

void ctl_table_destroy(ctl_table_t **tp)
{
    if (!tp || !*tp)
        return;
    ctl_table_t *t = *tp;
    for (size_t i = 0; i < t->rows * t->columns; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t);
    *tp = NULL;
}
