/*
 * Rules over libpg_query's scanner tokens. They serve twice: as a fast path
 * for statement shapes whose writes the tokens settle (the result must equal
 * what the parse tree gives), and as the fallback for text the parser
 * rejects, Redshift's dialect above all, where "when in doubt, queue" holds.
 * Strings, comments and dollar quotes are the scanner's business, not ours.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/classify_int.h"

#define T(x) PG_QUERY__TOKEN__##x
#define KW(x) PG_QUERY__KEYWORD_KIND__##x

/* String literals inside a DO body are looked into (dynamic SQL), to
 * this depth. */
#define DO_STRING_DEPTH 2

/* Token rules for one statement. */
typedef struct tr {
    cl_ctx_t *ctx;
    cl_stmt_t *st;
    cl_toks_t ts;
    int sure_only; /* the fast path asks: skip rules that never are */
} tr_t;

/* A dotted name read from tokens, decoded as the parser would. */
typedef struct tname {
    char part[3][CL_NAMEDATALEN];
    int n;
    int temp;   /* Redshift #name */
    int unsure; /* U&"..." or an over-long name: the parser knows better */
} tname_t;

/* The token at i; a keyword right after a '.' is a name (s.into, t.update)
 * and reads as an identifier. */
static int tok(const tr_t *r, int i)
{
    if (i < 0 || i >= r->ts.n)
        return 0;
    if (i > 0 && r->ts.t[i].kw != KW(NO_KEYWORD) && r->ts.t[i - 1].tok == '.')
        return T(IDENT);
    return r->ts.t[i].tok;
}

static int is_ch(const tr_t *r, int i, char c)
{
    return tok(r, i) == (int)(unsigned char)c;
}

static int tok_is_word(const tr_t *r, int i, const char *word)
{
    const cl_tok_t *t;
    size_t len = strlen(word);

    if (i < 0 || i >= r->ts.n)
        return 0;
    t = &r->ts.t[i];
    return t->tok == T(IDENT) && (size_t)(t->end - t->start) == len &&
           strncasecmp(r->ts.text + t->start, word, len) == 0;
}

/* ---- scanning ---- */

static int tok_push(cl_tok_t **v, int *n, int *cap, const cl_tok_t *t)
{
    if (t->tok == T(SQL_COMMENT) || t->tok == T(C_COMMENT))
        return 0;
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 64;
        cl_tok_t *nv = realloc(*v, (size_t)ncap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = *t;
    return 0;
}

/* Through the generated code: slower (a message per token), kept for a
 * ScanResult the direct reader below does not expect. */
static int tokens_unpacked(const PgQueryProtobuf *pb, cl_tok_t **out, int *n)
{
    PgQuery__ScanResult *sr;
    int cap = 0, rc = 0;

    sr = pg_query__scan_result__unpack(cl_arena(CL_ARENA_SCAN), pb->len,
                                       (const uint8_t *)pb->data);
    if (sr == NULL)
        rc = -1;
    for (size_t i = 0; sr && rc == 0 && i < sr->n_tokens; i++) {
        const PgQuery__ScanToken *t = sr->tokens[i];
        cl_tok_t tk = {t->token, t->keyword_kind, t->start, t->end};
        rc = tok_push(out, n, &cap, &tk);
    }
    cl_arena_reset(CL_ARENA_SCAN);
    return rc;
}

static size_t read_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;

    for (size_t i = 0; p + i < end && i < 10; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Field numbers of ScanResult.tokens and ScanToken's fields, from the
 * generated descriptors rather than copied from pg_query.proto. */
static unsigned field_id(const ProtobufCMessageDescriptor *d, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(d, name);
    return f ? f->id : 0;
}

static struct {
    unsigned tokens, start, end, token, kw;
} fid;

static void field_ids(void)
{
    const ProtobufCMessageDescriptor *d = &pg_query__scan_token__descriptor;

    fid.tokens = field_id(&pg_query__scan_result__descriptor, "tokens");
    fid.start = field_id(d, "start");
    fid.end = field_id(d, "end");
    fid.token = field_id(d, "token");
    fid.kw = field_id(d, "keyword_kind");
}

/* One ScanToken: every field is a varint. */
static int read_token(const uint8_t *p, const uint8_t *end, cl_tok_t *t)
{
    *t = (cl_tok_t){0, 0, 0, 0};
    while (p < end) {
        uint64_t key, val;
        size_t k = read_varint(p, end, &key), v;
        if (k == 0 || (key & 7) != 0 ||
            (v = read_varint(p + k, end, &val)) == 0)
            return -1;
        p += k + v;
        if ((key >> 3) == fid.start)
            t->start = (int)val;
        else if ((key >> 3) == fid.end)
            t->end = (int)val;
        else if ((key >> 3) == fid.token)
            t->tok = (int)val;
        else if ((key >> 3) == fid.kw)
            t->kw = (int)val;
    }
    return 0;
}

/*
 * Reads the tokens straight from ScanResult's wire bytes: unpacking makes a
 * message per token and was a fifth of the classifier's time. Returns -1
 * on anything unexpected, and the caller unpacks the generated way.
 */
static int tokens_direct(const PgQueryProtobuf *pb, cl_tok_t **out, int *n)
{
    const uint8_t *p = (const uint8_t *)pb->data, *end = p + pb->len;
    int cap = 0;

    if (fid.tokens == 0)
        field_ids();

    while (p < end) {
        uint64_t key, len;
        size_t k = read_varint(p, end, &key), l;
        cl_tok_t t;
        if (k == 0 || ((key & 7) != 0 && (key & 7) != 2))
            return -1;
        p += k;
        l = read_varint(p, end, &len);
        if (l == 0 || ((key & 7) == 2 && len > (uint64_t)(end - p - l)))
            return -1;
        p += l;
        if ((key & 7) == 0)
            continue; /* version */
        if ((key >> 3) != fid.tokens || read_token(p, p + len, &t) != 0 ||
            tok_push(out, n, &cap, &t) != 0)
            return -1;
        p += len;
    }
    return 0;
}

/* Keeps the offsets inside the text, whatever the scanner said. */
static void tokens_clamp(cl_tok_t *v, int n, int textlen)
{
    for (int i = 0; i < n; i++) {
        if (v[i].start < 0 || v[i].start > textlen)
            v[i].start = textlen;
        if (v[i].end < v[i].start || v[i].end > textlen)
            v[i].end = v[i].start;
    }
}

static int tokens_from(const PgQueryProtobuf *pb, int textlen, cl_tok_t **out,
                       int *n)
{
    *n = 0;
    if (tokens_direct(pb, out, n) != 0) {
        *n = 0;
        if (tokens_unpacked(pb, out, n) != 0)
            return -1;
    }
    if (*out == NULL && (*out = malloc(sizeof(cl_tok_t))) == NULL)
        return -1;
    tokens_clamp(*out, *n, textlen);
    return 0;
}

int cl_scan(const char *text, cl_tok_t **out, int *n, int *errpos)
{
    PgQueryScanResult r = pg_query_scan(text);
    int pos;
    char *prefix;

    *out = NULL;
    *n = 0;
    *errpos = -1;
    if (r.error == NULL) {
        int rc = tokens_from(&r.pbuf, (int)strlen(text), out, n);
        pg_query_free_scan_result(r);
        return rc;
    }
    pos = r.error->cursorpos > 0 ? r.error->cursorpos - 1 : 0;
    pg_query_free_scan_result(r);
    *errpos = pos;
    /* the tokens before the error still name tables */
    prefix = pos > 0 ? strndup(text, (size_t)pos) : NULL;
    if (prefix) {
        r = pg_query_scan(prefix);
        if (r.error == NULL && tokens_from(&r.pbuf, pos, out, n) != 0)
            *n = 0;
        pg_query_free_scan_result(r);
        free(prefix);
    }
    return -1;
}

/* ---- names ---- */

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Keeps at most NAMEDATALEN - 1 bytes, cut at a UTF-8 character start. */
static void name_store(char *out, const char *buf, size_t len, int *unsure)
{
    if (len >= CL_NAMEDATALEN) {
        *unsure = 1;
        len = CL_NAMEDATALEN - 1;
        while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(out, buf, len);
    out[len] = '\0';
}

/* An identifier token: "quoted" stays exact ("" is a quote), bare folds. */
static void decode_ident(const char *s, int len, char *out, int *unsure)
{
    char buf[CL_NAMEDATALEN * 2];
    size_t o = 0;

    if (len >= 2 && s[0] == '"') {
        for (int k = 1; k < len - 1 && o < sizeof(buf); k++) {
            if (s[k] == '"')
                k++;
            buf[o++] = s[k];
        }
        if (o == 0)
            *unsure = 1;
    } else {
        for (int k = 0; k < len && o < sizeof(buf); k++)
            buf[o++] = ascii_lower(s[k]);
    }
    name_store(out, buf, o, unsure);
}

/* U&"..." [UESCAPE 'x']: the parser decodes it; we parse a tiny SELECT. */
static int decode_uident(const tr_t *r, int i, char *out)
{
    int last = tok(r, i + 1) == T(UESCAPE) ? i + 2 : i;
    int end =
        last + 1 < r->ts.n ? r->ts.t[last + 1].start : (int)strlen(r->ts.text);
    const char *sval = NULL;
    PgQueryProtobufParseResult pr;
    PgQuery__ParseResult *tree = NULL;
    char *sql;
    int unsure = 0;

    if (last != i)
        end = r->ts.t[last].end;
    if (asprintf(&sql, "SELECT %.*s", end - r->ts.t[i].start,
                 r->ts.text + r->ts.t[i].start) < 0)
        return -1;
    pr = pg_query_parse_protobuf(sql);
    free(sql);
    if (pr.error == NULL)
        tree = pg_query__parse_result__unpack(
            NULL, pr.parse_tree.len, (const uint8_t *)pr.parse_tree.data);
    pg_query_free_protobuf_parse_result(pr);
    if (tree && tree->n_stmts == 1 &&
        tree->stmts[0]->stmt->node_case == PG_QUERY__NODE__NODE_SELECT_STMT) {
        const PgQuery__SelectStmt *s = tree->stmts[0]->stmt->select_stmt;
        const PgQuery__Node *v =
            s->n_target_list ? s->target_list[0]->res_target->val : NULL;
        if (v && v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
            v->column_ref->n_fields == 1 &&
            v->column_ref->fields[0]->node_case == PG_QUERY__NODE__NODE_STRING)
            sval = v->column_ref->fields[0]->string->sval;
    }
    if (sval)
        name_store(out, sval, strlen(sval), &unsure);
    if (tree)
        pg_query__parse_result__free_unpacked(tree, NULL);
    return sval ? last + 1 : -1;
}

/* Whether token i can be a part of a name; the first part of a name may
 * not be a keyword the grammar reserves for anything. */
static int name_part_ok(const tr_t *r, int i, int first)
{
    const cl_tok_t *t;

    if (i < 0 || i >= r->ts.n)
        return 0;
    t = &r->ts.t[i];
    if (t->tok == T(IDENT) || t->tok == T(UIDENT))
        return 1;
    if (t->kw == KW(NO_KEYWORD))
        return 0;
    return !first || t->kw == KW(UNRESERVED_KEYWORD) ||
           t->kw == KW(COL_NAME_KEYWORD);
}

static int read_part(const tr_t *r, int i, tname_t *nm)
{
    const cl_tok_t *t = &r->ts.t[i];
    char *out = nm->part[nm->n];

    if (t->tok == T(UIDENT)) {
        nm->unsure = 1;
        i = decode_uident(r, i, out);
        if (i < 0)
            return -1;
    } else {
        decode_ident(r->ts.text + t->start, t->end - t->start, out,
                     &nm->unsure);
        i++;
    }
    nm->n++;
    return i;
}

/* Reads schema-qualified name at i; returns the index after it, or -1. */
static int read_name(const tr_t *r, int i, tname_t *nm)
{
    const cl_tok_t *t = i >= 0 && i < r->ts.n ? &r->ts.t[i] : NULL;

    memset(nm, 0, sizeof(*nm));
    if (t && t->tok == T(Op) && t->end - t->start == 1 &&
        r->ts.text[t->start] == '#' && i + 1 < r->ts.n &&
        r->ts.t[i + 1].start == t->end) {
        nm->temp = 1;
        i++;
    }
    if (!name_part_ok(r, i, 1))
        return -1;
    for (;;) {
        i = read_part(r, i, nm);
        if (i < 0)
            return -1;
        if (!is_ch(r, i, '.'))
            return i;
        if (nm->n == 3 || !name_part_ok(r, i + 1, 0)) {
            nm->unsure = 1; /* too many dots, or "schema.*" */
            return i;
        }
        i++;
    }
}

/* The (schema, table) a name means where a table is expected. */
static void name_write(tr_t *r, const tname_t *nm)
{
    if (nm->temp || nm->n == 0)
        return;
    cl_write_name(r->ctx, r->st, nm->n >= 2 ? nm->part[nm->n - 2] : NULL,
                  nm->part[nm->n - 1]);
}

/* Reads [ONLY] name [*] at i and records the write; index after, or -1. */
static int write_target_at(tr_t *r, int i, int *unsure)
{
    tname_t nm;

    if (tok(r, i) == T(ONLY))
        i++;
    i = read_name(r, i, &nm);
    if (i < 0) {
        *unsure = 1;
        return -1;
    }
    if (nm.unsure)
        *unsure = 1;
    name_write(r, &nm);
    return is_ch(r, i, '*') ? i + 1 : i;
}

/* ---- helpers over the whole statement ---- */

static int is_dml_tok(int t)
{
    return t == T(INSERT) || t == T(UPDATE) || t == T(DELETE_P) ||
           t == T(MERGE) || t == T(INTO) || t == T(COPY);
}

/*
 * Whether tokens from 'from' on hold a data-modifying keyword that could
 * hide a second write (a writable CTE, a SELECT INTO, set_config). Allowed:
 * ON CONFLICT DO UPDATE, FOR [NO KEY] UPDATE, and in MERGE the actions
 * after THEN.
 */
static int other_dml(const tr_t *r, int from, int merge)
{
    for (int i = from; i < r->ts.n; i++) {
        int t = tok(r, i), prev = tok(r, i - 1);
        if (t == T(UPDATE) &&
            (prev == T(DO) || prev == T(FOR) || prev == T(KEY)))
            continue;
        if (merge && prev == T(THEN) &&
            (t == T(UPDATE) || t == T(DELETE_P) || t == T(INSERT)))
            continue;
        if (is_dml_tok(t) || tok_is_word(r, i, "set_config"))
            return 1;
    }
    return 0;
}

/* Index of the first token at bracket depth 0 (from i on) of kind want. */
static int find_top(const tr_t *r, int i, int want)
{
    int depth = 0;

    for (; i < r->ts.n; i++) {
        int t = tok(r, i);
        if (t == want && depth == 0)
            return i;
        if (t == '(' || t == '[')
            depth++;
        else if ((t == ')' || t == ']') && depth > 0)
            depth--;
    }
    return -1;
}

/* ---- sure shapes ---- */

static int rule_read(tr_t *r, const char *kind)
{
    r->st->kind = kind;
    return other_dml(r, 0, 0) ? CL_TOK_UNSURE : CL_TOK_SURE;
}

/* SELECT ... INTO [TEMP | UNLOGGED] [TABLE] name ... creates a table. */
static int rule_select(tr_t *r)
{
    int into = find_top(r, 1, T(INTO)), i, unsure = 0;

    if (into < 0)
        return rule_read(r, "SELECT");
    r->st->kind = "SELECT INTO";
    for (int k = 0; k < r->ts.n; k++)
        if (k != into &&
            (is_dml_tok(tok(r, k)) || tok_is_word(r, k, "set_config")))
            return CL_TOK_UNSURE;
    i = into + 1;
    if (tok(r, i) == T(LOCAL) || tok(r, i) == T(GLOBAL))
        i++;
    if (tok(r, i) == T(TEMP) || tok(r, i) == T(TEMPORARY))
        return CL_TOK_SURE;
    if (tok(r, i) == T(UNLOGGED))
        i++;
    if (tok(r, i) == T(TABLE))
        i++;
    if (write_target_at(r, i, &unsure) < 0 || unsure)
        return CL_TOK_UNSURE;
    return CL_TOK_SURE;
}

static int rule_dml(tr_t *r, const char *kind, int need, int merge)
{
    int unsure = 0, i = 1;

    r->st->kind = kind;
    if (need) {
        if (tok(r, 1) != need)
            return CL_TOK_UNSURE;
        i = 2;
    }
    i = write_target_at(r, i, &unsure);
    if (i < 0 || unsure || other_dml(r, i, merge))
        return CL_TOK_UNSURE;
    return CL_TOK_SURE;
}

/* COPY name [(columns)] FROM|TO ...: Redshift's options (IAM_ROLE,
 * CREDENTIALS, FORMAT AS PARQUET, GZIP ...) do not matter. */
static int rule_copy(tr_t *r)
{
    tname_t nm;
    int i = read_name(r, 1, &nm);

    r->st->kind = "COPY";
    if (i < 0 || nm.unsure)
        return CL_TOK_UNSURE;
    if (is_ch(r, i, '(')) {
        int depth = 0;
        for (; i < r->ts.n; i++) {
            depth += is_ch(r, i, '(') - is_ch(r, i, ')');
            if (depth == 0)
                break;
        }
        i++;
    }
    if (tok(r, i) != T(FROM) && tok(r, i) != T(TO))
        return CL_TOK_UNSURE;
    if (tok(r, i) == T(FROM))
        name_write(r, &nm);
    return other_dml(r, i + 1, 0) ? CL_TOK_UNSURE : CL_TOK_SURE;
}

static int truncate_tail_ok(const tr_t *r, int i)
{
    for (; i < r->ts.n; i++) {
        int t = tok(r, i);
        if (t != T(RESTART) && t != T(CONTINUE_P) && t != T(IDENTITY_P) &&
            t != T(CASCADE) && t != T(RESTRICT))
            return 0;
    }
    return 1;
}

/* TRUNCATE [TABLE] [ONLY] a [*], b ...: commits at once on Redshift. */
static int rule_truncate(tr_t *r)
{
    int i = tok(r, 1) == T(TABLE) ? 2 : 1, unsure = 0;

    r->st->kind = "TRUNCATE";
    r->st->flags |= CLASSIFY_F_IMPLICIT_COMMIT;
    for (;;) {
        i = write_target_at(r, i, &unsure);
        if (i < 0)
            return CL_TOK_UNSURE;
        if (!is_ch(r, i, ','))
            break;
        i++;
    }
    return unsure || !truncate_tail_ok(r, i) ? CL_TOK_UNSURE : CL_TOK_SURE;
}

/* Redshift: ALTER TABLE target APPEND FROM source [IGNOREEXTRA |
 * FILLTARGET] moves the rows, so both tables are written. */
static int rule_alter_append(tr_t *r, int i, int unsure)
{
    r->st->kind = "ALTER TABLE APPEND";
    r->st->flags |= CLASSIFY_F_IMPLICIT_COMMIT;
    i = write_target_at(r, i + 2, &unsure);
    if (i < 0)
        return CL_TOK_UNSURE;
    if (tok_is_word(r, i, "ignoreextra") || tok_is_word(r, i, "filltarget"))
        i++;
    return unsure || i != r->ts.n ? CL_TOK_UNSURE : CL_TOK_SURE;
}

/* Whether an ALTER TABLE command after the name keeps the statement an
 * AlterTableStmt: RENAME and SET SCHEMA make other statements. */
static int plain_alter(const tr_t *r, int i)
{
    return i < r->ts.n && tok(r, i) != T(RENAME) &&
           !(tok(r, i) == T(SET) && tok(r, i + 1) == T(SCHEMA)) &&
           !other_dml(r, i, 0);
}

/* ALTER TABLE [IF EXISTS] [ONLY] name [*] ...: writes the table; RENAME TO
 * b also writes b in the table's schema (classify_tree.c says why). */
static int rule_alter(tr_t *r)
{
    int i = 2;
    tname_t old, nm;

    r->st->kind = "ALTER";
    if (tok(r, 1) != T(TABLE))
        return CL_TOK_UNSURE;
    r->st->kind = "ALTER TABLE";
    if (tok(r, 2) == T(IF_P) && tok(r, 3) == T(EXISTS))
        i = 4;
    i += tok(r, i) == T(ONLY);
    i = read_name(r, i, &old);
    if (i < 0)
        return CL_TOK_UNSURE;
    i += is_ch(r, i, '*');
    name_write(r, &old);
    if (tok_is_word(r, i, "append") && tok(r, i + 1) == T(FROM))
        return rule_alter_append(r, i, old.unsure);
    if (tok(r, i) == T(RENAME) && tok(r, i + 1) == T(TO) &&
        read_name(r, i + 2, &nm) > 0) {
        if (!old.temp)
            cl_write_name(r->ctx, r->st,
                          old.n >= 2 ? old.part[old.n - 2] : NULL,
                          nm.part[nm.n - 1]);
        return old.unsure || nm.unsure || nm.n != 1 || i + 3 != r->ts.n
                   ? CL_TOK_UNSURE
                   : CL_TOK_SURE;
    }
    return !old.unsure && plain_alter(r, i) ? CL_TOK_SURE : CL_TOK_UNSURE;
}

/* SET [SESSION | LOCAL] name ... and RESET name, for any setting but the
 * search path (SCHEMA is its alias); CONSTRAINTS and ALL are other
 * statements. The parse tree decides those. */
static int rule_set(tr_t *r)
{
    int reset = tok(r, 0) == T(RESET);
    int i =
        !reset && (tok(r, 1) == T(SESSION) || tok(r, 1) == T(LOCAL)) ? 2 : 1;
    tname_t nm;

    r->st->kind = reset ? "RESET" : "SET";
    if (tok(r, i) == T(SCHEMA) || tok(r, i) == T(CONSTRAINTS) ||
        tok(r, i) == T(ALL))
        return CL_TOK_UNSURE;
    if (read_name(r, i, &nm) < 0 || nm.unsure || nm.temp ||
        (nm.n == 1 && strcmp(nm.part[0], "search_path") == 0))
        return CL_TOK_UNSURE;
    return other_dml(r, i, 0) ? CL_TOK_UNSURE : CL_TOK_SURE;
}

static int words_only(const tr_t *r, int i, const int *allowed)
{
    for (; i < r->ts.n; i++) {
        int ok = is_ch(r, i, ',');
        for (const int *a = allowed; *a && !ok; a++)
            ok = tok(r, i) == *a;
        if (!ok)
            return 0;
    }
    return 1;
}

/* BEGIN [WORK | TRANSACTION] [modes], START TRANSACTION [modes]. */
static int rule_begin(tr_t *r)
{
    static const int modes[] = {T(WORK),         T(TRANSACTION),
                                T(ISOLATION),    T(LEVEL),
                                T(SERIALIZABLE), T(REPEATABLE),
                                T(READ),         T(COMMITTED),
                                T(UNCOMMITTED),  T(WRITE),
                                T(ONLY),         T(NOT),
                                T(DEFERRABLE),   0};
    int start = tok(r, 0) == T(START);

    r->st->kind = start ? "START TRANSACTION" : "BEGIN";
    r->st->flags |= CLASSIFY_F_BEGIN;
    if (start && tok(r, 1) != T(TRANSACTION))
        return CL_TOK_UNSURE;
    return words_only(r, 1, modes) ? CL_TOK_SURE : CL_TOK_UNSURE;
}

/* COMMIT | END | ROLLBACK | ABORT [WORK | TRANSACTION] [AND [NO] CHAIN],
 * and ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name. */
static int rule_end(tr_t *r)
{
    static const int words[] = {T(WORK), T(TRANSACTION), T(AND),
                                T(NO),   T(CHAIN),       0};
    int commit = tok(r, 0) == T(COMMIT) || tok(r, 0) == T(END_P);
    int i = (tok(r, 1) == T(WORK) || tok(r, 1) == T(TRANSACTION)) ? 2 : 1;
    tname_t nm;

    if (!commit && tok(r, i) == T(TO)) {
        r->st->kind = "ROLLBACK TO";
        r->st->flags |= CLASSIFY_F_SAVEPOINT;
        i += tok(r, i + 1) == T(SAVEPOINT) ? 2 : 1;
        return read_name(r, i, &nm) == r->ts.n && nm.n == 1 && !nm.unsure
                   ? CL_TOK_SURE
                   : CL_TOK_UNSURE;
    }
    r->st->kind = commit ? "COMMIT" : "ROLLBACK";
    r->st->flags |= CLASSIFY_F_END;
    if (tok(r, r->ts.n - 1) == T(CHAIN) && tok(r, r->ts.n - 2) == T(AND))
        r->st->flags |= CLASSIFY_F_BEGIN;
    return words_only(r, 1, words) ? CL_TOK_SURE : CL_TOK_UNSURE;
}

/* SAVEPOINT name, RELEASE [SAVEPOINT] name. */
static int rule_savepoint(tr_t *r)
{
    int i = tok(r, 0) == T(RELEASE) && tok(r, 1) == T(SAVEPOINT) ? 2 : 1;
    tname_t nm;

    r->st->kind = tok(r, 0) == T(RELEASE) ? "RELEASE" : "SAVEPOINT";
    r->st->flags |= CLASSIFY_F_SAVEPOINT;
    return read_name(r, i, &nm) == r->ts.n && nm.n == 1 && !nm.unsure
               ? CL_TOK_SURE
               : CL_TOK_UNSURE;
}

/* ---- fallback-only rules: these never claim to be sure ---- */

/* Each name in a list, after skip tokens: DROP TABLE, LOCK TABLE. */
static void write_list(tr_t *r, int i)
{
    int unsure = 0;

    while (i >= 0 && i < r->ts.n) {
        i = write_target_at(r, i, &unsure);
        if (i < 0 || !is_ch(r, i, ','))
            break;
        i++;
    }
}

/* DROP TABLE [IF EXISTS] a, b ... [CASCADE | RESTRICT]. */
static int rule_drop(tr_t *r)
{
    int i = 2, unsure = 0;

    r->st->kind = "DROP";
    if (tok(r, 1) != T(TABLE))
        return CL_TOK_UNSURE;
    r->st->kind = "DROP TABLE";
    if (tok(r, 2) == T(IF_P) && tok(r, 3) == T(EXISTS))
        i = 4;
    for (;;) {
        i = write_target_at(r, i, &unsure);
        if (i < 0)
            return CL_TOK_UNSURE;
        if (!is_ch(r, i, ','))
            break;
        i++;
    }
    if (tok(r, i) == T(CASCADE) || tok(r, i) == T(RESTRICT))
        i++;
    return unsure || i != r->ts.n ? CL_TOK_UNSURE : CL_TOK_SURE;
}

static int rule_lock(tr_t *r)
{
    r->st->kind = "LOCK TABLE";
    write_list(r, tok(r, 1) == T(TABLE) ? 2 : 1);
    return CL_TOK_UNSURE;
}

/* CREATE [OR REPLACE] [GLOBAL | LOCAL] [TEMP | TEMPORARY | UNLOGGED]
 * TABLE | VIEW [IF NOT EXISTS] name ...: writes the new relation unless it
 * is temporary. CREATE FUNCTION or PROCEDURE writes nothing now. */
static int rule_create(tr_t *r)
{
    int i = 1, temp = 0, unsure = 0;

    r->st->kind = "CREATE";
    if (tok(r, i) == T(OR) && tok(r, i + 1) == T(REPLACE))
        i += 2;
    if (tok(r, i) == T(FUNCTION) || tok(r, i) == T(PROCEDURE)) {
        r->st->kind =
            tok(r, i) == T(FUNCTION) ? "CREATE FUNCTION" : "CREATE PROCEDURE";
        return CL_TOK_UNSURE;
    }
    if (tok(r, i) == T(GLOBAL) || tok(r, i) == T(LOCAL))
        i++;
    temp = tok(r, i) == T(TEMP) || tok(r, i) == T(TEMPORARY);
    if (temp || tok(r, i) == T(UNLOGGED))
        i++;
    if (tok(r, i) == T(VIEW))
        r->st->kind = "CREATE VIEW";
    else if (tok(r, i) == T(TABLE))
        r->st->kind =
            find_top(r, i, T(AS)) > 0 ? "CREATE TABLE AS" : "CREATE TABLE";
    else
        return CL_TOK_UNSURE;
    i++;
    if (tok(r, i) == T(IF_P) && tok(r, i + 1) == T(NOT) &&
        tok(r, i + 2) == T(EXISTS))
        i += 3;
    if (temp) {
        tname_t nm;
        i = read_name(r, i, &nm);
        unsure = i < 0 || nm.unsure;
    } else {
        i = write_target_at(r, i, &unsure);
    }
    /* AS EXECUTE names a prepared statement: the tree records it */
    if (i < 0 || unsure || other_dml(r, i, 0) || find_top(r, i, T(EXECUTE)) > 0)
        return CL_TOK_UNSURE;
    return CL_TOK_SURE;
}

static int rule_explain(tr_t *r)
{
    int analyze = 0;

    r->st->kind = "EXPLAIN";
    for (int i = 1;
         i < r->ts.n && !is_dml_tok(tok(r, i)) && tok(r, i) != T(SELECT); i++)
        if (tok(r, i) == T(ANALYZE) || tok(r, i) == T(ANALYSE))
            analyze = 1;
    /* plain EXPLAIN runs nothing: no writes, no guess */
    return analyze ? CL_TOK_UNSURE : CL_TOK_SURE;
}

static void set_name_at(tr_t *r, int i, char **dst)
{
    tname_t nm;

    if (read_name(r, i, &nm) > 0)
        cl_set_str(r->ctx, dst, nm.part[nm.n - 1]);
}

/* PREPARE name [(types)] AS statement: the statement's writes. */
static int rule_prepare(tr_t *r)
{
    int as;
    cl_toks_t inner;

    if (tok(r, 1) == T(TRANSACTION)) {
        r->st->kind = "PREPARE TRANSACTION";
        r->st->flags |= CLASSIFY_F_END;
        return CL_TOK_UNSURE;
    }
    r->st->kind = "PREPARE";
    set_name_at(r, 1, &r->st->prepare_name);
    as = find_top(r, 2, T(AS));
    if (as < 0)
        return CL_TOK_UNSURE;
    inner = (cl_toks_t){r->ts.text, r->ts.t + as + 1, r->ts.n - as - 1};
    if (inner.n > 0) {
        const char *kind = r->st->kind;
        cl_tokens_stmt(r->ctx, r->st, inner, 0);
        r->st->kind = kind;
    }
    return CL_TOK_UNSURE;
}

static int rule_execute(tr_t *r)
{
    r->st->kind = "EXECUTE";
    set_name_at(r, 1, &r->st->execute_name);
    return CL_TOK_UNSURE;
}

static int rule_deallocate(tr_t *r)
{
    int i = tok(r, 1) == T(PREPARE) ? 2 : 1;

    r->st->kind = "DEALLOCATE";
    if (tok(r, i) == T(ALL))
        cl_set_str(r->ctx, &r->st->deallocate_name, "");
    else
        set_name_at(r, i, &r->st->deallocate_name);
    return CL_TOK_UNSURE;
}

static int rule_call(tr_t *r)
{
    tname_t nm;

    r->st->kind = "CALL";
    if (read_name(r, 1, &nm) > 0)
        cl_write_call(r->ctx, r->st, nm.n >= 2 ? nm.part[nm.n - 2] : NULL,
                      nm.part[nm.n - 1]);
    return CL_TOK_UNSURE;
}

static char *literal_inside(const char *lit);

/* DO [LANGUAGE x] 'body': the body is the first string literal. */
static int rule_do(tr_t *r)
{
    r->st->kind = "DO";
    for (int i = 1; i < r->ts.n; i++) {
        const cl_tok_t *t = &r->ts.t[i];
        char *raw, *body;
        if (t->tok != T(SCONST))
            continue;
        raw = strndup(r->ts.text + t->start, (size_t)(t->end - t->start));
        body = raw ? literal_inside(raw) : NULL;
        if (body)
            cl_tokens_do_body(r->ctx, r->st, body);
        free(body);
        free(raw);
        break;
    }
    return CL_TOK_UNSURE;
}

/* WITH ...: the statement after the CTE list gives the kind. */
static int rule_with(tr_t *r)
{
    static const struct {
        int tok;
        const char *kind;
    } heads[] = {{T(SELECT), "SELECT"}, {T(INSERT), "INSERT"},
                 {T(UPDATE), "UPDATE"}, {T(DELETE_P), "DELETE"},
                 {T(MERGE), "MERGE"},   {T(VALUES), "SELECT"}};
    int depth = 0;

    r->st->kind = "SELECT";
    for (int i = 1; i < r->ts.n; i++) {
        int t = tok(r, i);
        depth += (t == '(') - (t == ')');
        for (size_t k = 0; depth == 0 && k < sizeof(heads) / sizeof(heads[0]);
             k++)
            if (t == heads[k].tok) {
                r->st->kind = heads[k].kind;
                return CL_TOK_UNSURE;
            }
    }
    return CL_TOK_UNSURE;
}

/* ---- dispatch ---- */

/* Heads the fast path leaves to the parser unless noted. */
static int head_rule_more(tr_t *r)
{
    int t = tok(r, 0);

    if (r->sure_only && t != T(VACUUM) && t != T(ANALYZE) && t != T(ANALYSE) &&
        t != T(EXPLAIN) && t != T(DROP) && t != T(CREATE) &&
        !tok_is_word(r, 0, "unload"))
        return CL_TOK_UNSURE;
    switch (t) {
    case T(DROP):
        return rule_drop(r);
    case T(LOCK_P):
        return rule_lock(r);
    case T(CREATE):
        return rule_create(r);
    case T(EXPLAIN):
        return rule_explain(r);
    case T(PREPARE):
        return rule_prepare(r);
    case T(EXECUTE):
        return rule_execute(r);
    case T(DEALLOCATE):
        return rule_deallocate(r);
    case T(CALL):
        return rule_call(r);
    case T(DO):
        return rule_do(r);
    case T(WITH):
        return rule_with(r);
    case T(VACUUM):
        r->st->kind = "VACUUM";
        r->st->flags |= CLASSIFY_F_IMPLICIT_COMMIT;
        return CL_TOK_SURE;
    case T(ANALYZE):
    case T(ANALYSE):
        r->st->kind = "ANALYZE";
        return CL_TOK_SURE;
    default:
        if (tok_is_word(r, 0, "unload")) {
            r->st->kind = "UNLOAD"; /* its query is a string: a read */
            return CL_TOK_SURE;
        }
        return CL_TOK_UNSURE;
    }
}

static int head_rule(tr_t *r)
{
    switch (tok(r, 0)) {
    case T(SELECT):
        return rule_select(r);
    case T(VALUES):
    case T(TABLE):
        return rule_read(r, "SELECT");
    case T(SHOW):
        return rule_read(r, "SHOW");
    case T(INSERT):
        return rule_dml(r, "INSERT", T(INTO), 0);
    case T(UPDATE):
        return rule_dml(r, "UPDATE", 0, 0);
    case T(DELETE_P):
        return rule_dml(r, "DELETE", T(FROM), 0);
    case T(MERGE):
        return rule_dml(r, "MERGE", T(INTO), 1);
    case T(COPY):
        return rule_copy(r);
    case T(TRUNCATE):
        return rule_truncate(r);
    case T(ALTER):
        return rule_alter(r);
    case T(BEGIN_P):
    case T(START):
        return rule_begin(r);
    case T(COMMIT):
    case T(END_P):
    case T(ROLLBACK):
    case T(ABORT_P):
        return rule_end(r);
    case T(SAVEPOINT):
    case T(RELEASE):
        return rule_savepoint(r);
    case T(SET):
    case T(RESET):
        return rule_set(r);
    default:
        return head_rule_more(r);
    }
}

/* INSERT INTO x, UPDATE [ONLY] x [[AS] alias] SET, DELETE FROM x and
 * MERGE INTO x wherever they stand (writable CTEs, PREPARE, EXPLAIN). */
static void dml_anywhere(tr_t *r)
{
    int unsure = 0;

    for (int i = 0; i < r->ts.n; i++) {
        int t = tok(r, i), next = tok(r, i + 1);
        if ((t == T(INSERT) || t == T(MERGE)) && next == T(INTO)) {
            write_target_at(r, i + 2, &unsure);
        } else if (t == T(DELETE_P) && next == T(FROM)) {
            write_target_at(r, i + 2, &unsure);
        } else if (t == T(UPDATE)) {
            tname_t nm, alias;
            int k = read_name(r, i + 1 + (next == T(ONLY)), &nm);
            if (k < 0)
                continue;
            k += is_ch(r, k, '*');
            k += tok(r, k) == T(AS);
            if (tok(r, k) != T(SET) && read_name(r, k, &alias) > 0)
                k++;
            if (tok(r, k) == T(SET))
                name_write(r, &nm);
        }
    }
}

/* Every name the tokens spell, with each of its dotted prefixes. */
void cl_tokens_doubt(cl_ctx_t *ctx, cl_stmt_t *st, cl_toks_t ts)
{
    tr_t r = {ctx, st, ts, 0};
    tname_t nm;

    for (int i = 0; i < ts.n; i++) {
        int next;
        if (is_ch(&r, i - 1, '.') || (next = read_name(&r, i, &nm)) < 0)
            continue;
        /* a lone keyword is far likelier a keyword than a table */
        if (nm.temp || (nm.n == 1 && ts.t[i].kw != KW(NO_KEYWORD)))
            continue;
        for (int k = 0; k < nm.n; k++) {
            cl_write_name(ctx, st, NULL, nm.part[k]);
            if (k + 1 < nm.n)
                cl_write_name(ctx, st, nm.part[k], nm.part[k + 1]);
        }
        i = next - 1;
    }
}

static void stmt_reset(cl_stmt_t *st)
{
    int loc = st->location, len = st->length;

    cl_strv_clear(&st->writes);
    free(st->prepare_name);
    free(st->execute_name);
    free(st->deallocate_name);
    free(st->new_search_path);
    free(st->reason);
    memset(st, 0, sizeof(*st));
    st->kind = "UNKNOWN";
    st->location = loc;
    st->length = len;
}

/* Statements whose head rule says all the tokens can: the rest get the
 * "names a target" rule. */
static int needs_doubt(const tr_t *r)
{
    switch (tok(r, 0)) {
    case T(SELECT):
    case T(VALUES):
    case T(TABLE):
    case T(SHOW):
    case T(INSERT):
    case T(UPDATE):
    case T(DELETE_P):
    case T(MERGE):
    case T(COPY):
    case T(TRUNCATE):
    case T(BEGIN_P):
    case T(START):
    case T(COMMIT):
    case T(END_P):
    case T(ROLLBACK):
    case T(ABORT_P):
    case T(SAVEPOINT):
    case T(RELEASE):
    case T(PREPARE):
    case T(EXECUTE):
    case T(DEALLOCATE):
    case T(CALL):
    case T(DO):
    case T(SET):
    case T(RESET):
    case T(EXPLAIN):
    case T(WITH):
    case T(CREATE):
    case T(GRANT):
    case T(REVOKE):
    case T(COMMENT):
    case T(LOCK_P):
        return 0;
    case T(ALTER):
    case T(DROP):
        return strcmp(r->st->kind, "ALTER") == 0 ||
               strcmp(r->st->kind, "DROP") == 0;
    default:
        return 1;
    }
}

int cl_tokens_stmt(cl_ctx_t *ctx, cl_stmt_t *st, cl_toks_t ts, int sure_only)
{
    tr_t r = {ctx, st, ts, sure_only};
    int sure;

    if (ts.n == 0)
        return CL_TOK_UNSURE;
    sure = head_rule(&r);
    if (sure_only && sure != CL_TOK_SURE)
        stmt_reset(st);
    if (sure_only || sure == CL_TOK_SURE)
        return sure;
    if (strcmp(st->kind, "CREATE FUNCTION") == 0 ||
        strcmp(st->kind, "CREATE PROCEDURE") == 0)
        return sure; /* the body runs when called, not now */
    if (tok(&r, 0) != T(DO))
        dml_anywhere(&r);
    if (needs_doubt(&r))
        cl_tokens_doubt(ctx, st, ts);
    st->flags |= CLASSIFY_F_GUESSED;
    return sure;
}

/* ---- DO bodies ---- */

/* The text between a string literal's quotes, without decoding escapes:
 * enough to find the table names dynamic SQL spells. */
static char *literal_inside(const char *lit)
{
    size_t len = strlen(lit);
    const char *open;

    if (lit[0] == '$') {
        const char *tag_end = strchr(lit + 1, '$');
        size_t tag;
        if (tag_end == NULL)
            return NULL;
        tag = (size_t)(tag_end - lit) + 1;
        if (len < 2 * tag)
            return NULL;
        return strndup(lit + tag, len - 2 * tag);
    }
    open = strchr(lit, '\'');
    if (open == NULL || len < (size_t)(open - lit) + 2)
        return NULL;
    return strndup(open + 1, len - (size_t)(open - lit) - 2);
}

static void do_body_depth(cl_ctx_t *ctx, cl_stmt_t *st, const char *body,
                          int depth)
{
    cl_tok_t *tok = NULL;
    int n = 0, errpos, before = st->writes.n;

    cl_scan(body, &tok, &n, &errpos);
    cl_tokens_doubt(ctx, st, (cl_toks_t){body, tok, n});
    for (int i = 0; depth < DO_STRING_DEPTH && i < n; i++) {
        char *raw, *inside;
        if (tok[i].tok != T(SCONST))
            continue;
        raw = strndup(body + tok[i].start, (size_t)(tok[i].end - tok[i].start));
        inside = raw ? literal_inside(raw) : NULL;
        if (inside)
            do_body_depth(ctx, st, inside, depth + 1);
        free(inside);
        free(raw);
    }
    free(tok);
    if (st->writes.n > before) {
        st->flags |= CLASSIFY_F_GUESSED;
        cl_set_reason(ctx, st, "DO block names a target table");
    }
}

void cl_tokens_do_body(cl_ctx_t *ctx, cl_stmt_t *st, const char *body)
{
    do_body_depth(ctx, st, body, 0);
}

/* ---- depth estimate ---- */

#define LEVEL_COST 8 /* messages a bracket level may add to the tree */
#define OP_COST 2    /* an operator's node and its Node wrapper */
#define MAX_LEVELS 512

typedef struct level {
    int ops;  /* operators in the current list element */
    int sets; /* UNION, JOIN ...: chains that nest however they are listed */
    int opener;
} level_t;

static int level_cost(const level_t *l)
{
    return LEVEL_COST + OP_COST * (l->ops + l->sets);
}

static int is_op(const cl_tok_t *t)
{
    switch (t->tok) {
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '^':
    case '<':
    case '>':
    case '=':
    case T(Op):
    case T(TYPECAST):
    case T(LESS_EQUALS):
    case T(GREATER_EQUALS):
    case T(NOT_EQUALS):
    case T(NOT):
    case T(IS):
    case T(ISNULL):
    case T(NOTNULL):
    case T(LIKE):
    case T(ILIKE):
    case T(SIMILAR):
    case T(BETWEEN):
    case T(IN_P):
    case T(COLLATE):
    case T(AT):
    case T(OVERLAPS):
    case T(ESCAPE):
    case T(OPERATOR):
        return 1;
    default:
        return 0;
    }
}

/*
 * Sums, over the open brackets, a cost per level and per operator chained
 * inside the current list element. AND and OR lists come out of the
 * parser flat, so they reset the count like commas; set operations and
 * joins nest left-deep whatever separates them.
 */
int cl_tokens_depth(cl_toks_t ts)
{
    level_t lv[MAX_LEVELS] = {{0, 0, 0}};
    int d = 0, outer = 0, max = 0;

    for (int i = 0; i < ts.n; i++) {
        const cl_tok_t *t = &ts.t[i];
        if (t->tok == '(' || t->tok == '[' || t->tok == T(CASE)) {
            if (d + 1 >= MAX_LEVELS)
                return INT_MAX;
            outer += level_cost(&lv[d]);
            lv[++d] = (level_t){0, 0, t->tok};
        } else if (d > 0 && (t->tok == ')' || t->tok == ']' ||
                             (t->tok == T(END_P) && lv[d].opener == T(CASE)))) {
            outer -= level_cost(&lv[--d]);
        } else if (t->tok == ',' || t->tok == T(AND) || t->tok == T(OR) ||
                   t->tok == ';') {
            lv[d].ops = 0;
        } else if (t->tok == T(UNION) || t->tok == T(INTERSECT) ||
                   t->tok == T(EXCEPT) || t->tok == T(JOIN)) {
            lv[d].sets++;
        } else if (is_op(t)) {
            lv[d].ops++;
        }
        if (outer + level_cost(&lv[d]) > max)
            max = outer + level_cost(&lv[d]);
    }
    return max;
}
