/*
 * Classification of a statement the parser accepted: walks libpg_query's
 * protobuf tree, a switch on node type handing each case to a small function
 * that sets the kind and flags and records the tables written. Writes found
 * anywhere in the tree count (writable CTEs at any depth, COPY (query), the
 * query of PREPARE, EXPLAIN ANALYZE); name resolution is classify.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/classify_int.h"

/* A safety net only: statements reach the parser only when their token
 * estimate says the tree is far shallower than this. */
#define WALK_MAX_DEPTH 10000

enum { DESCEND, SKIP };

typedef struct walk {
    cl_ctx_t *ctx;
    cl_stmt_t *st;
    int top_select; /* a top-level SELECT: set_config('search_path') counts */
    int depth;
} walk_t;

static void walk_node(walk_t *w, const PgQuery__Node *n, int top);

static void set_kind(walk_t *w, int top, const char *kind)
{
    if (top)
        w->st->kind = kind;
}

static const char *str_of(const PgQuery__Node *n)
{
    if (n && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string)
        return n->string->sval;
    return NULL;
}

static void write_rv(walk_t *w, const PgQuery__RangeVar *rv)
{
    if (rv == NULL || (rv->relpersistence && rv->relpersistence[0] == 't'))
        return;
    cl_write_name(w->ctx, w->st, rv->schemaname, rv->relname);
}

/* A dotted name given as a List of String nodes, as DROP has them. */
static void write_name_list(walk_t *w, const PgQuery__Node *n)
{
    const PgQuery__List *l;
    const char *rel, *schema = NULL;

    if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_LIST ||
        n->list->n_items == 0)
        return;
    l = n->list;
    rel = str_of(l->items[l->n_items - 1]);
    if (l->n_items >= 2)
        schema = str_of(l->items[l->n_items - 2]);
    cl_write_name(w->ctx, w->st, schema, rel);
}

static int table_like(PgQuery__ObjectType t)
{
    return t == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE ||
           t == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW ||
           t == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW ||
           t == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE;
}

static const char *object_kind(PgQuery__ObjectType t, int drop)
{
    switch (t) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
        return drop ? "DROP TABLE" : "ALTER TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
        return drop ? "DROP VIEW" : "ALTER VIEW";
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
        return drop ? "DROP MATERIALIZED VIEW" : "ALTER MATERIALIZED VIEW";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
        return drop ? "DROP FOREIGN TABLE" : "ALTER FOREIGN TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
        return drop ? "DROP INDEX" : "ALTER INDEX";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
        return drop ? "DROP SEQUENCE" : "ALTER SEQUENCE";
    default:
        return drop ? "DROP" : "ALTER";
    }
}

/* ---- data modification ---- */

static int on_dml(walk_t *w, const PgQuery__RangeVar *rel, const char *kind,
                  int top)
{
    set_kind(w, top, kind);
    write_rv(w, rel);
    return DESCEND;
}

static int on_select(walk_t *w, const PgQuery__SelectStmt *s, int top)
{
    if (top)
        w->top_select = 1;
    if (s->into_clause) {
        set_kind(w, top, "SELECT INTO");
        write_rv(w, s->into_clause->rel);
    } else {
        set_kind(w, top, "SELECT");
    }
    return DESCEND;
}

static int on_ctas(walk_t *w, const PgQuery__CreateTableAsStmt *s, int top)
{
    int matview = s->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW;

    set_kind(w, top, matview ? "CREATE MATERIALIZED VIEW" : "CREATE TABLE AS");
    if (s->into)
        write_rv(w, s->into->rel);
    return DESCEND;
}

static int on_copy(walk_t *w, const PgQuery__CopyStmt *s, int top)
{
    set_kind(w, top, "COPY");
    if (s->is_from)
        write_rv(w, s->relation);
    return DESCEND; /* COPY (INSERT ... RETURNING) TO writes too */
}

static int on_rel_list(walk_t *w, PgQuery__Node **v, size_t n, const char *kind,
                       int top)
{
    set_kind(w, top, kind);
    for (size_t i = 0; i < n; i++)
        if (v[i]->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
            write_rv(w, v[i]->range_var);
    return SKIP;
}

static int on_merge(walk_t *w, const PgQuery__MergeStmt *s, int top)
{
    return on_dml(w, s->relation, "MERGE", top);
}

/* ---- DDL on tables ---- */

static int on_drop(walk_t *w, const PgQuery__DropStmt *s, int top)
{
    set_kind(w, top, object_kind(s->remove_type, 1));
    if (table_like(s->remove_type))
        for (size_t i = 0; i < s->n_objects; i++)
            write_name_list(w, s->objects[i]);
    return SKIP;
}

static int on_alter_table(walk_t *w, const PgQuery__AlterTableStmt *s, int top)
{
    set_kind(w, top, object_kind(s->objtype, 0));
    if (table_like(s->objtype))
        write_rv(w, s->relation);
    return SKIP;
}

/* ALTER TABLE a RENAME TO b writes a, and b in a's schema: renaming a
 * staging table onto a target's name is a classic swap. */
static int on_rename(walk_t *w, const PgQuery__RenameStmt *s, int top)
{
    const PgQuery__RangeVar *rv = s->relation;

    if (rv == NULL) {
        set_kind(w, top, object_kind(s->rename_type, 0));
        return SKIP;
    }
    if (table_like(s->rename_type)) {
        set_kind(w, top, object_kind(s->rename_type, 0));
        write_rv(w, rv);
        if (!(rv->relpersistence && rv->relpersistence[0] == 't'))
            cl_write_name(w->ctx, w->st, rv->schemaname, s->newname);
    } else if (table_like(s->relation_type)) {
        set_kind(w, top,
                 object_kind(s->relation_type, 0)); /* a column, a constraint */
        write_rv(w, rv);
    } else {
        set_kind(w, top,
                 object_kind(s->rename_type, 0)); /* an index, a sequence */
    }
    return SKIP;
}

static int on_set_schema(walk_t *w, const PgQuery__AlterObjectSchemaStmt *s,
                         int top)
{
    set_kind(w, top, object_kind(s->object_type, 0));
    if (table_like(s->object_type) && s->relation) {
        write_rv(w, s->relation);
        cl_write_name(w->ctx, w->st, s->newschema, s->relation->relname);
    }
    return SKIP;
}

static int on_create(walk_t *w, const PgQuery__CreateStmt *s, int top)
{
    set_kind(w, top, "CREATE TABLE");
    write_rv(w, s->relation);
    return SKIP;
}

static int on_view(walk_t *w, const PgQuery__ViewStmt *s, int top)
{
    set_kind(w, top, "CREATE VIEW");
    write_rv(w, s->view);
    return SKIP;
}

static int on_refresh(walk_t *w, const PgQuery__RefreshMatViewStmt *s, int top)
{
    set_kind(w, top, "REFRESH MATERIALIZED VIEW");
    write_rv(w, s->relation);
    return SKIP;
}

/* ---- statements about statements ---- */

static int explain_analyze(const PgQuery__ExplainStmt *s)
{
    int analyze = 0;

    for (size_t i = 0; i < s->n_options; i++) {
        const PgQuery__Node *o = s->options[i];
        const PgQuery__Node *arg;
        if (o->node_case != PG_QUERY__NODE__NODE_DEF_ELEM ||
            (strcmp(o->def_elem->defname, "analyze") != 0 &&
             strcmp(o->def_elem->defname, "analyse") != 0))
            continue;
        arg = o->def_elem->arg;
        if (arg == NULL)
            analyze = 1;
        else if (arg->node_case == PG_QUERY__NODE__NODE_STRING)
            analyze = cl_is_truthy(arg->string->sval);
        else if (arg->node_case == PG_QUERY__NODE__NODE_INTEGER)
            analyze = arg->integer->ival != 0;
        else if (arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN)
            analyze = arg->boolean->boolval;
        else
            analyze = 1;
    }
    return analyze;
}

/* Plain EXPLAIN only plans; EXPLAIN ANALYZE runs the statement. */
static int on_explain(walk_t *w, const PgQuery__ExplainStmt *s, int top)
{
    set_kind(w, top, "EXPLAIN");
    return explain_analyze(s) ? DESCEND : SKIP;
}

static int on_prepare(walk_t *w, const PgQuery__PrepareStmt *s, int top)
{
    set_kind(w, top, "PREPARE");
    cl_set_str(w->ctx, &w->st->prepare_name, s->name);
    return DESCEND;
}

static int on_execute(walk_t *w, const PgQuery__ExecuteStmt *s, int top)
{
    set_kind(w, top, "EXECUTE");
    cl_set_str(w->ctx, &w->st->execute_name, s->name);
    return SKIP;
}

static int on_deallocate(walk_t *w, const PgQuery__DeallocateStmt *s, int top)
{
    set_kind(w, top, "DEALLOCATE");
    cl_set_str(w->ctx, &w->st->deallocate_name, s->name ? s->name : "");
    return SKIP;
}

static int on_do(walk_t *w, const PgQuery__DoStmt *s, int top)
{
    set_kind(w, top, "DO");
    for (size_t i = 0; i < s->n_args; i++) {
        const PgQuery__Node *a = s->args[i];
        if (a->node_case == PG_QUERY__NODE__NODE_DEF_ELEM &&
            strcmp(a->def_elem->defname, "as") == 0 && str_of(a->def_elem->arg))
            cl_tokens_do_body(w->ctx, w->st, str_of(a->def_elem->arg));
    }
    return SKIP;
}

static int on_call(walk_t *w, const PgQuery__CallStmt *s, int top)
{
    const PgQuery__FuncCall *f = s->funccall;
    const char *name, *schema = NULL;

    set_kind(w, top, "CALL");
    if (f == NULL || f->n_funcname == 0)
        return SKIP;
    name = str_of(f->funcname[f->n_funcname - 1]);
    if (f->n_funcname >= 2)
        schema = str_of(f->funcname[f->n_funcname - 2]);
    if (name)
        cl_write_call(w->ctx, w->st, schema, name);
    return SKIP;
}

/* ---- transaction and session state ---- */

static int on_transaction(walk_t *w, const PgQuery__TransactionStmt *s, int top)
{
    static const struct {
        const char *kind;
        unsigned flags;
    } map[] = {
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN] =
            {"BEGIN", CLASSIFY_F_BEGIN},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START] =
            {"START TRANSACTION", CLASSIFY_F_BEGIN},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT] = {"COMMIT",
                                                                CLASSIFY_F_END},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK] =
            {"ROLLBACK", CLASSIFY_F_END},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT] =
            {"SAVEPOINT", CLASSIFY_F_SAVEPOINT},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE] =
            {"RELEASE", CLASSIFY_F_SAVEPOINT},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO] =
            {"ROLLBACK TO", CLASSIFY_F_SAVEPOINT},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE] =
            {"PREPARE TRANSACTION", CLASSIFY_F_END},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED] =
            {"COMMIT PREPARED", CLASSIFY_F_END},
        [PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED] =
            {"ROLLBACK PREPARED", CLASSIFY_F_END},
    };
    unsigned k = (unsigned)s->kind;

    if (k >= sizeof(map) / sizeof(map[0]) || map[k].kind == NULL)
        return SKIP;
    set_kind(w, top, map[k].kind);
    w->st->flags |= map[k].flags;
    /* COMMIT AND CHAIN ends one transaction and opens the next at once */
    if (s->chain && (map[k].flags & CLASSIFY_F_END))
        w->st->flags |= CLASSIFY_F_BEGIN;
    return SKIP;
}

/* One SET argument as the server's flatten_set_variable_args stores it
 * for a list setting: identifiers and strings quoted when needed. */
static int set_arg_text(const PgQuery__Node *n, char *buf, size_t size)
{
    const PgQuery__AConst *c;

    if (n->node_case != PG_QUERY__NODE__NODE_A_CONST)
        return -1;
    c = n->a_const;
    switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_SVAL:
        return cl_quote_ident(c->sval->sval, buf, size);
    case PG_QUERY__A__CONST__VAL_IVAL:
        return snprintf(buf, size, "%d", (int)c->ival->ival);
    case PG_QUERY__A__CONST__VAL_FVAL:
        return snprintf(buf, size, "%s", c->fval->fval);
    default:
        return -1;
    }
}

static char *search_path_value(const PgQuery__VariableSetStmt *s)
{
    size_t size = 1, off = 0;
    char *buf;

    for (size_t i = 0; i < s->n_args; i++) {
        int len = set_arg_text(s->args[i], NULL, 0);
        if (len < 0)
            return NULL;
        size += (size_t)len + 2;
    }
    buf = malloc(size);
    for (size_t i = 0; buf && i < s->n_args; i++) {
        if (i > 0) {
            memcpy(buf + off, ", ", 2);
            off += 2;
        }
        off += (size_t)set_arg_text(s->args[i], buf + off, size - off);
    }
    if (buf)
        buf[off] = '\0';
    return buf;
}

static int on_set(walk_t *w, const PgQuery__VariableSetStmt *s, int top)
{
    int reset = s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
                s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL;
    char *value;

    set_kind(w, top, reset ? "RESET" : "SET");
    if (s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
        cl_set_search_path(w->ctx, w->st, NULL, 0);
        return SKIP;
    }
    if (strcmp(s->name, "search_path") != 0)
        return SKIP;
    switch (s->kind) {
    case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE:
        value = search_path_value(s);
        if (value == NULL) {
            w->ctx->nomem = 1;
            return SKIP;
        }
        cl_set_search_path(w->ctx, w->st, value, s->is_local);
        free(value);
        break;
    case PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT:
    case PG_QUERY__VARIABLE_SET_KIND__VAR_RESET:
        cl_set_search_path(w->ctx, w->st, NULL, s->is_local);
        break;
    default:
        break;
    }
    return SKIP;
}

/* DISCARD ALL resets every setting and drops every prepared statement. */
static int on_discard(walk_t *w, const PgQuery__DiscardStmt *s, int top)
{
    set_kind(w, top, "DISCARD");
    if (s->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL) {
        cl_set_str(w->ctx, &w->st->deallocate_name, "");
        cl_set_search_path(w->ctx, w->st, NULL, 0);
    }
    return SKIP;
}

static int on_vacuum(walk_t *w, const PgQuery__VacuumStmt *s, int top)
{
    set_kind(w, top, s->is_vacuumcmd ? "VACUUM" : "ANALYZE");
    if (s->is_vacuumcmd)
        w->st->flags |= CLASSIFY_F_IMPLICIT_COMMIT;
    return SKIP;
}

static const char *const_str(const PgQuery__Node *n)
{
    if (n && n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        n->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL)
        return n->a_const->sval->sval;
    return NULL;
}

static int const_true(const PgQuery__Node *n)
{
    if (n && n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        n->a_const->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL)
        return n->a_const->boolval->boolval;
    return const_str(n) ? cl_is_truthy(const_str(n)) : 0;
}

/* SELECT set_config('search_path', 'x', is_local) sets the path too (pg_dump
 * output starts with it). Only constant arguments can be followed. */
static int on_func_call(walk_t *w, const PgQuery__FuncCall *f)
{
    const char *name, *value;

    if (!w->top_select || f->n_funcname == 0 || f->n_args != 3)
        return DESCEND;
    name = str_of(f->funcname[f->n_funcname - 1]);
    if (name == NULL || strcmp(name, "set_config") != 0 ||
        (f->n_funcname == 2 &&
         strcmp(str_of(f->funcname[0]) ? str_of(f->funcname[0]) : "",
                "pg_catalog") != 0))
        return DESCEND;
    if (const_str(f->args[0]) == NULL ||
        strcasecmp(const_str(f->args[0]), "search_path") != 0)
        return DESCEND;
    value = const_str(f->args[1]);
    if (value)
        cl_set_search_path(w->ctx, w->st, value, const_true(f->args[2]));
    return DESCEND;
}

/* ---- dispatch ---- */

/* A command tag for statements with no case of their own, made from the
 * node's name ("create_schema_stmt" gives "CREATE SCHEMA"); built once. */
static const char *generic_kind(int node_case)
{
    static char names[320][40];
    const ProtobufCFieldDescriptor *f;
    char *out;
    size_t len;

    if (node_case <= 0 || node_case >= 320)
        return "UTILITY";
    if (names[node_case][0])
        return names[node_case];
    f = protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor,
                                                (unsigned)node_case);
    if (f == NULL)
        return "UTILITY";
    out = names[node_case];
    len = strlen(f->name);
    if (len > 5 && strcmp(f->name + len - 5, "_stmt") == 0)
        len -= 5;
    if (len >= sizeof(names[0]))
        len = sizeof(names[0]) - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = f->name[i] == '_' ? ' ' : (char)(f->name[i] & ~0x20);
    out[len] = '\0';
    return out;
}

static const char *named_kind(int node_case)
{
    switch (node_case) {
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
        return "SHOW";
    case PG_QUERY__NODE__NODE_INDEX_STMT:
        return "CREATE INDEX";
    case PG_QUERY__NODE__NODE_CREATEDB_STMT:
        return "CREATE DATABASE";
    case PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT:
        return "DECLARE CURSOR";
    case PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT:
        return "CLOSE";
    case PG_QUERY__NODE__NODE_CHECK_POINT_STMT:
        return "CHECKPOINT";
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
        return "CREATE SEQUENCE";
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
        return "CREATE TRIGGER";
    case PG_QUERY__NODE__NODE_RULE_STMT:
        return "CREATE RULE";
    default:
        return generic_kind(node_case);
    }
}

static int visit_ddl(walk_t *w, const PgQuery__Node *n, int top)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_DROP_STMT:
        return on_drop(w, n->drop_stmt, top);
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
        return on_alter_table(w, n->alter_table_stmt, top);
    case PG_QUERY__NODE__NODE_RENAME_STMT:
        return on_rename(w, n->rename_stmt, top);
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT:
        return on_set_schema(w, n->alter_object_schema_stmt, top);
    case PG_QUERY__NODE__NODE_CREATE_STMT:
        return on_create(w, n->create_stmt, top);
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
        return on_refresh(w, n->refresh_mat_view_stmt, top);
    case PG_QUERY__NODE__NODE_VIEW_STMT:
        return on_view(w, n->view_stmt, top);
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
        /* a function body runs when called, not now */
        set_kind(w, top,
                 n->create_function_stmt->is_procedure ? "CREATE PROCEDURE"
                                                       : "CREATE FUNCTION");
        return SKIP;
    case PG_QUERY__NODE__NODE_RULE_STMT:
        set_kind(w, top, "CREATE RULE");
        return SKIP;
    default:
        set_kind(w, top, named_kind(n->node_case));
        return DESCEND;
    }
}

static int visit_session(walk_t *w, const PgQuery__Node *n, int top)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT:
        return on_explain(w, n->explain_stmt, top);
    case PG_QUERY__NODE__NODE_PREPARE_STMT:
        return on_prepare(w, n->prepare_stmt, top);
    case PG_QUERY__NODE__NODE_EXECUTE_STMT:
        return on_execute(w, n->execute_stmt, top);
    case PG_QUERY__NODE__NODE_DEALLOCATE_STMT:
        return on_deallocate(w, n->deallocate_stmt, top);
    case PG_QUERY__NODE__NODE_DO_STMT:
        return on_do(w, n->do_stmt, top);
    case PG_QUERY__NODE__NODE_CALL_STMT:
        return on_call(w, n->call_stmt, top);
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
        return on_transaction(w, n->transaction_stmt, top);
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
        return on_set(w, n->variable_set_stmt, top);
    case PG_QUERY__NODE__NODE_DISCARD_STMT:
        return on_discard(w, n->discard_stmt, top);
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
        return on_vacuum(w, n->vacuum_stmt, top);
    default:
        return visit_ddl(w, n, top);
    }
}

static int visit(walk_t *w, const PgQuery__Node *n, int top)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_INSERT_STMT:
        return on_dml(w, n->insert_stmt->relation, "INSERT", top);
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
        return on_dml(w, n->update_stmt->relation, "UPDATE", top);
    case PG_QUERY__NODE__NODE_DELETE_STMT:
        return on_dml(w, n->delete_stmt->relation, "DELETE", top);
    case PG_QUERY__NODE__NODE_MERGE_STMT:
        return on_merge(w, n->merge_stmt, top);
    case PG_QUERY__NODE__NODE_SELECT_STMT:
        return on_select(w, n->select_stmt, top);
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
        return on_ctas(w, n->create_table_as_stmt, top);
    case PG_QUERY__NODE__NODE_COPY_STMT:
        return on_copy(w, n->copy_stmt, top);
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
        w->st->flags |= CLASSIFY_F_IMPLICIT_COMMIT;
        return on_rel_list(w, n->truncate_stmt->relations,
                           n->truncate_stmt->n_relations, "TRUNCATE", top);
    case PG_QUERY__NODE__NODE_LOCK_STMT:
        return on_rel_list(w, n->lock_stmt->relations,
                           n->lock_stmt->n_relations, "LOCK TABLE", top);
    case PG_QUERY__NODE__NODE_FUNC_CALL:
        return on_func_call(w, n->func_call);
    default:
        return visit_session(w, n, top);
    }
}

/* ---- generic descent over protobuf fields ---- */

static void walk_msg(walk_t *w, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;

    for (unsigned i = 0; i < d->n_fields && !w->st->too_deep; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const ProtobufCMessage *const *v;
        size_t n = 1;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + f->quantifier_offset);
            v = *(const ProtobufCMessage *const *const *)(base + f->offset);
        } else {
            if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                *(const uint32_t *)(base + f->quantifier_offset) != f->id)
                continue;
            v = (const ProtobufCMessage *const *)(base + f->offset);
        }
        for (size_t k = 0; k < n; k++) {
            if (v[k] == NULL)
                continue;
            if (v[k]->descriptor == &pg_query__node__descriptor)
                walk_node(w, (const PgQuery__Node *)v[k], 0);
            else if (++w->depth <= WALK_MAX_DEPTH)
                walk_msg(w, v[k]);
            else
                w->st->too_deep = 1;
            if (v[k]->descriptor != &pg_query__node__descriptor)
                w->depth--;
        }
    }
}

static void walk_node(walk_t *w, const PgQuery__Node *n, int top)
{
    const ProtobufCFieldDescriptor *f;
    const ProtobufCMessage *child;

    if (n == NULL || n->node_case == PG_QUERY__NODE__NODE__NOT_SET)
        return;
    if (++w->depth > WALK_MAX_DEPTH) {
        w->st->too_deep = 1;
    } else if (visit(w, n, top) == DESCEND) {
        f = protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor,
                                                    (unsigned)n->node_case);
        child =
            f ? *(const ProtobufCMessage *const *)((const char *)n + f->offset)
              : NULL;
        if (child)
            walk_msg(w, child);
    }
    w->depth--;
}

void cl_tree_stmt(cl_ctx_t *ctx, cl_stmt_t *st, const PgQuery__Node *node)
{
    walk_t w = {ctx, st, 0, 0};

    walk_node(&w, node, 1);
}
