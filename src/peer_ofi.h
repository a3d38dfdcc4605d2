/* SPDX-License-Identifier: MIT */
/*
 * `forkpin peer --ofi` (docs/two-node.md), the libfabric server, and the options it shares
 * with the verbs one (rdma_cm, peer.c, which calls down into this file, never up).
 */
#ifndef FORKPIN_PEER_OFI_H
#define FORKPIN_PEER_OFI_H

#include <netinet/in.h>
#include <stdbool.h>

#define WHO "forkpin peer"

struct peer_opts {
	char port[16];
	const char *device; /* NAME[:PORT], or NULL: every device */
	double idle_s;
	unsigned long die_after;  /* 0, or exit without answering request N (tests) */
	unsigned long served;	  /* requests served, over all connections */
	bool ofi;		  /* serve ofi-remote through libfabric */
	const char *ofi_provider; /* with ofi */
};

/*
 * Serve ofi-remote clients at @sin's address (INADDR_ANY: the provider's first) and o->port
 * until killed: one session at a time, BUSY to anyone else, an idle session closed after
 * o->idle_s. Returns an exit code only when it cannot serve.
 */
int fp_peer_serve_ofi(struct peer_opts *o, const struct sockaddr_in *sin);

#endif
