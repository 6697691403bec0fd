// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include "export/http_tls.h"

/* The whole file, NUL-terminated; NULL with err set. */
static char *read_pem(const char *flag, const char *path, const char *want, char *err,
		      size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", flag, path);
		goto fail;
	}
	if (st.st_size > HTTP_TLS_FILE_MAX) {
		snprintf(err, errlen, "%s %s: larger than %d bytes", flag, path, HTTP_TLS_FILE_MAX);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (len < (size_t)st.st_size && (n = read(fd, buf + len, st.st_size - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (!strstr(buf, "-----BEGIN ")) {
		snprintf(err, errlen, "%s %s: not a PEM file (no -----BEGIN line)", flag, path);
		goto fail;
	}
	if (!strstr(buf, want)) {
		snprintf(err, errlen, "%s %s: no %s in it", flag, path,
			 strstr(want, "KEY") ? "private key" : "certificate");
		goto fail;
	}
	close(fd);
	return buf;
fail:
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	close(fd);
	return NULL;
}

int http_tls__load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
		   char *err, size_t errlen)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cert, key;
	struct stat st;
	int rc;

	*cert_pem = *key_pem = NULL;
	*cert_pem = read_pem("--tls-cert", cert_path, "-----BEGIN CERTIFICATE-----", err, errlen);
	if (!*cert_pem)
		return -1;
	*key_pem = read_pem("--tls-key", key_path, "PRIVATE KEY-----", err, errlen);
	if (!*key_pem)
		goto fail;
	if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	cert = (gnutls_datum_t){ (unsigned char *)*cert_pem, (unsigned)strlen(*cert_pem) };
	key = (gnutls_datum_t){ (unsigned char *)*key_pem, (unsigned)strlen(*key_pem) };
	/* The same call libmicrohttpd makes: what passes here, it accepts. */
	rc = gnutls_certificate_set_x509_key_mem(cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0) {
		snprintf(err, errlen, "--tls-cert %s with --tls-key %s: %s", cert_path, key_path,
			 gnutls_strerror(rc));
		goto fail;
	}
	/* A readable private key is a leak, but maybe a deliberate one (a shared test key). */
	if (!stat(key_path, &st) && st.st_mode & S_IROTH)
		fprintf(stderr, "nexus-agent: warning: --tls-key %s is readable by every user "
				"(mode %04o); chmod 600 it\n",
			key_path, (unsigned)(st.st_mode & 07777));
	return 0;
fail:
	free(*cert_pem);
	if (*key_pem)
		explicit_bzero(*key_pem, strlen(*key_pem));
	free(*key_pem);
	*cert_pem = *key_pem = NULL;
	return -1;
}
