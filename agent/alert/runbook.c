// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Runbook links of alerts (see runbook.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "alert/runbook.h"

int runbook__anchor(const char *heading, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return -1;
	for (const unsigned char *s = (const unsigned char *)heading; *s; s++) {
		char c;

		if (isalnum(*s) || *s == '_' || *s == '-')
			c = (char)tolower(*s);
		else if (*s == ' ')
			c = '-';
		else
			continue; /* backticks, punctuation: GitHub drops them */
		if (n + 1 >= len) {
			buf[0] = '\0';
			return -1;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	return (int)n;
}

int runbook__url(const char *base, const char *rule, char *buf, size_t len)
{
	char anchor[128];
	int n;

	if (!len)
		return -1;
	buf[0] = '\0';
	if (!base || !base[0])
		return 0;
	if (runbook__anchor(rule, anchor, sizeof(anchor)) < 0)
		return -1;
	n = snprintf(buf, len, "%s#%s", base, anchor);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}
