// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The HTTP endpoint's protection (issue 13): the bearer token (file checks, constant-time
 * comparison, Bearer and Basic headers), the TLS files' checks, the options, and a real server
 * on loopback answering raw requests: 401/200/404/405/413, public paths, keep-alive, and the
 * per-request deadline cutting a slow-drip client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "cli/opts.h"
#include "export/http.h"
#include "export/http_auth.h"
#include "export/http_tls.h"

static char dir[] = "/tmp/nx-test-http-XXXXXX";

static const char *write_file(const char *name, const char *content, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* --- the token ------------------------------------------------------------------------------- */

static void test_equal(void **state)
{
	assert_true(http_auth__equal("abc", "abc", 3));
	assert_false(http_auth__equal("abc", "abd", 3));
	assert_false(http_auth__equal("abc", "ab", 2));
	assert_false(http_auth__equal("abc", "abcd", 4));
	assert_false(http_auth__equal("abc", "", 0));
	/* a prefix of GIVEN equal to EXPECTED is not a match */
	assert_false(http_auth__equal("abc", "abcabc", 6));
}

static void test_check_header(void **state)
{
	const char *t = "s3cret-T0ken";

	assert_true(http_auth__check(t, "Bearer s3cret-T0ken"));
	assert_true(http_auth__check(t, "bearer   s3cret-T0ken  "));
	assert_false(http_auth__check(t, "Bearer s3cret-T0ke"));
	assert_false(http_auth__check(t, "Bearer s3cret-T0ken extra"));
	assert_false(http_auth__check(t, "Bearer "));
	assert_false(http_auth__check(t, "Token s3cret-T0ken"));
	assert_false(http_auth__check(t, "s3cret-T0ken"));
	assert_false(http_auth__check(t, NULL));
	assert_false(http_auth__check(NULL, "Bearer s3cret-T0ken"));
	/* Basic: any user, the token as password ("prom:s3cret-T0ken", ":s3cret-T0ken") */
	assert_true(http_auth__check(t, "Basic cHJvbTpzM2NyZXQtVDBrZW4="));
	assert_true(http_auth__check(t, "Basic OnMzY3JldC1UMGtlbg=="));
	/* "s3cret-T0ken" with no colon: no password at all */
	assert_false(http_auth__check(t, "Basic czNjcmV0LVQwa2Vu"));
	/* "prom:wrong" */
	assert_false(http_auth__check(t, "Basic cHJvbTp3cm9uZw=="));
	assert_false(http_auth__check(t, "Basic !!!notbase64"));
}

static void test_load_token(void **state)
{
	char err[512], *tok = NULL;
	const char *p;

	p = write_file("tok", "abc-123\n", 0600);
	assert_int_equal(http_auth__load_token(p, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "abc-123");
	free(tok);

	p = write_file("tok-group", "abc-123", 0640); /* group-readable: allowed */
	assert_int_equal(http_auth__load_token(p, &tok, err, sizeof(err)), 0);
	free(tok);

	p = write_file("tok-world", "abc-123\n", 0644);
	assert_int_equal(http_auth__load_token(p, &tok, err, sizeof(err)), -1);
	assert_null(tok);
	assert_non_null(strstr(err, "mode 0644"));
	assert_non_null(strstr(err, "tok-world"));

	p = write_file("tok-empty", "\n\n", 0600);
	assert_int_equal(http_auth__load_token(p, &tok, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));

	p = write_file("tok-space", "abc def\n", 0600);
	assert_int_equal(http_auth__load_token(p, &tok, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "byte 4"));

	assert_int_equal(http_auth__load_token("/nonexistent/tok", &tok, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(http_auth__load_token(dir, &tok, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
}

/* --- TLS files and options ------------------------------------------------------------------- */

static void test_tls_files(void **state)
{
	char err[512], *cert, *key;
	const char *notpem = strdup(write_file("notpem", "hello\n", 0600));
	const char *onlycert =
		strdup(write_file("cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n"
					      "-----END CERTIFICATE-----\n", 0644));
	const char *onlykey =
		strdup(write_file("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n"
					     "-----END PRIVATE KEY-----\n", 0600));

	assert_int_equal(http_tls__load("/nonexistent.pem", onlykey, &cert, &key, err,
					sizeof(err)), -1);
	assert_non_null(strstr(err, "--tls-cert /nonexistent.pem"));
	assert_int_equal(http_tls__load(notpem, onlykey, &cert, &key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a PEM file"));
	assert_int_equal(http_tls__load(onlykey, onlycert, &cert, &key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no certificate"));
	assert_int_equal(http_tls__load(onlycert, onlycert, &cert, &key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--tls-key"));
	assert_non_null(strstr(err, "no private key"));
	/* both look right but hold garbage: GnuTLS says why, both files named */
	assert_int_equal(http_tls__load(onlycert, onlykey, &cert, &key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--tls-cert"));
	assert_non_null(strstr(err, "--tls-key"));
	assert_null(cert);
	assert_null(key);
	free((void *)notpem);
	free((void *)onlycert);
	free((void *)onlykey);
}

static int parse(unsigned int cmd, struct nx_opts *o, int argc, char **argv)
{
	FILE *saved = stderr;
	int err;

	stderr = fopen("/dev/null", "w");
	err = opts__parse(cmd, argc, argv, o);
	fclose(stderr);
	stderr = saved;
	return err;
}

static void test_options(void **state)
{
	char *def[] = { "run", NULL };
	char *all[] = { "run", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--auth-token-file",
			"tok", "--http-max-conns", "8", "--http-max-conns-per-ip", "2",
			"--http-timeout", "5", "--http-max-header-bytes", "4096", NULL };
	char *zero[] = { "run", "--http-max-conns", "0", NULL };
	char *trace[] = { "trace", "--tls-cert", "c.pem", NULL };
	char *replay[] = { "replay", "f.rec", "--auth-token-file", "tok", NULL };
	char *replay_listen[] = { "replay", "f.rec", "--listen", ":1", "--auth-token-file", "tok",
				  NULL };
	struct nx_opts o;
	char err[256];

	assert_int_equal(parse(NX_CMD_RUN, &o, 1, def), 0);
	assert_int_equal(o.http.max_conns, HTTP_DEFAULT_MAX_CONNS);
	assert_int_equal(o.http.max_conns_per_ip, HTTP_DEFAULT_MAX_CONNS_PER_IP);
	assert_int_equal(o.http.timeout_s, HTTP_DEFAULT_TIMEOUT_S);
	assert_int_equal(o.http.max_header_bytes, HTTP_DEFAULT_MAX_HEADER_BYTES);
	assert_null(o.http.tls_cert);
	assert_int_equal(parse(NX_CMD_RUN, &o, 15, all), 0);
	assert_string_equal(o.http.tls_cert, "c.pem");
	assert_string_equal(o.http.tls_key, "k.pem");
	assert_string_equal(o.http.auth_token_file, "tok");
	assert_int_equal(o.http.max_conns, 8);
	assert_int_equal(o.http.max_conns_per_ip, 2);
	assert_int_equal(o.http.timeout_s, 5);
	assert_int_equal(o.http.max_header_bytes, 4096);
	assert_int_equal(parse(NX_CMD_RUN, &o, 3, zero), -EINVAL);
	assert_int_equal(parse(NX_CMD_TRACE, &o, 3, trace), -EINVAL);
	assert_int_equal(parse(NX_CMD_REPLAY, &o, 4, replay), -EINVAL);
	assert_int_equal(parse(NX_CMD_REPLAY, &o, 6, replay_listen), 0);

	/* top reads a secured agent: a CA and a token, but serves nothing */
	char *top[] = { "top", "--connect", "https://node1:9435", "--cacert", "ca.pem",
			"--auth-token-file", "tok", NULL };
	char *top_tls[] = { "top", "--tls-cert", "c.pem", NULL };

	assert_int_equal(parse(NX_CMD_TOP, &o, 7, top), 0);
	assert_string_equal(o.top_connect, "https://node1:9435");
	assert_string_equal(o.top_cacert, "ca.pem");
	assert_string_equal(o.http.auth_token_file, "tok");
	assert_int_equal(parse(NX_CMD_TOP, &o, 3, top_tls), -EINVAL);
	assert_int_equal(parse(NX_CMD_RUN, &o, 3, (char *[]){ "run", "--cacert", "ca.pem", NULL }),
			 -EINVAL);

	/* one TLS file without the other */
	http_config__defaults(&o.http);
	o.http.tls_key = "k.pem";
	assert_int_equal(http_config__load(&o.http, err, sizeof(err)), -1);
	assert_string_equal(err, "--tls-key needs --tls-cert too");
}

/* --- a live server ---------------------------------------------------------------------------- */

static int handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
	fprintf(resp->body, "hello from %s\n", req->path);
	return 200;
}

static const struct http_route routes[] = {
	{ "/metrics", handler, NULL },
	{ "/healthz", handler, NULL },
};

struct live {
	struct http_config cfg;
	struct http_server *s;
	int port;
};

static struct http_server *start(struct live *l, const char *token, unsigned timeout_s)
{
	char listen[64], err[256];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a free port: the kernel's pick, released just before the server takes it */
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	l->port = ntohs(a.sin_port);
	http_config__defaults(&l->cfg);
	l->cfg.timeout_s = timeout_s;
	if (token) {
		l->cfg.auth_token_file = strdup(write_file("live-tok", token, 0600));
		assert_int_equal(http_config__load(&l->cfg, err, sizeof(err)), 0);
	}
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", l->port);
	l->s = http_server__start_cfg(listen, routes, 2, &l->cfg, err, sizeof(err));
	if (!l->s)
		fail_msg("server: %s", err);
	return l->s;
}

static void stop(struct live *l)
{
	http_server__stop(l->s);
	free((void *)l->cfg.auth_token_file);
	http_config__release(&l->cfg);
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Sends REQ, reads until the server closes (or 5 s); the reply in buf. */
static char *exchange(int port, const char *req, char *buf, size_t len)
{
	int fd = dial(port);
	size_t n = 0;
	ssize_t r;

	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return buf;
}

static void test_live_token(void **state)
{
	struct live l;
	char buf[4096];

	start(&l, "tok-42\n", 10);
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
		 sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 401"));
	assert_non_null(strstr(buf, "WWW-Authenticate: Bearer realm=\"nexus-agent\""));
	assert_null(strstr(buf, "hello"));
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-43\r\n"
			 "Connection: close\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 401"));
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-42\r\n"
			 "Connection: close\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "hello from /metrics"));
	/* public: no token needed */
	exchange(l.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
		 sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	/* unknown paths: 401 before 404, so nobody learns the routes without the token */
	exchange(l.port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
		 sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 401"));
	exchange(l.port, "GET /nope HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-42\r\n"
			 "Connection: close\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 404"));
	/* the status page's challenge offers Basic too (a browser's login prompt) */
	exchange(l.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 401"));
	assert_non_null(strstr(buf, "WWW-Authenticate: Basic realm=\"nexus-agent\""));
	/* rotated on SIGHUP: the new token works, the old one no longer */
	write_file("live-tok", "tok-new", 0600);
	assert_int_equal(http_server__reload_token(l.s, buf, sizeof(buf)), 0);
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-42\r\n"
			 "Connection: close\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 401"));
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-new\r\n"
			 "Connection: close\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	/* a bad file on reload keeps the token in force */
	write_file("live-tok", "tok-bad", 0644);
	assert_int_equal(http_server__reload_token(l.s, buf, sizeof(buf)), -1);
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-new\r\n"
			 "Connection: close\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	stop(&l);
}

static void test_live_requests(void **state)
{
	struct live l;
	char buf[4096];
	const char *second;

	start(&l, NULL, 10);
	exchange(l.port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", buf,
		 sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 405"));
	assert_non_null(strstr(buf, "Allow: GET, HEAD"));
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", buf,
		 sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 413"));
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "5\r\nhello\r\n0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 413"));
	exchange(l.port, "GET /nope HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "404"));
	exchange(l.port, "HEAD /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 200 "));
	assert_null(strstr(buf, "hello"));
	/* the header cap (16384 by default) is exact, not libmicrohttpd's pool size */
	char *big = malloc(20000);

	for (int size = 15000; size <= 17000; size += 2000) {
		int n = snprintf(big, 20000, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");

		memset(big + n, 'a', size);
		strcpy(big + n + size, "\r\nConnection: close\r\n\r\n");
		exchange(l.port, big, buf, sizeof(buf));
		assert_non_null(strstr(buf, size < 16384 ? "HTTP/1.1 200" : "HTTP/1.1 431"));
	}
	free(big);
	/* two pipelined requests on one connection: two answers, in order */
	exchange(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
			 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", buf,
		 sizeof(buf));
	second = strstr(buf, "hello from /metrics");
	assert_non_null(second);
	assert_non_null(strstr(second, "hello from /healthz"));
	stop(&l);
}

/* A client that sends a byte a second never trips an idle timeout; the deadline cuts it. */
static void test_live_deadline(void **state)
{
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
	struct timespec t0, t1;
	struct live l;
	int fd, sent = 0;
	char c;

	start(&l, NULL, 1);
	fd = dial(l.port);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 30; i++) {
		if (send(fd, req + i % strlen(req), 1, MSG_NOSIGNAL) != 1)
			break;
		sent++;
		usleep(200 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* a read that returns 0 now means the server closed us */
		if (recv(fd, &c, 1, MSG_DONTWAIT) == 0)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	assert_true(sent < 30);
	/* 1 s deadline, checked every 0.2 s: cut well before the 6 s the drip would take */
	assert_true(t1.tv_sec - t0.tv_sec < 4);
	assert_true(http_server__deadline_cuts(l.s) >= 1);
	stop(&l);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal),	      cmocka_unit_test(test_check_header),
		cmocka_unit_test(test_load_token),    cmocka_unit_test(test_tls_files),
		cmocka_unit_test(test_options),	      cmocka_unit_test(test_live_token),
		cmocka_unit_test(test_live_requests), cmocka_unit_test(test_live_deadline),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
