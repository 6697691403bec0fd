// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The exposition writer: label escaping, both text formats, and /metrics' self figures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "export/metrics.h"
#include "export/prom.h"
#include "model/model_fill.h"

static char *render(bool om, void (*fn)(struct prom *p))
{
	char *buf = NULL;
	size_t len = 0;
	struct prom p = { .openmetrics = om };

	p.f = open_memstream(&buf, &len);
	fn(&p);
	prom__end(&p);
	fclose(p.f);
	return buf;
}

static void counter(struct prom *p)
{
	char labels[128] = "";

	prom__label(labels, sizeof(labels), "server", "127.0.0.1:6379");
	prom__label(labels, sizeof(labels), "q", "a\"b\\c\nd");
	prom__family(p, "nexus_x_total", "counter", "Things.");
	prom__sample(p, "nexus_x_total", labels, 3);
	prom__sample(p, "nexus_x_total", NULL, 0.25);
}

static void test_text_format(void **state)
{
	char *s = render(false, counter);

	assert_string_equal(s, "# HELP nexus_x_total Things.\n"
			       "# TYPE nexus_x_total counter\n"
			       "nexus_x_total{server=\"127.0.0.1:6379\",q=\"a\\\"b\\\\c\\nd\"} 3\n"
			       "nexus_x_total 0.25\n");
	free(s);
}

static void test_openmetrics(void **state)
{
	char *s = render(true, counter);

	assert_non_null(strstr(s, "# TYPE nexus_x counter\n"));
	assert_non_null(strstr(s, "# HELP nexus_x Things.\n"));
	assert_non_null(strstr(s, "\nnexus_x_total 0.25\n"));
	assert_string_equal(s + strlen(s) - 6, "# EOF\n");
	free(s);
	assert_true(prom__wants_openmetrics("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"));
	assert_false(prom__wants_openmetrics("text/plain"));
	assert_false(prom__wants_openmetrics(""));
}

static void test_label_truncation(void **state)
{
	char small[16] = "";

	prom__label(small, sizeof(small), "name", "a-very-long-value-indeed");
	assert_true(strlen(small) < sizeof(small));
}

static void test_self_metrics(void **state)
{
	struct self_stats st = { .conns = 3, .targets = 2 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	struct prom p = { .f = f };
	struct metric_model m;

	st.kernel[NX_CNT_EVENTS] = 1234;
	st.kernel[NX_CNT_LOST] = 5;
	metric_model__init(&m, 0, 0);
	model__fill_self(&m, &st);
	prom__render_model(&p, &m);
	metric_model__free(&m);
	fclose(f);
	assert_non_null(strstr(buf, "\nnexus_agent_events_total 1234\n"));
	assert_non_null(strstr(buf, "\nnexus_agent_events_lost_total 5\n"));
	assert_non_null(strstr(buf, "\nnexus_agent_connections 3\n"));
	assert_non_null(strstr(buf, "\nnexus_agent_targets 2\n"));
	assert_non_null(strstr(buf, "# TYPE nexus_agent_parse_errors_total counter\n"));
	free(buf);
}

/* A model renders as the text format spells it: HELP/TYPE once per family, samples in order, a
 * histogram as cumulative _bucket lines with le last, +Inf, _sum and _count; label values escaped;
 * OpenMetrics drops _total from a counter's family name. */
static void test_model_text(void **state)
{
	static const double bounds[] = { 0.001, 0.25 };
	static const uint64_t buckets[] = { 2, 5 };
	struct mm_labels ls = { 0 };
	struct metric_model m;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct prom p = { .f = f, .openmetrics = true };

	metric_model__init(&m, 0, 0);
	mm__family(&m, "x_total", MM_COUNTER, "1", "Xs.");
	mm_labels__add(&ls, "server", "a\"b");
	mm__sample(&m, &ls, 3);
	mm__sample(&m, NULL, 0.5);
	mm__histogram_family(&m, "d_seconds", "s", "Ds.", bounds, 2);
	mm__histogram(&m, &ls, buckets, 7, 1.5);
	prom__render_model(&p, &m);
	prom__end(&p);
	metric_model__free(&m);
	fclose(f);
	assert_string_equal(buf, "# HELP x Xs.\n# TYPE x counter\n"
				 "x_total{server=\"a\\\"b\"} 3\n"
				 "x_total 0.5\n"
				 "# HELP d_seconds Ds.\n# TYPE d_seconds histogram\n"
				 "d_seconds_bucket{server=\"a\\\"b\",le=\"0.001\"} 2\n"
				 "d_seconds_bucket{server=\"a\\\"b\",le=\"0.25\"} 5\n"
				 "d_seconds_bucket{server=\"a\\\"b\",le=\"+Inf\"} 7\n"
				 "d_seconds_sum{server=\"a\\\"b\"} 1.5\n"
				 "d_seconds_count{server=\"a\\\"b\"} 7\n"
				 "# EOF\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_openmetrics),
		cmocka_unit_test(test_label_truncation),
		cmocka_unit_test(test_self_metrics),
		cmocka_unit_test(test_model_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
