/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A growable open-addressing map from a non-zero u64 to a fixed-size value. */
#ifndef __U64MAP_H
#define __U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;		/* 0 marks an empty slot */
	char *vals;
	size_t vsize, cap, used;
};

int u64map__init(struct u64map *m, size_t vsize);
void u64map__free(struct u64map *m);
/* The value for key, or NULL. */
void *u64map__get(const struct u64map *m, uint64_t key);
/* The value for key, inserted zero-filled if new (*fresh = 1); NULL on ENOMEM. */
void *u64map__upsert(struct u64map *m, uint64_t key, int *fresh);
/* Remove key; values of other keys may move (do not hold pointers across). */
void u64map__del(struct u64map *m, uint64_t key);
/* Iterate: for (i = 0; u64map__next(m, &i, &key, &val); ) */
int u64map__next(const struct u64map *m, size_t *i, uint64_t *key, void **val);

#endif /* __U64MAP_H */
