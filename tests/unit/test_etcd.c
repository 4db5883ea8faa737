/*
 * Unit tests of mao_etcd against a real etcd started for this test on free
 * loopback ports: put/get, prefix listing past one page, deletes, txn
 * conflicts, leases (expiry, keep-alive, revoke), watch events, endpoint
 * failover, and bounded waits when etcd is dead or frozen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_error.h"
#include "mao_etcd.h"
#include "testsrv.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static testsrv_etcd_t s_etcd;

static int s_setup_all(void **state)
{
    return testsrv_etcd_start(&s_etcd);
}

static int s_teardown_all(void **state)
{
    testsrv_etcd_stop(&s_etcd);
    return 0;
}

/* Each test gets a client under its own prefix, so tests cannot see each other. */
/* grpc_min_ops: 1, every transaction over gRPC; 65, none; 0, the default. */
static mao_etcd_t *s_client_grpc(const char *prefix, long grpc_min_ops)
{
    mao_etcd_t *etcd = NULL;
    mao_etcd_opts_t opts = {.endpoints = s_etcd.endpoint, .prefix = prefix, .timeout_ms = 2000,
                            .grpc_min_ops = grpc_min_ops};
    assert_int_equal(mao_etcd_open(&etcd, &opts), 0);
    return etcd;
}

static mao_etcd_t *s_client(const char *prefix)
{
    return s_client_grpc(prefix, 0);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_etcd__put_get_delete(void **state)
{
    mao_etcd_t *etcd = s_client("/t1/");
    mao_etcd_kv_t kv;
    int64_t rev = 0;
    int existed = -1;
    assert_int_equal(mao_etcd_get(etcd, "missing", &kv), MAO_ENOTFOUND);
    assert_int_equal(mao_etcd_put(etcd, "k", "v1", 2, 0, &rev, &existed), 0);
    assert_true(rev > 0);
    assert_int_equal(existed, 0);
    assert_int_equal(mao_etcd_put(etcd, "k", "v\"2\\", 5, 0, NULL, &existed), 0);
    assert_int_equal(existed, 1);
    assert_int_equal(mao_etcd_get(etcd, "k", &kv), 0);
    assert_string_equal(kv.key, "k");
    assert_string_equal(kv.value, "v\"2\\");
    assert_int_equal(kv.value_len, 5);
    assert_int_equal(kv.version, 2);
    mao_etcd_kv_free(&kv);

    /* Binary values survive. */
    const char bin[] = {0, 1, 2, (char)0xff, 'x'};
    assert_int_equal(mao_etcd_put(etcd, "bin", bin, sizeof bin, 0, NULL, NULL), 0);
    assert_int_equal(mao_etcd_get(etcd, "bin", &kv), 0);
    assert_int_equal(kv.value_len, sizeof bin);
    assert_memory_equal(kv.value, bin, sizeof bin);
    mao_etcd_kv_free(&kv);

    int64_t deleted = -1;
    assert_int_equal(mao_etcd_delete(etcd, "k", 0, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(mao_etcd_delete(etcd, "k", 0, &deleted), 0);
    assert_int_equal(deleted, 0);
    mao_etcd_destroy(&etcd);
    assert_null(etcd);
}

static int64_t kvs_revision_of(mao_etcd_t *etcd, const char *key)
{
    mao_etcd_kv_t kv;
    assert_int_equal(mao_etcd_get(etcd, key, &kv), 0);
    int64_t rev = kv.mod_revision;
    mao_etcd_kv_free(&kv);
    return rev;
}

typedef struct {
    int seen;
    int stop_at; /* 0: never */
    int ordered;
    char last[32];
} s_each_t;

static int s_each(mao_etcd_kv_t *kv, void *arg)
{
    s_each_t *e = arg;
    char want[32];
    snprintf(want, sizeof want, "items/%05d", e->seen);
    e->ordered = (e->seen == 0 || e->ordered) && strcmp(kv->key, want) == 0;
    e->seen++;
    mao_etcd_kv_free(kv);
    return e->stop_at && e->seen == e->stop_at ? MAO_ECONFLICT : 0;
}

static void test_etcd__list_pages_past_one_page(void **state)
{
    mao_etcd_t *etcd = s_client("/t2/");
    char key[32], value[32];
    for (int i = 0; i < 1234; i++) {
        snprintf(key, sizeof key, "items/%05d", i);
        snprintf(value, sizeof value, "value-%d", i);
        assert_int_equal(mao_etcd_put(etcd, key, value, strlen(value), 0, NULL, NULL), 0);
    }
    assert_int_equal(mao_etcd_put(etcd, "itemsX", "outside", 7, 0, NULL, NULL), 0);
    assert_int_equal(mao_etcd_put(etcd, "other/1", "x", 1, 0, NULL, NULL), 0);

    mao_etcd_kvs_t kvs;
    assert_int_equal(mao_etcd_list(etcd, "items/", 100, 0, &kvs), 0);
    assert_int_equal(kvs.count, 1234);
    for (size_t i = 0; i < kvs.count; i++) {
        snprintf(key, sizeof key, "items/%05zu", i);
        snprintf(value, sizeof value, "value-%zu", i);
        assert_string_equal(kvs.items[i].key, key);
        assert_string_equal(kvs.items[i].value, value);
    }
    mao_etcd_kvs_free(&kvs);

    assert_int_equal(mao_etcd_list(etcd, "items/", 0, 1, &kvs), 0);
    assert_int_equal(kvs.count, 1234);
    assert_int_equal(kvs.items[0].value_len, 0);
    mao_etcd_kvs_free(&kvs);

    /* One pair at a time: in order, across pages, stopping when asked. */
    s_each_t each = {0};
    int64_t rev = 0;
    assert_int_equal(mao_etcd_list_each(etcd, "items/", 300, 0, s_each, &each, &rev), 0);
    assert_int_equal(each.seen, 1234);
    assert_true(each.ordered);
    assert_true(rev > 0);
    each = (s_each_t){.stop_at = 700};
    assert_int_equal(mao_etcd_list_each(etcd, "items/", 300, 0, s_each, &each, NULL),
                     MAO_ECONFLICT);
    assert_int_equal(each.seen, 700);

    /* An empty prefix is an empty list, not an error. */
    assert_int_equal(mao_etcd_list(etcd, "nothing-here/", 0, 0, &kvs), 0);
    assert_int_equal(kvs.count, 0);
    mao_etcd_kvs_free(&kvs);

    /* The probe: a count, and whether anything changed since a revision. */
    int64_t count = 0;
    int newer = -1;
    int64_t after = kvs_revision_of(etcd, "items/01233");
    assert_int_equal(mao_etcd_probe(etcd, "items/", after + 1, &count, &newer), 0);
    assert_int_equal(count, 1234);
    assert_false(newer);
    assert_int_equal(mao_etcd_probe(etcd, "items/", after, &count, &newer), 0);
    assert_true(newer);
    assert_int_equal(mao_etcd_put(etcd, "items/00007", "changed", 7, 0, NULL, NULL), 0);
    assert_int_equal(mao_etcd_probe(etcd, "items/", after + 1, &count, &newer), 0);
    assert_int_equal(count, 1234);
    assert_true(newer);

    int64_t deleted = 0;
    assert_int_equal(mao_etcd_delete(etcd, "items/", 1, &deleted), 0);
    assert_int_equal(deleted, 1234);
    assert_int_equal(mao_etcd_list(etcd, "", 0, 0, &kvs), 0);
    assert_int_equal(kvs.count, 2); /* itemsX and other/1 stay */
    mao_etcd_kvs_free(&kvs);
    mao_etcd_destroy(&etcd);
}

static void test_etcd__txn_conflicts(void **state)
{
    mao_etcd_t *etcd = s_client("/t3/");
    mao_etcd_kv_t kv = {0};
    assert_int_equal(mao_etcd_create(etcd, "c", "first", 5, 0, NULL), 0);
    assert_int_equal(mao_etcd_create(etcd, "c", "second", 6, 0, &kv), MAO_ECONFLICT);
    assert_string_equal(kv.value, "first");
    int64_t rev = kv.mod_revision;
    mao_etcd_kv_free(&kv);

    assert_int_equal(mao_etcd_swap(etcd, "c", "third", 5, rev, 0), 0);
    assert_int_equal(mao_etcd_swap(etcd, "c", "stale", 5, rev, 0), MAO_ECONFLICT);
    assert_int_equal(mao_etcd_get(etcd, "c", &kv), 0);
    assert_string_equal(kv.value, "third");
    int64_t rev2 = kv.mod_revision;
    mao_etcd_kv_free(&kv);
    assert_int_equal(mao_etcd_swap(etcd, "new", "n", 1, 0, 0), 0); /* 0: must not exist */

    assert_int_equal(mao_etcd_delete_if(etcd, "c", rev), MAO_ECONFLICT);
    assert_int_equal(mao_etcd_delete_if(etcd, "c", rev2), 0);
    assert_int_equal(mao_etcd_delete_if(etcd, "c", rev2), MAO_ENOTFOUND);

    mao_etcd_destroy(&etcd);
}

/* General transactions: several conditions, a lease on a put, a refusal,
 * a full batch; the same whether they go over gRPC or through the gateway. */
static void s_transactions(const char *prefix, long grpc_min_ops)
{
    mao_etcd_t *etcd = s_client_grpc(prefix, grpc_min_ops);
    mao_etcd_kv_t kv = {0};
    int ok = -1;
    int64_t after = 0, lease = 0;
    assert_int_equal(mao_etcd_lease_grant(etcd, 30, &lease), 0);
    mao_etcd_cmp_t absent[] = {{.key = "leader", .target = MAO_ETCD_CREATE, .number = 0},
                               {.key = "term", .target = MAO_ETCD_CREATE, .number = 0}};
    mao_etcd_op_t win[] = {{.key = "leader", .value = "me", .len = 2, .lease = lease},
                           {.key = "term", .value = "1", .len = 1}};
    assert_int_equal(mao_etcd_txn(etcd, absent, 2, win, 2, &ok, &after), 0);
    assert_true(ok);
    assert_true(after > 0);
    assert_int_equal(mao_etcd_get(etcd, "leader", &kv), 0);
    assert_int_equal(kv.create_revision, after);
    assert_int_equal(kv.lease, lease);
    mao_etcd_kv_free(&kv);
    assert_int_equal(mao_etcd_txn(etcd, absent, 2, win, 2, &ok, NULL), 0);
    assert_false(ok); /* the key exists now: nothing applied */
    mao_etcd_cmp_t term1[] = {{.key = "term", .target = MAO_ETCD_VALUE, .value = "1"},
                              {.key = "leader", .target = MAO_ETCD_CREATE, .number = after}};
    mao_etcd_op_t next[] = {{.key = "term", .value = "2", .len = 1}};
    assert_int_equal(mao_etcd_txn(etcd, term1, 2, next, 1, &ok, NULL), 0);
    assert_true(ok);
    assert_int_equal(mao_etcd_txn(etcd, term1, 2, next, 1, &ok, NULL), 0);
    assert_false(ok); /* the value is "2" now */
    assert_int_equal(mao_etcd_lease_revoke(etcd, lease), 0);
    assert_int_equal(mao_etcd_get(etcd, "leader", &kv), MAO_ENOTFOUND); /* gone with its lease */

    /* etcd's refusal comes back with its reason: the lease is gone now. */
    assert_int_equal(mao_etcd_txn(etcd, NULL, 0, win, 2, &ok, NULL), MAO_ENOTFOUND);
    assert_non_null(strstr(mao_error_last(), "lease not found"));
    assert_int_equal(mao_etcd_get(etcd, "term", &kv), 0);
    assert_string_equal(kv.value, "2"); /* nothing of it applied */
    mao_etcd_kv_free(&kv);

    /* A full batch: MAO_ETCD_TXN_OPS operations, a key given twice (the last
     * one wins), values with NUL bytes, a delete. */
    enum { N = MAO_ETCD_TXN_OPS };
    mao_etcd_op_t ops[N];
    char keys[N][16];
    for (int i = 0; i < N - 1; i++) {
        snprintf(keys[i], sizeof keys[i], "b/%03d", i % (N - 2));
        ops[i] = (mao_etcd_op_t){.key = keys[i], .value = i == N - 2 ? "x\0last" : "x\0y",
                                 .len = i == N - 2 ? 6 : 3};
    }
    ops[N - 1] = (mao_etcd_op_t){.del = 1, .key = "term"};
    assert_int_equal(mao_etcd_batch(etcd, ops, N), 0);
    mao_etcd_kvs_t all;
    assert_int_equal(mao_etcd_list(etcd, "b/", 0, 0, &all), 0);
    assert_int_equal(all.count, N - 2);
    assert_int_equal(all.items[0].value_len, 6); /* b/000: written twice, the second wins */
    assert_memory_equal(all.items[0].value, "x\0last", 6);
    assert_int_equal(all.items[1].value_len, 3);
    assert_memory_equal(all.items[1].value, "x\0y", 3);
    mao_etcd_kvs_free(&all);
    assert_int_equal(mao_etcd_get(etcd, "term", &kv), MAO_ENOTFOUND);
    mao_etcd_op_t too_many[N + 1];
    for (int i = 0; i < N + 1; i++)
        too_many[i] = ops[0];
    assert_int_equal(mao_etcd_batch(etcd, too_many, N + 1), MAO_EINVAL);
    /* Over gRPC when asked: none of them fell back to the gateway. */
    assert_int_equal(mao_etcd_grpc_off(etcd), 0);
    mao_etcd_destroy(&etcd);
}

static void test_etcd__txn_over_grpc(void **state)
{
    s_transactions("/t3g/", 1);
}

static void test_etcd__txn_through_the_gateway(void **state)
{
    s_transactions("/t3j/", 65);
}

static void test_etcd__lease_expiry_keepalive_revoke(void **state)
{
    mao_etcd_t *etcd = s_client("/t4/");
    int64_t lease = 0;
    long ttl = 0;
    mao_etcd_kv_t kv;

    /* A key on a 2 s lease that is never renewed disappears. */
    assert_int_equal(mao_etcd_lease_grant(etcd, 2, &lease), 0);
    assert_int_equal(mao_etcd_put(etcd, "ephemeral", "x", 1, lease, NULL, NULL), 0);
    assert_int_equal(mao_etcd_get(etcd, "ephemeral", &kv), 0);
    assert_int_equal(kv.lease, lease);
    mao_etcd_kv_free(&kv);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        usleep(100 * 1000);
        gone = mao_etcd_get(etcd, "ephemeral", &kv) == MAO_ENOTFOUND;
        if (!gone)
            mao_etcd_kv_free(&kv);
    }
    assert_true(gone);
    assert_int_equal(mao_etcd_lease_keepalive(etcd, lease, &ttl), MAO_ENOTFOUND);

    /* A renewed lease outlives its TTL (renewed every 0.5 s, well inside it). */
    assert_int_equal(mao_etcd_lease_grant(etcd, 3, &lease), 0);
    assert_int_equal(mao_etcd_put(etcd, "kept", "x", 1, lease, NULL, NULL), 0);
    for (int i = 0; i < 10; i++) {
        usleep(500 * 1000);
        assert_int_equal(mao_etcd_lease_keepalive(etcd, lease, &ttl), 0);
        assert_true(ttl >= 1);
    }
    assert_int_equal(mao_etcd_get(etcd, "kept", &kv), 0);
    mao_etcd_kv_free(&kv);

    /* Revoking deletes its keys at once. */
    assert_int_equal(mao_etcd_lease_revoke(etcd, lease), 0);
    assert_int_equal(mao_etcd_get(etcd, "kept", &kv), MAO_ENOTFOUND);
    assert_int_equal(mao_etcd_lease_revoke(etcd, lease), MAO_ENOTFOUND);
    mao_etcd_destroy(&etcd);
}

typedef struct {
    int puts;
    int deletes;
    char last_key[64];
    char last_value[64];
} s_seen_t;

static int s_on_event(mao_etcd_event_type_t type, const mao_etcd_kv_t *kv, void *arg)
{
    s_seen_t *seen = arg;
    if (type == MAO_ETCD_PUT)
        seen->puts++;
    else
        seen->deletes++;
    snprintf(seen->last_key, sizeof seen->last_key, "%s", kv->key);
    snprintf(seen->last_value, sizeof seen->last_value, "%s", kv->value);
    return type == MAO_ETCD_DELETE && strcmp(kv->key, "w/stop") == 0;
}

static void *s_writer(void *arg)
{
    mao_etcd_t *etcd = arg;
    mao_etcd_put(etcd, "w/a", "1", 1, 0, NULL, NULL);
    mao_etcd_put(etcd, "w/b", "2", 1, 0, NULL, NULL);
    mao_etcd_put(etcd, "outside", "3", 1, 0, NULL, NULL);
    mao_etcd_delete(etcd, "w/a", 0, NULL);
    mao_etcd_put(etcd, "w/stop", "4", 1, 0, NULL, NULL);
    mao_etcd_delete(etcd, "w/stop", 0, NULL);
    return NULL;
}

static void test_etcd__watch_events(void **state)
{
    mao_etcd_t *etcd = s_client("/t5/");
    s_seen_t seen = {0};
    pthread_t writer;
    int64_t next = 0;
    /* Watch from a revision taken before the writer starts, so every event is
     * seen however late the watch is set up. */
    int64_t start = 0;
    assert_int_equal(mao_etcd_put(etcd, "marker", "m", 1, 0, &start, NULL), 0);
    pthread_create(&writer, NULL, s_writer, etcd);
    assert_int_equal(
        mao_etcd_watch(etcd, "w/", 1, start + 1, 30000, NULL, s_on_event, &seen, &next), 0);
    pthread_join(writer, NULL);
    assert_int_equal(seen.puts, 3);
    assert_int_equal(seen.deletes, 2);
    assert_string_equal(seen.last_key, "w/stop");
    assert_true(next > 0);

    /* Resuming from an older revision replays what happened since. */
    s_seen_t again = {0};
    mao_etcd_kv_t kv;
    assert_int_equal(mao_etcd_put(etcd, "w/c", "5", 1, 0, NULL, NULL), 0);
    assert_int_equal(mao_etcd_get(etcd, "w/c", &kv), 0);
    int64_t rev = kv.mod_revision;
    mao_etcd_kv_free(&kv);
    assert_int_equal(mao_etcd_watch(etcd, "w/", 1, rev, 1000, NULL, s_on_event, &again, &next),
                     MAO_ETIMEOUT);
    assert_int_equal(again.puts, 1);
    assert_string_equal(again.last_value, "5");
    assert_int_equal(next, rev + 1);

    /* A stop flag ends the watch. */
    volatile int stop = 1;
    assert_int_equal(mao_etcd_watch(etcd, "w/", 1, 0, 10000, &stop, s_on_event, &again, NULL), 0);
    mao_etcd_destroy(&etcd);
}

static void test_etcd__failover_to_a_live_endpoint(void **state)
{
    char endpoints[256];
    int dead = testsrv_free_port();
    snprintf(endpoints, sizeof endpoints, "http://127.0.0.1:%d,%s", dead, s_etcd.endpoint);
    mao_etcd_t *etcd = NULL;
    mao_etcd_opts_t opts = {.endpoints = endpoints, .prefix = "/t6/", .timeout_ms = 2000};
    assert_int_equal(mao_etcd_open(&etcd, &opts), 0);
    assert_int_equal(mao_etcd_put(etcd, "k", "v", 1, 0, NULL, NULL), 0);
    assert_string_equal(mao_etcd_endpoint(etcd), s_etcd.endpoint);
    mao_etcd_destroy(&etcd);
    /* A transaction too, with the dead endpoint first. */
    assert_int_equal(mao_etcd_open(&etcd, &opts), 0);
    mao_etcd_op_t op = {.key = "t", .value = "1", .len = 1};
    assert_int_equal(mao_etcd_batch(etcd, &op, 1), 0);
    assert_string_equal(mao_etcd_endpoint(etcd), s_etcd.endpoint);
    mao_etcd_destroy(&etcd);

    snprintf(endpoints, sizeof endpoints, "http://127.0.0.1:%d", dead);
    assert_int_equal(mao_etcd_open(&etcd, &opts), 0);
    assert_int_equal(mao_etcd_ping(etcd), MAO_EUNAVAILABLE);
    assert_non_null(strstr(mao_error_last(), "etcd unreachable"));
    mao_etcd_destroy(&etcd);

    opts.endpoints = "ftp://nope";
    assert_int_equal(mao_etcd_open(&etcd, &opts), MAO_EINVAL);
}

static void test_etcd__frozen_etcd_is_bounded(void **state)
{
    mao_etcd_t *etcd = s_client("/t7/");
    assert_int_equal(mao_etcd_put(etcd, "k", "v", 1, 0, NULL, NULL), 0);
    testsrv_etcd_signal(&s_etcd, SIGSTOP);
    double start = s_now();
    mao_etcd_kv_t kv;
    int rc = mao_etcd_get(etcd, "k", &kv);
    double took = s_now() - start;
    testsrv_etcd_signal(&s_etcd, SIGCONT);
    assert_true(rc == MAO_EUNAVAILABLE || rc == MAO_ETIMEOUT);
    /* It came back (a hang would run into the test timeout); how fast is for bench/. */
    printf("frozen etcd: the read gave up after %.1f s\n", took);
    /* Thawed, it serves again through the same client. */
    int ok = -1;
    for (int i = 0; i < 50 && ok != 0; i++) {
        ok = mao_etcd_get(etcd, "k", &kv);
        if (ok != 0)
            usleep(100 * 1000);
    }
    assert_int_equal(ok, 0);
    mao_etcd_kv_free(&kv);
    mao_etcd_destroy(&etcd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etcd__put_get_delete),
        cmocka_unit_test(test_etcd__list_pages_past_one_page),
        cmocka_unit_test(test_etcd__txn_conflicts),
        cmocka_unit_test(test_etcd__txn_over_grpc),
        cmocka_unit_test(test_etcd__txn_through_the_gateway),
        cmocka_unit_test(test_etcd__lease_expiry_keepalive_revoke),
        cmocka_unit_test(test_etcd__watch_events),
        cmocka_unit_test(test_etcd__failover_to_a_live_endpoint),
        cmocka_unit_test(test_etcd__frozen_etcd_is_bounded),
    };
    return cmocka_run_group_tests(tests, s_setup_all, s_teardown_all);
}
