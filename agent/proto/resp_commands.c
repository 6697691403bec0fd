// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The command table of the RESP parser and its lookup (see resp_commands.h). */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "proto/resp_commands.h"
#include "util.h"

/* Commands whose keys, reply or effect matter here; every other command has its key at argv[1]. */
static const struct cmd_info commands[] = {
	{ "get", K_NORMAL, HM_VALUE, 1, 0, 0 },
	{ "getex", K_NORMAL, HM_VALUE, 1, 0, 0 },
	{ "getdel", K_NORMAL, HM_VALUE, 1, 0, 0 },
	{ "getset", K_NORMAL, HM_VALUE, 1, 0, 0 },
	{ "mget", K_NORMAL, HM_PER_KEY, 1, 1, 0 },
	{ "exists", K_NORMAL, HM_COUNT, 1, 1, 0 },
	{ "hget", K_NORMAL, HM_FIELD, 1, 0, 0 },
	{ "hmget", K_NORMAL, HM_FIELD, 1, 0, 0 },
	{ "hgetall", K_NORMAL, HM_EMPTY_AGG, 1, 0, 0 },
	{ "smembers", K_NORMAL, HM_EMPTY_AGG, 1, 0, 0 },
	{ "del", K_NORMAL, HM_NONE, 1, 1, 0 },
	{ "unlink", K_NORMAL, HM_NONE, 1, 1, 0 },
	{ "touch", K_NORMAL, HM_NONE, 1, 1, 0 },
	{ "mset", K_NORMAL, HM_NONE, 1, 2, 0 },
	{ "msetnx", K_NORMAL, HM_NONE, 1, 2, 0 },
	{ "blpop", K_NORMAL, HM_NONE, 1, 0, CMD_BLOCKING },
	{ "brpop", K_NORMAL, HM_NONE, 1, 0, CMD_BLOCKING },
	{ "brpoplpush", K_NORMAL, HM_NONE, 1, 0, CMD_BLOCKING },
	{ "blmove", K_NORMAL, HM_NONE, 1, 0, CMD_BLOCKING },
	{ "blmpop", K_NORMAL, HM_NONE, 0, 0, CMD_BLOCKING },
	{ "bzpopmin", K_NORMAL, HM_NONE, 1, 0, CMD_BLOCKING },
	{ "bzpopmax", K_NORMAL, HM_NONE, 1, 0, CMD_BLOCKING },
	{ "bzmpop", K_NORMAL, HM_NONE, 0, 0, CMD_BLOCKING },
	{ "wait", K_NORMAL, HM_NONE, 0, 0, CMD_BLOCKING },
	{ "waitaof", K_NORMAL, HM_NONE, 0, 0, CMD_BLOCKING },
	{ "xread", K_NORMAL, HM_NONE, 0, 0, 0 },	 /* blocking with BLOCK */
	{ "xreadgroup", K_NORMAL, HM_NONE, 0, 0, 0 }, /* blocking with BLOCK */
	{ "select", K_SELECT, HM_NONE, 0, 0, 0 },
	{ "hello", K_HELLO, HM_NONE, 0, 0, 0 },
	{ "auth", K_AUTH, HM_NONE, 0, 0, 0 },
	{ "multi", K_MULTI, HM_NONE, 0, 0, 0 },
	{ "exec", K_EXEC, HM_NONE, 0, 0, 0 },
	{ "discard", K_DISCARD, HM_NONE, 0, 0, 0 },
	{ "reset", K_RESET, HM_NONE, 0, 0, 0 },
	{ "subscribe", K_SUB, HM_NONE, 0, 0, 0 },
	{ "psubscribe", K_SUB, HM_NONE, 0, 0, 0 },
	{ "ssubscribe", K_SUB, HM_NONE, 0, 0, 0 },
	{ "unsubscribe", K_UNSUB, HM_NONE, 0, 0, 0 },
	{ "punsubscribe", K_UNSUB, HM_NONE, 0, 0, 0 },
	{ "sunsubscribe", K_UNSUB, HM_NONE, 0, 0, 0 },
	{ "ping", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "echo", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "info", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "quit", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "dbsize", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "flushall", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "flushdb", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "save", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "bgsave", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "bgrewriteaof", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "lastsave", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "time", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "role", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "replicaof", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "slaveof", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "monitor", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "shutdown", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "swapdb", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "publish", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "spublish", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "randomkey", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "keys", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "scan", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "eval", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "evalsha", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "eval_ro", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "evalsha_ro", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "fcall", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "fcall_ro", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "unwatch", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "watch", K_NORMAL, HM_NONE, 1, 1, 0 },
	{ "readonly", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "readwrite", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "failover", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "lolwut", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "sync", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "psync", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "replconf", K_NORMAL, HM_NONE, 0, 0, 0 },
	{ "config", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "client", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "cluster", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "command", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "debug", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "memory", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "object", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "script", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "function", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "xinfo", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "xgroup", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "acl", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "latency", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "module", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "slowlog", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
	{ "pubsub", K_NORMAL, HM_NONE, 0, 0, CMD_CONTAINER },
};

const struct cmd_info resp_commands__default = { "", K_NORMAL, HM_NONE, 1, 0, 0 };

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))
#define CMD_SLOTS 256 /* power of two, > 2 x N_COMMANDS */

/* Open-addressing table over commands[], built once: this runs for every command seen. */
const struct cmd_info *resp_commands__lookup(const char *name)
{
	static const struct cmd_info *slots[CMD_SLOTS];
	static bool ready;
	uint32_t i;

	if (!ready) {
		for (size_t k = 0; k < N_COMMANDS; k++) {
			for (i = nx_fnv1a32_str(NX_FNV32_INIT, commands[k].name) & (CMD_SLOTS - 1); slots[i];
			     i = (i + 1) & (CMD_SLOTS - 1))
				;
			slots[i] = &commands[k];
		}
		ready = true;
	}
	for (i = nx_fnv1a32_str(NX_FNV32_INIT, name) & (CMD_SLOTS - 1); slots[i]; i = (i + 1) & (CMD_SLOTS - 1))
		if (!strcmp(slots[i]->name, name))
			return slots[i];
	return &resp_commands__default;
}
