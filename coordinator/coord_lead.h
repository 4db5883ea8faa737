/*
 * coord_lead: which coordinator leads.
 *
 * Several coordinators may share one etcd prefix; one leads, the others
 * stand by.  A thread campaigns for the key `leader` with a lease of
 * [COORDINATOR] lease_ttl seconds: the one that creates it leads, keeps the
 * lease alive, and bumps `leader-term` (the count of leaderships) in the same
 * transaction.  The others watch the key and campaign when it goes (the
 * leader stopped, or its lease ran out).
 *
 * Fencing: everything the leader records goes to the store in transactions
 * that hold only while `leader` is still the key it created (its create
 * revision, coord_lead_fence); a coordinator that lost its lease cannot
 * write, so a schedule's slot cannot be recorded twice, and a scheduled run
 * goes out only once recorded.  A leader cut off from etcd keeps firing
 * schedules from memory (what they make waits to be recorded), but sends out
 * nothing once its lease may have run out (coord_lead_may_act).  When etcd
 * answers again it takes the key back if nobody led meanwhile (the term is
 * unchanged); otherwise it has lost, and the coordinator starts over as a
 * standby.
 */
#ifndef COORD_LEAD_H
#define COORD_LEAD_H

#include "mao_etcd.h"

#include <jansson.h>
#include <stdint.h>

typedef enum {
    COORD_LEAD_STANDBY = 0, /* another leads, or nobody could be reached yet */
    COORD_LEAD_LEADING,
    COORD_LEAD_LOST,        /* it led, and another led since: start over */
} coord_lead_state_t;

typedef struct coord_lead_t coord_lead_t;

/* Starts campaigning on `etcd` (borrowed) with `me`, the record others see
 * (a reference is taken): {"id", "api", "workers", "events", ...}.  Writes
 * to `wake_fd` when the state changes.  Returns 0 or MAO_ENOMEM. */
int coord_lead_new(coord_lead_t **out, mao_etcd_t *etcd, json_t *me, long ttl_s, int wake_fd);

coord_lead_state_t coord_lead_state(coord_lead_t *self);

/* While leading: the create revision of our `leader` key (store writes hold
 * only while it is unchanged), and our term. */
int64_t coord_lead_fence(coord_lead_t *self);
int64_t coord_lead_term(coord_lead_t *self);

/* 1 while leading and the lease cannot have run out (renewed less than its
 * TTL ago): runs may be sent out. */
int coord_lead_may_act(coord_lead_t *self);

/* 1 while standing by behind another coordinator known to lead (0 while
 * the campaign is undecided: just started, or etcd away). */
int coord_lead_follows(coord_lead_t *self);

/* The leader's record as last seen (new reference), or NULL. */
json_t *coord_lead_leader(coord_lead_t *self);

/* Stops the thread; a leader gives its lease back, so a standby takes over
 * at once.  Accepts NULL and sets *self_p to NULL. */
void coord_lead_destroy(coord_lead_t **self_p);

#endif
