/*
 * mao_name: name and dataset-URL policy.
 */
#include "mao_name.h"
#include "mao_error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int s_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int mao_text_is_clean(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

char *mao_text_quote(char *out, size_t size, const char *text)
{
    size_t n = 0;
    if (size < 8) {
        if (size)
            out[0] = '\0';
        return out;
    }
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char piece[8];
        if (*p == '"' || *p == '\\')
            snprintf(piece, sizeof piece, "\\%c", *p);
        else if (*p == '\n')
            snprintf(piece, sizeof piece, "\\n");
        else if (*p == '\t')
            snprintf(piece, sizeof piece, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(piece, sizeof piece, "\\x%02x", *p);
        else
            snprintf(piece, sizeof piece, "%c", *p);
        size_t len = strlen(piece);
        if (n + len + 4 > size) {
            memcpy(out + n, "...", 4);
            return out;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

int mao_name_check(const char *what, const char *name)
{
    char shown[96];
    const char *why = NULL;
    size_t len = name ? strlen(name) : 0;

    if (!name || len == 0)
        why = "it is empty";
    else if (len > MAO_NAME_MAX)
        why = "it is longer than 64 characters";
    else if (name[0] == '.' || name[0] == '-')
        why = "it starts with '.' or '-'";
    else if (strstr(name, ".."))
        why = "it contains '..'";
    else {
        for (size_t i = 0; i < len; i++) {
            if (!s_name_char((unsigned char)name[i])) {
                why = name[i] == '/' ? "it contains '/'"
                      : (unsigned char)name[i] < 0x20 || name[i] == 0x7f
                          ? "it contains a control character"
                      : name[i] == ' ' ? "it contains a space"
                                       : "it contains a character other than letters, digits, "
                                         "'.', '_' and '-'";
                break;
            }
        }
    }
    if (!why)
        return 0;
    mao_error_set("invalid %s name \"%s\": %s (use 1 to 64 letters, digits, '.', '_' or '-', "
                  "not starting with '.' or '-')",
                  what, mao_text_quote(shown, sizeof shown, name ? name : ""), why);
    return MAO_EINVAL;
}

static int s_has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

int mao_url_check(const char *url, int allow_local)
{
    char shown[160];
    static const char *remote[] = {"https", "http", "ssh", "git"};

    if (!url || !*url) {
        mao_error_set("dataset URL is empty");
        return MAO_EINVAL;
    }
    mao_text_quote(shown, sizeof shown, url);
    if (strlen(url) > 2048) {
        mao_error_set("dataset URL is longer than 2048 characters");
        return MAO_EINVAL;
    }
    if (!mao_text_is_clean(url)) {
        mao_error_set("dataset URL \"%s\" contains control characters", shown);
        return MAO_EINVAL;
    }
    if (strpbrk(url, "\"\\")) {
        mao_error_set("dataset URL \"%s\" contains a quote or a backslash", shown);
        return MAO_EINVAL;
    }
    if (url[0] == '-') {
        mao_error_set("dataset URL \"%s\" starts with '-'", shown);
        return MAO_EINVAL;
    }
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++) {
        if (s_has_scheme(url, remote[i])) {
            if (!url[strlen(remote[i]) + 3]) {
                mao_error_set("dataset URL \"%s\" has no host", shown);
                return MAO_EINVAL;
            }
            if (strpbrk(url, " \t")) {
                mao_error_set("dataset URL \"%s\" contains a space (write it as %%20)", shown);
                return MAO_EINVAL;
            }
            return 0;
        }
    }
    int local = s_has_scheme(url, "file") || url[0] == '/' || url[0] == '.';
    const char *scheme_end = strstr(url, "://");
    if (!local && scheme_end) {
        mao_error_set("dataset URL \"%s\" uses a scheme mao does not clone (use https, http, ssh "
                      "or git)",
                      shown);
        return MAO_EINVAL;
    }
    if (!local) {
        /* scp-like: [user@]host:path, with no '/' before the ':'.  git's
         * "transport::address" remote helpers are never allowed. */
        const char *colon = strchr(url, ':');
        const char *slash = strchr(url, '/');
        if (colon && (!slash || colon < slash)) {
            if (colon[1] == ':' || colon == url || !colon[1] || strpbrk(url, " \t")) {
                mao_error_set("dataset URL \"%s\" is not a URL mao clones (use https, http, "
                              "ssh, git or user@host:path)",
                              shown);
                return MAO_EINVAL;
            }
            for (const char *p = url; p < colon; p++)
                if (!isalnum((unsigned char)*p) && !strchr(".-_@", *p)) {
                    mao_error_set("dataset URL \"%s\" has an invalid host", shown);
                    return MAO_EINVAL;
                }
            return 0;
        }
        local = 1; /* a relative path */
    }
    if (!allow_local) {
        mao_error_set("dataset URL \"%s\" is a local path, which this site does not allow "
                      "(set allow_local_repos = true in [WORKING_ENVIRONMENT] to allow it)",
                      shown);
        return MAO_EINVAL;
    }
    return 0;
}
