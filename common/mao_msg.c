/*
 * mao_msg: msgpack <-> jansson, with bounds, and the per-type schema.
 */
#include "mao_msg.h"
#include "mao_error.h"
#include "mao_name.h"

#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ------------------------------------------------------------------ */

static int s_pack(msgpack_packer *pk, const json_t *v, int depth)
{
    if (depth > MAO_MSG_MAX_DEPTH) {
        mao_error_set("message nests deeper than %d", MAO_MSG_MAX_DEPTH);
        return MAO_EINVAL;
    }
    switch (json_typeof(v)) {
    case JSON_NULL: return msgpack_pack_nil(pk) == 0 ? 0 : MAO_ENOMEM;
    case JSON_TRUE: return msgpack_pack_true(pk) == 0 ? 0 : MAO_ENOMEM;
    case JSON_FALSE: return msgpack_pack_false(pk) == 0 ? 0 : MAO_ENOMEM;
    case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v)) == 0 ? 0 : MAO_ENOMEM;
    case JSON_REAL: return msgpack_pack_double(pk, json_real_value(v)) == 0 ? 0 : MAO_ENOMEM;
    case JSON_STRING: {
        size_t n = json_string_length(v);
        if (msgpack_pack_str(pk, n) != 0 || msgpack_pack_str_body(pk, json_string_value(v), n) != 0)
            return MAO_ENOMEM;
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (msgpack_pack_array(pk, n) != 0)
            return MAO_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            int rc = s_pack(pk, json_array_get(v, i), depth + 1);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    case JSON_OBJECT: {
        if (msgpack_pack_map(pk, json_object_size(v)) != 0)
            return MAO_ENOMEM;
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            size_t n = strlen(key);
            if (msgpack_pack_str(pk, n) != 0 || msgpack_pack_str_body(pk, key, n) != 0)
                return MAO_ENOMEM;
            int rc = s_pack(pk, item, depth + 1);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    }
    return MAO_EINVAL;
}

/* Below glibc's large requests (1 KiB), with room for its headers. */
#define S_SMALL 960

int mao_msg_encode(const json_t *msg, char **out, size_t *len)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    if (!json_is_object(msg)) {
        mao_error_set("a message must be an object");
        return MAO_EINVAL;
    }
    /* Starts small: msgpack's first buffer is 8 KiB, and glibc tidies its
     * free lists at every allocation that large, once per message. */
    msgpack_sbuffer_init(&buf);
    if (!(buf.data = malloc(S_SMALL))) {
        mao_error_set("out of memory");
        return MAO_ENOMEM;
    }
    buf.alloc = S_SMALL;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    int rc = s_pack(&pk, msg, 0);
    if (rc == 0 && buf.size > MAO_MSG_MAX) {
        mao_error_set("message of %zu bytes is larger than %d", buf.size, MAO_MSG_MAX);
        rc = MAO_EINVAL;
    }
    if (rc < 0) {
        msgpack_sbuffer_destroy(&buf);
        return rc;
    }
    *len = buf.size;
    *out = msgpack_sbuffer_release(&buf);
    if (!*out) {
        /* An empty buffer has no data pointer; a message is never empty. */
        return MAO_ENOMEM;
    }
    return 0;
}

/* ---- decoding ------------------------------------------------------------------ */

static int s_convert(json_t **out, const msgpack_object *o, int depth)
{
    if (depth > MAO_MSG_MAX_DEPTH) {
        mao_error_set("message nests deeper than %d", MAO_MSG_MAX_DEPTH);
        return MAO_EMALFORMED;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: *out = json_null(); return 0;
    case MSGPACK_OBJECT_BOOLEAN: *out = json_boolean(o->via.boolean); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) {
            mao_error_set("integer out of range");
            return MAO_EMALFORMED;
        }
        *out = json_integer((json_int_t)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = json_integer((json_int_t)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64)) {
            mao_error_set("a number is not finite");
            return MAO_EMALFORMED;
        }
        *out = json_real(o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        if (o->via.str.size > MAO_MSG_MAX_STRING) {
            mao_error_set("a string of %u bytes is longer than %d", o->via.str.size,
                          MAO_MSG_MAX_STRING);
            return MAO_EMALFORMED;
        }
        /* jansson refuses invalid UTF-8, which is what we want on the wire. */
        *out = json_stringn(o->via.str.ptr, o->via.str.size);
        if (!*out) {
            mao_error_set("a string is not valid UTF-8");
            return MAO_EMALFORMED;
        }
        return 0;
    case MSGPACK_OBJECT_ARRAY: {
        if (o->via.array.size > MAO_MSG_MAX_ITEMS) {
            mao_error_set("an array of %u items is longer than %d", o->via.array.size,
                          MAO_MSG_MAX_ITEMS);
            return MAO_EMALFORMED;
        }
        json_t *arr = json_array();
        if (!arr)
            return MAO_ENOMEM;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *item = NULL;
            int rc = s_convert(&item, &o->via.array.ptr[i], depth + 1);
            if (rc < 0) {
                json_decref(arr);
                return rc;
            }
            json_array_append_new(arr, item);
        }
        *out = arr;
        return 0;
    }
    case MSGPACK_OBJECT_MAP: {
        if (o->via.map.size > MAO_MSG_MAX_ITEMS) {
            mao_error_set("a map of %u entries is larger than %d", o->via.map.size,
                          MAO_MSG_MAX_ITEMS);
            return MAO_EMALFORMED;
        }
        json_t *obj = json_object();
        if (!obj)
            return MAO_ENOMEM;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 ||
                kv->key.via.str.size > 64 ||
                memchr(kv->key.via.str.ptr, '\0', kv->key.via.str.size)) {
                mao_error_set("a map key is not a short string");
                json_decref(obj);
                return MAO_EMALFORMED;
            }
            char key[65];
            memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
            key[kv->key.via.str.size] = '\0';
            if (json_object_get(obj, key)) {
                mao_error_set("key \"%s\" appears twice", key);
                json_decref(obj);
                return MAO_EMALFORMED;
            }
            json_t *item = NULL;
            int rc = s_convert(&item, &kv->val, depth + 1);
            if (rc < 0) {
                json_decref(obj);
                return rc;
            }
            if (json_object_set_new(obj, key, item) < 0) {
                json_decref(obj);
                mao_error_set("map key \"%s\" is not valid UTF-8", key);
                return MAO_EMALFORMED;
            }
        }
        *out = obj;
        return 0;
    }
    default:
        mao_error_set("binary and extension types are not part of the protocol");
        return MAO_EMALFORMED;
    }
    return *out ? 0 : MAO_ENOMEM;
}

/* Big-endian unsigned of `n` bytes at p. */
static uint64_t s_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * Walks the frame's structure before msgpack-c sees it.  msgpack-c allocates
 * room for as many entries as a container claims, so a 5-byte frame could ask
 * for gigabytes; here every container must claim no more entries than there
 * are bytes left (each entry takes at least one) and no more than
 * MAO_MSG_MAX_ITEMS, strings must fit in the frame, nesting is bounded, and
 * binary and extension types are refused.
 */
static int s_prescan(const unsigned char *p, size_t len)
{
    uint64_t left[MAO_MSG_MAX_DEPTH + 2]; /* values still expected at each level */
    int depth = 0;
    size_t pos = 0;
    left[0] = 1;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        if (pos >= len) {
            mao_error_set("frame is truncated");
            return MAO_EMALFORMED;
        }
        unsigned char b = p[pos++];
        uint64_t items = 0, skip = 0;
        int container = 0, size_bytes = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            continue;
        } else if (b >= 0x80 && b <= 0x8f) {
            items = 2 * (uint64_t)(b & 0x0f), container = 1;
        } else if (b >= 0x90 && b <= 0x9f) {
            items = b & 0x0f, container = 1;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd9: size_bytes = 1; break;
            case 0xda: size_bytes = 2; break;
            case 0xdb: size_bytes = 4; break;
            case 0xdc: size_bytes = 2, container = 1; break;
            case 0xdd: size_bytes = 4, container = 1; break;
            case 0xde: size_bytes = 2, container = 2; break;
            case 0xdf: size_bytes = 4, container = 2; break;
            case 0xc1: mao_error_set("frame is not msgpack"); return MAO_EMALFORMED;
            default:
                mao_error_set("binary and extension types are not part of the protocol");
                return MAO_EMALFORMED;
            }
            if (size_bytes) {
                if (len - pos < (size_t)size_bytes) {
                    mao_error_set("frame is truncated");
                    return MAO_EMALFORMED;
                }
                uint64_t n = s_be(p + pos, size_bytes);
                pos += (size_t)size_bytes;
                if (container)
                    items = container == 2 ? 2 * n : n;
                else
                    skip = n;
            }
        }
        if (skip) {
            if (skip > len - pos) {
                mao_error_set("frame is truncated");
                return MAO_EMALFORMED;
            }
            pos += (size_t)skip;
            continue;
        }
        if (container) {
            if (items > 2 * (uint64_t)MAO_MSG_MAX_ITEMS) {
                mao_error_set("a container claims %llu entries, more than %d",
                              (unsigned long long)items, MAO_MSG_MAX_ITEMS);
                return MAO_EMALFORMED;
            }
            if (items > len - pos) {
                mao_error_set("a container claims %llu entries in %zu bytes: frame is truncated",
                              (unsigned long long)items, len - pos);
                return MAO_EMALFORMED;
            }
            if (depth + 1 > MAO_MSG_MAX_DEPTH) {
                mao_error_set("message nests deeper than %d", MAO_MSG_MAX_DEPTH);
                return MAO_EMALFORMED;
            }
            left[++depth] = items;
        }
    }
    return 0;
}

int mao_msg_decode(json_t **out, const void *data, size_t len)
{
    msgpack_zone zone;
    msgpack_object obj;
    size_t offset = 0;
    int rc;

    *out = NULL;
    if (len == 0 || len > MAO_MSG_MAX) {
        mao_error_set("frame of %zu bytes (expected 1 to %d)", len, MAO_MSG_MAX);
        return MAO_EMALFORMED;
    }
    if ((rc = s_prescan(data, len)) < 0)
        return rc;
    /* The objects' zone starts small for the same reason as the encoder's
     * buffer (msgpack_unpack_next would take 8 KiB for every message). */
    if (!msgpack_zone_init(&zone, S_SMALL)) {
        mao_error_set("out of memory");
        return MAO_ENOMEM;
    }
    switch (msgpack_unpack(data, len, &offset, &zone, &obj)) {
    case MSGPACK_UNPACK_SUCCESS:
        if (obj.type != MSGPACK_OBJECT_MAP) {
            mao_error_set("message is not a map");
            rc = MAO_EMALFORMED;
        } else {
            rc = s_convert(out, &obj, 0);
        }
        break;
    case MSGPACK_UNPACK_EXTRA_BYTES:
        mao_error_set("%zu bytes follow the message", len - offset);
        rc = MAO_EMALFORMED;
        break;
    case MSGPACK_UNPACK_CONTINUE:
        mao_error_set("frame is truncated");
        rc = MAO_EMALFORMED;
        break;
    default:
        mao_error_set("frame is not msgpack");
        rc = MAO_EMALFORMED;
        break;
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

/* ---- schema ---------------------------------------------------------------------- */

typedef enum { F_STR, F_INT, F_NUM, F_BOOL, F_OBJ, F_ARR_STR, F_NAME, F_ID } s_ftype_t;

typedef struct {
    const char *name;
    s_ftype_t type;
    int required;
} s_field_t;

typedef struct {
    const char *type;
    s_field_t fields[16];
} s_schema_t;

/* Fields every type may carry are listed per type; fields not listed are
 * ignored, so a newer peer may add fields without breaking an older one. */
static const s_schema_t s_schemas[] = {
    {"hello",
     {{"worker", F_ID, 1}, {"site", F_NAME, 1}, {"capacity", F_INT, 1}, {"labels", F_OBJ, 0},
      {"version", F_STR, 0}, {"running", F_ARR_STR, 0}, {"spooled", F_ARR_STR, 0},
      {"batched_acks", F_BOOL, 0}}},
    {"heartbeat", {{"running", F_ARR_STR, 0}, {"stopping", F_BOOL, 0}}},
    {"job",
     {{"run", F_ID, 1}, {"tool", F_OBJ, 1}, {"attempt", F_INT, 0}, {"timeout_s", F_INT, 0},
      {"acks", F_ARR_STR, 0}}},
    {"accepted", {{"run", F_ID, 1}, {"ok", F_BOOL, 1}, {"reason", F_STR, 0}}},
    {"result",
     {{"run", F_ID, 1}, {"status", F_STR, 1}, {"exit_code", F_INT, 0}, {"reason", F_STR, 0},
      {"started_at", F_NUM, 0}, {"finished_at", F_NUM, 0}, {"image_digest", F_STR, 0},
      {"log_tail", F_STR, 0}, {"report", F_OBJ, 0}, {"attempt", F_INT, 0},
      {"failure", F_STR, 0}, {"cancelled", F_BOOL, 0}}},
    {"result_ack", {{"run", F_ID, 1}, {"runs", F_ARR_STR, 0}}},
    {"cancel", {{"run", F_ID, 1}, {"reason", F_STR, 0}}},
};

/* A worker or run id: like a name, and a little longer ("site/host-1"). */
static int s_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-' || strstr(s, ".."))
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-:/@", *p)))
            return 0;
    return 1;
}

static int s_check_field(const json_t *msg, const s_field_t *f)
{
    json_t *v = json_object_get(msg, f->name);
    if (!v || json_is_null(v)) {
        if (f->required) {
            mao_error_set("missing field \"%s\"", f->name);
            return MAO_EMALFORMED;
        }
        return 0;
    }
    int ok = 0;
    switch (f->type) {
    case F_STR: ok = json_is_string(v); break;
    case F_INT: ok = json_is_integer(v); break;
    case F_NUM: ok = json_is_number(v); break;
    case F_BOOL: ok = json_is_boolean(v); break;
    case F_OBJ: ok = json_is_object(v); break;
    case F_NAME: ok = json_is_string(v) && mao_name_check("site", json_string_value(v)) == 0; break;
    case F_ID: ok = json_is_string(v) && s_id_ok(json_string_value(v)); break;
    case F_ARR_STR: {
        ok = json_is_array(v);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (!json_is_string(item) || !s_id_ok(json_string_value(item)))
                ok = 0;
        }
        break;
    }
    }
    if (!ok) {
        mao_error_set("field \"%s\" has the wrong type or an invalid value", f->name);
        return MAO_EMALFORMED;
    }
    return 0;
}

int mao_msg_check(const json_t *msg, const char **type)
{
    if (!json_is_object(msg)) {
        mao_error_set("message is not a map");
        return MAO_EMALFORMED;
    }
    json_t *v = json_object_get(msg, "v");
    if (!json_is_integer(v)) {
        mao_error_set("message has no protocol version \"v\"");
        return MAO_EMALFORMED;
    }
    if (json_integer_value(v) != MAO_MSG_VERSION) {
        mao_error_set("protocol version %lld is not supported (this side speaks %d)",
                      (long long)json_integer_value(v), MAO_MSG_VERSION);
        return MAO_EMALFORMED;
    }
    const char *t = json_string_value(json_object_get(msg, "type"));
    if (!t) {
        mao_error_set("message has no \"type\"");
        return MAO_EMALFORMED;
    }
    for (size_t i = 0; i < sizeof s_schemas / sizeof s_schemas[0]; i++) {
        if (strcmp(s_schemas[i].type, t) != 0)
            continue;
        for (const s_field_t *f = s_schemas[i].fields; f->name; f++) {
            int rc = s_check_field(msg, f);
            if (rc < 0) {
                mao_error_prefix("%s", t);
                return rc;
            }
        }
        *type = s_schemas[i].type;
        return 0;
    }
    char shown[40];
    mao_error_set("unknown message type \"%s\"", mao_text_quote(shown, sizeof shown, t));
    return MAO_EMALFORMED;
}

json_t *mao_msg_new(const char *type)
{
    return json_pack("{s:i, s:s}", "v", MAO_MSG_VERSION, "type", type);
}
