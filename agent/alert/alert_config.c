// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The alerting configuration file (format in alert_config.h), read with libyaml's event API.
 * Events rather than the document API: no tree is built, aliases are refused (a walk over a tree
 * of shared alias nodes can be exponential), and every node we do not expect is an error at its
 * first event, so a deeply nested bad file stops at its first unexpected level.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "alert/alert_config.h"
#include "alert/runbook.h"

#define ACFG_MAX_FILE (1 << 20) /* 64 overrides + 64 custom rules fit in a few tens of KiB */
#define DISP_LEN 48		/* how much of a bad value a message quotes */

struct acfg_parser {
	yaml_parser_t yp;
	yaml_event_t ev; /* the current event, valid while has_ev */
	bool has_ev;
	const char *name;
	const char *buf;
	size_t len;
	const char *const *known;
	struct alert_config *c;
	char *err;
	size_t err_len;
};

void alert_config__init(struct alert_config *c)
{
	memset(c, 0, sizeof(*c));
	c->resend_interval_ns = 60ULL * 1000000000ULL;
	c->timeout_ns = 5ULL * 1000000000ULL;
	snprintf(c->runbook_url_base, sizeof(c->runbook_url_base), "%s", RUNBOOK_URL_BASE_DEFAULT);
}

const char *acfg_op__str(enum acfg_op op)
{
	static const char *const ops[] = { ">", ">=", "<", "<=" };

	return (unsigned)op < sizeof(ops) / sizeof(ops[0]) ? ops[op] : "?";
}

int alert_config__duration(const char *s, uint64_t *ns)
{
	/* "ms" before "m" so the longer unit matches; rank makes "1h30m" legal and "30m1h" not */
	static const struct {
		const char *unit;
		uint64_t ns;
		int rank;
	} units[] = {
		{ "h", 3600000000000ULL, 0 },
		{ "ms", 1000000ULL, 3 },
		{ "m", 60000000000ULL, 1 },
		{ "s", 1000000000ULL, 2 },
	};
	uint64_t total = 0;
	const char *q = s;
	int prev = -1;

	if (!s || !*s)
		return -1;
	while (*q) {
		const char *start = q;
		uint64_t unit_ns = 0, ip, part;
		size_t unit_len = 0;
		char num[32];
		int digits = 0, rank = -1;
		bool dot = false;

		for (; isdigit((unsigned char)*q) || (*q == '.' && !dot); q++) {
			if (*q == '.')
				dot = true;
			else
				digits++;
		}
		if (!digits)
			return -1;
		if (!*q) {
			/* a bare number is seconds, but only on its own: "1m30" is a typo */
			if (start != s)
				return -1;
			unit_ns = 1000000000ULL;
		} else {
			for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
				unit_len = strlen(units[i].unit);
				if (strncmp(q, units[i].unit, unit_len) == 0) {
					unit_ns = units[i].ns;
					rank = units[i].rank;
					break;
				}
			}
			if (!unit_ns || rank <= prev)
				return -1;
			prev = rank;
		}
		/* the integer part exactly, the fraction through a double (below one unit) */
		for (ip = 0; isdigit((unsigned char)*start); start++) {
			if (ip > (UINT64_MAX - 9) / 10)
				return -1;
			ip = ip * 10 + (*start - '0');
		}
		if (ip > UINT64_MAX / unit_ns)
			return -1;
		part = ip * unit_ns;
		if (*start == '.') {
			size_t n = q - start;

			if (n >= sizeof(num))
				n = sizeof(num) - 1; /* digits past ~17 cannot change a double */
			memcpy(num, start, n);
			num[n] = '\0';
			part += (uint64_t)round(strtod(num, NULL) * (double)unit_ns);
		}
		if (*q)
			q += unit_len;
		if (part < ip * unit_ns || total > UINT64_MAX - part)
			return -1;
		total += part;
	}
	*ns = total;
	return 0;
}

/* A bad value as a message quotes it: control bytes become '?', long ones end in "...". */
static const char *disp(char *out, const char *s)
{
	size_t i;

	for (i = 0; i < DISP_LEN - 4 && s[i]; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i])
		memcpy(out + i, "...", 3), i += 3;
	out[i] = '\0';
	return out;
}

__attribute__((format(printf, 3, 4))) static int fail(struct acfg_parser *p, yaml_mark_t m,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->err_len)
		return -1;
	n = snprintf(p->err, p->err_len, "%s:%zu:%zu: ", p->name, m.line + 1, m.column + 1);
	if (n >= 0 && (size_t)n < p->err_len) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->err_len - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* libyaml leaves problem_mark unset for reader errors (bad UTF-8, control bytes): count lines. */
static yaml_mark_t offset_mark(const struct acfg_parser *p, size_t off)
{
	yaml_mark_t m = { .index = off };

	for (size_t i = 0; i < off && i < p->len; i++) {
		if (p->buf[i] == '\n') {
			m.line++;
			m.column = 0;
		} else {
			m.column++;
		}
	}
	return m;
}

static int syntax_error(struct acfg_parser *p)
{
	yaml_parser_t *y = &p->yp;
	const char *problem = y->problem ? y->problem : "unknown error";

	switch (y->error) {
	case YAML_MEMORY_ERROR:
		return fail(p, y->mark, "out of memory");
	case YAML_READER_ERROR:
		if (y->problem_value != -1)
			return fail(p, offset_mark(p, y->problem_offset), "bad input: %s (#%X)",
				    problem, (unsigned)y->problem_value);
		return fail(p, offset_mark(p, y->problem_offset), "bad input: %s", problem);
	default:
		break;
	}
	if (y->context)
		return fail(p, y->problem_mark, "syntax error: %s %s at line %zu", problem, y->context,
			    y->context_mark.line + 1);
	return fail(p, y->problem_mark, "syntax error: %s", problem);
}

static int next(struct acfg_parser *p)
{
	if (p->has_ev) {
		yaml_event_delete(&p->ev);
		p->has_ev = false;
	}
	if (!yaml_parser_parse(&p->yp, &p->ev))
		return syntax_error(p);
	p->has_ev = true;
	if (p->ev.type == YAML_ALIAS_EVENT)
		return fail(p, p->ev.start_mark, "aliases are not supported");
	return 0;
}

static const char *kind(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return "a scalar";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	default:
		return "nothing";
	}
}

static const char *sval(const struct acfg_parser *p)
{
	return (const char *)p->ev.data.scalar.value;
}

/* An empty value ("key:" with nothing after it, "~", "null"), which sections accept as empty. */
static bool is_null(const struct acfg_parser *p)
{
	const char *s;

	if (p->ev.type != YAML_SCALAR_EVENT || p->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = sval(p);
	return (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
		!strcmp(s, "NULL"));
}

static int expect_mapping(struct acfg_parser *p, const char *what)
{
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, p->ev.start_mark, "mapping expected for %s, found %s", what,
			    kind(&p->ev));
	return 0;
}

/* The current event as a C string; libyaml terminates scalars, but a "\0" escape hides bytes. */
static const char *scalar(struct acfg_parser *p, const char *what)
{
	if (p->ev.type != YAML_SCALAR_EVENT) {
		fail(p, p->ev.start_mark, "scalar expected for '%s', found %s", what, kind(&p->ev));
		return NULL;
	}
	if (strlen(sval(p)) != p->ev.data.scalar.length) {
		fail(p, p->ev.start_mark, "'%s' contains a NUL byte", what);
		return NULL;
	}
	return sval(p);
}

static int read_key(struct acfg_parser *p, char *key, size_t sz, yaml_mark_t *m)
{
	char d[DISP_LEN];
	const char *s;

	*m = p->ev.start_mark;
	if (p->ev.type != YAML_SCALAR_EVENT)
		return fail(p, *m, "scalar key expected, found %s", kind(&p->ev));
	s = scalar(p, "key");
	if (!s)
		return -1;
	if (strlen(s) >= sz)
		return fail(p, *m, "key '%s' is too long (%zu bytes, max %zu)", disp(d, s), strlen(s),
			    sz - 1);
	strcpy(key, s);
	return 0;
}

/* Copies a string value; too long is an error, never a truncation. An empty value gives "". */
static int get_str(struct acfg_parser *p, const char *what, char *dst, size_t sz)
{
	const char *s = scalar(p, what);
	char d[DISP_LEN];

	if (!s)
		return -1;
	if (is_null(p))
		s = "";
	if (strlen(s) >= sz)
		return fail(p, p->ev.start_mark, "'%s' is too long (%zu bytes, max %zu): '%s'", what,
			    strlen(s), sz - 1, disp(d, s));
	strcpy(dst, s);
	return 0;
}

static int get_bool(struct acfg_parser *p, const char *what, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	const char *s = scalar(p, what);
	char d[DISP_LEN];

	if (!s)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return 0;
		}
	}
	return fail(p, p->ev.start_mark, "bad boolean '%s' for '%s' (expected true/false, yes/no, on/off)",
		    disp(d, s), what);
}

static int get_number(struct acfg_parser *p, const char *what, double *out)
{
	const char *s = scalar(p, what);
	char d[DISP_LEN], *end;
	double v;

	if (!s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	/* strtod skips leading blanks and takes "nan"/"inf"; neither is a threshold */
	if (!*s || isspace((unsigned char)*s) || *end || errno == ERANGE || !isfinite(v))
		return fail(p, p->ev.start_mark, "bad number '%s' for '%s'", disp(d, s), what);
	*out = v;
	return 0;
}

static int get_duration(struct acfg_parser *p, const char *what, uint64_t *ns)
{
	const char *s = scalar(p, what);
	char d[DISP_LEN];

	if (!s)
		return -1;
	if (alert_config__duration(s, ns))
		return fail(p, p->ev.start_mark,
			    "bad duration '%s' for '%s' (expected e.g. 500ms, 15s, 5m, 1h, 1m30s or "
			    "plain seconds)",
			    disp(d, s), what);
	return 0;
}

static int get_severity(struct acfg_parser *p, enum alert_severity *out)
{
	const char *s = scalar(p, "severity");
	char d[DISP_LEN];
	int v;

	if (!s)
		return -1;
	v = alert_severity__parse(s);
	if (v < 0)
		return fail(p, p->ev.start_mark,
			    "bad severity '%s' (expected info, warning or critical)", disp(d, s));
	*out = v;
	return 0;
}

static int get_op(struct acfg_parser *p, enum acfg_op *out)
{
	const char *s = scalar(p, "op");
	char d[DISP_LEN];

	if (!s)
		return -1;
	for (int i = OP_GT; i <= OP_LE; i++) {
		if (!strcmp(s, acfg_op__str(i))) {
			*out = i;
			return 0;
		}
	}
	return fail(p, p->ev.start_mark, "bad op '%s' (expected \">\", \">=\", \"<\" or \"<=\")",
		    disp(d, s));
}

static bool is_ident(const char *s, bool colon)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isascii((unsigned char)*s) ||
		    !(isalnum((unsigned char)*s) || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

static bool is_known(const char *const *known, const char *name)
{
	for (; *known; known++)
		if (!strcmp(*known, name))
			return true;
	return false;
}

static int find_field(const char *const *fields, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(fields[i], key))
			return (int)i;
	return -1;
}

/* Index i of this table is bit 1 << i of enum acfg_field. */
static const char *const override_fields[] = { "enabled",   "severity", "for", "clear_for",
					       "threshold", "clear" };

static int parse_override(struct acfg_parser *p, struct acfg_override *o)
{
	const size_t nf = sizeof(override_fields) / sizeof(override_fields[0]);
	char key[ALERT_NAME_LEN], d[DISP_LEN];
	yaml_mark_t km;
	int f, err;

	if (is_null(p))
		return 0; /* named with nothing under it: the built-in as is */
	if (p->ev.type != YAML_MAPPING_START_EVENT)
		return fail(p, p->ev.start_mark, "mapping expected for rule '%s', found %s", o->rule,
			    kind(&p->ev));
	for (;;) {
		if (next(p))
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (read_key(p, key, sizeof(key), &km))
			return -1;
		f = find_field(override_fields, nf, key);
		if (f < 0)
			return fail(p, km,
				    "unknown field '%s' in rule '%s' (expected enabled, severity, "
				    "for, clear_for, threshold or clear)",
				    disp(d, key), o->rule);
		if (o->fields & (1u << f))
			return fail(p, km, "duplicate field '%s' in rule '%s'", key, o->rule);
		if (next(p))
			return -1;
		switch (1u << f) {
		case ACF_ENABLED:
			err = get_bool(p, key, &o->enabled);
			break;
		case ACF_SEVERITY:
			err = get_severity(p, &o->severity);
			break;
		case ACF_FOR:
			err = get_duration(p, key, &o->for_ns);
			break;
		case ACF_CLEAR_FOR:
			err = get_duration(p, key, &o->clear_for_ns);
			break;
		case ACF_THRESHOLD:
			err = get_number(p, key, &o->threshold);
			break;
		default:
			err = get_number(p, key, &o->clear);
			break;
		}
		if (err)
			return -1;
		o->fields |= 1u << f;
	}
}

static int parse_rules(struct acfg_parser *p)
{
	struct alert_config *c = p->c;
	char name[ALERT_NAME_LEN], d[DISP_LEN];
	struct acfg_override *o;
	yaml_mark_t km;

	if (is_null(p))
		return 0;
	if (expect_mapping(p, "'rules' (built-in rule name -> fields)"))
		return -1;
	for (;;) {
		if (next(p))
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (read_key(p, name, sizeof(name), &km))
			return -1;
		if (p->known && !is_known(p->known, name))
			return fail(p, km, "unknown rule '%s' (custom rules go under 'custom_rules')",
				    disp(d, name));
		for (int i = 0; i < c->n_overrides; i++)
			if (!strcmp(c->overrides[i].rule, name))
				return fail(p, km, "rule '%s' is overridden twice (first at line %d)",
					    name, c->overrides[i].line);
		if (c->n_overrides >= ACFG_MAX_OVERRIDES)
			return fail(p, km, "too many rule overrides (max %d)", ACFG_MAX_OVERRIDES);
		o = &c->overrides[c->n_overrides];
		memset(o, 0, sizeof(*o));
		strcpy(o->rule, name);
		o->line = km.line + 1;
		if (next(p) || parse_override(p, o))
			return -1;
		c->n_overrides++;
	}
}

static int parse_match(struct acfg_parser *p, struct acfg_custom *r)
{
	char key[ALERT_LABEL_NAME_LEN], d[DISP_LEN];
	struct alert_label *l;
	yaml_mark_t km;

	if (is_null(p))
		return 0;
	if (expect_mapping(p, "'match' (label: value)"))
		return -1;
	for (;;) {
		if (next(p))
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (read_key(p, key, sizeof(key), &km))
			return -1;
		if (!is_ident(key, false))
			return fail(p, km, "invalid label name '%s'", disp(d, key));
		for (int i = 0; i < r->n_match; i++)
			if (!strcmp(r->match[i].name, key))
				return fail(p, km, "duplicate label '%s' in 'match'", key);
		if (r->n_match >= ACFG_MAX_MATCH)
			return fail(p, km, "too many labels in 'match' (max %d)", ACFG_MAX_MATCH);
		l = &r->match[r->n_match];
		strcpy(l->name, key);
		if (next(p) || get_str(p, key, l->value, sizeof(l->value)))
			return -1;
		r->n_match++;
	}
}

enum {
	CF_NAME,
	CF_METRIC,
	CF_MATCH,
	CF_RATE,
	CF_OP,
	CF_THRESHOLD,
	CF_CLEAR,
	CF_FOR,
	CF_CLEAR_FOR,
	CF_SEVERITY,
	CF_SUMMARY,
	CF_RUNBOOK_URL,
	CF__COUNT
};
static const char *const custom_fields[CF__COUNT] = {
	"name", "metric", "match", "rate", "op", "threshold", "clear", "for", "clear_for",
	"severity", "summary", "runbook_url",
};

static int custom_name(struct acfg_parser *p, struct acfg_custom *r)
{
	const struct alert_config *c = p->c;
	char d[DISP_LEN];

	if (get_str(p, "name", r->name, sizeof(r->name)))
		return -1;
	if (!is_ident(r->name, false))
		return fail(p, p->ev.start_mark,
			    "invalid custom rule name '%s' (expected [a-zA-Z_][a-zA-Z0-9_]*)",
			    disp(d, r->name));
	if (p->known && is_known(p->known, r->name))
		return fail(p, p->ev.start_mark,
			    "custom rule name '%s' is a built-in rule (change it under 'rules')",
			    r->name);
	for (int i = 0; i < c->n_custom; i++)
		if (!strcmp(c->custom[i].name, r->name))
			return fail(p, p->ev.start_mark,
				    "custom rule '%s' is defined twice (first at line %d)", r->name,
				    c->custom[i].line);
	return 0;
}

static int get_url(struct acfg_parser *p, const char *what, char *dst);

static int parse_custom(struct acfg_parser *p, struct acfg_custom *r)
{
	static const int required[] = { CF_NAME, CF_METRIC, CF_OP, CF_THRESHOLD };
	yaml_mark_t start = p->ev.start_mark, km, clear_mark = start;
	char key[ALERT_NAME_LEN], d[DISP_LEN];
	unsigned seen = 0;
	int f, err;

	memset(r, 0, sizeof(*r));
	r->severity = SEV_WARNING;
	r->line = start.line + 1;
	for (;;) {
		if (next(p))
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (read_key(p, key, sizeof(key), &km))
			return -1;
		f = find_field(custom_fields, CF__COUNT, key);
		if (f < 0)
			return fail(p, km,
				    "unknown field '%s' in a custom rule (expected name, metric, "
				    "match, rate, op, threshold, clear, for, clear_for, severity, "
				    "summary or runbook_url)",
				    disp(d, key));
		if (seen & (1u << f))
			return fail(p, km, "duplicate field '%s' in a custom rule", key);
		if (next(p))
			return -1;
		switch (f) {
		case CF_NAME:
			err = custom_name(p, r);
			break;
		case CF_METRIC:
			err = get_str(p, key, r->metric, sizeof(r->metric));
			/* Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]* */
			if (!err && !is_ident(r->metric, true))
				err = fail(p, p->ev.start_mark, "invalid metric name '%s'",
					   disp(d, r->metric));
			break;
		case CF_MATCH:
			err = parse_match(p, r);
			break;
		case CF_RATE:
			err = get_bool(p, key, &r->rate);
			break;
		case CF_OP:
			err = get_op(p, &r->op);
			break;
		case CF_THRESHOLD:
			err = get_number(p, key, &r->threshold);
			break;
		case CF_CLEAR:
			clear_mark = p->ev.start_mark;
			err = get_number(p, key, &r->clear);
			break;
		case CF_FOR:
			err = get_duration(p, key, &r->for_ns);
			break;
		case CF_CLEAR_FOR:
			err = get_duration(p, key, &r->clear_for_ns);
			break;
		case CF_SEVERITY:
			err = get_severity(p, &r->severity);
			break;
		case CF_RUNBOOK_URL:
			err = get_url(p, key, r->runbook_url);
			break;
		default:
			err = get_str(p, key, r->summary, sizeof(r->summary));
			break;
		}
		if (err)
			return -1;
		seen |= 1u << f;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (seen & (1u << required[i]))
			continue;
		if (seen & (1u << CF_NAME))
			return fail(p, start, "custom rule '%s' is missing '%s'", r->name,
				    custom_fields[required[i]]);
		return fail(p, start, "custom rule is missing '%s'", custom_fields[required[i]]);
	}
	if (!(seen & (1u << CF_CLEAR)))
		r->clear = r->threshold;
	/* Between threshold and clear the state holds; a clear past the threshold would mean
	 * a value that both fires and clears. */
	if ((r->op <= OP_GE && r->clear > r->threshold) || (r->op >= OP_LT && r->clear < r->threshold))
		return fail(p, clear_mark,
			    "clear %g is past threshold %g for op \"%s\" (it must be on the "
			    "resolving side)",
			    r->clear, r->threshold, acfg_op__str(r->op));
	return 0;
}

static int parse_custom_rules(struct acfg_parser *p)
{
	struct alert_config *c = p->c;

	if (is_null(p))
		return 0;
	if (p->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(p, p->ev.start_mark, "sequence expected for 'custom_rules', found %s",
			    kind(&p->ev));
	for (;;) {
		if (next(p))
			return -1;
		if (p->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (c->n_custom >= ACFG_MAX_CUSTOM)
			return fail(p, p->ev.start_mark, "too many custom rules (max %d)",
				    ACFG_MAX_CUSTOM);
		if (expect_mapping(p, "a custom rule"))
			return -1;
		if (parse_custom(p, &c->custom[c->n_custom]))
			return -1;
		c->n_custom++;
	}
}

static int get_url(struct acfg_parser *p, const char *what, char *dst)
{
	char d[DISP_LEN];
	const char *host;

	if (get_str(p, what, dst, ACFG_URL_LEN))
		return -1;
	if (!*dst)
		return 0; /* "" or nothing: no such receiver */
	if (!strncmp(dst, "http://", 7))
		host = dst + 7;
	else if (!strncmp(dst, "https://", 8))
		host = dst + 8;
	else
		return fail(p, p->ev.start_mark,
			    "bad URL '%s' for '%s' (must start with http:// or https://)",
			    disp(d, dst), what);
	if (!*host || *host == '/')
		return fail(p, p->ev.start_mark, "URL '%s' for '%s' has no host", disp(d, dst),
			    what);
	for (const char *s = dst; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return fail(p, p->ev.start_mark,
				    "URL '%s' for '%s' contains a space or control character",
				    disp(d, dst), what);
	return 0;
}

static int parse_notify(struct acfg_parser *p)
{
	static const char *const fields[] = { "alertmanager", "webhook", "resend_interval",
					      "timeout" };
	struct alert_config *c = p->c;
	char key[ALERT_NAME_LEN], d[DISP_LEN];
	unsigned seen = 0;
	yaml_mark_t km;
	uint64_t *dur;
	int f, err;

	if (is_null(p))
		return 0;
	if (expect_mapping(p, "'notify'"))
		return -1;
	for (;;) {
		if (next(p))
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (read_key(p, key, sizeof(key), &km))
			return -1;
		f = find_field(fields, sizeof(fields) / sizeof(fields[0]), key);
		if (f < 0)
			return fail(p, km,
				    "unknown field '%s' in 'notify' (expected alertmanager, "
				    "webhook, resend_interval or timeout)",
				    disp(d, key));
		if (seen & (1u << f))
			return fail(p, km, "duplicate field '%s' in 'notify'", key);
		if (next(p))
			return -1;
		switch (f) {
		case 0:
			err = get_url(p, key, c->alertmanager_url);
			break;
		case 1:
			err = get_url(p, key, c->webhook_url);
			break;
		default:
			dur = f == 2 ? &c->resend_interval_ns : &c->timeout_ns;
			err = get_duration(p, key, dur);
			/* 0 would resend every tick, or (curl) wait forever */
			if (!err && !*dur)
				err = fail(p, p->ev.start_mark, "'%s' must be greater than 0", key);
			break;
		}
		if (err)
			return -1;
		seen |= 1u << f;
	}
}

static int parse_runbook_base(struct acfg_parser *p)
{
	return get_url(p, "runbook_url_base", p->c->runbook_url_base);
}

static int parse_top(struct acfg_parser *p)
{
	static const struct {
		const char *key;
		int (*parse)(struct acfg_parser *p);
	} sections[] = {
		{ "rules", parse_rules },
		{ "custom_rules", parse_custom_rules },
		{ "notify", parse_notify },
		{ "runbook_url_base", parse_runbook_base },
	};
	const size_t n = sizeof(sections) / sizeof(sections[0]);
	char key[ALERT_NAME_LEN], d[DISP_LEN];
	unsigned seen = 0;
	yaml_mark_t km;
	size_t i;

	for (;;) {
		if (next(p))
			return -1;
		if (p->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (read_key(p, key, sizeof(key), &km))
			return -1;
		for (i = 0; i < n && strcmp(sections[i].key, key); i++)
			;
		if (i == n)
			return fail(p, km,
				    "unknown top-level key '%s' (expected rules, custom_rules, "
				    "notify or runbook_url_base)",
				    disp(d, key));
		if (seen & (1u << i))
			return fail(p, km, "duplicate key '%s'", key);
		seen |= 1u << i;
		if (next(p) || sections[i].parse(p))
			return -1;
	}
}

static int parse_stream(struct acfg_parser *p)
{
	if (next(p) || next(p)) /* stream start, then a document or the end */
		return -1;
	if (p->ev.type == YAML_STREAM_END_EVENT)
		return 0; /* empty, or only comments: the defaults */
	if (next(p))
		return -1;
	if (!is_null(p)) {
		if (p->ev.type != YAML_MAPPING_START_EVENT)
			return fail(p, p->ev.start_mark, "mapping expected at the top level, found %s",
				    kind(&p->ev));
		if (parse_top(p))
			return -1;
	}
	if (next(p) || next(p)) /* document end, then the stream's */
		return -1;
	if (p->ev.type != YAML_STREAM_END_EVENT)
		return fail(p, p->ev.start_mark, "only one YAML document is allowed");
	return 0;
}

/*
 * known_rules NULL means overrides are not checked against the built-ins (nor custom names):
 * for callers that do not have the engine's list.
 */
int alert_config__parse(struct alert_config *c, const char *yaml, size_t len, const char *name,
			const char *const *known_rules, char *err, size_t err_len)
{
	struct acfg_parser p = {
		.name = name ? name : "<config>",
		.buf = yaml,
		.len = len,
		.known = known_rules,
		.c = c,
		.err = err,
		.err_len = err_len,
	};
	int ret;

	if (err && err_len)
		err[0] = '\0';
	alert_config__init(c);
	if (!yaml_parser_initialize(&p.yp)) {
		if (err && err_len)
			snprintf(err, err_len, "%s: out of memory", p.name);
		return -1;
	}
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)(yaml ? yaml : ""),
				     yaml ? len : 0);
	ret = parse_stream(&p);
	if (p.has_ev)
		yaml_event_delete(&p.ev);
	yaml_parser_delete(&p.yp);
	return ret ? -1 : 0;
}

int alert_config__load(struct alert_config *c, const char *path, const char *const *known_rules,
		       char *err, size_t err_len)
{
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	FILE *f = NULL;
	int ret = -1;

	f = fopen(path, "r");
	if (!f)
		goto io_error;
	for (;;) {
		if (len == cap) {
			/* one byte past the limit tells a full file from a too large one */
			if (len > ACFG_MAX_FILE) {
				if (err && err_len)
					snprintf(err, err_len, "%s: file too large (max %d bytes)",
						 path, ACFG_MAX_FILE);
				goto cleanup;
			}
			cap = cap ? cap * 2 : 4096;
			if (cap > ACFG_MAX_FILE + 1)
				cap = ACFG_MAX_FILE + 1;
			nbuf = realloc(buf, cap);
			if (!nbuf)
				goto io_error;
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				goto io_error;
			break;
		}
	}
	ret = alert_config__parse(c, buf, len, path, known_rules, err, err_len);
	goto cleanup;

io_error:
	if (err && err_len)
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
cleanup:
	free(buf);
	if (f)
		fclose(f);
	return ret;
}
