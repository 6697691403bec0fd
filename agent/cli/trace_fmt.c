// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "capture/conn_table.h"
#include "capture/endpoint.h"
#include "cli/trace_fmt.h"

/* Text lines show this much of a chunk; JSON carries all captured bytes in data_hex. */
#define TEXT_PREVIEW 96
#define JSON_PREVIEW 256

size_t fmt_preview(char *out, size_t max_out, const uint8_t *data, size_t n)
{
	size_t o = 0;

	if (!max_out)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char esc[5];
		uint8_t b = data[i];
		size_t el;

		switch (b) {
		case '\r': strcpy(esc, "\\r"); break;
		case '\n': strcpy(esc, "\\n"); break;
		case '\t': strcpy(esc, "\\t"); break;
		case '\\': strcpy(esc, "\\\\"); break;
		case '"': strcpy(esc, "\\\""); break;
		default:
			if (b >= 0x20 && b < 0x7f) {
				esc[0] = (char)b;
				esc[1] = '\0';
			} else {
				snprintf(esc, sizeof(esc), "\\x%02x", b);
			}
		}
		el = strlen(esc);
		if (o + el >= max_out)
			break;
		memcpy(out + o, esc, el);
		o += el;
	}
	out[o] = '\0';
	return o;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, taken once, or the recording host's (replay) */
static int64_t offset_ns;

void trace_fmt__set_wall_offset(int64_t realtime_minus_mono_ns)
{
	offset_ns = realtime_minus_mono_ns;
}

void fmt_time(char *out, size_t len, uint64_t mono_ns)
{
	struct timespec rt, mt;
	struct tm tm;
	int64_t wall;
	time_t sec;

	if (!offset_ns) {
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &mt);
		offset_ns = (rt.tv_sec - mt.tv_sec) * 1000000000LL + (rt.tv_nsec - mt.tv_nsec);
	}
	/* A corrupt timestamp prints as the epoch rather than overflowing. */
	if (mono_ns > INT64_MAX || __builtin_add_overflow((int64_t)mono_ns, offset_ns, &wall) ||
	    wall < 0)
		wall = 0;
	sec = wall / 1000000000LL;
	gmtime_r(&sec, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(wall % 1000000000LL) / 1000);
}

const char *fmt_event_name(uint32_t type)
{
	switch (type) {
	case NX_EV_DATA: return "data";
	case NX_EV_CONN_OPEN: return "open";
	case NX_EV_CONN_CLOSE: return "close";
	case NX_EV_CONN_STATE: return "state";
	case NX_EV_PROC_EXEC: return "exec";
	case NX_EV_PROC_FORK: return "fork";
	case NX_EV_PROC_EXIT: return "exit";
	}
	return "unknown";
}

const char *fmt_syscall_name(uint8_t sys)
{
	static const char *const names[NX_SYS__COUNT] = {
		[NX_SYS_READ] = "read",		[NX_SYS_WRITE] = "write",
		[NX_SYS_READV] = "readv",	[NX_SYS_WRITEV] = "writev",
		[NX_SYS_SENDTO] = "sendto",	[NX_SYS_RECVFROM] = "recvfrom",
		[NX_SYS_SENDMSG] = "sendmsg",	[NX_SYS_RECVMSG] = "recvmsg",
		[NX_SYS_CLOSE] = "close",	[NX_SYS_ACCEPT] = "accept",
		[NX_SYS_CONNECT] = "connect",
	};

	return sys < NX_SYS__COUNT && names[sys] ? names[sys] : "unknown";
}

const char *fmt_transport_name(uint8_t transport)
{
	switch (transport) {
	case NX_TRANSPORT_TCP4: return "tcp4";
	case NX_TRANSPORT_TCP6: return "tcp6";
	case NX_TRANSPORT_UNIX: return "unix";
	}
	return "unknown";
}

const char *fmt_role_name(uint8_t role)
{
	switch (role) {
	case NX_ROLE_SERVER: return "server";
	case NX_ROLE_CLIENT: return "client";
	}
	return "unknown";
}

static const char *comm_of(const struct nx_record *r)
{
	return r->proc && r->proc->comm[0] ? r->proc->comm : "?";
}

void trace_fmt__text(FILE *f, const struct nx_record *r)
{
	char when[40], server[NX_ENDPOINT_LEN] = "", peer[NX_ENDPOINT_LEN] = "";
	char preview[TEXT_PREVIEW];
	const struct nx_data_event *d = r->data;

	fmt_time(when, sizeof(when), r->hdr->ts_ns);
	if (r->conn)
		fmt_conn_ends(r->conn, server, peer, sizeof(server));
	if (d) {
		char at[16] = "";

		/* A later chunk of a large read or write says where in it its bytes start. */
		if (d->off)
			snprintf(at, sizeof(at), " @%u", d->off);
		fmt_preview(preview, sizeof(preview), d->data, d->cap_len);
		fprintf(f, "%s %7u %-15s %s %s %s %-8s %6u%s \"%s\"%s\n", when + 11, r->hdr->tgid,
			comm_of(r), server[0] ? server : "?", d->dir == NX_DIR_IN ? "<-" : "->",
			peer[0] ? peer : "-", fmt_syscall_name(d->syscall), d->len, at, preview,
			d->off + d->cap_len < d->len ? "..." : "");
	} else if (r->conn) {
		fprintf(f, "%s %7u %-15s %s %s %s %s%s fd=%u\n", when + 11, r->hdr->tgid, comm_of(r),
			server[0] ? server : "?", "--", peer[0] ? peer : "-",
			fmt_event_name(r->hdr->type),
			r->hdr->type != NX_EV_CONN_STATE ? ""
			: r->state == NX_TCP_STATE_CLOSE_WAIT ? " (peer closed)" : " (closed)",
			r->hdr->fd);
	} else {
		fprintf(f, "%s %7u %-15s %s\n", when + 11, r->hdr->tgid, comm_of(r),
			fmt_event_name(r->hdr->type));
	}
}

static int set(json_t *o, const char *key, json_t *v)
{
	return v ? json_object_set_new(o, key, v) : -1;
}

static char *hex_of(const uint8_t *data, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[data[i] >> 4];
		s[2 * i + 1] = digits[data[i] & 15];
	}
	s[2 * n] = '\0';
	return s;
}

int trace_fmt__json(FILE *f, const struct nx_record *r)
{
	char when[40], buf[JSON_PREVIEW], server[NX_ENDPOINT_LEN], peer[NX_ENDPOINT_LEN];
	const struct nx_data_event *d = r->data;
	json_t *o = json_object();
	int err = 0;

	if (!o)
		return -ENOMEM;
	fmt_time(when, sizeof(when), r->hdr->ts_ns);
	err |= set(o, "event", json_string(fmt_event_name(r->hdr->type)));
	err |= set(o, "time", json_string(when));
	err |= set(o, "ts_ns", json_integer((json_int_t)r->hdr->ts_ns));
	err |= set(o, "pid", json_integer(r->hdr->tgid));
	err |= set(o, "tid", json_integer(r->hdr->pid));
	err |= set(o, "comm", json_string(comm_of(r)));
	if (r->conn) {
		const struct nx_conn *c = r->conn;

		fmt_conn_ends(c, server, peer, sizeof(server));
		snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)c->sock_id);
		err |= set(o, "fd", json_integer(c->fd));
		err |= set(o, "conn", json_string(buf));
		err |= set(o, "transport", json_string(fmt_transport_name(c->transport)));
		err |= set(o, "role", json_string(fmt_role_name(c->role)));
		err |= set(o, "server", json_string(server));
		err |= set(o, "peer", json_string(peer));
	}
	if (d) {
		char *hex = hex_of(d->data, d->cap_len);

		err |= set(o, "dir", json_string(d->dir == NX_DIR_IN ? "in" : "out"));
		err |= set(o, "syscall", json_string(fmt_syscall_name(d->syscall)));
		err |= set(o, "len", json_integer(d->len));
		err |= set(o, "captured", json_integer(d->cap_len));
		err |= set(o, "offset", json_integer(d->off));
		err |= set(o, "more", json_boolean(d->flags & NX_DATA_F_MORE));
		err |= set(o, "data_hex", hex ? json_string(hex) : NULL);
		free(hex);
		fmt_preview(buf, sizeof(buf), d->data, d->cap_len);
		err |= set(o, "preview", json_string(buf));
	}
	if (r->hdr->type == NX_EV_PROC_EXIT)
		err |= set(o, "exit_code", json_integer(r->exit_code));
	if (!err && json_dumpf(o, f, JSON_COMPACT) == 0)
		fputc('\n', f);
	else
		err = -ENOMEM;
	json_decref(o);
	return err ? -ENOMEM : 0;
}

static const char *hit_word(int8_t hit)
{
	return hit > 0 ? "hit" : hit == 0 ? "miss" : "";
}

void trace_fmt__redis_text(FILE *f, const struct redis_event *e)
{
	const struct resp_record *r = e->r;
	char when[40], keys[160] = "", exec[32] = "", wait[16] = "-";
	size_t o = 0;

	fmt_time(when, sizeof(when), r->t_reply);
	/* How long the request sat unread in the socket before the server took it. */
	if (r->t_arrival)
		snprintf(wait, sizeof(wait), "%.3f", (r->t_request - r->t_arrival) / 1e6);
	if (e->exec_ns)
		snprintf(exec, sizeof(exec), " (exec %.3f ms)", e->exec_ns / 1e6);
	for (int i = 0; i < r->n_keys && o < sizeof(keys); i++)
		o += snprintf(keys + o, sizeof(keys) - o, "%s%s%s%s", o ? " " : "",
			      r->keys[i].prefix,
			      r->keys[i].hit >= 0 ? ":" : "", hit_word(r->keys[i].hit));
	fprintf(f, "%s %7u %-15s %s <- %s db%u %-12s %-9s %9.3f ms wait %7s%s%s%s %s\n", when + 11,
		e->pid, e->comm, e->server, e->client[0] ? e->client : "-", r->db, r->command,
		r->status == RESP_OK ? "ok" : r->error,
		(r->t_reply > r->t_request ? r->t_reply - r->t_request : 0) / 1e6, wait, exec,
		r->blocking ? " blocking" : "", r->in_multi ? " multi" : "", keys);
}

int trace_fmt__redis_json(FILE *f, const struct redis_event *e)
{
	const struct resp_record *r = e->r;
	json_t *o, *keys = json_array();
	char when[40];
	int err = 0;

	if (!keys)
		return -ENOMEM;
	for (int i = 0; i < r->n_keys; i++) {
		json_t *k = json_pack("{s:s}", "prefix", r->keys[i].prefix);

		if (k && r->keys[i].hit >= 0)
			json_object_set_new(k, "hit", json_boolean(r->keys[i].hit));
		if (!k || json_array_append_new(keys, k))
			err = -ENOMEM;
	}
	fmt_time(when, sizeof(when), r->t_reply);
	o = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:b, s:b, s:f, s:I, "
		      "s:I}",
		      "event", "redis", "time", when, "ts_ns", (json_int_t)r->t_reply, "pid",
		      (int)e->pid, "comm", e->comm, "server", e->server, "client", e->client,
		      "command", r->command, "db", r->db, "status",
		      r->status == RESP_OK ? "ok" : r->error, "keys", keys, "blocking", r->blocking,
		      "in_multi", r->in_multi, "latency_us",
		      (r->t_reply > r->t_request ? r->t_reply - r->t_request : 0) / 1e3,
		      "request_bytes", (json_int_t)r->request_bytes, "reply_bytes",
		      (json_int_t)r->reply_bytes);
	if (o && e->exec_ns)
		json_object_set_new(o, "exec_us", json_real(e->exec_ns / 1e3));
	if (o && r->t_arrival)
		json_object_set_new(o, "wait_us", json_real((r->t_request - r->t_arrival) / 1e3));
	if (o && r->counts_keyspace) {
		json_object_set_new(o, "hits", json_integer(r->hits));
		json_object_set_new(o, "misses", json_integer(r->misses));
	}
	if (!o || err || json_dumpf(o, f, JSON_COMPACT))
		err = -ENOMEM;
	else
		fputc('\n', f);
	json_decref(o);
	return err;
}

static const char *pg_status(const struct pg_record *r)
{
	return r->status == PG_OK ? "ok" : r->status == PG_ERROR ? r->sqlstate : "unknown";
}

void trace_fmt__postgres_text(FILE *f, const struct postgres_event *e)
{
	const struct pg_record *r = e->r;
	char when[40], wait[16] = "-";

	fmt_time(when, sizeof(when), r->t_response);
	if (e->t_arrival && e->t_arrival <= r->t_request)
		snprintf(wait, sizeof(wait), "%.3f", (r->t_request - e->t_arrival) / 1e6);
	fprintf(f, "%s %7u %-15s %s <- %s %s/%s %-6s %6llu rows %9.3f ms wait %7s %s\n", when + 11,
		e->pid, e->comm, e->server, e->client[0] ? e->client : "-",
		r->database[0] ? r->database : "?", r->user[0] ? r->user : "?", pg_status(r),
		(unsigned long long)r->rows,
		(r->t_response > r->t_request ? r->t_response - r->t_request : 0) / 1e6, wait,
		r->sql_unknown ? "(unknown statement)" : e->fp->text);
}

int trace_fmt__postgres_json(FILE *f, const struct postgres_event *e)
{
	const struct pg_record *r = e->r;
	char when[40], fp[24];
	json_t *o;
	int err = 0;

	fmt_time(when, sizeof(when), r->t_response);
	snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)e->fp->id);
	o = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, "
		      "s:f, s:I, s:I}",
		      "event", "postgres", "time", when, "ts_ns", (json_int_t)r->t_response, "pid",
		      (int)e->pid, "comm", e->comm, "server", e->server, "client", e->client,
		      "database", r->database, "user", r->user, "application", r->application,
		      "fingerprint", fp, "query", r->sql_unknown ? "(unknown statement)" : e->fp->text,
		      "kind", sql_kind__name(e->fp->kind), "status", pg_status(r), "rows",
		      (json_int_t)r->rows, "latency_us",
		      (r->t_response > r->t_request ? r->t_response - r->t_request : 0) / 1e3,
		      "request_bytes", (json_int_t)r->request_bytes, "response_bytes",
		      (json_int_t)r->response_bytes);
	if (o && e->t_arrival && e->t_arrival <= r->t_request)
		json_object_set_new(o, "wait_us", json_real((r->t_request - e->t_arrival) / 1e3));
	if (!o || json_dumpf(o, f, JSON_COMPACT))
		err = -ENOMEM;
	else
		fputc('\n', f);
	json_decref(o);
	return err;
}
