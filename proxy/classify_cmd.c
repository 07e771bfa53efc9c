/*
 * `pgsluice classify`: reads SQL, classifies it in one call and prints one
 * line per statement, for people (text) or for tools (JSON lines). The
 * classification is classify.c's; the command line is main.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/classify_cmd.h"

#define READ_CHUNK 65536

/* Reads the whole stream; NULL on a read error. */
static char *read_all(FILE *in)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;

    for (;;) {
        size_t got;
        if (cap - len < READ_CHUNK + 1) {
            char *nb = realloc(buf, cap + READ_CHUNK + 1);
            if (nb == NULL)
                goto fail;
            buf = nb;
            cap += READ_CHUNK + 1;
        }
        got = fread(buf + len, 1, READ_CHUNK, in);
        len += got;
        if (got < READ_CHUNK)
            break;
    }
    if (ferror(in))
        goto fail;
    buf[len] = '\0';
    return buf;
fail:
    free(buf);
    return NULL;
}

static void json_str(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static const char *transaction_word(unsigned flags)
{
    if ((flags & CLASSIFY_F_BEGIN) && (flags & CLASSIFY_F_END))
        return "chain";
    if (flags & CLASSIFY_F_BEGIN)
        return "begin";
    if (flags & CLASSIFY_F_END)
        return "end";
    if (flags & CLASSIFY_F_SAVEPOINT)
        return "savepoint";
    return NULL;
}

static void print_json(FILE *out, int num, const classify_stmt_t *s)
{
    int sp = (s->flags & CLASSIFY_F_SEARCH_PATH) != 0;

    fprintf(out, "{\"statement\": %d, \"kind\": ", num);
    json_str(out, s->kind);
    fputs(", \"writes\": [", out);
    for (int i = 0; i < s->nwrites; i++) {
        fputs(i ? ", " : "", out);
        json_str(out, s->writes[i]);
    }
    fprintf(out, "], \"implicit_commit\": %s, \"transaction\": ",
            (s->flags & CLASSIFY_F_IMPLICIT_COMMIT) ? "true" : "false");
    json_str(out, transaction_word(s->flags));
    fprintf(out, ", \"guessed\": %s, \"sets_search_path\": %s, \"local\": %s",
            (s->flags & CLASSIFY_F_GUESSED) ? "true" : "false",
            sp ? "true" : "false",
            (s->flags & CLASSIFY_F_LOCAL) ? "true" : "false");
    fputs(", \"search_path\": ", out);
    json_str(out, sp ? s->new_search_path : NULL);
    fputs(", \"prepare_name\": ", out);
    json_str(out, s->prepare_name);
    fputs(", \"execute_name\": ", out);
    json_str(out, s->execute_name);
    fputs(", \"deallocate_name\": ", out);
    json_str(out, s->deallocate_name);
    fputs(", \"reason\": ", out);
    json_str(out, s->reason);
    fprintf(out, ", \"location\": %d, \"length\": %d}\n", s->location,
            s->length);
}

static void print_flags(FILE *out, const classify_stmt_t *s)
{
    static const struct {
        unsigned flag;
        const char *word;
    } words[] = {{CLASSIFY_F_BEGIN, "begin"},
                 {CLASSIFY_F_END, "end"},
                 {CLASSIFY_F_SAVEPOINT, "savepoint"},
                 {CLASSIFY_F_IMPLICIT_COMMIT, "implicit_commit"},
                 {CLASSIFY_F_LOCAL, "local"},
                 {CLASSIFY_F_GUESSED, "guessed"}};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (s->flags & words[i].flag)
            fprintf(out, "  [%s]", words[i].word);
    if (s->flags & CLASSIFY_F_SEARCH_PATH)
        fprintf(out, "  [search_path=%s]",
                s->new_search_path ? s->new_search_path : "DEFAULT");
    if (s->prepare_name)
        fprintf(out, "  [prepare=%s]", s->prepare_name);
    if (s->execute_name)
        fprintf(out, "  [execute=%s]", s->execute_name);
    if (s->deallocate_name)
        fprintf(out, "  [deallocate=%s]",
                *s->deallocate_name ? s->deallocate_name : "ALL");
}

static void print_text(FILE *out, int num, const classify_stmt_t *s)
{
    fprintf(out, "%d  %s  ", num, s->kind);
    if (s->nwrites == 0)
        fputc('-', out);
    for (int i = 0; i < s->nwrites; i++)
        fprintf(out, "%s%s", i ? ", " : "", s->writes[i]);
    print_flags(out, s);
    if (s->reason)
        fprintf(out, "  (%s)", s->reason);
    fputc('\n', out);
}

int classify_cmd_run(const classify_config_t *cfg, const char *search_path,
                     const char *user, int json, FILE *in, FILE *out)
{
    char *sql = read_all(in);
    classify_result_t *res;

    if (sql == NULL)
        return 1;
    res = classify_sql(cfg, sql, search_path, user);
    free(sql);
    if (res == NULL)
        return 1;
    for (int i = 0; i < res->n; i++) {
        if (json)
            print_json(out, i + 1, &res->stmts[i]);
        else
            print_text(out, i + 1, &res->stmts[i]);
    }
    classify_result_free(res);
    return 0;
}
