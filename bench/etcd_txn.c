/*
 * etcd_txn: what one transaction costs etcd and the client, sent over
 * etcd's gRPC service or through its JSON gateway (mao_etcd, grpc_min_ops
 * 1 or 65), for transactions of 1 and of 60 puts of 600-byte values.
 *
 *   etcd_txn --etcd URL --pid ETCD_PID [--calls N] [--repeat R]
 *
 * The two ways alternate, R times each; etcd's CPU comes from
 * /proc/<pid>/stat, the client's from getrusage.  Prints every value and the
 * median of each.  Run by bench/etcd_txn.sh, which starts its own etcd.
 */
#include "mao_etcd.h"
#include "mao_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double s_etcd_cpu_ms(int pid)
{
    char path[64], line[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(line, sizeof line, f)) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    /* Fields 14 and 15 (utime, stime) counted after the command's ')'. */
    char *p = strrchr(line, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        fprintf(stderr, "cannot parse %s\n", path);
        exit(1);
    }
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static double s_self_cpu_ms(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e3;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    int pid = 0, calls = 1000, repeat = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--etcd") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--pid") == 0)
            pid = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--calls") == 0)
            calls = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
    }
    if (!url || pid <= 0 || calls <= 0 || repeat <= 0 || repeat > 20) {
        fprintf(stderr, "usage: etcd_txn --etcd URL --pid ETCD_PID [--calls N] [--repeat R<=20]\n");
        return 2;
    }
    static const char *ways[] = {"gRPC", "gateway"};
    static const long min_ops[] = {1, 65};
    static const size_t sizes[] = {1, 60};
    double etcd_ms[2][2][20], client_ms[2][2][20];
    char value[600];
    memset(value, 'v', sizeof value);
    mao_etcd_t *clients[2];
    for (int w = 0; w < 2; w++) {
        mao_etcd_opts_t o = {.endpoints = url, .prefix = "/bench-txn/", .grpc_min_ops = min_ops[w]};
        if (mao_etcd_open(&clients[w], &o) < 0) {
            fprintf(stderr, "%s\n", mao_error_last());
            return 1;
        }
    }
    long serial = 0;
    for (int r = 0; r < repeat; r++)
        for (int s = 0; s < 2; s++)
            for (int w = 0; w < 2; w++) {
                double e0 = s_etcd_cpu_ms(pid), c0 = s_self_cpu_ms();
                for (int c = 0; c < calls; c++) {
                    mao_etcd_op_t ops[60];
                    char keys[60][40];
                    for (size_t k = 0; k < sizes[s]; k++) {
                        snprintf(keys[k], sizeof keys[k], "k/%012ld", serial++);
                        ops[k] = (mao_etcd_op_t){.key = keys[k], .value = value,
                                                 .len = sizeof value};
                    }
                    if (mao_etcd_batch(clients[w], ops, sizes[s]) < 0) {
                        fprintf(stderr, "%s\n", mao_error_last());
                        return 1;
                    }
                }
                etcd_ms[w][s][r] = (s_etcd_cpu_ms(pid) - e0) / calls;
                client_ms[w][s][r] = (s_self_cpu_ms() - c0) / calls;
                sleep(1); /* etcd's work behind the last trial is not the next one's */
            }
    if (mao_etcd_grpc_off(clients[0]))
        printf("note: gRPC was not answered; its figures are the gateway's\n");
    printf("%-8s %4s | %-32s | %-32s\n", "way", "ops", "etcd CPU ms per call (median)",
           "client CPU ms per call (median)");
    for (int s = 0; s < 2; s++)
        for (int w = 0; w < 2; w++) {
            char ev[160] = "", cv[160] = "";
            size_t el = 0, cl = 0;
            for (int r = 0; r < repeat; r++) {
                el += (size_t)snprintf(ev + el, sizeof ev - el, "%s%.2f", r ? ", " : "",
                                       etcd_ms[w][s][r]);
                cl += (size_t)snprintf(cv + cl, sizeof cv - cl, "%s%.2f", r ? ", " : "",
                                       client_ms[w][s][r]);
            }
            qsort(etcd_ms[w][s], (size_t)repeat, sizeof(double), s_cmp);
            qsort(client_ms[w][s], (size_t)repeat, sizeof(double), s_cmp);
            printf("%-8s %4zu | %-20s (%.2f) | %-20s (%.2f)\n", ways[w], sizes[s], ev,
                   etcd_ms[w][s][repeat / 2], cv, client_ms[w][s][repeat / 2]);
        }
    for (int w = 0; w < 2; w++)
        mao_etcd_destroy(&clients[w]);
    return 0;
}
