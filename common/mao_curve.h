/*
 * mao_curve: CURVE keys for the coordinator's ZeroMQ sockets, and what is
 * local.
 *
 * Keys are czmq certificates: a text file NAME holding the public key and
 * NAME_secret holding both (as `maoctl keygen` writes them, with zcert).  A
 * configuration names the certificate by NAME; only its owner needs the
 * _secret file, and a peer needs only the public one (or the public key's 40
 * Z85 characters).
 *
 * Central idea: a socket bound or connected beyond the machine must be
 * encrypted and its peers known, so every daemon asks mao_endpoint_is_local()
 * before it accepts to run without keys.
 */
#ifndef MAO_CURVE_H
#define MAO_CURVE_H

#include <czmq.h>

#define MAO_CURVE_KEY_LEN 40 /* a key in Z85 */

/* Loads certificate NAME; with `need_secret`, NAME_secret must be there and
 * hold the secret key.  Returns 0 with *out (zcert_destroy), or MAO_EINVAL /
 * MAO_ENOTFOUND with a detail naming the file. */
int mao_curve_load(zcert_t **out, const char *name, int need_secret);

/* A public key from `text`: its 40 Z85 characters, or the path of a
 * certificate (public part) holding it.  Writes the key and its NUL into
 * `out`.  Returns 0, or MAO_EINVAL with a detail. */
int mao_curve_public_key(char out[MAO_CURVE_KEY_LEN + 1], const char *text);

/* Makes a new key pair and writes NAME (public) and NAME_secret (mode
 * 0600).  Refuses to overwrite either.  Writes the public key into
 * `public_key` when not NULL.  Returns 0, or a negative code with a detail. */
int mao_curve_keygen(const char *name, char public_key[MAO_CURVE_KEY_LEN + 1]);

/* 1 when a ZeroMQ endpoint ("tcp://127.0.0.1:5570", "ipc://...",
 * "inproc://...") or an HTTP "host:port" stays on this machine: loopback
 * addresses, "localhost", ipc and inproc.  0 for anything else, wildcards
 * ("*", "0.0.0.0", "::") included. */
int mao_endpoint_is_local(const char *endpoint);

#endif
