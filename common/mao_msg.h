/*
 * mao_msg: the wire protocol between coordinator and workers.
 *
 * Every message is one msgpack map with "v" (protocol version, 1) and "type"
 * (hello, heartbeat, job, accepted, result, result_ack, cancel), sent as one
 * ZeroMQ frame (after the routing frame on the coordinator's ROUTER).  In
 * memory a message is a jansson object, so a message is checked, logged and
 * stored with the same tools as the rest of mao.
 *
 * Central idea: decoding never trusts the peer.  The frame is bounded on the
 * socket (ZMQ_MAXMSGSIZE) and again here (MAO_MSG_MAX), nesting, strings and
 * containers have their own limits, only string keys are accepted, and after
 * decoding mao_msg_check() holds the message to its type's schema.  A message
 * that fails is dropped with a log line; it never reaches an assert.
 * docs/protocol.md describes every type and field.
 */
#ifndef MAO_MSG_H
#define MAO_MSG_H

#include <jansson.h>
#include <stddef.h>

#define MAO_MSG_VERSION 1
#define MAO_MSG_MAX (1024 * 1024)  /* largest frame, bytes */
#define MAO_MSG_MAX_DEPTH 6        /* maps and arrays nested at most this deep */
#define MAO_MSG_MAX_ITEMS 4096     /* entries in one map or array */
#define MAO_MSG_MAX_STRING (256 * 1024) /* bytes in one string */

/* Encodes a message (a JSON object of strings, numbers, booleans, null,
 * arrays and objects) as msgpack into a new buffer owned by the caller.
 * Returns 0, MAO_EINVAL when the object cannot be encoded or is larger than
 * MAO_MSG_MAX, or MAO_ENOMEM. */
int mao_msg_encode(const json_t *msg, char **out, size_t *len);

/* Decodes one frame into a new JSON object (caller owns).  Returns 0, or
 * MAO_EMALFORMED with a detail (truncated, not a map, a non-string key, too
 * deep, too large, trailing bytes, binary or extension types, ...). */
int mao_msg_decode(json_t **out, const void *data, size_t len);

/* Holds a decoded message to its type's schema: "v" must be 1, "type" known,
 * required fields present with the right JSON types, names valid.  On success
 * *type points at the type string inside `msg`.  Returns 0, or
 * MAO_EMALFORMED with a detail naming the field. */
int mao_msg_check(const json_t *msg, const char **type);

/* A new message object {"v": 1, "type": type}; NULL when out of memory. */
json_t *mao_msg_new(const char *type);

#endif
