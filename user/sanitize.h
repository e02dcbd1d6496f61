/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Text that comes from the target (function and file names, fd paths,
 * its executable's name) made safe to print: the target's owner chooses
 * it, and root's terminal must not obey escape sequences in it, nor show
 * report lines it forged with newlines.
 */
#ifndef __SANITIZE_H
#define __SANITIZE_H

#include <stddef.h>
#include <jansson.h>

/*
 * For a terminal: valid printable UTF-8 as it is; every other byte
 * escaped: \n \t \r, \xNN for other control bytes, DEL and bytes that are
 * not valid UTF-8, \uNNNN for C1 controls, line and paragraph separators
 * and bidirectional overrides. Writes at most len bytes (NUL included;
 * a cut ends in "..."); returns out. NULL gives "(null)".
 */
char *sanitize__text(const char *s, char *out, size_t len);
/* sanitize__text into one of a few rotating static buffers: for up to
 * four arguments of one printf. Not thread-safe. */
const char *sanitize__t(const char *s);
/*
 * Valid UTF-8 for JSON: a byte that is not valid UTF-8 becomes the four
 * characters \xNN (the JSON encoder escapes control characters itself), so
 * that a name is never dropped. malloc'd; NULL on ENOMEM.
 */
char *sanitize__utf8(const char *s);
/* json_string() of sanitize__utf8(s); json_null() for NULL. */
json_t *sanitize__json(const char *s);

#endif /* __SANITIZE_H */
