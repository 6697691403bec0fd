/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where an alert's runbook is: every built-in rule has a section in docs/runbooks.md whose
 * heading is the rule's name, so its link is BASE#ANCHOR with ANCHOR the heading as GitHub (and
 * most Markdown renderers) make an anchor of it. BASE is --runbook-url-base, the alerts file's
 * runbook_url_base, or RUNBOOK_URL_BASE_DEFAULT; "" turns the links off. A custom rule has a
 * runbook only when the alerts file gives it one (runbook_url).
 */
#ifndef NEXUS_RUNBOOK_H
#define NEXUS_RUNBOOK_H
#include <stddef.h>

/* The repository's file on GitHub. A placeholder organisation: a fork or a mirror sets its own
 * with --runbook-url-base (an internal wiki, a copy of docs/runbooks.md on any web server). */
#define RUNBOOK_URL_BASE_DEFAULT "https://github.com/nexus-agent/nexus-agent/blob/main/docs/runbooks.md"
/* GitHub's anchor of a Markdown heading: lower case, letters, digits, '_' and '-' kept, spaces
 * become '-', the rest dropped. Returns its length, or -1 when it does not fit in len. */
int runbook__anchor(const char *heading, char *buf, size_t len);
/* "BASE#ANCHOR" of rule into buf; "" when base is empty. -1 when it does not fit (buf ""). */
int runbook__url(const char *base, const char *rule, char *buf, size_t len);

#endif /* NEXUS_RUNBOOK_H */
