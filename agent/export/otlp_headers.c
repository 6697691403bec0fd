// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "export/otlp_headers.h"

/* RFC 9110 token characters: what a header name may hold. */
static int tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Surrounding blanks go, as the SDKs trim them. */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static int add(struct otlp_headers *h, const char *spec, size_t len, int decode, char *err,
	       size_t errlen)
{
	const char *eq = memchr(spec, '=', len), *name = spec, *val;
	size_t nlen, vlen, o = 0;
	char *line;

	if (!eq) {
		snprintf(err, errlen, "an OTLP header needs the form name=value");
		return -EINVAL;
	}
	nlen = (size_t)(eq - spec);
	val = eq + 1;
	vlen = len - nlen - 1;
	trim(&name, &nlen);
	trim(&val, &vlen);
	for (size_t i = 0; i < nlen; i++)
		if (!tchar((unsigned char)name[i]))
			nlen = 0;
	if (!nlen) {
		snprintf(err, errlen, "an OTLP header name must be a non-empty HTTP token");
		return -EINVAL;
	}
	line = malloc(nlen + 2 + vlen + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, name, nlen);
	memcpy(line + nlen, ": ", 2);
	o = nlen + 2;
	for (size_t i = 0; i < vlen; i++) {
		char c = val[i];

		/* %XX decodes; a '%' not followed by two hex digits stays as it is */
		if (decode && c == '%' && i + 2 < vlen && hexval(val[i + 1]) >= 0 &&
		    hexval(val[i + 2]) >= 0) {
			c = (char)(hexval(val[i + 1]) << 4 | hexval(val[i + 2]));
			i += 2;
		}
		/* a CR or LF would end the header and start another: request smuggling */
		if (c == '\r' || c == '\n' || c == '\0') {
			free(line);
			snprintf(err, errlen, "OTLP header %.*s: its value holds a control character",
				 (int)nlen, name);
			return -EINVAL;
		}
		line[o++] = c;
	}
	line[o] = 0;
	/* a later one of the same name replaces it in place: --otlp-header over the environment */
	for (int i = 0; i < h->n; i++)
		if (!strncasecmp(h->line[i], name, nlen) && h->line[i][nlen] == ':') {
			free(h->line[i]);
			h->line[i] = line;
			return 0;
		}
	if (h->n == OTLP_MAX_HEADERS) {
		free(line);
		snprintf(err, errlen, "more than %d OTLP headers", OTLP_MAX_HEADERS);
		return -E2BIG;
	}
	h->line[h->n++] = line;
	return 0;
}

int otlp_headers__add(struct otlp_headers *h, const char *spec, int decode, char *err,
		      size_t errlen)
{
	return add(h, spec, strlen(spec), decode, err, errlen);
}

int otlp_headers__add_list(struct otlp_headers *h, const char *list, char *err, size_t errlen)
{
	const char *p = list;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *s = p;
		size_t m = n;

		trim(&s, &m);
		if (m) { /* "a=1,,b=2" and a trailing comma are tolerated */
			int rc = add(h, s, m, 1, err, errlen);

			if (rc)
				return rc;
		}
		p += n + (comma != NULL);
	}
	return 0;
}

void otlp_headers__free(struct otlp_headers *h)
{
	for (int i = 0; i < h->n; i++)
		free(h->line[i]);
	h->n = 0;
}
