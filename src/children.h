/* SPDX-License-Identifier: MIT */
/*
 * The parent/child protocol of the scenarios. Children talk to the parent over a pipe pair
 * with fixed-size messages (an ACK after each step, a REPORT at the end), so every wait is
 * bounded and a child that dies is noticed. A child gets its instructions as an argument
 * (@arg, read-only: each child has its own copy of the parent's memory anyway).
 */
#ifndef FORKPIN_CHILDREN_H
#define FORKPIN_CHILDREN_H

#include "case.h"

#include <sys/types.h>

enum fp_msg_type { FP_MSG_ACK = 1, FP_MSG_REPORT };

/* Fixed size below PIPE_BUF, so each write is atomic. */
struct fp_msg {
	enum fp_msg_type type;
	enum fp_status status;
	char reason[900];
};

/* The parent's handle on one child. */
struct fp_child {
	pid_t pid;
	int go_w;      /* parent -> child: one byte per step */
	int msg_r;     /* child -> parent: struct fp_msg */
	bool reported; /* a REPORT arrived */
	struct fp_msg report;
};

/* What a child process has: its ends of the pipes and its identity as a writer. */
struct fp_child_chan {
	int go_r, msg_w;
	enum fp_writer self;
};

typedef void (*fp_child_fn)(struct fp_ctx *ctx, struct fp_child_chan *ch, const void *arg);

/*
 * fork() a child that runs @fn(ctx, chan, @arg) as writer @self, then reports its checks and
 * exits. A fork that fails for lack of huge pages is a SKIP (the pool is too small for the
 * copies early COW makes), anything else an ERROR.
 */
bool fp_child_spawn(struct fp_ctx *ctx, struct fp_child *c, fp_child_fn fn, enum fp_writer self,
		    const void *arg);

/* In the child: wait for the parent's next go (the parent gone means: exit now); ack. */
void fp_child_wait_go(struct fp_child_chan *ch);
void fp_child_ack(struct fp_child_chan *ch);

/* In the parent: wait for the child's ACK of its current step; let it take its next step. */
bool fp_child_wait_ack(struct fp_ctx *ctx, struct fp_child *c);
void fp_child_go(struct fp_child *c);

/*
 * In the parent: let the child finish (closing its go pipe releases every later wait), take
 * its REPORT and its exit status, and fold both into the case outcome. @who names it.
 */
void fp_child_finish(struct fp_ctx *ctx, struct fp_child *c, const char *who);

#endif
