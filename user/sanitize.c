// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sanitize.h"

/* Length of the valid UTF-8 sequence at s (1-4) and its code point, or 0
 * when the bytes there are not one (overlong, surrogate, past U+10FFFF,
 * cut short): the rules of RFC 3629, which jansson enforces too. */
static int utf8_seq(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	int n, i;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;	/* also a NUL: cut short */
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Code points a terminal acts on or that reorder what is shown. */
static bool unsafe_cp(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0x061c ||
	       c == 0x200e || c == 0x200f || (c >= 0x2028 && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

char *sanitize__text(const char *s, char *out, size_t len)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	size_t n = 0;

	if (!len)
		return out;
	while (*p) {
		char esc[16];
		const char *add;
		size_t alen;
		uint32_t cp;
		int k = utf8_seq(p, &cp);

		if (!k) {
			snprintf(esc, sizeof(esc), "\\x%02x", *p);
			add = esc;
			k = 1;
		} else if (cp == '\n') {
			add = "\\n";
		} else if (cp == '\t') {
			add = "\\t";
		} else if (cp == '\r') {
			add = "\\r";
		} else if (cp < 0x80 && unsafe_cp(cp)) {
			snprintf(esc, sizeof(esc), "\\x%02x", cp);
			add = esc;
		} else if (unsafe_cp(cp)) {
			snprintf(esc, sizeof(esc), "\\u%04x", cp);
			add = esc;
		} else {
			add = (const char *)p;
		}
		alen = add == (const char *)p ? (size_t)k : strlen(add);
		if (n + alen + 1 > len) {
			/* cut: "..." where there is room, never half a sequence */
			while (n && n + 4 > len)
				n--;
			while (n && ((unsigned char)out[n] & 0xc0) == 0x80)
				n--;
			if (n + 4 <= len) {
				memcpy(out + n, "...", 3);
				n += 3;
			}
			break;
		}
		memcpy(out + n, add, alen);
		n += alen;
		p += k;
	}
	out[n] = '\0';
	return out;
}

#define ROTATE 4
/* a 1024-character name, every character escaped as \uNNNN */
#define TBUF (1024 * 6 + 64)

const char *sanitize__t(const char *s)
{
	static char bufs[ROTATE][TBUF];
	static unsigned int next;

	return sanitize__text(s, bufs[next++ % ROTATE], TBUF);
}

char *sanitize__utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	char *out = malloc(strlen(s) * 4 + 1);

	if (!out)
		return NULL;
	while (*p) {
		uint32_t cp;
		int k = utf8_seq(p, &cp);

		if (k) {
			memcpy(out + n, p, k);
			n += k;
			p += k;
		} else {
			n += sprintf(out + n, "\\x%02x", *p++);
		}
	}
	out[n] = '\0';
	return out;
}

json_t *sanitize__json(const char *s)
{
	json_t *j;
	char *u;

	if (!s)
		return json_null();
	u = sanitize__utf8(s);
	j = u ? json_string(u) : NULL;
	free(u);
	return j ? j : json_string("[out of memory]");
}
