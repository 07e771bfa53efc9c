/*
 * A chained hash table from statement or portal name to stmt_info_t.
 * Sessions own one per kind; nothing here knows about the protocol.
 */
#include "proxy/stmtmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct stmtmap_entry {
    stmtmap_entry_t *next;
    char *name;
    stmt_info_t info;
};

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return (size_t)h;
}

void stmt_info_free(stmt_info_t *info)
{
    for (int i = 0; i < info->nwrites; i++)
        free(info->writes[i]);
    free(info->writes);
    memset(info, 0, sizeof(*info));
}

int stmt_info_copy(stmt_info_t *dst, const stmt_info_t *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->flags = src->flags;
    if (src->nwrites == 0)
        return 0;
    dst->writes = calloc((size_t)src->nwrites, sizeof(char *));
    if (!dst->writes)
        return -ENOMEM;
    for (int i = 0; i < src->nwrites; i++) {
        dst->writes[i] = strdup(src->writes[i]);
        if (!dst->writes[i]) {
            dst->nwrites = i;
            stmt_info_free(dst);
            return -ENOMEM;
        }
    }
    dst->nwrites = src->nwrites;
    return 0;
}

static int grow(stmtmap_t *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
    stmtmap_entry_t **b = calloc(n, sizeof(*b));

    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nbuckets; i++) {
        stmtmap_entry_t *e = m->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[hash_name(e->name) & (n - 1)];
            b[hash_name(e->name) & (n - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

static stmtmap_entry_t **find(const stmtmap_t *m, const char *name)
{
    stmtmap_entry_t **p;

    if (!m->nbuckets)
        return NULL;
    p = &m->buckets[hash_name(name) & (m->nbuckets - 1)];
    for (; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0)
            return p;
    return NULL;
}

int stmtmap_put(stmtmap_t *m, const char *name, const stmt_info_t *info)
{
    stmtmap_entry_t *e;
    size_t i;

    stmtmap_del(m, name);
    if (m->count >= m->nbuckets && grow(m) < 0)
        return -ENOMEM;
    e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strdup(name)) || stmt_info_copy(&e->info, info) < 0) {
        if (e)
            free(e->name);
        free(e);
        return -ENOMEM;
    }
    i = hash_name(name) & (m->nbuckets - 1);
    e->next = m->buckets[i];
    m->buckets[i] = e;
    m->count++;
    return 0;
}

const stmt_info_t *stmtmap_get(const stmtmap_t *m, const char *name)
{
    stmtmap_entry_t **p = find(m, name);

    return p ? &(*p)->info : NULL;
}

void stmtmap_del(stmtmap_t *m, const char *name)
{
    stmtmap_entry_t **p = find(m, name), *e;

    if (!p)
        return;
    e = *p;
    *p = e->next;
    stmt_info_free(&e->info);
    free(e->name);
    free(e);
    m->count--;
}

void stmtmap_clear(stmtmap_t *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        stmtmap_entry_t *e = m->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            stmt_info_free(&e->info);
            free(e->name);
            free(e);
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}
