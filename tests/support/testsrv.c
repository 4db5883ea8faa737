/*
 * testsrv: starting etcd for unit tests.
 */
#include "testsrv.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mao_fs.h"

int testsrv_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static size_t s_discard(char *p, size_t s, size_t n, void *u)
{
    return s * n;
}

static int s_healthy(const char *endpoint)
{
    char url[128];
    snprintf(url, sizeof url, "%s/health", endpoint);
    CURL *h = curl_easy_init();
    long status = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_discard);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return cc == CURLE_OK && status == 200;
}

int testsrv_etcd_start(testsrv_etcd_t *etcd)
{
    memset(etcd, 0, sizeof *etcd);
    snprintf(etcd->dir, sizeof etcd->dir, "/tmp/mao-test-etcd-XXXXXX");
    if (!mkdtemp(etcd->dir)) {
        perror("testsrv: mkdtemp");
        return -1;
    }
    etcd->client_port = testsrv_free_port();
    etcd->peer_port = testsrv_free_port();
    snprintf(etcd->endpoint, sizeof etcd->endpoint, "http://127.0.0.1:%d", etcd->client_port);
    char client[64], peer[64], data[300], cluster[128], log[300];
    snprintf(client, sizeof client, "http://127.0.0.1:%d", etcd->client_port);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", etcd->peer_port);
    snprintf(data, sizeof data, "%s/data", etcd->dir);
    snprintf(cluster, sizeof cluster, "default=%s", peer);
    snprintf(log, sizeof log, "%s/etcd.log", etcd->dir);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("testsrv: fork");
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("etcd", "etcd", "--name", "default", "--data-dir", data, "--listen-client-urls",
               client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
               "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
               "--log-level", "error", (char *)NULL);
        fprintf(stderr, "testsrv: cannot run etcd: %s (install Debian's etcd-server)\n",
                strerror(errno));
        _exit(127);
    }
    etcd->pid = pid;
    for (int i = 0; i < 200; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "testsrv: etcd exited early (see %s)\n", log);
            etcd->pid = 0;
            return -1;
        }
        if (s_healthy(etcd->endpoint))
            return 0;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "testsrv: etcd did not become healthy in 20 s\n");
    testsrv_etcd_stop(etcd);
    return -1;
}

/* 1 when every thread of `pid` is stopped (state T), from /proc. */
static int s_all_stopped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    int stopped = 1;
    struct dirent *ent;
    while ((ent = readdir(dir)) && stopped) {
        if (ent->d_name[0] == '.')
            continue;
        char stat_path[128], buf[256];
        snprintf(stat_path, sizeof stat_path, "%s/%s/stat", path, ent->d_name);
        FILE *f = fopen(stat_path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *close_paren = strrchr(buf, ')');
        if (!close_paren || close_paren[1] != ' ' || close_paren[2] != 'T')
            stopped = 0;
    }
    closedir(dir);
    return stopped;
}

void testsrv_etcd_signal(testsrv_etcd_t *etcd, int sig)
{
    if (etcd->pid <= 0)
        return;
    kill(etcd->pid, sig);
    /* kill() returns before the process has stopped: wait until it has, so
     * that what the test does next really meets a frozen server. */
    for (int i = 0; sig == SIGSTOP && i < 500 && !s_all_stopped(etcd->pid); i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void testsrv_etcd_stop(testsrv_etcd_t *etcd)
{
    if (etcd->pid > 0) {
        kill(etcd->pid, SIGCONT);
        kill(etcd->pid, SIGKILL);
        waitpid(etcd->pid, NULL, 0);
        etcd->pid = 0;
    }
    if (etcd->dir[0])
        mao_fs_rmtree(etcd->dir);
    etcd->dir[0] = '\0';
}
