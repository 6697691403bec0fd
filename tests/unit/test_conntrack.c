// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * conntrack: kernel records in, process/connection state and records-with-context out. Fixture
 * records are built as the kernel builds them; tgids are above pid_max so /proc has none of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "capture/conntrack.h"
#include "capture/targets.h"

#define TGID 4000001
#define TGID2 4000002

struct seen {
	int n;
	uint32_t types[64];
	struct nx_conn conns[64];
	uint32_t cap_len[64];
};

static void sink(void *ctx, const struct nx_record *r)
{
	struct seen *s = ctx;

	if (s->n >= 64)
		return;
	s->types[s->n] = r->hdr->type;
	if (r->conn)
		s->conns[s->n] = *r->conn;
	s->cap_len[s->n] = r->data ? r->data->cap_len : 0;
	s->n++;
}

static void conn_ev(struct conntrack *ct, uint32_t type, uint32_t tgid, uint32_t fd,
		    uint64_t sock_id, uint8_t how, uint16_t lport, uint16_t rport)
{
	struct nx_conn_event ev = {};

	ev.hdr.type = type;
	ev.hdr.tgid = ev.hdr.pid = tgid;
	ev.hdr.fd = fd;
	ev.hdr.ts_ns = 1000;
	ev.sock_id = sock_id;
	ev.transport = NX_TRANSPORT_TCP4;
	ev.how = how;
	ev.lport = lport;
	ev.rport = rport;
	ev.laddr[0] = 127;
	ev.laddr[3] = 1;
	strcpy(ev.comm, "redis-server");
	conntrack__record(ct, &ev, sizeof(ev));
}

static void data_ev(struct conntrack *ct, uint32_t tgid, uint32_t fd, uint64_t sock_id,
		    uint8_t dir, const char *payload, uint32_t len)
{
	struct {
		struct nx_data_event ev;
		uint8_t buf[256];
	} r = {};
	uint32_t n = strlen(payload);

	r.ev.hdr.type = NX_EV_DATA;
	r.ev.hdr.tgid = r.ev.hdr.pid = tgid;
	r.ev.hdr.fd = fd;
	r.ev.sock_id = sock_id;
	r.ev.dir = dir;
	r.ev.len = len;
	r.ev.cap_len = n;
	memcpy(r.buf, payload, n);
	conntrack__record(ct, &r, sizeof(r.ev) + n);
}

static void proc_ev(struct conntrack *ct, uint32_t type, uint32_t tgid, uint32_t ppid)
{
	struct nx_proc_event ev = {};

	ev.hdr.type = type;
	ev.hdr.tgid = ev.hdr.pid = tgid;
	ev.ppid = ppid;
	strcpy(ev.comm, "postgres");
	conntrack__record(ct, &ev, sizeof(ev));
}

static struct conntrack *new_ct(struct seen *s, uint32_t max_conns)
{
	struct conntrack_opts o = { .max_conns = max_conns, .max_procs = 8 };

	memset(s, 0, sizeof(*s));
	return conntrack__new(&o, NULL, (struct conntrack_sink){ .on_record = sink, .ctx = s });
}

static void test_open_data_close(void **state)
{
	struct conntrack_stats st;
	struct seen s;
	struct conntrack *ct = new_ct(&s, 16);

	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 8, 0x111, NX_OPEN_ACCEPT, 6379, 50000);
	data_ev(ct, TGID, 8, 0x111, NX_DIR_IN, "*1\r\n$4\r\nPING\r\n", 14);
	data_ev(ct, TGID, 8, 0x111, NX_DIR_OUT, "+PONG\r\n", 7);
	conn_ev(ct, NX_EV_CONN_CLOSE, TGID, 8, 0x111, 0, 0, 0);

	assert_int_equal(s.n, 4);
	assert_int_equal(s.types[1], NX_EV_DATA);
	assert_int_equal(s.conns[1].role, NX_ROLE_SERVER);
	assert_int_equal(s.conns[1].lport, 6379);
	assert_int_equal(s.conns[2].bytes_in, 14);
	assert_int_equal(s.conns[2].bytes_out, 7);
	conntrack__stats(ct, &st);
	assert_int_equal(st.chunks, 2);
	assert_int_equal(st.bytes, 21);
	assert_int_equal(st.conns, 0);
	assert_int_equal(st.conns_opened, 1);
	assert_int_equal(st.conns_closed, 1);
	assert_int_equal(st.orphan_chunks, 0);
	conntrack__free(ct);
}

/* Same fd, new socket: the new connection does not inherit the old one's figures or ends. */
static void test_fd_reuse(void **state)
{
	struct conntrack_stats st;
	struct seen s;
	struct conntrack *ct = new_ct(&s, 16);

	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 8, 0x111, NX_OPEN_ACCEPT, 6379, 50000);
	data_ev(ct, TGID, 8, 0x111, NX_DIR_IN, "a", 1);
	/* close was lost; the fd number comes back with another socket */
	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 8, 0x222, NX_OPEN_ACCEPT, 6379, 50001);
	data_ev(ct, TGID, 8, 0x222, NX_DIR_IN, "b", 1);
	assert_int_equal(s.conns[3].sock_id, 0x222);
	assert_int_equal(s.conns[3].rport, 50001);
	assert_int_equal(s.conns[3].bytes_in, 1);
	/* A late close of the old socket must not close the new connection. */
	conn_ev(ct, NX_EV_CONN_CLOSE, TGID, 8, 0x111, 0, 0, 0);
	conntrack__stats(ct, &st);
	assert_int_equal(st.conns, 1);
	/* Data naming the old socket is an orphan, never pinned on the new connection. */
	data_ev(ct, TGID, 8, 0x111, NX_DIR_IN, "c", 1);
	conntrack__stats(ct, &st);
	assert_int_equal(st.orphan_chunks, 1);
	assert_int_equal(s.conns[s.n - 1].sock_id, 0x111);
	assert_int_equal(s.conns[s.n - 1].transport, 0);
	conntrack__free(ct);
}

/* Roles: accept and connect say it; otherwise a listening port or the ephemeral range does. */
static void test_roles(void **state)
{
	struct seen s;
	struct conntrack *ct = new_ct(&s, 16);

	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 3, 1, NX_OPEN_CONNECT, 40000, 6379);
	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 4, 2, NX_OPEN_SEEN, 5432, 41000);
	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 5, 3, NX_OPEN_SEEN, 41001, 5432);
	assert_int_equal(s.conns[0].role, NX_ROLE_CLIENT);
	assert_int_equal(s.conns[1].role, NX_ROLE_SERVER);
	assert_int_equal(s.conns[2].role, NX_ROLE_CLIENT);
	/* Once a port was accepted on, a seen connection on it is served, whatever its number. */
	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 6, 4, NX_OPEN_ACCEPT, 40123, 41000);
	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 7, 5, NX_OPEN_SEEN, 40123, 41002);
	assert_int_equal(s.conns[4].role, NX_ROLE_SERVER);
	conntrack__free(ct);
}

/* A process exit drops its connections (no close() is seen for them) and only its own. */
static void test_process_exit(void **state)
{
	struct conntrack_stats st;
	struct seen s;
	struct conntrack *ct = new_ct(&s, 16);

	proc_ev(ct, NX_EV_PROC_EXEC, TGID, 0);
	proc_ev(ct, NX_EV_PROC_FORK, TGID2, TGID);
	conn_ev(ct, NX_EV_CONN_OPEN, TGID2, 9, 1, NX_OPEN_SEEN, 5432, 41000);
	conn_ev(ct, NX_EV_CONN_OPEN, TGID2, 10, 2, NX_OPEN_SEEN, 5432, 41001);
	conn_ev(ct, NX_EV_CONN_OPEN, TGID, 11, 3, NX_OPEN_ACCEPT, 5432, 41002);
	conntrack__stats(ct, &st);
	assert_int_equal(st.procs, 2);
	assert_int_equal(st.conns, 3);
	proc_ev(ct, NX_EV_PROC_EXIT, TGID2, 0);
	conntrack__stats(ct, &st);
	assert_int_equal(st.procs, 1);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.conns_closed, 2);
	conntrack__free(ct);
}

/* Bounds: more connections than the table holds evicts and counts; the table stays full size. */
static void test_bounds(void **state)
{
	struct conntrack_stats st;
	struct seen s;
	struct conntrack *ct = new_ct(&s, 16);

	for (uint32_t fd = 0; fd < 1000; fd++)
		conn_ev(ct, NX_EV_CONN_OPEN, TGID, fd, fd + 1, NX_OPEN_ACCEPT, 6379, 50000);
	conntrack__stats(ct, &st);
	assert_int_equal(st.conns, 16);
	assert_int_equal(st.conn_evictions, 1000 - 16);
	/* Process table bound (8): the ninth process is a counted drop, its data still flows. */
	for (uint32_t i = 0; i < 10; i++)
		proc_ev(ct, NX_EV_PROC_EXEC, TGID + 10 + i, 0);
	conntrack__stats(ct, &st);
	assert_int_equal(st.procs, 8);
	assert_true(st.proc_drops >= 2);
	conntrack__free(ct);
}

/* Malformed records (short, lying cap_len, unknown type) are counted and dropped. */
static void test_bad_records(void **state)
{
	struct conntrack_stats st;
	struct seen s;
	struct conntrack *ct = new_ct(&s, 16);
	struct nx_data_event ev = { .hdr = { .type = NX_EV_DATA, .tgid = TGID } };
	struct nx_event_hdr hdr = { .type = 99 };

	ev.cap_len = 100; /* claims bytes the record does not have */
	ev.len = 100;
	conntrack__record(ct, &ev, sizeof(ev));
	ev.cap_len = 10;
	ev.len = 5; /* captured more than the syscall moved */
	conntrack__record(ct, &ev, sizeof(ev) + 10);
	conntrack__record(ct, &hdr, sizeof(hdr));
	conntrack__record(ct, &ev, 4);
	conntrack__stats(ct, &st);
	assert_int_equal(st.bad_records, 4);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(s.n, 0);
	conntrack__free(ct);
}

/* A record's comm fills all NX_COMM_LEN bytes without a NUL (a recording's author can write
 * that): the process's name is cut to what fits, and nothing reads past the record (an
 * exact-size heap copy, so the sanitizer build would see an over-read). */
static void comm_sink(void *ctx, const struct nx_record *r)
{
	if (r->proc)
		snprintf(ctx, NX_COMM_LEN + 8, "%s", r->proc->comm);
}

static void test_unterminated_comm(void **state)
{
	char comm[NX_COMM_LEN + 8] = "";
	struct conntrack_opts o = { .max_conns = 16, .max_procs = 8 };
	struct conntrack *ct =
		conntrack__new(&o, NULL, (struct conntrack_sink){ .on_record = comm_sink, .ctx = comm });
	struct nx_proc_event *ev = malloc(sizeof(*ev));

	assert_non_null(ev);
	memset(ev, 0, sizeof(*ev));
	ev->hdr.type = NX_EV_PROC_EXEC;
	ev->hdr.tgid = ev->hdr.pid = TGID;
	memset(ev->comm, 'A', sizeof(ev->comm));
	conntrack__record(ct, ev, sizeof(*ev));
	assert_string_equal(comm, "AAAAAAAAAAAAAAA"); /* NX_COMM_LEN - 1 of them */
	free(ev);
	conntrack__free(ct);
}

/* --- containers and pods: looked up once per process met, shared by a container's processes -- */

struct idents {
	int lookups;
	const struct nx_identity *seen[16]; /* r->proc->ident of each record, in order */
	int n;
};

static int fake_describe(void *ctx, uint32_t tgid, struct target_info *ti)
{
	memset(ti, 0, sizeof(*ti));
	ti->tgid = (pid_t)tgid;
	strcpy(ti->comm, "postgres");
	return 0;
}

static int fake_listen(void *ctx, uint32_t tgid, uint16_t *ports, int max)
{
	return 0;
}

/* TGID is in a pod, TGID2 on the host. */
static bool fake_identify(void *ctx, uint32_t tgid, struct nx_identity *id)
{
	struct idents *x = ctx;

	x->lookups++;
	memset(id, 0, sizeof(*id));
	if (tgid != TGID)
		return false;
	strcpy(id->container_id, "3f1d0c6a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e");
	strcpy(id->pod_uid, "0f3a9c2e-1b2d-4c5e-8f90-a1b2c3d4e5f6");
	strcpy(id->pod, "pg-0");
	return true;
}

static void ident_sink(void *ctx, const struct nx_record *r)
{
	struct idents *x = ctx;

	if (x->n < 16)
		x->seen[x->n++] = r->proc ? r->proc->ident : NULL;
}

static void test_identity(void **state)
{
	struct conntrack_opts o = { .max_conns = 16, .max_procs = 8 };
	struct idents x = {};
	struct conntrack_host host = { .describe = fake_describe, .listen_ports = fake_listen,
				       .identify = fake_identify, .ctx = &x };
	struct conntrack *ct = conntrack__new(&o, NULL,
					      (struct conntrack_sink){ .on_record = ident_sink,
								       .ctx = &x });

	assert_non_null(ct);
	conntrack__set_host(ct, &host);
	proc_ev(ct, NX_EV_PROC_EXEC, TGID, 1);		/* met at its exec: looked up */
	proc_ev(ct, NX_EV_PROC_FORK, TGID + 10, TGID);	/* a backend: inherits, no lookup */
	proc_ev(ct, NX_EV_PROC_FORK, TGID + 11, TGID);
	proc_ev(ct, NX_EV_PROC_EXEC, TGID2, 1);		/* a host process: looked up, none */
	assert_int_equal(x.lookups, 2);
	assert_int_equal(x.n, 4);
	assert_non_null(x.seen[0]);
	assert_string_equal(x.seen[0]->pod, "pg-0");
	assert_ptr_equal(x.seen[1], x.seen[0]); /* one shared copy per container */
	assert_ptr_equal(x.seen[2], x.seen[0]);
	assert_null(x.seen[3]);
	/* the parent goes first: its children keep the identity */
	proc_ev(ct, NX_EV_PROC_EXIT, TGID, 1);
	conn_ev(ct, NX_EV_CONN_OPEN, TGID + 10, 8, 0x111, NX_OPEN_ACCEPT, 5432, 50000);
	assert_int_equal(x.n, 6);
	assert_ptr_equal(x.seen[5], x.seen[1]);
	assert_string_equal(x.seen[5]->container_id,
			    "3f1d0c6a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e");
	/* a child that execs is met anew: looked up again */
	proc_ev(ct, NX_EV_PROC_EXEC, TGID + 11, TGID);
	assert_int_equal(x.lookups, 3);
	proc_ev(ct, NX_EV_PROC_EXIT, TGID + 10, TGID);
	proc_ev(ct, NX_EV_PROC_EXIT, TGID + 11, TGID);
	proc_ev(ct, NX_EV_PROC_EXIT, TGID2, 1);
	conntrack__free(ct); /* nothing left to free twice (ASan/valgrind would say) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_open_data_close), cmocka_unit_test(test_fd_reuse),
		cmocka_unit_test(test_roles),		cmocka_unit_test(test_process_exit),
		cmocka_unit_test(test_bounds),		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_unterminated_comm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
