/*
 * bench_registry: what a registration through the coordinator costs next to
 * the floor, a bare etcd put of the same value, measured side by side.
 *
 *  1. interleaved rounds over kept-alive connections: 100 bare etcd puts, then
 *     100 registrations (POST /v1/tools), ... until `count` of each;
 *  2. `maoctl tool get` with those `count` tools, `runs` times (CLI start
 *     included), output to /dev/null;
 *  3. `clients` threads at once, each with its own connection: bare puts,
 *     then registrations, `count * 4` of each; throughput.
 *
 * Not a test: it prints figures for docs/benchmarks.md.  bench/registry.sh
 * starts the etcd and coordinator it measures.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *s_etcd = "http://127.0.0.1:2379";
static const char *s_api = "http://127.0.0.1:8080";
static const char *s_prefix = "/mao/";
static const char *s_maoctl = "build/bin/maoctl";
static int s_count = 1000;
static int s_clients = 16;
static int s_runs = 21;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t s_discard(char *p, size_t s, size_t n, void *u)
{
    return s * n;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double s_mean(const double *v, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    return sum / n;
}

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void s_base64(char *out, const char *in)
{
    size_t len = strlen(in), o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)in[i + 2];
        out[o++] = s_b64[(v >> 18) & 63];
        out[o++] = s_b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? s_b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? s_b64[v & 63] : '=';
    }
    out[o] = '\0';
}

static void s_tool_json(char *out, size_t size, const char *name)
{
    snprintf(out, size,
             "{\"name\":\"%s\",\"author\":\"bench\",\"image\":\"bench/tool:1\","
             "\"data_repo\":\"https://example.org/data.git\",\"code_repo\":"
             "\"https://example.org/code.git\",\"artefact\":\"docker\"}",
             name);
}

typedef struct {
    CURL *h;
    struct curl_slist *hdrs;
    char err[CURL_ERROR_SIZE];
} s_conn_t;

static void s_conn_init(s_conn_t *c)
{
    c->h = curl_easy_init();
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->err);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
}

static void s_conn_free(s_conn_t *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs);
}

/* One POST; returns the HTTP status (0 on a transport error). */
static long s_post(s_conn_t *c, const char *url, const char *body)
{
    long status = 0;
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c->h) != CURLE_OK) {
        fprintf(stderr, "bench: %s: %s\n", url, c->err);
        return 0;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static long s_bare_put(s_conn_t *c, const char *tag, int i)
{
    char key[160], value[512], k64[256], v64[720], body[1100], url[256];
    snprintf(key, sizeof key, "%sbench-bare/%s-%d", s_prefix, tag, i);
    snprintf(value, sizeof value, "%s-%d", tag, i);
    char name[64];
    snprintf(name, sizeof name, "%s-%d", tag, i);
    s_tool_json(value, sizeof value, name);
    s_base64(k64, key);
    s_base64(v64, value);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
    snprintf(url, sizeof url, "%s/v3/kv/put", s_etcd);
    return s_post(c, url, body);
}

static long s_register(s_conn_t *c, const char *tag, int i)
{
    char name[64], body[512], url[256];
    snprintf(name, sizeof name, "%s-%d", tag, i);
    s_tool_json(body, sizeof body, name);
    snprintf(url, sizeof url, "%s/v1/tools", s_api);
    return s_post(c, url, body);
}

typedef struct {
    int bare;    /* 1: etcd puts, 0: registrations */
    int index;   /* thread number */
    int ops;     /* how many to do */
    int failed;
} s_worker_t;

static void *s_thread(void *arg)
{
    s_worker_t *w = arg;
    s_conn_t c = {0};
    char tag[32];
    s_conn_init(&c);
    snprintf(tag, sizeof tag, "conc%d", w->index);
    for (int i = 0; i < w->ops; i++) {
        long st = w->bare ? s_bare_put(&c, tag, i) : s_register(&c, tag, i);
        if (st != 200 && st != 201)
            w->failed++;
    }
    s_conn_free(&c);
    return NULL;
}

static double s_concurrent(int bare, int total)
{
    pthread_t t[64];
    s_worker_t w[64];
    int per = total / s_clients;
    double start = s_now();
    for (int i = 0; i < s_clients; i++) {
        w[i] = (s_worker_t){.bare = bare, .index = i, .ops = per};
        pthread_create(&t[i], NULL, s_thread, &w[i]);
    }
    int failed = 0;
    for (int i = 0; i < s_clients; i++) {
        pthread_join(t[i], NULL);
        failed += w[i].failed;
    }
    double took = s_now() - start;
    if (failed)
        fprintf(stderr, "bench: %d of %d requests failed\n", failed, per * s_clients);
    return per * s_clients / took;
}

static double s_run_maoctl(void)
{
    fflush(stdout);
    double start = s_now();
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        setenv("MAO_SERVER", s_api, 1);
        execl(s_maoctl, "maoctl", "tool", "get", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "bench: maoctl tool get failed\n");
    return s_now() - start;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"etcd", required_argument, NULL, 'e'},    {"api", required_argument, NULL, 'a'},
        {"prefix", required_argument, NULL, 'p'},  {"maoctl", required_argument, NULL, 'm'},
        {"count", required_argument, NULL, 'n'},   {"clients", required_argument, NULL, 'c'},
        {"runs", required_argument, NULL, 'r'},    {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'e': s_etcd = optarg; break;
        case 'a': s_api = optarg; break;
        case 'p': s_prefix = optarg; break;
        case 'm': s_maoctl = optarg; break;
        case 'n': s_count = (int)strtol(optarg, NULL, 10); break;
        case 'c': s_clients = (int)strtol(optarg, NULL, 10); break;
        case 'r': s_runs = (int)strtol(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (s_count < 100 || s_clients < 1 || s_clients > 64 || s_runs < 1)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* 1. Interleaved, one kept-alive connection each. */
    s_conn_t etcd = {0}, api = {0};
    s_conn_init(&etcd);
    s_conn_init(&api);
    s_bare_put(&etcd, "warm", 0);
    s_register(&api, "warm", 0);
    double *bare = calloc((size_t)s_count, sizeof *bare);
    double *reg = calloc((size_t)s_count, sizeof *reg);
    int failed = 0;
    for (int base = 0; base < s_count; base += 100) {
        for (int i = base; i < base + 100 && i < s_count; i++) {
            double t0 = s_now();
            failed += s_bare_put(&etcd, "seq", i) != 200;
            bare[i] = s_now() - t0;
        }
        for (int i = base; i < base + 100 && i < s_count; i++) {
            double t0 = s_now();
            failed += s_register(&api, "seq", i) != 201;
            reg[i] = s_now() - t0;
        }
    }
    if (failed)
        fprintf(stderr, "bench: %d requests failed in the interleaved phase\n", failed);
    double bare_mean = s_mean(bare, s_count), reg_mean = s_mean(reg, s_count);
    double bare_med = s_median(bare, s_count), reg_med = s_median(reg, s_count);
    printf("sequential, one kept-alive connection, %d of each, interleaved in rounds of 100:\n",
           s_count);
    printf("  bare etcd put      median %.3f ms  mean %.3f ms\n", bare_med * 1e3, bare_mean * 1e3);
    printf("  registration       median %.3f ms  mean %.3f ms\n", reg_med * 1e3, reg_mean * 1e3);
    printf("  ratio registration / bare put: median %.2f  mean %.2f\n", reg_med / bare_med,
           reg_mean / bare_mean);

    /* 2. maoctl tool get with count (+1 warm-up) tools. */
    double *cli = calloc((size_t)s_runs, sizeof *cli);
    s_run_maoctl();
    for (int i = 0; i < s_runs; i++)
        cli[i] = s_run_maoctl();
    printf("maoctl tool get with %d tools (CLI start included), %d runs:\n", s_count + 1, s_runs);
    double cli_med = s_median(cli, s_runs); /* sorts */
    printf("  median %.1f ms  min %.1f ms  max %.1f ms\n", cli_med * 1e3, cli[0] * 1e3,
           cli[s_runs - 1] * 1e3);

    /* 3. Concurrent clients. */
    double bare_rate = s_concurrent(1, s_count * 4);
    double reg_rate = s_concurrent(0, s_count * 4);
    printf("%d concurrent clients, %d of each:\n", s_clients, s_count * 4 / s_clients * s_clients);
    printf("  bare etcd puts     %.0f per second\n", bare_rate);
    printf("  registrations      %.0f per second\n", reg_rate);

    s_conn_free(&etcd);
    s_conn_free(&api);
    free(bare);
    free(reg);
    free(cli);
    curl_global_cleanup();
    return 0;
}
