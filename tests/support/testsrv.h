/*
 * testsrv: real servers for C unit tests, started on free loopback ports in
 * temporary folders and stopped by the test (or by the kernel when the test
 * process dies: each child gets PR_SET_PDEATHSIG).
 *
 * A missing server binary is a failure, never a skip.
 */
#ifndef TESTSRV_H
#define TESTSRV_H

#include <sys/types.h>

typedef struct {
    pid_t pid;          /* etcd's process id */
    char dir[256];      /* temporary folder holding its data */
    char endpoint[64];  /* http://127.0.0.1:<client port> */
    int client_port;
    int peer_port;
} testsrv_etcd_t;

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int testsrv_free_port(void);

/* Starts etcd and waits until it answers (at most 20 s).  Returns 0, or -1
 * with a message on stderr. */
int testsrv_etcd_start(testsrv_etcd_t *etcd);

/* Sends `sig` to etcd (SIGSTOP / SIGCONT to freeze and thaw it); after
 * SIGSTOP, returns once every thread of etcd has stopped. */
void testsrv_etcd_signal(testsrv_etcd_t *etcd, int sig);

/* Kills etcd, waits for it and removes its folder. */
void testsrv_etcd_stop(testsrv_etcd_t *etcd);

#endif
