// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "export/http_auth.h"

int http_auth__load_token(const char *path, char **token, char *err, size_t errlen)
{
	char buf[HTTP_AUTH_TOKEN_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	*token = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "--auth-token-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "--auth-token-file %s: not a regular file", path);
		goto fail;
	}
	/* Kubernetes mounts secrets 0644 unless told otherwise: the fix is named in the message. */
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen,
			 "--auth-token-file %s: mode %04o lets every user of this node %s the token; "
			 "chmod 600 it (Kubernetes: defaultMode: 0400 on the secret volume)",
			 path, (unsigned)(st.st_mode & 07777),
			 st.st_mode & S_IWOTH ? "change" : "read");
		goto fail;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "--auth-token-file %s: %s", path, strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
		       buf[len - 1] == '\t'))
		len--;
	if (len > HTTP_AUTH_TOKEN_MAX) {
		snprintf(err, errlen, "--auth-token-file %s: longer than %d bytes", path,
			 HTTP_AUTH_TOKEN_MAX);
		goto fail;
	}
	if (!len) {
		snprintf(err, errlen, "--auth-token-file %s: empty", path);
		goto fail;
	}
	for (size_t i = 0; i < len; i++) {
		/* What a header can carry unquoted: no spaces, no control bytes. */
		if (buf[i] <= 0x20 || buf[i] >= 0x7f) {
			snprintf(err, errlen,
				 "--auth-token-file %s: byte %zu is not a visible ASCII character",
				 path, i + 1);
			goto fail;
		}
	}
	close(fd);
	*token = strndup(buf, len);
	explicit_bzero(buf, sizeof(buf));
	if (!*token) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
fail:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return -1;
}

bool http_auth__equal(const char *expected, const char *given, size_t len)
{
	size_t elen = strlen(expected);
	volatile unsigned char diff = elen != len;

	/* Every byte of EXPECTED is looked at whatever GIVEN is: no early exit to time. */
	for (size_t i = 0; i < elen; i++)
		diff |= (unsigned char)expected[i] ^ (unsigned char)(i < len ? given[i] : 0);
	return diff == 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 (padding optional) into out; the length, or -1 when malformed or too long. */
static long b64_decode(const char *in, size_t inlen, char *out, size_t outlen)
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	while (inlen && in[inlen - 1] == '=')
		inlen--;
	for (size_t i = 0; i < inlen; i++) {
		int v = b64_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= outlen)
				return -1;
			out[n++] = (char)(acc >> bits & 0xff);
		}
	}
	return (long)n;
}

/* The credentials after the scheme, leading and trailing blanks cut: *len bytes from the result. */
static const char *credentials(const char *v, size_t *len)
{
	size_t n;

	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*len = n;
	return v;
}

bool http_auth__check(const char *expected, const char *authorization)
{
	char decoded[HTTP_AUTH_TOKEN_MAX + 256];
	const char *v, *colon;
	size_t len;
	long n;
	bool ok;

	if (!expected || !authorization)
		return false;
	if (!strncasecmp(authorization, "Bearer ", 7)) {
		v = credentials(authorization + 7, &len);
		return http_auth__equal(expected, v, len);
	}
	if (strncasecmp(authorization, "Basic ", 6))
		return false;
	v = credentials(authorization + 6, &len);
	n = b64_decode(v, len, decoded, sizeof(decoded));
	if (n < 0)
		return false;
	colon = memchr(decoded, ':', (size_t)n);
	ok = colon && http_auth__equal(expected, colon + 1, (size_t)(decoded + n - colon - 1));
	explicit_bzero(decoded, sizeof(decoded));
	return ok;
}
