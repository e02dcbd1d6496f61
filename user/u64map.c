// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "u64map.h"

static size_t slot_of(uint64_t key, size_t cap)
{
	/* Fibonacci hashing: code pointers and stack hashes alike spread well. */
	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
}

int u64map__init(struct u64map *m, size_t vsize)
{
	m->vsize = vsize;
	m->cap = 256;
	m->used = 0;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->vals = calloc(m->cap, vsize);
	if (!m->keys || !m->vals) {
		u64map__free(m);
		return -1;
	}
	return 0;
}

void u64map__free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->used = 0;
}

static size_t find(const struct u64map *m, uint64_t key)
{
	size_t i = slot_of(key, m->cap);

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *u64map__get(const struct u64map *m, uint64_t key)
{
	size_t i;

	if (!key || !m->cap)
		return NULL;
	i = find(m, key);
	return m->keys[i] ? m->vals + i * m->vsize : NULL;
}

static int grow(struct u64map *m)
{
	struct u64map n = { .vsize = m->vsize, .cap = m->cap * 2, .used = m->used };
	size_t i;

	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, n.vsize);
	if (!n.keys || !n.vals) {
		u64map__free(&n);
		return -1;
	}
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		j = find(&n, m->keys[i]);
		n.keys[j] = m->keys[i];
		memcpy(n.vals + j * n.vsize, m->vals + i * m->vsize, m->vsize);
	}
	u64map__free(m);
	*m = n;
	return 0;
}

void *u64map__upsert(struct u64map *m, uint64_t key, int *fresh)
{
	size_t i;

	*fresh = 0;
	if (!key)
		return NULL;
	if ((m->used + 1) * 2 > m->cap && grow(m))
		return NULL;
	i = find(m, key);
	if (!m->keys[i]) {
		m->keys[i] = key;
		memset(m->vals + i * m->vsize, 0, m->vsize);
		m->used++;
		*fresh = 1;
	}
	return m->vals + i * m->vsize;
}

void u64map__del(struct u64map *m, uint64_t key)
{
	size_t i, j, k;

	if (!key || !m->cap)
		return;
	i = find(m, key);
	if (!m->keys[i])
		return;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	for (j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
		k = slot_of(m->keys[j], m->cap);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			m->keys[i] = m->keys[j];
			memcpy(m->vals + i * m->vsize, m->vals + j * m->vsize, m->vsize);
			i = j;
		}
	}
	m->keys[i] = 0;
	m->used--;
}

int u64map__next(const struct u64map *m, size_t *i, uint64_t *key, void **val)
{
	for (; *i < m->cap; (*i)++) {
		if (!m->keys[*i])
			continue;
		*key = m->keys[*i];
		*val = m->vals + *i * m->vsize;
		(*i)++;
		return 1;
	}
	return 0;
}
