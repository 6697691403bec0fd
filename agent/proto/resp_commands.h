/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Redis commands the RESP parser knows by name: where their keys are, how their reply tells a
 * keyspace hit or miss, and what they do to the connection (SELECT, MULTI, SUBSCRIBE...). Private
 * to agent/proto/resp.c; every command not listed is treated as having its key at argv[1].
 */
#ifndef NEXUS_RESP_COMMANDS_H
#define NEXUS_RESP_COMMANDS_H

#include <stdint.h>

/* How a command's reply tells a keyspace hit or miss, as Redis counts it (lookupKeyRead*). */
enum hitmode {
	HM_NONE = 0,
	HM_VALUE,     /* null reply: miss; a value or WRONGTYPE: hit (GET, GETEX, GETDEL, GETSET) */
	HM_PER_KEY,   /* array reply, element i null: key i missed (MGET) */
	HM_COUNT,     /* integer reply = keys found (EXISTS) */
	HM_EMPTY_AGG, /* empty aggregate: miss (HGETALL, SMEMBERS: Redis never keeps empty ones) */
	HM_FIELD,     /* hash field reads: hit when any value came back (HGET, HMGET; see README) */
};

enum kind {
	K_NORMAL = 0,
	K_SELECT,
	K_HELLO,
	K_MULTI,
	K_EXEC,
	K_DISCARD,
	K_SUB,	 /* (p|s)subscribe: one confirmation per channel */
	K_UNSUB, /* (p|s)unsubscribe: one per channel, or until the count is 0 */
	K_RESET,
	K_AUTH,
};

struct cmd_info {
	const char *name;
	uint8_t kind;
	uint8_t hitmode;
	int8_t first_key; /* argv index of the first key, 0: no key */
	int8_t key_step;  /* 0: one key; n: every n-th argument from first_key is a key */
	uint8_t flags;	  /* enum cmd_flag */
};

enum cmd_flag {
	CMD_BLOCKING = 1 << 0,	/* may wait for data (BLPOP...): timed apart from the others */
	CMD_CONTAINER = 1 << 1, /* "config get": the subcommand is part of the name */
};

/* What every command not in the table is: no special kind, its key at argv[1]. */
extern const struct cmd_info resp_commands__default;

/* The entry of a cleaned (lower-case) command name, or &resp_commands__default. */
const struct cmd_info *resp_commands__lookup(const char *name);

#endif /* NEXUS_RESP_COMMANDS_H */
