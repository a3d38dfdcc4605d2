// SPDX-License-Identifier: MIT
/*
 * tests/vm/peer_idle_client: a client of `forkpin peer` that connects and then goes silent,
 * for the idle-timeout test in tests/vm/two-node.sh.
 *   peer_idle_client verbs HOST PORT SECONDS: rdma_cm connect (as verbs-remote does), then
 *     wait up to SECONDS for the peer to end the connection; prints when it did.
 *   peer_idle_client ofi HOST PORT SECONDS [PROVIDER]: HELLO to `forkpin peer --ofi` (as
 *     ofi-remote does, default provider verbs;ofi_rxm), then stay silent for SECONDS.
 * Exit 0: connected (verbs: and the peer ended the connection in time), 1 otherwise (ofi: a
 * BUSY answer prints "not served" and the peer's text).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/ofi_lib.h"
#include "backends/ofi_peer.h"
#include "backends/rdma_peer.h"
#include "util.h"

#if HAVE_LIBRDMACM || HAVE_LIBFABRIC
static uint64_t deadline_in(double s)
{
	return fp_now_ns() + (uint64_t)(s * 1e9);
}
#endif

#if HAVE_LIBRDMACM
/* Wait for CM event @want; 0 or -1 (printed). */
static int expect(struct rdma_event_channel *ev, enum rdma_cm_event_type want, double s)
{
	struct rdma_cm_event *e;
	int ret = fp_rconn_next_event(ev, deadline_in(s), &e), got;

	if (ret) {
		printf("waiting for %s: %s\n", rdma_event_str(want), strerror(-ret));
		return -1;
	}
	got = e->event;
	rdma_ack_cm_event(e);
	if (got != (int)want) {
		printf("waiting for %s: got %s\n", rdma_event_str(want),
		       rdma_event_str((enum rdma_cm_event_type)got));
		return -1;
	}
	return 0;
}

static int idle_verbs(const char *host, const char *port, double secs)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	struct rdma_conn_param param = {.responder_resources = 1, .initiator_depth = 1};
	struct rdma_event_channel *ev = rdma_create_event_channel();
	struct rdma_cm_id *id;
	struct fp_rconn c = {0};
	struct rdma_cm_event *e;
	uint64_t start;
	int ret;

	if (!ev || fp_rconn_channel_nonblock(ev) || rdma_create_id(ev, &id, NULL, RDMA_PS_TCP) ||
	    getaddrinfo(host, port, &hints, &ai)) {
		printf("rdma_cm or address: %s\n", strerror(errno));
		return 1;
	}
	if (rdma_resolve_addr(id, NULL, ai->ai_addr, 2000) ||
	    expect(ev, RDMA_CM_EVENT_ADDR_RESOLVED, 3) || rdma_resolve_route(id, 2000) ||
	    expect(ev, RDMA_CM_EVENT_ROUTE_RESOLVED, 3) || fp_rconn_setup(&c, ev, id) ||
	    rdma_connect(id, &param) || expect(ev, RDMA_CM_EVENT_ESTABLISHED, 5)) {
		printf("connect failed: %s\n", c.err);
		return 1;
	}
	printf("connected; silent\n");
	fflush(stdout);
	start = fp_now_ns();
	ret = fp_rconn_next_event(ev, deadline_in(secs), &e);
	if (ret) {
		printf("still connected after %g s\n", secs);
		return 1;
	}
	printf("the peer ended the connection after %.1f s: %s\n",
	       (double)(fp_now_ns() - start) / 1e9, rdma_event_str(e->event));
	rdma_ack_cm_event(e);
	return 0;
}
#else
static int idle_verbs(const char *host, const char *port, double secs)
{
	(void)host, (void)port, (void)secs;
	printf("built without librdmacm\n");
	return 1;
}
#endif

#if HAVE_LIBFABRIC
static int idle_ofi(const char *host, const char *port, double secs, const char *prov)
{
	struct fp_oconn c = {0};
	struct fi_info *info = NULL;
	fi_addr_t peer;
	enum fp_oconn_op op;
	bool replied = false;
	char err[256];

	ofi_case_env();
	if (ofi_load(err, sizeof(err)) || fp_oconn_getinfo(prov, host, port, false, &info) ||
	    !info) {
		printf("libfabric towards %s:%s: no %s endpoint\n", host, port, prov);
		return 1;
	}
	if (fp_oconn_open(&c, info) || fp_oconn_insert(&c, info->dest_addr, &peer) ||
	    fp_oconn_post_recv(&c)) {
		printf("endpoint: %s\n", c.err);
		return 1;
	}
	fp_oconn_tx(&c)->op = htole32(FP_OFI_PEER_HELLO);
	fp_oconn_tx(&c)->seq = htole32(1);
	if (fp_oconn_post_send(&c, peer, 0))
		return printf("hello: %s\n", c.err), 1;
	while (!replied) {
		if (fp_oconn_wait(&c, deadline_in(5), &op))
			return printf("hello: %s\n", c.err), 1;
		replied = op == FP_OCONN_RECV;
	}
	if (le32toh(fp_oconn_rx(&c)->op) != FP_OFI_PEER_REPLY)
		return printf("hello: not served (op %u: %s)\n", le32toh(fp_oconn_rx(&c)->op),
			      fp_oconn_rx(&c)->text),
		       1;
	printf("session open with %s; silent\n", fp_oconn_rx(&c)->text);
	fflush(stdout);
	usleep((useconds_t)(secs * 1e6));
	printf("silent for %g s\n", secs);
	return 0;
}
#else
static int idle_ofi(const char *host, const char *port, double secs, const char *prov)
{
	(void)host, (void)port, (void)secs, (void)prov;
	printf("built without libfabric\n");
	return 1;
}
#endif

int main(int argc, char **argv)
{
	if (argc < 5 || argc > 6 || (strcmp(argv[1], "verbs") && strcmp(argv[1], "ofi"))) {
		fprintf(stderr, "usage: peer_idle_client verbs|ofi HOST PORT SECONDS [PROVIDER]\n");
		return 2;
	}
	if (!strcmp(argv[1], "verbs"))
		return idle_verbs(argv[2], argv[3], atof(argv[4]));
	return idle_ofi(argv[2], argv[3], atof(argv[4]),
			argc == 6 ? argv[5] : FP_OFI_PEER_PROVIDER);
}
