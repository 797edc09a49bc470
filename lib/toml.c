/* toml.c: the minimal TOML reader (see toml.h). A line-oriented recursive
 * reader over the whole text; a cursor tracks the line for errors.
 */
#include "toml.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define TOML_MAX_STR (1u << 20)
/* Marks a table whose [header] was seen (removed before returning); no
 * key can hold a control character, so none can collide with it. */
#define DEF_MARK "\001" "defined"

struct cur {
    const char *p;
    int line;
    const char *name;
    const char *key;     /* the key being read, for errors (may be NULL) */
    struct kf_err *err;
};

static int fail(struct cur *c, const char *fmt, const char *a)
{
    char path[128], msg[200];
    snprintf(path, sizeof path, "%s:%d", c->name, c->line);
    snprintf(msg, sizeof msg, fmt, a ? a : "");
    if (c->key)
        return kf_err_set(c->err, KF_EINVAL, path, "key '%.60s': %s", c->key, msg);
    return kf_err_set(c->err, KF_EINVAL, path, "%s", msg);
}

static void skip_ws(struct cur *c)
{
    while (*c->p == ' ' || *c->p == '\t')
        c->p++;
}

/* Skip blanks, comments and newlines (inside arrays). */
static void skip_ws_nl(struct cur *c)
{
    for (;;) {
        skip_ws(c);
        if (*c->p == '#') {
            while (*c->p && *c->p != '\n')
                c->p++;
        }
        if (*c->p == '\r' && c->p[1] == '\n')
            c->p++;
        if (*c->p == '\n') {
            c->p++;
            c->line++;
            continue;
        }
        return;
    }
}

/* After a value or header: only blanks and a comment to the end of line. */
static int end_of_line(struct cur *c)
{
    skip_ws(c);
    if (*c->p == '#')
        while (*c->p && *c->p != '\n')
            c->p++;
    if (*c->p == '\r' && c->p[1] == '\n')
        c->p++;
    if (*c->p == '\n') {
        c->p++;
        c->line++;
        return 0;
    }
    if (!*c->p)
        return 0;
    return fail(c, "unexpected '%.20s' after the value", c->p);
}

static void put_utf8(char *b, size_t *n, unsigned long cp)
{
    if (cp < 0x80) {
        b[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        b[(*n)++] = (char)(0xc0 | (cp >> 6));
        b[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        b[(*n)++] = (char)(0xe0 | (cp >> 12));
        b[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        b[(*n)++] = (char)(0xf0 | (cp >> 18));
        b[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* A basic ("...") or literal ('...') string at c->p; new string in *out. */
static int read_string(struct cur *c, char **out)
{
    char q = *c->p, *b;
    size_t n = 0, cap = 64;
    *out = NULL;
    if (c->p[1] == q && c->p[2] == q)
        return fail(c, "multi-line strings are not supported", NULL);
    c->p++;
    b = xmalloc(cap);
    for (;;) {
        char ch = *c->p;
        if (n + 8 >= cap) {
            if (cap > TOML_MAX_STR) {
                free(b);
                return fail(c, "string longer than 1 MiB", NULL);
            }
            cap *= 2;
            b = xrealloc(b, cap);
        }
        if (!ch || ch == '\n' || ch == '\r') {
            free(b);
            return fail(c, "unterminated string", NULL);
        }
        c->p++;
        if (ch == q)
            break;
        if (q == '\'' || ch != '\\') {
            if ((unsigned char)ch < 0x20 && ch != '\t') {
                free(b);
                return fail(c, "control character in a string", NULL);
            }
            b[n++] = ch;
            continue;
        }
        ch = *c->p++;
        switch (ch) {
        case '"': b[n++] = '"'; break;
        case '\\': b[n++] = '\\'; break;
        case 'b': b[n++] = '\b'; break;
        case 't': b[n++] = '\t'; break;
        case 'n': b[n++] = '\n'; break;
        case 'f': b[n++] = '\f'; break;
        case 'r': b[n++] = '\r'; break;
        case 'u':
        case 'U': {
            int len = ch == 'u' ? 4 : 8;
            unsigned long cp = 0;
            for (int i = 0; i < len; i++) {
                if (!isxdigit((unsigned char)c->p[i])) {
                    free(b);
                    return fail(c, "bad \\u escape", NULL);
                }
                cp = cp * 16 + (unsigned long)(isdigit((unsigned char)c->p[i])
                                                   ? c->p[i] - '0'
                                                   : (tolower((unsigned char)c->p[i]) - 'a' + 10));
            }
            c->p += len;
            if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                free(b);
                return fail(c, "\\u escape is not a Unicode scalar value (or is NUL)", NULL);
            }
            put_utf8(b, &n, cp);
            break;
        }
        default:
            free(b);
            return fail(c, "unknown escape '\\%.1s'", c->p - 1);
        }
    }
    b[n] = 0;
    *out = b;
    return 0;
}

static int bare_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '-';
}

/* One key part: bare or quoted. New string. */
static int read_key_part(struct cur *c, char **out)
{
    const char *s = c->p;
    *out = NULL;
    if (*c->p == '"' || *c->p == '\'')
        return read_string(c, out);
    while (bare_char(*c->p))
        c->p++;
    if (c->p == s)
        return fail(c, "expected a key, found '%.20s'", s);
    *out = xstrndup(s, (size_t)(c->p - s));
    return 0;
}

static int read_value(struct cur *c, json_t **out);

static int read_array(struct cur *c, json_t **out)
{
    json_t *a = json_array();
    c->p++;   /* '[' */
    for (;;) {
        json_t *v = NULL;
        int rc;
        skip_ws_nl(c);
        if (*c->p == ']') {
            c->p++;
            break;
        }
        if (!*c->p) {
            json_decref(a);
            return fail(c, "unterminated array", NULL);
        }
        if (*c->p != '"' && *c->p != '\'') {
            json_decref(a);
            return fail(c, "arrays may hold only strings here, found '%.20s'", c->p);
        }
        if ((rc = read_value(c, &v))) {
            json_decref(a);
            return rc;
        }
        json_array_append_new(a, v);
        skip_ws_nl(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == ']') {
            c->p++;
            break;
        }
        json_decref(a);
        return fail(c, *c->p ? "expected ',' or ']' in the array, found '%.20s'"
                             : "unterminated array", c->p);
    }
    *out = a;
    return 0;
}

static int read_value(struct cur *c, json_t **out)
{
    const char *s = c->p;
    *out = NULL;
    if (*s == '"' || *s == '\'') {
        char *str = NULL;
        int rc = read_string(c, &str);
        if (rc)
            return rc;
        *out = json_string(str);
        free(str);
        if (!*out)
            return fail(c, "string is not valid UTF-8", NULL);
        return 0;
    }
    if (*s == '[')
        return read_array(c, out);
    if (*s == '{')
        return fail(c, "inline tables are not supported", NULL);
    if (strncmp(s, "true", 4) == 0 && !bare_char(s[4])) {
        c->p += 4;
        *out = json_true();
        return 0;
    }
    if (strncmp(s, "false", 5) == 0 && !bare_char(s[5])) {
        c->p += 5;
        *out = json_false();
        return 0;
    }
    if (*s == '+' || *s == '-' || isdigit((unsigned char)*s)) {
        char digits[40];
        size_t n = 0;
        const char *q = s;
        if (*q == '+' || *q == '-')
            digits[n++] = *q++;
        if (!isdigit((unsigned char)*q))
            return fail(c, "bad number '%.20s'", s);
        if (*q == '0' && isdigit((unsigned char)q[1]))
            return fail(c, "leading zeros are not allowed in '%.20s'", s);
        while (isdigit((unsigned char)*q) || (*q == '_' && isdigit((unsigned char)q[1]) &&
                                             isdigit((unsigned char)q[-1]))) {
            if (*q != '_') {
                if (n + 1 >= sizeof digits)
                    return fail(c, "integer '%.20s' is too long", s);
                digits[n++] = *q;
            }
            q++;
        }
        if (*q == '.' || *q == 'e' || *q == 'E' || *q == ':' || (*q == '-' && q - s == 4))
            return fail(c, "floats and dates are not supported ('%.20s')", s);
        if (bare_char(*q))
            return fail(c, "bad number '%.20s'", s);
        digits[n] = 0;
        errno = 0;
        long long v = strtoll(digits, NULL, 10);
        if (errno == ERANGE)
            return fail(c, "integer '%.20s' is out of range", s);
        c->p = q;
        *out = json_integer(v);
        return 0;
    }
    if (!*s || *s == '\n' || *s == '#')
        return fail(c, "missing value", NULL);
    return fail(c, "unsupported value '%.20s' (strings need quotes)", s);
}

/* Walk/create the table named by the dotted parts of a header. */
static int open_table(struct cur *c, json_t *root, json_t **tab)
{
    json_t *t = root;
    int created = 0;
    c->p++;   /* '[' */
    if (*c->p == '[')
        return fail(c, "arrays of tables ([[...]]) are not supported", NULL);
    for (;;) {
        char *part = NULL;
        json_t *next;
        int rc;
        skip_ws(c);
        if ((rc = read_key_part(c, &part)))
            return rc;
        next = json_object_get(t, part);
        if (!next) {
            next = json_object();
            json_object_set_new(t, part, next);
            created = 1;
        } else if (!json_is_object(next)) {
            c->key = part;
            rc = fail(c, "is a value, not a table", NULL);
            c->key = NULL;
            free(part);
            return rc;
        }
        free(part);
        t = next;
        skip_ws(c);
        if (*c->p == '.') {
            c->p++;
            continue;
        }
        if (*c->p == ']') {
            c->p++;
            break;
        }
        return fail(c, "expected ']' to close the table header, found '%.20s'", c->p);
    }
    if (!created && json_object_get(t, DEF_MARK))
        return fail(c, "table defined twice", NULL);
    json_object_set_new(t, DEF_MARK, json_true());
    *tab = t;
    return end_of_line(c);
}

static void strip_markers(json_t *o)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_del(o, DEF_MARK);
    json_object_foreach_safe(o, tmp, k, v) {
        if (json_is_object(v))
            strip_markers(v);
    }
}

int kf_toml_parse(const char *text, const char *name, json_t **out, struct kf_err *err)
{
    struct cur c = {text, 1, name, NULL, err};
    json_t *root = json_object(), *tab = root;
    int rc = 0;
    *out = NULL;
    for (;;) {
        skip_ws_nl(&c);
        if (!*c.p)
            break;
        if (*c.p == '[') {
            if ((rc = open_table(&c, root, &tab)))
                goto out;
            continue;
        }
        char *key = NULL;
        json_t *v = NULL;
        if ((rc = read_key_part(&c, &key)))
            goto out;
        c.key = key;
        skip_ws(&c);
        if (*c.p == '.') {
            rc = fail(&c, "dotted keys are not supported", NULL);
        } else if (*c.p != '=') {
            rc = fail(&c, "expected '=' after the key", NULL);
        } else {
            c.p++;
            skip_ws(&c);
            if (json_object_get(tab, key))
                rc = fail(&c, "defined twice", NULL);
            else if (!(rc = read_value(&c, &v)))
                json_object_set_new(tab, key, v);
        }
        if (!rc)
            rc = end_of_line(&c);
        c.key = NULL;
        free(key);
        if (rc)
            goto out;
    }
    strip_markers(root);
    *out = root;
    root = NULL;
out:
    json_decref(root);
    return rc;
}
