/*
 * mao_curve: CURVE certificates (czmq zcert files) and locality of endpoints.
 */
#include "mao_curve.h"
#include "mao_error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char s_z85[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

static int s_is_z85_key(const char *text)
{
    if (!text || strlen(text) != MAO_CURVE_KEY_LEN)
        return 0;
    for (const char *p = text; *p; p++)
        if (!strchr(s_z85, *p))
            return 0;
    return 1;
}

/* zcert_load reads any text; a certificate without a key in it loads as all
 * zeros, which is no key at all. */
static int s_zero_key(const char *z85)
{
    return strcmp(z85, "0000000000000000000000000000000000000000") == 0;
}

int mao_curve_load(zcert_t **out, const char *name, int need_secret)
{
    char secret[4200];
    if (!name || !*name) {
        mao_error_set("no certificate named");
        return MAO_EINVAL;
    }
    if (access(name, R_OK) < 0 && (!need_secret || errno != ENOENT)) {
        mao_error_set("cannot read certificate %s: %s", name, strerror(errno));
        return errno == ENOENT ? MAO_ENOTFOUND : MAO_EINVAL;
    }
    snprintf(secret, sizeof secret, "%s_secret", name);
    if (need_secret && access(secret, R_OK) < 0) {
        mao_error_set("cannot read the secret key %s: %s (make a key pair with 'maoctl keygen "
                      "NAME')",
                      secret, strerror(errno));
        return errno == ENOENT ? MAO_ENOTFOUND : MAO_EINVAL;
    }
    zcert_t *cert = zcert_load(name);
    if (!cert) {
        mao_error_set("%s is not a CURVE certificate (as 'maoctl keygen' writes them)", name);
        return MAO_EINVAL;
    }
    if (s_zero_key(zcert_public_txt(cert)) || (need_secret && s_zero_key(zcert_secret_txt(cert)))) {
        zcert_destroy(&cert);
        mao_error_set("%s holds no CURVE %s key", need_secret ? secret : name,
                      need_secret ? "secret" : "public");
        return MAO_EINVAL;
    }
    *out = cert;
    return 0;
}

int mao_curve_public_key(char out[MAO_CURVE_KEY_LEN + 1], const char *text)
{
    if (s_is_z85_key(text)) {
        memcpy(out, text, MAO_CURVE_KEY_LEN + 1);
        return 0;
    }
    zcert_t *cert = NULL;
    int rc = mao_curve_load(&cert, text, 0);
    if (rc < 0) {
        mao_error_prefix("a public key is 40 Z85 characters or a certificate file");
        return MAO_EINVAL;
    }
    snprintf(out, MAO_CURVE_KEY_LEN + 1, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return 0;
}

int mao_curve_keygen(const char *name, char public_key[MAO_CURVE_KEY_LEN + 1])
{
    char secret[4200];
    snprintf(secret, sizeof secret, "%s_secret", name);
    if (access(name, F_OK) == 0 || access(secret, F_OK) == 0) {
        mao_error_set("%s or %s exists already: not overwritten", name, secret);
        return MAO_ECONFLICT;
    }
    zcert_t *cert = zcert_new();
    if (!cert)
        return MAO_ENOMEM;
    zcert_set_meta(cert, "created-by", "maoctl keygen");
    /* The secret file is made private before anything is written into it. */
    int fd = open(secret, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        mao_error_set("cannot create %s: %s", secret, strerror(errno));
        zcert_destroy(&cert);
        return MAO_EFAIL;
    }
    close(fd);
    if (zcert_save_secret(cert, secret) < 0 || chmod(secret, 0600) < 0 ||
        zcert_save_public(cert, name) < 0) {
        mao_error_set("cannot write %s and %s: %s", name, secret, strerror(errno));
        unlink(secret);
        unlink(name);
        zcert_destroy(&cert);
        return MAO_EFAIL;
    }
    if (public_key)
        snprintf(public_key, MAO_CURVE_KEY_LEN + 1, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return 0;
}

/* The host part of "tcp://HOST:PORT", "HOST:PORT", "[V6]:PORT". */
static void s_host(char *out, size_t size, const char *endpoint)
{
    const char *p = strstr(endpoint, "://");
    p = p ? p + 3 : endpoint;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1);
        snprintf(out, size, "%.*s", (int)n, p + 1);
        return;
    }
    const char *colon = strrchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : strlen(p);
    snprintf(out, size, "%.*s", (int)n, p);
    /* ZeroMQ's "tcp://eth0;127.0.0.1:5570" binds a source: the part after ';'. */
    char *semi = strchr(out, ';');
    if (semi)
        memmove(out, semi + 1, strlen(semi + 1) + 1);
}

int mao_endpoint_is_local(const char *endpoint)
{
    char host[256];
    if (!endpoint)
        return 0;
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return 1;
    s_host(host, sizeof host, endpoint);
    if (strcmp(host, "localhost") == 0)
        return 1;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return 0;
}
