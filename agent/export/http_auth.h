/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTTP endpoint's bearer token (--auth-token-file): loading it from a file only its owner
 * can read, and checking an Authorization header against it in constant time.
 */
#ifndef NEXUS_HTTP_AUTH_H
#define NEXUS_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_AUTH_TOKEN_MAX 4096

/* Reads the token of PATH into *token (malloc'd): trailing whitespace (a final newline) is cut;
 * 1..HTTP_AUTH_TOKEN_MAX visible ASCII characters. Refused when others may read or write the
 * file (it is a password) or it is not a regular file. 0, or -1 with the reason in err. */
int http_auth__load_token(const char *path, char **token, char *err, size_t errlen);

/* True when GIVEN (len bytes) equals EXPECTED; the time taken depends on EXPECTED's length only. */
bool http_auth__equal(const char *expected, const char *given, size_t len);

/* True when an Authorization header value carries EXPECTED: "Bearer TOKEN", or "Basic" with any
 * user name and TOKEN as the password (what a browser sends after its login prompt, so that the
 * status page and the API calls it makes work without a token in any URL). NULL: false. */
bool http_auth__check(const char *expected, const char *authorization);

#endif /* NEXUS_HTTP_AUTH_H */
