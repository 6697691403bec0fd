// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "export/otlp_encode.h"
#include "export/otlp_names.h"

#ifndef NX_VERSION
#define NX_VERSION "dev"
#endif

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint ExpDataPoint;

/* --- arena: every message of one request, freed at once ---------------------------------- */

#define ARENA_BLOCK ((size_t)64 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
	bool oom;
};

static void *arena__alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!b || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = calloc(1, sizeof(*b) + size);
		if (!b) {
			a->oom = true;
			return NULL;
		}
		b->size = size;
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static char *arena__strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena__alloc(a, n);

	if (p)
		memcpy(p, s, n);
	return p;
}

static void arena__free(struct arena *a)
{
	while (a->head) {
		struct arena_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

/* --- attributes ---------------------------------------------------------------------------- */

/* A key with an empty value of the given kind, for kv_str, kv_int and kv_double to fill. */
static KeyValue *kv_new(struct arena *a, const char *key,
			Opentelemetry__Proto__Common__V1__AnyValue__ValueCase value_case)
{
	KeyValue *kv = arena__alloc(a, sizeof(*kv));
	AnyValue *v = arena__alloc(a, sizeof(*v));

	if (!kv || !v)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = arena__strdup(a, key);
	v->value_case = value_case;
	kv->value = v;
	return kv->key ? kv : NULL;
}

static KeyValue *kv_str(struct arena *a, const char *key, const char *value)
{
	KeyValue *kv = kv_new(a, key,
			      OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);

	if (!kv || !(kv->value->string_value = arena__strdup(a, value)))
		return NULL;
	return kv;
}

static KeyValue *kv_int(struct arena *a, const char *key, int64_t value)
{
	KeyValue *kv = kv_new(a, key,
			      OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);

	if (kv)
		kv->value->int_value = value;
	return kv;
}

static KeyValue *kv_double(struct arena *a, const char *key, double value)
{
	KeyValue *kv = kv_new(a, key,
			      OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE);

	if (kv)
		kv->value->double_value = value;
	return kv;
}

/* A growing list of attributes in the arena (attribute lists are short: realloc by copy). */
struct kvs {
	KeyValue **v;
	size_t n, cap;
};

static void kvs__add(struct arena *a, struct kvs *l, KeyValue *kv)
{
	if (!kv)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers (repeated field)
		KeyValue **v = arena__alloc(a, cap * sizeof(*v));

		if (!v)
			return;
		if (l->n)
			memcpy(v, l->v, l->n * sizeof(*v)); // NOLINT(bugprone-sizeof-expression)
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = kv;
}

void otlp_resource__init(struct otlp_resource *r, char *host, size_t host_len)
{
	memset(r, 0, sizeof(*r));
	r->service_name = "nexus-agent";
	r->service_version = NX_VERSION;
	if (host_len) {
		host[0] = '\0';
		gethostname(host, host_len - 1);
		host[host_len - 1] = '\0';
		r->host_name = host;
	}
	r->k8s_node_name = getenv("NODE_NAME");
	r->k8s_pod_name = getenv("POD_NAME");
	r->k8s_namespace = getenv("POD_NAMESPACE");
}

static Opentelemetry__Proto__Resource__V1__Resource *resource(struct arena *a,
							       const struct otlp_resource *res)
{
	Opentelemetry__Proto__Resource__V1__Resource *r = arena__alloc(a, sizeof(*r));
	const struct { const char *k, *v; } attrs[] = {
		{ "service.name", res->service_name },	   { "service.version", res->service_version },
		{ "host.name", res->host_name },	   { "k8s.node.name", res->k8s_node_name },
		{ "k8s.pod.name", res->k8s_pod_name },	   { "k8s.namespace.name", res->k8s_namespace },
	};
	struct kvs l = {};

	if (!r)
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(r);
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (attrs[i].v && attrs[i].v[0])
			kvs__add(a, &l, kv_str(a, attrs[i].k, attrs[i].v));
	r->attributes = l.v;
	r->n_attributes = l.n;
	return r;
}

static Opentelemetry__Proto__Common__V1__InstrumentationScope *scope(struct arena *a)
{
	Opentelemetry__Proto__Common__V1__InstrumentationScope *s = arena__alloc(a, sizeof(*s));

	if (!s)
		return NULL;
	opentelemetry__proto__common__v1__instrumentation_scope__init(s);
	s->name = "nexus-agent";
	s->version = NX_VERSION;
	return s;
}

/* A request into out (malloc'ed, the caller frees it); 0 or -ENOMEM with out->len 0. What the
 * generated ..._pack() wrappers do, for either request. */
static int pack(const ProtobufCMessage *msg, struct otlp_buf *out)
{
	out->len = protobuf_c_message_get_packed_size(msg);
	out->data = malloc(out->len ? out->len : 1);
	if (!out->data) {
		out->len = 0;
		return -ENOMEM;
	}
	protobuf_c_message_pack(msg, out->data);
	return 0;
}

/* --- metrics ------------------------------------------------------------------------------- */

/* db.query.summary per fingerprint, from the nexus_postgres_query_info family (normalised text:
 * no literals). */
static const char *query_text(const struct metric_model *m, const char *fingerprint)
{
	const struct mm_family *f = metric_model__find(m, "nexus_postgres_query_info");

	for (int i = 0; f && i < f->n_samples; i++) {
		const char *fp = mm_sample__label(&f->samples[i], "fingerprint");

		if (fp && !strcmp(fp, fingerprint))
			return mm_sample__label(&f->samples[i], "query");
	}
	return NULL;
}

static void point_attributes(struct arena *a, const struct metric_model *m,
			     const struct otlp_name *row, const struct mm_sample *s, struct kvs *l)
{
	char buf[96], addr[256];
	int port;

	if (row && row->system)
		kvs__add(a, l, kv_str(a, "db.system.name", row->system));
	for (int i = 0; i < s->n_labels; i++) {
		const struct mm_label *lb = &s->labels[i];
		const char *attr = otlp_names__attribute(row, lb->name, buf, sizeof(buf));

		if (!strcmp(attr, "-"))
			continue;
		if (!strcmp(attr, "server.address+server.port")) {
			otlp_names__split_server(lb->value, addr, sizeof(addr), &port);
			kvs__add(a, l, kv_str(a, "server.address", addr));
			if (port >= 0)
				kvs__add(a, l, kv_int(a, "server.port", port));
			continue;
		}
		if (!strcmp(attr, "error.type") && !strcmp(lb->value, "ok"))
			continue;
		kvs__add(a, l, kv_str(a, attr, lb->value));
		if (!strcmp(lb->name, "fingerprint") && row &&
		    strcmp(row->prom, "nexus_postgres_query_info")) {
			const char *text = query_text(m, lb->value);

			if (text) {
				otlp_names__query_summary(text, addr, sizeof(addr));
				if (addr[0])
					kvs__add(a, l, kv_str(a, "db.query.summary", addr));
			}
		}
	}
}

/* A counter's or a gauge's point. Gauges have no start: the conventions leave it unset. */
static NumberDataPoint *number_point(struct arena *a, const struct mm_family *f,
				     const struct mm_sample *s, const struct kvs *attrs,
				     uint64_t start, uint64_t now)
{
	NumberDataPoint *p = arena__alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	if (f->type == MM_COUNTER)
		p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
	p->as_double = s->value;
	p->attributes = attrs->v;
	p->n_attributes = attrs->n;
	return p;
}

/* Explicit buckets: OTLP counts per bucket, the model cumulative ones. */
static HistogramDataPoint *hist_point(struct arena *a, const struct mm_family *f,
				      const struct mm_sample *s, const struct kvs *attrs,
				      uint64_t start, uint64_t now)
{
	HistogramDataPoint *p = arena__alloc(a, sizeof(*p));
	int nb = f->n_bounds;
	uint64_t prev = 0;

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	p->attributes = attrs->v;
	p->n_attributes = attrs->n;
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->count = s->count;
	p->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
	p->sum = s->sum;
	p->explicit_bounds = (double *)f->bounds;
	p->n_explicit_bounds = nb;
	p->bucket_counts = arena__alloc(a, (nb + 1) * sizeof(uint64_t));
	if (!p->bucket_counts)
		return NULL;
	p->n_bucket_counts = nb + 1;
	for (int i = 0; i <= nb; i++) {
		uint64_t cum = i < nb ? (s->buckets ? s->buckets[i] : 0) : s->count;

		/* A cumulative count never goes down; if one did, say 0 rather than wrap. */
		p->bucket_counts[i] = cum > prev ? cum - prev : 0;
		if (cum > prev)
			prev = cum;
	}
	return p;
}

/* Exponential buckets from the sample's fine since-start histogram (mm_sample.exp), at scale
 * OTLP_EXP_SCALE; see otlp_encode.h for the error this costs. */
static ExpDataPoint *exp_point(struct arena *a, const struct mm_sample *s,
			       const struct kvs *attrs, uint64_t start, uint64_t now);

/* One sample's data point, of the kind its metric holds, with its attributes; NULL: no memory. */
static void *sample_point(struct arena *a, const struct metric_model *m,
			  const struct mm_family *f, const struct mm_sample *s, bool exp,
			  const struct kvs *attrs)
{
	uint64_t start = m->start_unix_ns, now = m->time_unix_ns;

	if (f->type != MM_HISTOGRAM)
		return number_point(a, f, s, attrs, start, now);
	if (exp)
		return exp_point(a, s, attrs, start, now);
	return hist_point(a, f, s, attrs, start, now);
}

/* The OTLP data kind a family of this type becomes. */
static Opentelemetry__Proto__Metrics__V1__Metric__DataCase data_case_of(enum mm_type type,
									 bool exponential)
{
	switch (type) {
	case MM_COUNTER:
		return OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
	case MM_GAUGE:
		return OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
	case MM_HISTOGRAM:
		return exponential
			       ? OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM
			       : OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
	}
	return OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA__NOT_SET;
}

static Metric *new_metric(struct arena *a, const char *name, const char *unit, const char *help,
			  enum mm_type type, bool exponential)
{
	Metric *mt = arena__alloc(a, sizeof(*mt));

	if (!mt)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(mt);
	mt->name = arena__strdup(a, name);
	mt->unit = (char *)(unit ? unit : "");
	mt->description = (char *)(help ? help : "");
	switch (type) {
	case MM_COUNTER:
		mt->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		mt->sum = arena__alloc(a, sizeof(*mt->sum));
		if (!mt->sum)
			return NULL;
		opentelemetry__proto__metrics__v1__sum__init(mt->sum);
		mt->sum->is_monotonic = 1;
		mt->sum->aggregation_temporality =
			OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		break;
	case MM_GAUGE:
		mt->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
		mt->gauge = arena__alloc(a, sizeof(*mt->gauge));
		if (!mt->gauge)
			return NULL;
		opentelemetry__proto__metrics__v1__gauge__init(mt->gauge);
		break;
	case MM_HISTOGRAM:
		if (exponential) {
			mt->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM;
			mt->exponential_histogram =
				arena__alloc(a, sizeof(*mt->exponential_histogram));
			if (!mt->exponential_histogram)
				return NULL;
			opentelemetry__proto__metrics__v1__exponential_histogram__init(
				mt->exponential_histogram);
			mt->exponential_histogram->aggregation_temporality =
				OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
			break;
		}
		mt->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		mt->histogram = arena__alloc(a, sizeof(*mt->histogram));
		if (!mt->histogram)
			return NULL;
		opentelemetry__proto__metrics__v1__histogram__init(mt->histogram);
		mt->histogram->aggregation_temporality =
			OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		break;
	}
	return mt;
}

/* Appends n points (void **) to one of the metric's point arrays, growing it by copy. */
static void append_points(struct arena *a, void ***arr, size_t *n, void **add, size_t k)
{
	void **v;

	if (!k)
		return;
	v = arena__alloc(a, (*n + k) * sizeof(*v));
	if (!v)
		return;
	if (*n)
		memcpy(v, *arr, *n * sizeof(*v));
	memcpy(v + *n, add, k * sizeof(*v));
	*arr = v;
	*n += k;
}

/* Whether a family's histogram samples all carry fine buckets (exponential mode needs them). */
static bool family_has_exp(const struct mm_family *f)
{
	for (int i = 0; i < f->n_samples; i++)
		if (!f->samples[i].exp)
			return false;
	return f->n_samples > 0;
}

int otlp_encode__metrics(const struct metric_model *m, const struct otlp_resource *res,
			 enum otlp_hist_mode mode, struct otlp_buf *out)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm, *smp = &sm;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rmp = &rm;
	struct arena a = {};
	Metric **metrics;
	size_t n_metrics = 0;
	int err = 0;

	out->data = NULL;
	out->len = 0;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&req);
	opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
	opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers (repeated field)
	metrics = arena__alloc(&a, (m->n_families + 1) * sizeof(*metrics));
	rm.resource = resource(&a, res);
	sm.scope = scope(&a);
	if (!metrics || !rm.resource || !sm.scope)
		goto oom;

	for (int fi = 0; fi < m->n_families; fi++) {
		const struct mm_family *f = &m->families[fi];
		const struct otlp_name *row = otlp_names__find(f->name);
		bool exp = f->type == MM_HISTOGRAM && mode == OTLP_HIST_EXPONENTIAL &&
			   family_has_exp(f);
		char derived[128];
		const char *name = row ? row->otel : derived;
		const char *unit = row && row->unit ? row->unit : f->unit;
		void **points;
		Metric *mt = NULL;
		size_t np = 0;

		if (!row)
			otlp_names__derive(f->name, f->type == MM_COUNTER, derived, sizeof(derived));
		if (!f->n_samples)
			continue;
		/* Families that share an OTel name (Redis and PostgreSQL durations) become one
		 * metric when they agree on type, unit and buckets. */
		for (size_t i = 0; i < n_metrics && !mt; i++) {
			Metric *o = metrics[i];

			if (strcmp(o->name, name) || strcmp(o->unit, unit ? unit : "") ||
			    o->data_case != data_case_of(f->type, exp))
				continue;
			/* explicit-bucket histograms also agree on their bounds */
			if (f->type != MM_HISTOGRAM || exp ||
			    (o->histogram->n_data_points &&
			     o->histogram->data_points[0]->n_explicit_bounds == (size_t)f->n_bounds &&
			     !memcmp(o->histogram->data_points[0]->explicit_bounds, f->bounds,
				     f->n_bounds * sizeof(double))))
				mt = o;
		}
		if (!mt) {
			mt = new_metric(&a, name, unit, f->help, f->type, exp);
			if (!mt)
				goto oom;
			metrics[n_metrics++] = mt;
		} else if (f->help && strcmp(mt->description, f->help) &&
			   !strstr(mt->description, f->help)) {
			/* one metric, several families: each one's description, in order */
			char *d = arena__alloc(&a, strlen(mt->description) + strlen(f->help) + 4);

			if (d) {
				sprintf(d, "%s | %s", mt->description, f->help);
				mt->description = d;
			}
		}
		points = arena__alloc(&a, f->n_samples * sizeof(*points));
		if (!points)
			goto oom;
		for (int si = 0; si < f->n_samples; si++) {
			const struct mm_sample *s = &f->samples[si];
			struct kvs l = {};

			point_attributes(&a, m, row, s, &l);
			if (!(points[np++] = sample_point(&a, m, f, s, exp, &l)))
				goto oom;
		}
		switch (mt->data_case) {
		case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
			append_points(&a, (void ***)&mt->sum->data_points, &mt->sum->n_data_points,
				      points, np);
			break;
		case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
			append_points(&a, (void ***)&mt->gauge->data_points,
				      &mt->gauge->n_data_points, points, np);
			break;
		case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
			append_points(&a, (void ***)&mt->histogram->data_points,
				      &mt->histogram->n_data_points, points, np);
			break;
		case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
			append_points(&a, (void ***)&mt->exponential_histogram->data_points,
				      &mt->exponential_histogram->n_data_points, points, np);
			break;
		default:
			break;
		}
		if (a.oom)
			goto oom;
	}
	sm.metrics = metrics;
	sm.n_metrics = n_metrics;
	rm.scope_metrics = &smp;
	rm.n_scope_metrics = 1;
	req.resource_metrics = &rmp;
	req.n_resource_metrics = 1;
	if (a.oom)
		goto oom;
	err = pack(&req.base, out);
	goto done;
oom:
	err = -ENOMEM;
done:
	arena__free(&a);
	return err;
}

/* --- exponential histograms ---------------------------------------------------------------- */

#include <math.h>

/* Bucket i of scale OTLP_EXP_SCALE holds (2^(i/2^scale), 2^((i+1)/2^scale)]. */
static int32_t exp_index(double v)
{
	return (int32_t)ceil(log2(v) * (1 << OTLP_EXP_SCALE)) - 1;
}

static double exp_lower(int32_t i)
{
	return exp2((double)i / (1 << OTLP_EXP_SCALE));
}

/* The exponential buckets a fine range [lo, hi) spans; bucket 0 of the stats (below 512 ns,
 * lo = 0) goes whole to the bucket of its middle. */
static void exp_span(double lo, double hi, int32_t *first, int32_t *last)
{
	if (!(lo > 0)) {
		*first = *last = exp_index(hi / 2);
		return;
	}
	*first = exp_index(lo);
	*last = exp_index(hi * (1 - 1e-12)); /* hi is excluded */
	if (*last < *first)
		*last = *first;
}

/*
 * Spreads count over the exponential buckets [first, last] in proportion to how much of [lo, hi)
 * each covers (values taken as uniform within a fine range), rounding by largest remainder so
 * the counts add up exactly.
 */
static void exp_spread(uint64_t *out, int32_t offset, double lo, double hi, uint64_t count)
{
	double frac[64];
	uint64_t given = 0;
	int32_t first, last;
	int k, n;

	exp_span(lo, hi, &first, &last);
	n = last - first + 1;
	if (n == 1 || n > 64 || !(lo > 0)) {
		out[first - offset] += count;
		return;
	}
	for (k = 0; k < n; k++) {
		double a = fmax(lo, exp_lower(first + k)), b = fmin(hi, exp_lower(first + k + 1));
		double share = b > a ? (double)count * (b - a) / (hi - lo) : 0;
		uint64_t whole = (uint64_t)share;

		out[first + k - offset] += whole;
		given += whole;
		frac[k] = share - (double)whole;
	}
	while (given < count) {
		int best = 0;

		for (k = 1; k < n; k++)
			if (frac[k] > frac[best])
				best = k;
		out[first + best - offset]++;
		frac[best] = -1;
		given++;
	}
}

static ExpDataPoint *exp_point(struct arena *a, const struct mm_sample *s,
			       const struct kvs *attrs, uint64_t start, uint64_t now)
{
	const struct mm_exp *e = s->exp;
	ExpDataPoint *p = arena__alloc(a, sizeof(*p));
	Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets *pos;
	int32_t lo_idx = INT32_MAX, hi_idx = INT32_MIN;

	if (!p)
		return NULL;
	pos = arena__alloc(a, sizeof(*pos));
	if (!pos)
		return NULL;
	opentelemetry__proto__metrics__v1__exponential_histogram_data_point__init(p);
	opentelemetry__proto__metrics__v1__exponential_histogram_data_point__buckets__init(pos);
	p->attributes = attrs->v;
	p->n_attributes = attrs->n;
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->count = s->count;
	p->_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT___SUM_SUM;
	p->sum = s->sum;
	p->scale = OTLP_EXP_SCALE;
	p->positive = pos;
	for (int i = 0; i < e->n; i++) {
		int32_t first, last;

		if (!e->count[i] || !(e->hi[i] > 0))
			continue;
		exp_span(e->lo[i], e->hi[i], &first, &last);
		if (first < lo_idx)
			lo_idx = first;
		if (last > hi_idx)
			hi_idx = last;
	}
	if (lo_idx > hi_idx)
		return p;
	pos->offset = lo_idx;
	pos->n_bucket_counts = (size_t)(hi_idx - lo_idx) + 1;
	pos->bucket_counts = arena__alloc(a, pos->n_bucket_counts * sizeof(uint64_t));
	if (!pos->bucket_counts)
		return NULL;
	memset(pos->bucket_counts, 0, pos->n_bucket_counts * sizeof(uint64_t));
	for (int i = 0; i < e->n; i++)
		if (e->count[i] && e->hi[i] > 0)
			exp_spread(pos->bucket_counts, lo_idx, e->lo[i], e->hi[i], e->count[i]);
	return p;
}

/* --- logs ---------------------------------------------------------------------------------- */

static void attr_key(struct otlp_attr *at, const char *key, enum otlp_attr_type t)
{
	memset(at, 0, sizeof(*at));
	snprintf(at->key, sizeof(at->key), "%s", key);
	at->type = t;
}

void otlp_log__str(struct otlp_log *l, const char *key, const char *value)
{
	if (l->n_attrs >= OTLP_LOG_ATTRS || !value)
		return;
	attr_key(&l->attrs[l->n_attrs], key, OTLP_ATTR_STR);
	snprintf(l->attrs[l->n_attrs++].s, OTLP_LOG_STR, "%s", value);
}

void otlp_log__int(struct otlp_log *l, const char *key, int64_t value)
{
	if (l->n_attrs >= OTLP_LOG_ATTRS)
		return;
	attr_key(&l->attrs[l->n_attrs], key, OTLP_ATTR_INT);
	l->attrs[l->n_attrs++].i = value;
}

void otlp_log__double(struct otlp_log *l, const char *key, double value)
{
	if (l->n_attrs >= OTLP_LOG_ATTRS)
		return;
	attr_key(&l->attrs[l->n_attrs], key, OTLP_ATTR_DOUBLE);
	l->attrs[l->n_attrs++].d = value;
}

void otlp_log__server(struct otlp_log *l, const char *prefix, const char *server)
{
	char addr[OTLP_LOG_STR], key[48];
	int port;

	if (!server || !server[0])
		return;
	otlp_names__split_server(server, addr, sizeof(addr), &port);
	snprintf(key, sizeof(key), "%s.address", prefix);
	otlp_log__str(l, key, addr);
	if (port >= 0) {
		snprintf(key, sizeof(key), "%s.port", prefix);
		otlp_log__int(l, key, port);
	}
}

int otlp_encode__logs(const struct otlp_log *logs, int n, const struct otlp_resource *res,
		      struct otlp_buf *out)
{
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest req;
	Opentelemetry__Proto__Logs__V1__ResourceLogs rl, *rlp = &rl;
	Opentelemetry__Proto__Logs__V1__ScopeLogs sl, *slp = &sl;
	Opentelemetry__Proto__Logs__V1__LogRecord **recs;
	struct arena a = {};
	int err = 0;

	out->data = NULL;
	out->len = 0;
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&req);
	opentelemetry__proto__logs__v1__resource_logs__init(&rl);
	opentelemetry__proto__logs__v1__scope_logs__init(&sl);
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers (repeated field)
	recs = arena__alloc(&a, (n + 1) * sizeof(*recs));
	rl.resource = resource(&a, res);
	sl.scope = scope(&a);
	if (!recs || !rl.resource || !sl.scope)
		goto oom;
	for (int i = 0; i < n; i++) {
		const struct otlp_log *lg = &logs[i];
		Opentelemetry__Proto__Logs__V1__LogRecord *r = arena__alloc(&a, sizeof(*r));
		AnyValue *body = arena__alloc(&a, sizeof(*body));
		struct kvs l = {};

		if (!r || !body)
			goto oom;
		opentelemetry__proto__logs__v1__log_record__init(r);
		opentelemetry__proto__common__v1__any_value__init(body);
		r->time_unix_nano = lg->time_unix_ns;
		r->observed_time_unix_nano = lg->observed_unix_ns;
		r->severity_number = lg->severity_number;
		r->severity_text = arena__strdup(&a, lg->severity_text);
		r->event_name = arena__strdup(&a, lg->event_name);
		body->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		body->string_value = arena__strdup(&a, lg->body);
		r->body = body;
		for (int k = 0; k < lg->n_attrs && k < OTLP_LOG_ATTRS; k++) {
			const struct otlp_attr *at = &lg->attrs[k];

			kvs__add(&a, &l, at->type == OTLP_ATTR_STR ? kv_str(&a, at->key, at->s)
					 : at->type == OTLP_ATTR_INT ? kv_int(&a, at->key, at->i)
								     : kv_double(&a, at->key, at->d));
		}
		r->attributes = l.v;
		r->n_attributes = l.n;
		recs[i] = r;
	}
	if (a.oom)
		goto oom;
	sl.log_records = recs;
	sl.n_log_records = n;
	rl.scope_logs = &slp;
	rl.n_scope_logs = 1;
	req.resource_logs = &rlp;
	req.n_resource_logs = 1;
	err = pack(&req.base, out);
	goto done;
oom:
	err = -ENOMEM;
done:
	arena__free(&a);
	return err;
}
