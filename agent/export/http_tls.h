/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --tls-cert / --tls-key: the PEM files read and checked before the server starts, so that a
 * missing, unreadable, malformed or mismatched file is an error naming it, not a TLS handshake
 * that fails later with nothing in the log.
 */
#ifndef NEXUS_HTTP_TLS_H
#define NEXUS_HTTP_TLS_H

#include <stddef.h>

#define HTTP_TLS_FILE_MAX (1 << 20)

/* Reads both files (NUL-terminated, malloc'd) and checks with GnuTLS that the certificate chain
 * parses and belongs to the key. 0, or -1 with the reason (naming the file) in err. */
int http_tls__load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
		   char *err, size_t errlen);

#endif /* NEXUS_HTTP_TLS_H */
