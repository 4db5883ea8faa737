/*
 * coord_pg: PostgreSQL through libpq.
 *
 * Schema (version 2):
 *   mao_schema(version)                               one row
 *   mao_schedules(id, tool, record jsonb, updated_at)
 *   mao_runs(id, tool, schedule, slot, status, created_at, record jsonb)
 *   mao_leader(id = 1, term)                          one row: the newest leader's term
 * Records are the same JSON as in etcd; the other columns are for queries.
 */
#include "coord_pg.h"
#include "mao_error.h"
#include "mao_log.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SCHEMA_VERSION 2
#define S_POOL 8

struct coord_pg_t {
    char conninfo[2048];    /* libpq connection string */
    pthread_mutex_t lock;   /* guards the pool */
    PGconn *idle[S_POOL];   /* connections not in use */
    int nidle;
};

static const char *s_migrations[] = {
    /* version 1 */
    "CREATE TABLE IF NOT EXISTS mao_schedules ("
    "  id text PRIMARY KEY, tool text NOT NULL, record jsonb NOT NULL,"
    "  updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS mao_runs ("
    "  id text PRIMARY KEY, tool text NOT NULL, schedule text, slot bigint,"
    "  status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
    "  record jsonb NOT NULL);"
    "CREATE INDEX IF NOT EXISTS mao_runs_tool ON mao_runs (tool, id DESC);"
    "CREATE INDEX IF NOT EXISTS mao_runs_active ON mao_runs (status)"
    "  WHERE status IN ('queued', 'running');"
    "CREATE INDEX IF NOT EXISTS mao_runs_slot ON mao_runs (schedule, slot);",
    /* version 2: fencing of leaders */
    "CREATE TABLE IF NOT EXISTS mao_leader ("
    "  id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), term bigint NOT NULL,"
    "  updated_at timestamptz NOT NULL DEFAULT now());",
};

int coord_pg_configured(const mao_cfg_t *cfg)
{
    return mao_cfg_get(cfg, "POSTGRES", "db")[0] != '\0';
}

/* Appends key='value' to a conninfo string, quoting as libpq wants. */
static void s_param(char *out, size_t size, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    size_t n = strlen(out);
    int w = snprintf(out + n, size - n, "%s%s='", n ? " " : "", key);
    if (w < 0 || (size_t)w >= size - n)
        return;
    n += (size_t)w;
    for (const char *p = value; *p && n + 3 < size; p++) {
        if (*p == '\'' || *p == '\\')
            out[n++] = '\\';
        out[n++] = *p;
    }
    if (n + 2 < size) {
        out[n++] = '\'';
        out[n] = '\0';
    }
}

static PGconn *s_connect(coord_pg_t *self)
{
    PGconn *c = PQconnectdb(self->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        mao_error_set("PostgreSQL: %s", PQerrorMessage(c));
        size_t n = strlen(mao_error_last());
        while (n > 0 && (mao_error_last()[n - 1] == '\n'))
            n--;
        char msg[1024];
        snprintf(msg, sizeof msg, "%.*s", (int)n, mao_error_last());
        mao_error_set("%s", msg);
        PQfinish(c);
        return NULL;
    }
    PQclear(PQexec(c, "SET statement_timeout = 10000"));
    return c;
}

static PGconn *s_borrow(coord_pg_t *self)
{
    PGconn *c = NULL;
    pthread_mutex_lock(&self->lock);
    if (self->nidle > 0)
        c = self->idle[--self->nidle];
    pthread_mutex_unlock(&self->lock);
    if (c && PQstatus(c) != CONNECTION_OK) {
        PQreset(c);
        if (PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = NULL;
        }
    }
    return c ? c : s_connect(self);
}

static void s_give_back(coord_pg_t *self, PGconn *c, int healthy)
{
    if (!c)
        return;
    pthread_mutex_lock(&self->lock);
    if (healthy && PQstatus(c) == CONNECTION_OK && self->nidle < S_POOL) {
        self->idle[self->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&self->lock);
    if (c)
        PQfinish(c);
}

/* Runs one statement; 0 when it worked, else a detail and MAO_EFAIL (or
 * MAO_EUNAVAILABLE when the connection is gone). */
static int s_exec(PGconn *c, PGresult **out, const char *sql, int nparams,
                  const char *const *params)
{
    /* Statements without parameters (the migrations hold several) go through
     * the simple query protocol; the others are bound, never spliced. */
    PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
                          : PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return 0;
    }
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    mao_error_set("PostgreSQL: %s", msg[0] ? msg : PQerrorMessage(c));
    PQclear(r);
    return PQstatus(c) == CONNECTION_OK ? MAO_EFAIL : MAO_EUNAVAILABLE;
}

static int s_migrate(PGconn *c)
{
    int rc;
    PGresult *r = NULL;
    if ((rc = s_exec(c, NULL, "BEGIN", 0, NULL)) < 0)
        return rc;
    /* One coordinator migrates at a time. */
    if ((rc = s_exec(c, NULL, "SELECT pg_advisory_xact_lock(2004117)", 0, NULL)) < 0 ||
        (rc = s_exec(c, NULL, "CREATE TABLE IF NOT EXISTS mao_schema (version integer NOT NULL)",
                     0, NULL)) < 0 ||
        (rc = s_exec(c, &r, "SELECT version FROM mao_schema", 0, NULL)) < 0)
        goto rollback;
    int version = PQntuples(r) > 0 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    r = NULL;
    if (version > S_SCHEMA_VERSION) {
        mao_error_set("the PostgreSQL schema is version %d, newer than this coordinator's %d: "
                      "upgrade mao",
                      version, S_SCHEMA_VERSION);
        rc = MAO_EFAIL;
        goto rollback;
    }
    for (int v = version; v < S_SCHEMA_VERSION; v++)
        if ((rc = s_exec(c, NULL, s_migrations[v], 0, NULL)) < 0)
            goto rollback;
    if (version == 0)
        rc = s_exec(c, NULL, "INSERT INTO mao_schema (version) VALUES (1)", 0, NULL);
    else if (version < S_SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "UPDATE mao_schema SET version = %d", S_SCHEMA_VERSION);
        rc = s_exec(c, NULL, sql, 0, NULL);
    }
    if (rc < 0)
        goto rollback;
    if (version < S_SCHEMA_VERSION)
        mao_log_info("pg", "schema.migrated from=%d to=%d", version, S_SCHEMA_VERSION);
    return s_exec(c, NULL, "COMMIT", 0, NULL);
rollback:
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

int coord_pg_open(coord_pg_t **out, const mao_cfg_t *cfg)
{
    coord_pg_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    pthread_mutex_init(&self->lock, NULL);
    s_param(self->conninfo, sizeof self->conninfo, "host", mao_cfg_get(cfg, "POSTGRES", "host"));
    s_param(self->conninfo, sizeof self->conninfo, "port", mao_cfg_get(cfg, "POSTGRES", "port"));
    s_param(self->conninfo, sizeof self->conninfo, "user", mao_cfg_get(cfg, "POSTGRES", "user"));
    s_param(self->conninfo, sizeof self->conninfo, "password",
            mao_cfg_get(cfg, "POSTGRES", "password"));
    s_param(self->conninfo, sizeof self->conninfo, "dbname", mao_cfg_get(cfg, "POSTGRES", "db"));
    s_param(self->conninfo, sizeof self->conninfo, "connect_timeout", "5");
    s_param(self->conninfo, sizeof self->conninfo, "application_name", "mao-coordinator");
    PGconn *c = s_connect(self);
    if (!c) {
        coord_pg_destroy(&self);
        return MAO_EUNAVAILABLE;
    }
    int rc = s_migrate(c);
    s_give_back(self, c, rc == 0);
    if (rc < 0) {
        coord_pg_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void coord_pg_destroy(coord_pg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_pg_t *self = *self_p;
    for (int i = 0; i < self->nidle; i++)
        PQfinish(self->idle[i]);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int coord_pg_claim_term(coord_pg_t *self, int64_t term)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)term);
    const char *p[] = {text};
    PGresult *r = NULL;
    PGconn *c = s_borrow(self);
    if (!c)
        return MAO_EUNAVAILABLE;
    int rc = s_exec(c, &r,
                    "INSERT INTO mao_leader (id, term) VALUES (1, $1::bigint) "
                    "ON CONFLICT (id) DO UPDATE SET term = EXCLUDED.term, updated_at = now() "
                    "WHERE mao_leader.term <= EXCLUDED.term RETURNING term",
                    1, p);
    s_give_back(self, c, rc == 0);
    if (rc < 0)
        return rc;
    int claimed = PQntuples(r) == 1;
    PQclear(r);
    if (!claimed) {
        mao_error_set("PostgreSQL holds a newer leadership term than %lld", (long long)term);
        return MAO_ECONFLICT;
    }
    return 0;
}

/* Inside a transaction: our term must still be the newest, for the whole
 * transaction (the row stays locked until it ends).  Returns 0,
 * MAO_ECONFLICT when a newer leader claimed a term, or the error's code. */
static int s_check_term(PGconn *c, int64_t term)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)term);
    const char *p[] = {text};
    PGresult *r = NULL;
    int rc = s_exec(c, &r, "SELECT 1 FROM mao_leader WHERE id = 1 AND term = $1::bigint FOR SHARE",
                    1, p);
    if (rc < 0)
        return rc;
    int ours = PQntuples(r) == 1;
    PQclear(r);
    if (!ours) {
        mao_error_set("another coordinator leads (a newer term than %lld)", (long long)term);
        return MAO_ECONFLICT;
    }
    return 0;
}

int coord_pg_write(coord_pg_t *self, const coord_pg_op_t *ops, size_t count, int64_t term)
{
    int rc;
    PGconn *c = s_borrow(self);
    if (!c)
        return MAO_EUNAVAILABLE;
    if ((rc = s_exec(c, NULL, "BEGIN", 0, NULL)) < 0)
        goto done;
    if (term > 0)
        rc = s_check_term(c, term);
    for (size_t i = 0; i < count && rc == 0; i++) {
        const coord_pg_op_t *op = &ops[i];
        if (op->kind == COORD_PG_RUN_DELETE) {
            const char *p[] = {op->id};
            rc = s_exec(c, NULL, "DELETE FROM mao_runs WHERE id = $1", 1, p);
        } else if (op->kind == COORD_PG_SCHEDULE_DELETE) {
            const char *p[] = {op->id};
            rc = s_exec(c, NULL, "DELETE FROM mao_schedules WHERE id = $1", 1, p);
        } else if (op->kind == COORD_PG_SCHEDULE) {
            const char *p[] = {op->id, op->text};
            rc = s_exec(c, NULL,
                        "INSERT INTO mao_schedules (id, tool, record) "
                        "VALUES ($1, $2::jsonb->>'tool', $2::jsonb) "
                        "ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, "
                        "tool = EXCLUDED.tool, updated_at = now()",
                        2, p);
        } else {
            const char *p[] = {op->id, op->text};
            rc = s_exec(c, NULL,
                        "INSERT INTO mao_runs (id, tool, schedule, slot, status, created_at, "
                        "record) VALUES ($1, $2::jsonb->>'tool', $2::jsonb->>'schedule', "
                        "($2::jsonb->>'slot')::bigint, $2::jsonb->>'status', "
                        "COALESCE(($2::jsonb->>'created_at')::timestamptz, now()), $2::jsonb) "
                        "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, "
                        "record = EXCLUDED.record",
                        2, p);
        }
    }
    if (rc == 0)
        rc = s_exec(c, NULL, "COMMIT", 0, NULL);
    else
        PQclear(PQexec(c, "ROLLBACK"));
done:
    s_give_back(self, c, rc == 0);
    return rc;
}

/* A query whose one column is JSON text, as a JSON array. */
static int s_query_json(json_t **out, coord_pg_t *self, const char *sql, int nparams,
                        const char *const *params)
{
    PGresult *r = NULL;
    PGconn *c = s_borrow(self);
    if (!c)
        return MAO_EUNAVAILABLE;
    int rc = s_exec(c, &r, sql, nparams, params);
    s_give_back(self, c, rc == 0);
    if (rc < 0)
        return rc;
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *j = json_loads(PQgetvalue(r, i, 0), 0, NULL);
        if (j)
            json_array_append_new(list, j);
    }
    PQclear(r);
    *out = list;
    return 0;
}

/* Calls fn for each row's JSON, one at a time: a big result is never held as
 * JSON all at once. */
static int s_query_each(coord_pg_t *self, const char *sql, coord_pg_each_fn *fn, void *arg)
{
    PGresult *r = NULL;
    PGconn *c = s_borrow(self);
    if (!c)
        return MAO_EUNAVAILABLE;
    int rc = s_exec(c, &r, sql, 0, NULL);
    s_give_back(self, c, rc == 0);
    if (rc < 0)
        return rc;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        json_t *j = json_loads(PQgetvalue(r, i, 0), 0, NULL);
        if (j)
            rc = fn(j, arg) < 0 ? MAO_EFAIL : 0;
        json_decref(j);
    }
    PQclear(r);
    return rc;
}

int coord_pg_schedules_each(coord_pg_t *self, coord_pg_each_fn *fn, void *arg)
{
    return s_query_each(self, "SELECT record::text FROM mao_schedules ORDER BY id", fn, arg);
}

int coord_pg_active_runs_each(coord_pg_t *self, coord_pg_each_fn *fn, void *arg)
{
    return s_query_each(self,
                        "SELECT record::text FROM mao_runs WHERE status IN ('queued', 'running') "
                        "ORDER BY id",
                        fn, arg);
}

int coord_pg_runs(json_t **out, coord_pg_t *self, const char *tool, const char *status,
                  int finished_only, long limit)
{
    char lim[32];
    snprintf(lim, sizeof lim, "%ld", limit > 0 ? limit : 50);
    const char *p[] = {tool ? tool : "", status ? status : "", lim, finished_only ? "1" : ""};
    return s_query_json(out, self,
                        "SELECT (record - 'tool_record')::text FROM mao_runs "
                        "WHERE ($1 = '' OR tool = $1) AND ($2 = '' OR status = $2) "
                        "AND ($4 = '' OR status NOT IN ('queued', 'running')) "
                        "ORDER BY id DESC LIMIT $3::bigint",
                        4, p);
}

int coord_pg_run(json_t **out, coord_pg_t *self, const char *id)
{
    json_t *list = NULL;
    const char *p[] = {id};
    int rc = s_query_json(&list, self,
                          "SELECT (record - 'tool_record')::text FROM mao_runs WHERE id = $1", 1,
                          p);
    if (rc < 0)
        return rc;
    if (json_array_size(list) == 0) {
        json_decref(list);
        mao_error_set("run %s is not known", id);
        return MAO_ENOTFOUND;
    }
    *out = json_incref(json_array_get(list, 0));
    json_decref(list);
    return 0;
}
