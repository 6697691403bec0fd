// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Runbooks: every built-in rule has a section in docs/runbooks.md, found at the very anchor its
 * alerts' runbook_url points to, with the three parts every runbook has (what it means, how to
 * confirm it, what to do); the links (runbook.h); and the alerts file's runbook_url_base and
 * custom rules' runbook_url.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "alert/alert_config.h"
#include "alert/engine.h"
#include "alert/rules.h"
#include "alert/runbook.h"

#define MAX_SECTIONS 128

struct section {
	char anchor[128];
	char *body; /* up to the next heading of the same level */
};

static char *doc, *doc_end;
static struct section sec[MAX_SECTIONS];
static int n_sec;

static char *slurp(const char *rel)
{
	const char *slash = strrchr(__FILE__, '/');
	char path[4096];
	char *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	FILE *f, *out;

	/* the source tree next to this file, else the working directory (make test runs from
	 * the top) */
	snprintf(path, sizeof(path), "%.*s/../../%s", slash ? (int)(slash - __FILE__) : 1,
		 slash ? __FILE__ : ".", rel);
	f = fopen(path, "r");
	if (!f)
		f = fopen(rel, "r");
	if (!f)
		return NULL;
	out = open_memstream(&buf, &len);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, out);
	fclose(f);
	fclose(out);
	return buf;
}

/* The "## " sections of docs/runbooks.md, by anchor; fenced code is not a heading. */
static int setup(void **state)
{
	bool fenced = false;
	char *line, *next;

	doc = slurp("docs/runbooks.md");
	if (!doc)
		return -1;
	doc_end = doc + strlen(doc);
	for (line = doc; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strncmp(line, "```", 3))
			fenced = !fenced;
		if (fenced)
			continue;
		if (!strncmp(line, "## ", 3) && n_sec < MAX_SECTIONS) {
			runbook__anchor(line + 3, sec[n_sec].anchor, sizeof(sec[n_sec].anchor));
			sec[n_sec].body = next ? next : doc_end;
			n_sec++;
		} else if (!strncmp(line, "# ", 2) && n_sec) {
			break;
		}
	}
	return 0;
}

static int teardown(void **state)
{
	free(doc);
	return 0;
}

/* The text of section i: the lines up to the next section (the buffer was split at '\n'). */
static bool section_has(int i, const char *needle)
{
	const char *end = i + 1 < n_sec ? sec[i + 1].body : doc_end;

	/* lines are '\0'-terminated now; an empty one is just a '\0' */
	for (const char *p = sec[i].body; p < end; p += strlen(p) + 1)
		if (strstr(p, needle))
			return true;
	return false;
}

static void test_every_rule_has_a_section(void **state)
{
	const struct rule *all[RULES_MAX];
	int n = rules__all(all, RULES_MAX);

	assert_true(n > 0 && n <= RULES_MAX);
	for (int r = 0; r < n; r++) {
		char url[ALERT_RUNBOOK_URL_LEN];
		const char *anchor;
		int found = -1;

		assert_int_equal(runbook__url(RUNBOOK_URL_BASE_DEFAULT, all[r]->name, url,
					      sizeof(url)),
				 0);
		anchor = strchr(url, '#');
		assert_non_null(anchor);
		for (int i = 0; i < n_sec && found < 0; i++)
			if (!strcmp(sec[i].anchor, anchor + 1))
				found = i;
		if (found < 0)
			fail_msg("docs/runbooks.md has no section '## %s' (anchor #%s)",
				 all[r]->name, anchor + 1);
		if (!section_has(found, "**What it means.**") ||
		    !section_has(found, "**Confirm it.**") || !section_has(found, "**What to do.**"))
			fail_msg("docs/runbooks.md: section %s lacks one of What it means / Confirm "
				 "it / What to do",
				 all[r]->name);
	}
}

static void test_links(void **state)
{
	char buf[ALERT_RUNBOOK_URL_LEN], tiny[8];

	assert_int_equal(runbook__url("https://example.org/rb.md", "latency_anomaly", buf,
				      sizeof(buf)),
			 0);
	assert_string_equal(buf, "https://example.org/rb.md#latency_anomaly");
	assert_int_equal(runbook__url("", "latency_anomaly", buf, sizeof(buf)), 0);
	assert_string_equal(buf, ""); /* links turned off */
	assert_int_equal(runbook__url("https://example.org/", "x", tiny, sizeof(tiny)), -1);
	assert_string_equal(tiny, ""); /* never a cut link */
	assert_int_equal(runbook__anchor("`Connection_Storm` (all kinds)", buf, sizeof(buf)), 26);
	assert_string_equal(buf, "connection_storm-all-kinds");
}

static void test_config(void **state)
{
	static const char yaml[] = "runbook_url_base: https://wiki.example/nexus\n"
				   "custom_rules:\n"
				   "  - name: errs\n"
				   "    metric: nexus_redis_commands_total\n"
				   "    op: \">\"\n"
				   "    threshold: 1\n"
				   "    runbook_url: https://wiki.example/errs\n"
				   "  - name: other\n"
				   "    metric: nexus_agent_targets\n"
				   "    op: \">\"\n"
				   "    threshold: 1\n";
	struct alert_config *c = malloc(sizeof(*c));
	char err[256] = "";

	assert_non_null(c);
	alert_config__init(c);
	assert_string_equal(c->runbook_url_base, RUNBOOK_URL_BASE_DEFAULT);
	assert_int_equal(alert_config__parse(c, yaml, strlen(yaml), "t.yaml", engine__rule_names(),
					     err, sizeof(err)),
			 0);
	assert_string_equal(c->runbook_url_base, "https://wiki.example/nexus");
	assert_string_equal(c->custom[0].runbook_url, "https://wiki.example/errs");
	assert_string_equal(c->custom[1].runbook_url, "");
	assert_int_equal(alert_config__parse(c, "runbook_url_base: \"\"\n", 21, "t.yaml",
					     engine__rule_names(), err, sizeof(err)),
			 0);
	assert_string_equal(c->runbook_url_base, ""); /* off */
	assert_int_equal(alert_config__parse(c, "runbook_url_base: ftp://x\n", 26, "t.yaml",
					     engine__rule_names(), err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "t.yaml:1:"));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_rule_has_a_section),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
