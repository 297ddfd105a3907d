#include "sasl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <corral/host.h>

/* RFC 2831 §2.1.1 and §2.1.2 size limits; ours are never near the first. */
#define CHALLENGE_MAX 2048
#define RESPONSE_MAX 4096
#define NONCE_BYTES 30 /* 40 base64 characters, as ZooKeeper's (Java's) server draws */

/* ---- UTF-8 ---- */

/* Decodes one code point at s[*i]; returns -1 for a malformed, overlong or surrogate one. */
static int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
    unsigned char c = s[*i];
    if (c < 0x80) {
        *cp = c;
        (*i)++;
        return 0;
    }
    size_t n = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 0;
    if (n == 0 || len - *i <= n)
        return -1;
    uint32_t v = c & (0x3fu >> n);
    for (size_t k = 1; k <= n; k++) {
        if ((s[*i + k] & 0xc0) != 0x80)
            return -1;
        v = v << 6 | (s[*i + k] & 0x3fu);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return -1;
    *i += n + 1;
    *cp = v;
    return 0;
}

/* The number of bytes before the first malformed sequence (len when all is well). */
static size_t utf8_valid_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        size_t at = i;
        if (utf8_next(s, len, &i, &cp) != 0)
            return at;
    }
    return len;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2; /* only code points below 0x100 come here */
}

/* RFC 2831: with charset=utf-8, text whose characters all fit in ISO 8859-1 is hashed in
 * that charset. Rewrites s (valid UTF-8) in place when it fits; returns the new length. */
static size_t utf8_to_latin1_if_fits(char *s, size_t len)
{
    size_t i = 0, o = 0;
    uint32_t cp;
    while (i < len)
        if (utf8_next((const unsigned char *)s, len, &i, &cp) != 0 || cp > 0xff)
            return len;
    i = 0;
    while (i < len) {
        utf8_next((const unsigned char *)s, len, &i, &cp);
        s[o++] = (char)cp;
    }
    return o;
}

/* ISO 8859-1 to a new UTF-8 string (a response without charset=utf-8). */
static char *latin1_to_utf8(const char *s)
{
    char *out = malloc(strlen(s) * 2 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (; *s; s++)
        o += utf8_put(o, (unsigned char)*s);
    *o = '\0';
    return out;
}

/* ---- users: the JAAS file ---- */

struct sasl_user {
    char *name;
    char *password;
    int line;
};

struct sasl_users {
    struct sasl_user *items;
    size_t n, cap;
};

size_t sasl_users_count(const struct sasl_users *u)
{
    return u != NULL ? u->n : 0;
}

const char *sasl_users_password(const struct sasl_users *u, const char *user)
{
    for (size_t i = 0; u != NULL && i < u->n; i++)
        if (strcmp(u->items[i].name, user) == 0)
            return u->items[i].password;
    return NULL;
}

void sasl_users_free(struct sasl_users *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n; i++) {
        free(u->items[i].name);
        OPENSSL_cleanse(u->items[i].password, strlen(u->items[i].password));
        free(u->items[i].password);
    }
    free(u->items);
    free(u);
}

enum jaas_tok { JT_EOF, JT_WORD, JT_PUNCT };

/* Java's login configuration grammar, tokenised as java.io.StreamTokenizer does for it:
 * bare words, "double" or 'single' quoted strings with backslash escapes, { } ; = and
 * comments. A string must close on its line (Java would end it there silently). */
struct jaas_lex {
    const char *file;
    const char *p, *end;
    int line;
    char *err;
    size_t err_len;
    enum jaas_tok type;
    char punct;
    bool quoted;
    char *text; /* the current word, heap */
    int tok_line;
};

static int jaas_fail(struct jaas_lex *l, int line, const char *fmt, ...) CORRAL_PRINTF(3, 4);

static int jaas_fail(struct jaas_lex *l, int line, const char *fmt, ...)
{
    int n = line > 0 ? snprintf(l->err, l->err_len, "%s:%d: ", l->file, line)
                     : snprintf(l->err, l->err_len, "%s: ", l->file);
    if (n >= 0 && (size_t)n < l->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err + n, l->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* What was found instead, for "expected X, found Y". Words are not quoted back: a value
 * out of place may be a password. */
static const char *jaas_found(const struct jaas_lex *l, char buf[8])
{
    if (l->type == JT_EOF)
        return "the end of the file";
    if (l->type == JT_WORD)
        return l->quoted ? "a quoted string" : "a word";
    snprintf(buf, 8, "\"%c\"", l->punct);
    return buf;
}

static bool jaas_word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c == '-' || c == '*' || c == '.' || c >= 0x80;
}

static int jaas_string(struct jaas_lex *l)
{
    char quote = *l->p;
    const char *q = l->p + 1;
    while (q < l->end && *q != quote && *q != '\n') {
        if (*q == '\\' && q + 1 < l->end && q[1] != '\n')
            q++;
        q++;
    }
    if (q >= l->end || *q != quote)
        return jaas_fail(l, l->line, "unterminated string: the closing %c is missing on this line",
                         quote);
    char *out = malloc((size_t)(q - l->p));
    if (out == NULL)
        return jaas_fail(l, l->line, "out of memory");
    size_t o = 0;
    for (const char *s = l->p + 1; s < q; s++) {
        if (*s != '\\') {
            out[o++] = *s;
            continue;
        }
        char e = *++s;
        static const char from[] = "abfnrtv", to[] = "\a\b\f\n\r\t\v";
        const char *hit = e != '\0' ? strchr(from, e) : NULL;
        if (hit != NULL) {
            out[o++] = to[hit - from];
        } else if (e >= '0' && e <= '7') {
            /* octal, as StreamTokenizer reads it: 3 digits when the first is 0-3, else 2 */
            unsigned v = (unsigned)(e - '0');
            int more = e <= '3' ? 2 : 1;
            while (more-- > 0 && s + 1 < q && s[1] >= '0' && s[1] <= '7')
                v = v * 8 + (unsigned)(*++s - '0');
            o += utf8_put(out + o, v);
        } else {
            out[o++] = e;
        }
    }
    out[o] = '\0';
    l->text = out;
    l->quoted = true;
    l->type = JT_WORD;
    l->p = q + 1;
    return 0;
}

static int jaas_next(struct jaas_lex *l)
{
    free(l->text);
    l->text = NULL;
    for (;;) {
        while (l->p < l->end && isspace((unsigned char)*l->p))
            l->line += *l->p++ == '\n';
        if (l->end - l->p >= 2 && l->p[0] == '/' && l->p[1] == '/') {
            while (l->p < l->end && *l->p != '\n')
                l->p++;
        } else if (l->end - l->p >= 2 && l->p[0] == '/' && l->p[1] == '*') {
            int start = l->line;
            l->p += 2;
            while (l->end - l->p >= 2 && !(l->p[0] == '*' && l->p[1] == '/'))
                l->line += *l->p++ == '\n';
            if (l->end - l->p < 2)
                return jaas_fail(l, start, "comment opened here is not closed");
            l->p += 2;
        } else {
            break;
        }
    }
    l->tok_line = l->line;
    l->quoted = false;
    if (l->p == l->end) {
        l->type = JT_EOF;
        return 0;
    }
    unsigned char c = (unsigned char)*l->p;
    if (strchr("{};=", c) != NULL && c != '\0') {
        l->type = JT_PUNCT;
        l->punct = (char)c;
        l->p++;
        return 0;
    }
    if (c == '"' || c == '\'')
        return jaas_string(l);
    if (!jaas_word_char(c))
        return isprint(c) ? jaas_fail(l, l->line, "unexpected character '%c'", c)
                          : jaas_fail(l, l->line, "unexpected byte 0x%02x", c);
    const char *s = l->p;
    while (l->p < l->end && jaas_word_char((unsigned char)*l->p))
        l->p++;
    l->text = strndup(s, (size_t)(l->p - s));
    if (l->text == NULL)
        return jaas_fail(l, l->line, "out of memory");
    l->type = JT_WORD;
    return 0;
}

static bool jaas_is_punct(const struct jaas_lex *l, char c)
{
    return l->type == JT_PUNCT && l->punct == c;
}

/* Takes the current word from the lexer. */
static char *jaas_take(struct jaas_lex *l)
{
    char *t = l->text;
    l->text = NULL;
    return t;
}

static bool jaas_valid_flag(const char *f)
{
    return strcasecmp(f, "required") == 0 || strcasecmp(f, "requisite") == 0 ||
           strcasecmp(f, "sufficient") == 0 || strcasecmp(f, "optional") == 0;
}

static int jaas_add_user(struct jaas_lex *l, struct sasl_users *u, const char *name,
                         const char *password, int line)
{
    if (name[0] == '\0')
        return jaas_fail(l, line, "option user_ names no user; write user_<name>=\"<password>\"");
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->items[i].name, name) == 0)
            return jaas_fail(l, line, "user \"%s\" is defined twice (first at line %d)", name,
                             u->items[i].line);
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 8;
        struct sasl_user *items = realloc(u->items, cap * sizeof *items);
        if (items == NULL)
            return jaas_fail(l, line, "out of memory");
        u->items = items;
        u->cap = cap;
    }
    struct sasl_user *it = &u->items[u->n];
    it->name = strdup(name);
    it->password = strdup(password);
    it->line = line;
    if (it->name == NULL || it->password == NULL) {
        free(it->name);
        free(it->password);
        return jaas_fail(l, line, "out of memory");
    }
    u->n++;
    return 0;
}

struct jaas_seen {
    char **names;
    int *lines;
    size_t n;
};

static int jaas_seen_add(struct jaas_lex *l, struct jaas_seen *seen, char *name, int line)
{
    for (size_t i = 0; i < seen->n; i++)
        if (strcmp(seen->names[i], name) == 0) {
            jaas_fail(l, line, "section \"%s\" is defined twice (first at line %d)", name,
                      seen->lines[i]);
            free(name);
            return -1;
        }
    char **names = realloc(seen->names, (seen->n + 1) * sizeof *names);
    if (names != NULL)
        seen->names = names;
    int *lines = names != NULL ? realloc(seen->lines, (seen->n + 1) * sizeof *lines) : NULL;
    if (lines == NULL) {
        free(name);
        return jaas_fail(l, line, "out of memory");
    }
    seen->lines = lines;
    seen->names[seen->n] = name;
    seen->lines[seen->n++] = line;
    return 0;
}

/* One login module entry: class flag key=value ... ; (the class is the current word). */
static int jaas_module(struct jaas_lex *l, const char *section, bool wanted, struct sasl_users *u)
{
    char found[8];
    int rc = -1;
    int cls_line = l->tok_line;
    char *cls = jaas_take(l), *key = NULL;
    if (wanted && strcmp(cls, SASL_DIGEST_LOGIN_MODULE) != 0) {
        jaas_fail(l, cls_line,
                  "section \"%s\": login module %s is not supported; corral does DIGEST-MD5 "
                  "only, with " SASL_DIGEST_LOGIN_MODULE,
                  section, cls);
        goto out;
    }
    if (jaas_next(l) != 0)
        goto out;
    if (l->type != JT_WORD) {
        jaas_fail(l, l->tok_line,
                  "login module %s: expected a control flag (required, requisite, sufficient "
                  "or optional), found %s",
                  cls, jaas_found(l, found));
        goto out;
    }
    if (!jaas_valid_flag(l->text)) {
        jaas_fail(l, l->tok_line,
                  "login module %s: invalid control flag \"%s\"; expected required, requisite, "
                  "sufficient or optional",
                  cls, l->text);
        goto out;
    }
    if (jaas_next(l) != 0)
        goto out;
    while (!jaas_is_punct(l, ';')) {
        if (l->type == JT_EOF) {
            jaas_fail(l, cls_line, "login module %s is not ended by \";\"", cls);
            goto out;
        }
        if (l->type != JT_WORD) {
            jaas_fail(l, l->tok_line,
                      "login module %s: expected an option key=\"value\" or \";\", found %s", cls,
                      jaas_found(l, found));
            goto out;
        }
        int key_line = l->tok_line;
        key = jaas_take(l);
        if (jaas_next(l) != 0)
            goto out;
        if (!jaas_is_punct(l, '=')) {
            jaas_fail(l, l->tok_line, "expected \"=\" after option %s, found %s", key,
                      jaas_found(l, found));
            goto out;
        }
        if (jaas_next(l) != 0)
            goto out;
        if (l->type != JT_WORD) {
            jaas_fail(l, l->tok_line, "option %s: expected a value, found %s", key,
                      jaas_found(l, found));
            goto out;
        }
        if (wanted && strncmp(key, "user_", 5) == 0) {
            if (strstr(l->text, "${") != NULL) {
                jaas_fail(l, key_line, "option %s: ${property} expansion is not supported", key);
                goto out;
            }
            if (jaas_add_user(l, u, key + 5, l->text, key_line) != 0)
                goto out;
        }
        free(key);
        key = NULL;
        if (jaas_next(l) != 0)
            goto out;
    }
    rc = jaas_next(l);
out:
    free(key);
    free(cls);
    return rc;
}

static int jaas_parse(struct jaas_lex *l, const char *section, struct sasl_users *u)
{
    char found[8];
    struct jaas_seen seen = {0};
    int rc = -1, section_line = 0;
    if (jaas_next(l) != 0)
        goto out;
    while (l->type != JT_EOF) {
        if (l->type != JT_WORD) {
            jaas_fail(l, l->tok_line, "expected a section name, found %s", jaas_found(l, found));
            goto out;
        }
        int line = l->tok_line;
        char *name = jaas_take(l);
        if (jaas_seen_add(l, &seen, name, line) != 0)
            goto out;
        bool wanted = strcmp(name, section) == 0;
        if (wanted)
            section_line = line;
        if (jaas_next(l) != 0)
            goto out;
        if (!jaas_is_punct(l, '{')) {
            jaas_fail(l, l->tok_line, "expected \"{\" after section name \"%s\", found %s", name,
                      jaas_found(l, found));
            goto out;
        }
        if (jaas_next(l) != 0)
            goto out;
        while (!jaas_is_punct(l, '}')) {
            if (l->type == JT_EOF) {
                jaas_fail(l, line, "section \"%s\" is not closed by \"};\"", name);
                goto out;
            }
            if (l->type != JT_WORD) {
                jaas_fail(l, l->tok_line,
                          "section \"%s\": expected a login module class name, found %s", name,
                          jaas_found(l, found));
                goto out;
            }
            if (jaas_module(l, section, wanted, u) != 0)
                goto out;
        }
        int close_line = l->tok_line;
        if (jaas_next(l) != 0)
            goto out;
        if (!jaas_is_punct(l, ';')) {
            jaas_fail(l, close_line,
                      "expected \";\" after the \"}\" closing section \"%s\", "
                      "found %s",
                      name, jaas_found(l, found));
            goto out;
        }
        if (jaas_next(l) != 0)
            goto out;
    }
    if (section_line == 0) {
        char list[256] = "";
        size_t at = 0;
        for (size_t i = 0; i < seen.n && at < sizeof list; i++) {
            int n = snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", seen.names[i]);
            at += n > 0 ? (size_t)n : 0;
        }
        if (seen.n == 0)
            jaas_fail(l, 0, "no section \"%s\": the file defines no sections", section);
        else
            jaas_fail(l, 0, "no section \"%s\" (the file has %s)", section, list);
        goto out;
    }
    if (u->n == 0) {
        jaas_fail(l, section_line,
                  "section \"%s\" names no users; add user_<name>=\"<password>\" options to "
                  "its " SASL_DIGEST_LOGIN_MODULE " entry",
                  section);
        goto out;
    }
    rc = 0;
out:
    free(l->text);
    l->text = NULL;
    for (size_t i = 0; i < seen.n; i++)
        free(seen.names[i]);
    free(seen.names);
    free(seen.lines);
    return rc;
}

int sasl_users_parse(const char *name, const char *text, size_t len, const char *section,
                     struct sasl_users **out, char *err, size_t err_len)
{
    struct jaas_lex l = {
        .file = name, .p = text, .end = text + len, .line = 1, .err = err, .err_len = err_len};
    size_t valid = utf8_valid_prefix((const unsigned char *)text, len);
    if (valid < len) {
        int line = 1;
        for (size_t i = 0; i < valid; i++)
            line += text[i] == '\n';
        return jaas_fail(&l, line, "not valid UTF-8 (byte 0x%02x)", (unsigned char)text[valid]);
    }
    if (memchr(text, '\0', len) != NULL)
        return jaas_fail(&l, 0, "contains a NUL byte; is this a JAAS login file?");
    struct sasl_users *u = calloc(1, sizeof *u);
    if (u == NULL)
        return jaas_fail(&l, 0, "out of memory");
    if (jaas_parse(&l, section, u) != 0) {
        sasl_users_free(u);
        return -1;
    }
    *out = u;
    return 0;
}

int sasl_users_load(const char *path, const char *section, struct sasl_users **out, char *err,
                    size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    for (;;) {
        if (len == cap) {
            if (cap >= (1u << 24)) {
                snprintf(err, err_len, "%s: larger than 16 MiB; is this a JAAS login file?", path);
                goto out;
            }
            cap = cap ? cap * 2 : 4096;
            char *t = realloc(text, cap);
            if (t == NULL) {
                snprintf(err, err_len, "%s: out of memory", path);
                goto out;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    rc = sasl_users_parse(path, text, len, section, out, err, err_len);
out:
    if (text != NULL)
        OPENSSL_cleanse(text, len);
    free(text);
    fclose(f);
    return rc;
}

/* ---- DIGEST-MD5 computation ---- */

static void hex16(const unsigned char md[16], char out[33])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[32] = '\0';
}

/* MD5 of the concatenation of n strings (a NULL one is skipped). */
static int md5_cat(EVP_MD_CTX *ctx, unsigned char md[16], size_t n, ...)
{
    if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
        return -ENOTSUP; /* e.g. a FIPS-only OpenSSL */
    va_list ap;
    va_start(ap, n);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        if (s != NULL)
            ok &= EVP_DigestUpdate(ctx, s, strlen(s));
    }
    va_end(ap);
    unsigned int len = 0;
    ok &= EVP_DigestFinal_ex(ctx, md, &len);
    return ok == 1 && len == 16 ? 0 : -ENOTSUP;
}

int sasl_digest_md5(const struct sasl_digest_params *p, char response[33], char rspauth[33])
{
    size_t ul = strlen(p->user), rl = strlen(p->realm), pl = strlen(p->password);
    char *urp = malloc(ul + rl + pl + 3);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = -ENOMEM;
    if (urp == NULL || ctx == NULL)
        goto out;
    size_t len =
        (size_t)snprintf(urp, ul + rl + pl + 3, "%s:%s:%s", p->user, p->realm, p->password);
    rc = -EINVAL;
    if (utf8_valid_prefix((const unsigned char *)urp, len) != len)
        goto out;
    len = utf8_to_latin1_if_fits(urp, len);

    /* A1 = H(user:realm:password) ":" nonce ":" cnonce [":" authzid]; H(A1) hashes it whole,
     * and the inner hash is raw bytes, so it is fed as one update. */
    unsigned char inner[16], md[16];
    char ha1[33], ha2[33], ha2s[33];
    unsigned int ilen = 0;
    rc = -ENOTSUP;
    if (EVP_Digest(urp, len, inner, &ilen, EVP_md5(), NULL) != 1 || ilen != 16 ||
        EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 || EVP_DigestUpdate(ctx, inner, 16) != 1 ||
        EVP_DigestUpdate(ctx, ":", 1) != 1 ||
        EVP_DigestUpdate(ctx, p->nonce, strlen(p->nonce)) != 1 ||
        EVP_DigestUpdate(ctx, ":", 1) != 1 ||
        EVP_DigestUpdate(ctx, p->cnonce, strlen(p->cnonce)) != 1 ||
        (p->authzid != NULL && (EVP_DigestUpdate(ctx, ":", 1) != 1 ||
                                EVP_DigestUpdate(ctx, p->authzid, strlen(p->authzid)) != 1)) ||
        EVP_DigestFinal_ex(ctx, md, &ilen) != 1)
        goto out;
    hex16(md, ha1);

    /* A2 differs between the response ("AUTHENTICATE:uri") and rspauth (":uri"); integrity
     * and confidentiality append a zero body hash. */
    const char *tail = strcasecmp(p->qop, "auth") != 0 ? ":00000000000000000000000000000000" : NULL;
    if ((rc = md5_cat(ctx, md, 3, "AUTHENTICATE:", p->digest_uri, tail)) != 0)
        goto out;
    hex16(md, ha2);
    if ((rc = md5_cat(ctx, md, 3, ":", p->digest_uri, tail)) != 0)
        goto out;
    hex16(md, ha2s);
    if ((rc = md5_cat(ctx, md, 11, ha1, ":", p->nonce, ":", p->nc, ":", p->cnonce, ":", p->qop, ":",
                      ha2)) != 0)
        goto out;
    hex16(md, response);
    if ((rc = md5_cat(ctx, md, 11, ha1, ":", p->nonce, ":", p->nc, ":", p->cnonce, ":", p->qop, ":",
                      ha2s)) != 0)
        goto out;
    hex16(md, rspauth);
    rc = 0;
out:
    if (urp != NULL) {
        OPENSSL_cleanse(urp, ul + rl + pl + 3);
        free(urp);
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ---- the server side of the exchange ---- */

enum sasl_state { ST_START, ST_CHALLENGED, ST_DONE, ST_FAILED };

struct sasl_server {
    const struct sasl_users *users;
    enum sasl_state state;
    char *realm, *digest_uri;
    char nonce[64];
    char *user;
    char why[160];
    char out[CHALLENGE_MAX];
    size_t out_len;
};

struct sasl_server *sasl_server_new(const struct sasl_users *users, const char *realm,
                                    const char *digest_uri, const char *nonce)
{
    struct sasl_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->users = users;
    s->realm = strdup(realm);
    s->digest_uri = strdup(digest_uri);
    if (s->realm == NULL || s->digest_uri == NULL)
        goto fail;
    if (nonce != NULL) {
        if (strlen(nonce) >= sizeof s->nonce)
            goto fail;
        strcpy(s->nonce, nonce);
    } else {
        unsigned char raw[NONCE_BYTES];
        if (RAND_bytes(raw, sizeof raw) != 1)
            goto fail;
        EVP_EncodeBlock((unsigned char *)s->nonce, raw, sizeof raw);
    }
    return s;
fail:
    sasl_server_free(s);
    return NULL;
}

void sasl_server_free(struct sasl_server *s)
{
    if (s == NULL)
        return;
    free(s->realm);
    free(s->digest_uri);
    free(s->user);
    free(s);
}

const char *sasl_server_user(const struct sasl_server *s)
{
    return s->state == ST_DONE ? s->user : NULL;
}

const char *sasl_server_error(const struct sasl_server *s)
{
    return s->why;
}

static enum sasl_step fail_step(struct sasl_server *s, const char *fmt, ...) CORRAL_PRINTF(2, 3);

static enum sasl_step fail_step(struct sasl_server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->state = ST_FAILED;
    return SASL_FAILED;
}

/* A name from the client, made safe for a log line. */
static const char *printable(const char *in, char *buf, size_t len)
{
    size_t o = 0;
    for (; *in && o + 1 < len; in++)
        buf[o++] = isprint((unsigned char)*in) && *in != '"' ? *in : '?';
    buf[o] = '\0';
    return buf;
}

/* Appends `"text"` with RFC 2831's quoted-pair escapes for '"' and '\'. */
static void put_quoted(struct sasl_server *s, const char *text)
{
    size_t o = s->out_len;
    if (o < sizeof s->out)
        s->out[o++] = '"';
    for (; *text && o + 2 < sizeof s->out; text++) {
        if (*text == '"' || *text == '\\')
            s->out[o++] = '\\';
        s->out[o++] = *text;
    }
    if (o < sizeof s->out)
        s->out[o++] = '"';
    s->out_len = o;
}

static void put_raw(struct sasl_server *s, const char *text)
{
    size_t n = strlen(text);
    if (n > sizeof s->out - s->out_len)
        n = sizeof s->out - s->out_len;
    memcpy(s->out + s->out_len, text, n);
    s->out_len += n;
}

/* The digest-challenge, directives in the order ZooKeeper's (Java's) server sends them; qop
 * is left out, which means "auth". */
static enum sasl_step challenge(struct sasl_server *s)
{
    s->out_len = 0;
    put_raw(s, "realm=");
    put_quoted(s, s->realm);
    put_raw(s, ",nonce=");
    put_quoted(s, s->nonce);
    put_raw(s, ",charset=utf-8,algorithm=md5-sess");
    s->state = ST_CHALLENGED;
    return SASL_CONTINUE;
}

/* The directives of a digest-response we use; others are ignored, as RFC 2831 asks. */
struct digest_response {
    char *username, *realm, *nonce, *cnonce, *nc, *qop, *digest_uri, *response, *charset, *authzid;
};

static bool is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Parses `key=value, key="quoted value"` in place (buf is NUL-terminated and modified).
 * Returns 0, or -1 for a syntax error or a directive given twice. */
static int parse_directives(char *buf, struct digest_response *d)
{
    static const struct {
        const char *name;
        size_t off;
    } known[] = {
        {"username", offsetof(struct digest_response, username)},
        {"realm", offsetof(struct digest_response, realm)},
        {"nonce", offsetof(struct digest_response, nonce)},
        {"cnonce", offsetof(struct digest_response, cnonce)},
        {"nc", offsetof(struct digest_response, nc)},
        {"qop", offsetof(struct digest_response, qop)},
        {"digest-uri", offsetof(struct digest_response, digest_uri)},
        {"response", offsetof(struct digest_response, response)},
        {"charset", offsetof(struct digest_response, charset)},
        {"authzid", offsetof(struct digest_response, authzid)},
    };
    char *p = buf;
    for (;;) {
        while (is_lws(*p) || *p == ',')
            p++;
        if (*p == '\0')
            return 0;
        char *key = p;
        while (is_key_char(*p))
            p++;
        if (p == key)
            return -1;
        char *key_end = p;
        while (is_lws(*p))
            p++;
        if (*p != '=')
            return -1;
        *key_end = '\0';
        p++;
        while (is_lws(*p))
            p++;
        char *value = p;
        if (*p == '"') {
            char *o = p++;
            while (*p != '"') {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (*p == '\0')
                    return -1;
                *o++ = *p++;
            }
            p++;
            *o = '\0';
            while (is_lws(*p))
                p++;
            if (*p != ',' && *p != '\0')
                return -1;
        } else {
            while (*p != '\0' && *p != ',' && !is_lws(*p))
                p++;
            if (p == value)
                return -1;
            char *end = p;
            while (is_lws(*p))
                p++;
            if (*p != ',' && *p != '\0')
                return -1;
            if (*p == ',')
                p++; /* past it before the terminator may overwrite it */
            *end = '\0';
        }
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
            if (strcasecmp(key, known[i].name) != 0)
                continue;
            char **slot = (char **)((char *)d + known[i].off);
            if (*slot != NULL)
                return -1;
            *slot = value;
        }
    }
}

static bool is_hex32(const char *s)
{
    size_t n = 0;
    for (; isxdigit((unsigned char)s[n]); n++)
        ;
    return n == 32 && s[n] == '\0';
}

static enum sasl_step verify(struct sasl_server *s, const uint8_t *in, size_t len)
{
    char name[68];
    if (len > RESPONSE_MAX)
        return fail_step(s, "digest-response of %zu bytes exceeds %d", len, RESPONSE_MAX);
    if (len == 0 || memchr(in, '\0', len) != NULL)
        return fail_step(s, "empty or binary digest-response");
    char buf[RESPONSE_MAX + 1];
    memcpy(buf, in, len);
    buf[len] = '\0';
    struct digest_response d = {0};
    if (parse_directives(buf, &d) != 0)
        return fail_step(s, "malformed digest-response");
    if (d.username == NULL || d.nonce == NULL || d.cnonce == NULL || d.nc == NULL ||
        d.digest_uri == NULL || d.response == NULL)
        return fail_step(s, "digest-response lacks a required directive");
    bool utf8 = d.charset != NULL;
    if (utf8 && strcasecmp(d.charset, "utf-8") != 0)
        return fail_step(s, "charset is not utf-8");
    if (strcmp(d.nonce, s->nonce) != 0)
        return fail_step(s, "nonce does not match the challenge");
    if (strlen(d.nc) != 8 || strspn(d.nc, "0123456789abcdefABCDEF") != 8 ||
        strtoul(d.nc, NULL, 16) != 1)
        return fail_step(s, "nonce count is not 00000001");
    if (d.qop != NULL && strcasecmp(d.qop, "auth") != 0)
        return fail_step(s, "qop is not auth (integrity and privacy are not offered)");
    if (d.realm == NULL || strcmp(d.realm, s->realm) != 0)
        return fail_step(s, "realm is not \"%s\"", s->realm);
    if (strcasecmp(d.digest_uri, s->digest_uri) != 0)
        return fail_step(s, "digest-uri is not %s", s->digest_uri);
    if (!is_hex32(d.response))
        return fail_step(s, "malformed response value");

    char *user = utf8 ? strdup(d.username) : latin1_to_utf8(d.username);
    if (user == NULL)
        return fail_step(s, "out of memory");
    size_t ulen = strlen(user);
    if (utf8_valid_prefix((const unsigned char *)user, ulen) != ulen) {
        free(user);
        return fail_step(s, "user name is not UTF-8");
    }
    const char *password = sasl_users_password(s->users, user);
    if (password == NULL) {
        fail_step(s, "unknown user \"%s\"", printable(user, name, sizeof name));
        free(user);
        return SASL_FAILED;
    }
    struct sasl_digest_params p = {
        user,         s->realm, password, s->nonce, d.cnonce, d.nc, d.qop != NULL ? d.qop : "auth",
        d.digest_uri, d.authzid};
    char want[33], rspauth[33];
    for (char *c = d.response; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (sasl_digest_md5(&p, want, rspauth) != 0) {
        free(user);
        return fail_step(s, "cannot compute the MD5 digest");
    }
    if (CRYPTO_memcmp(want, d.response, 32) != 0) {
        fail_step(s, "wrong password for user \"%s\"", printable(user, name, sizeof name));
        free(user);
        return SASL_FAILED;
    }
    s->user = user;
    s->out_len = 0;
    put_raw(s, "rspauth=");
    put_raw(s, rspauth);
    s->state = ST_DONE;
    return SASL_DONE;
}

enum sasl_step sasl_server_step(struct sasl_server *s, const uint8_t *in, size_t len,
                                const uint8_t **out, size_t *out_len)
{
    enum sasl_step r;
    switch (s->state) {
    case ST_START:
        r = challenge(s); /* DIGEST-MD5 has no initial response: ignore what came */
        break;
    case ST_CHALLENGED:
        r = verify(s, in, len);
        break;
    case ST_DONE:
        r = fail_step(s, "a token after the exchange completed");
        break;
    default:
        r = fail_step(s, "a token after the exchange failed");
        break;
    }
    *out = r == SASL_FAILED ? NULL : (const uint8_t *)s->out;
    *out_len = r == SASL_FAILED ? 0 : s->out_len;
    return r;
}
