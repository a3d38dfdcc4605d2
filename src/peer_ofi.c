// SPDX-License-Identifier: MIT
/*
 * `forkpin peer --ofi`: node B of two-node mode for the ofi-remote row (docs/two-node.md).
 * One RDM endpoint at a fixed address (fi_getinfo with FI_SOURCE); each ofi-remote case on
 * node A is one session (protocol: backends/ofi_peer.h): B inserts the client's endpoint
 * name into its address vector at HELLO and removes it at BYE or after --idle-timeout, so
 * nothing of a case outlives it (ofi_rxm closes its connection with the AV entry). A message
 * from anyone else while a session lasts is answered BUSY. Runs until killed; one line per
 * session on stdout, as the verbs peer.
 */
#define _GNU_SOURCE
#include "peer_ofi.h"

#include "backends/ofi_lib.h"
#include "backends/ofi_peer.h"
#include "cmd.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if HAVE_LIBFABRIC

#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>

/* bound on one operation of B's: an RMA, a reply */
#define PEER_OFI_OP_MS 5000

/* struct peer_ofi - the server: its endpoint and the session it serves, if any. */
struct peer_ofi {
	struct peer_opts *o;
	struct fp_oconn c;
	const char *dev; /* this node's NIC: the domain */
	bool session;
	fi_addr_t client_fa;
	uint8_t client_name[FP_OFI_PEER_NAME_MAX];
	size_t client_len;
	char client[128]; /* printable */
	unsigned long requests;
	uint64_t idle_deadline;
};

static uint64_t peer_ofi_ms(unsigned ms)
{
	return fp_now_ns() + (uint64_t)ms * 1000000u;
}

/* Wait for the completion of @want within PEER_OFI_OP_MS; 0 or -errno (c.err says). */
static int peer_ofi_complete(struct peer_ofi *p, enum fp_oconn_op want)
{
	uint64_t deadline = peer_ofi_ms(PEER_OFI_OP_MS);
	enum fp_oconn_op got;
	int ret;

	do
		ret = fp_oconn_wait(&p->c, deadline, &got);
	while (!ret && got != want);
	return ret;
}

/* Send tx (op, @seq, @status, @text, @payload bytes) to @to and wait until it went. */
static int peer_ofi_reply(struct peer_ofi *p, fi_addr_t to, enum fp_ofi_peer_op op, uint32_t seq,
			  int status, const char *text, size_t payload)
{
	struct fp_ofi_peer_msg *tx = fp_oconn_tx(&p->c);
	int ret;

	tx->op = htole32(op);
	tx->seq = seq;
	tx->status = htole32((uint32_t)status);
	tx->len = htole32((uint32_t)payload);
	snprintf(tx->text, sizeof(tx->text), "%s", text);
	ret = fp_oconn_post_send(&p->c, to, payload);
	return ret ? ret : peer_ofi_complete(p, FP_OCONN_SEND);
}

/* End the session: the log line, and the client's address out of the AV. */
static void peer_ofi_end(struct peer_ofi *p, const char *why)
{
	if (!p->session)
		return;
	printf("client %s on %s: %lu request(s) served; %s\n", p->client, p->dev, p->requests, why);
	fflush(stdout);
	fi_av_remove(p->c.av, &p->client_fa, 1, 0);
	p->session = false;
}

/* A message from someone other than the client: BUSY, through a transient AV entry. */
static void peer_ofi_refuse(struct peer_ofi *p, const struct fp_ofi_peer_msg *rx)
{
	char who[128], text[160];
	fi_addr_t fa;

	fp_oconn_straddr(&p->c, rx->name, who, sizeof(who));
	snprintf(text, sizeof(text), "%s: serving %s", FP_OFI_PEER_BUSY, p->client);
	if (fp_oconn_insert(&p->c, rx->name, &fa) == 0) {
		peer_ofi_reply(p, fa, FP_OFI_PEER_BUSY_REPLY, rx->seq, 0, text, 0);
		fi_av_remove(p->c.av, &fa, 1, 0);
	}
	printf("refused %s: serving %s\n", who, p->client);
	fflush(stdout);
}

/* Start a session with the sender of @rx. 0 or -errno. */
static int peer_ofi_begin(struct peer_ofi *p, const struct fp_ofi_peer_msg *rx)
{
	int ret = fp_oconn_insert(&p->c, rx->name, &p->client_fa);

	if (ret) {
		printf("client ?: %s\n", p->c.err);
		fflush(stdout);
		return ret;
	}
	p->session = true;
	p->requests = 0;
	p->client_len = le32toh(rx->name_len);
	memcpy(p->client_name, rx->name, p->client_len);
	fp_oconn_straddr(&p->c, rx->name, p->client, sizeof(p->client));
	return 0;
}

/* Move the data of request @rq with this node's NIC; the status and text of the reply. */
static int peer_ofi_rma(struct peer_ofi *p, const struct fp_ofi_peer_msg *rq, char *text,
			size_t size)
{
	bool read = le32toh(rq->op) == FP_OFI_PEER_READ;
	uint32_t len = le32toh(rq->len);
	void *local = read ? (void *)(fp_oconn_tx(&p->c) + 1) : (void *)(rq + 1);
	int ret;

	if (len > FP_OFI_PEER_MAX_TRANSFER) {
		snprintf(text, size, "transfer of %u bytes: more than %u", len,
			 FP_OFI_PEER_MAX_TRANSFER);
		return EPROTO;
	}
	ret = fp_oconn_post_rma(&p->c, read, local, len, p->client_fa, le64toh(rq->addr),
				le64toh(rq->key));
	if (!ret)
		ret = peer_ofi_complete(p, FP_OCONN_RMA);
	if (ret)
		snprintf(text, size, "%.*s", (int)size - 1, p->c.err);
	return ret < 0 ? -ret : ret;
}

/* The client's request @rx: move the data, reply. */
static void peer_ofi_request(struct peer_ofi *p, const struct fp_ofi_peer_msg *rx)
{
	uint32_t op = le32toh(rx->op);
	char text[sizeof(rx->text)] = "", why[360];
	int status = 0, ret;

	if (op == FP_OFI_PEER_BYE) {
		peer_ofi_reply(p, p->client_fa, FP_OFI_PEER_REPLY, rx->seq, 0, "", 0);
		peer_ofi_end(p, "goodbye");
		return;
	}
	if (op == FP_OFI_PEER_WRITE || op == FP_OFI_PEER_READ) {
		if (p->o->die_after && ++p->o->served >= p->o->die_after) {
			printf("client %s: --die-after %lu: exiting without answering request %u "
			       "of this session\n",
			       p->client, p->o->die_after, le32toh(rx->seq));
			fflush(stdout);
			_exit(3);
		}
		status = peer_ofi_rma(p, rx, text, sizeof(text));
	} else if (op == FP_OFI_PEER_HELLO) {
		snprintf(text, sizeof(text), "%s", p->dev);
	} else {
		status = EPROTO;
		snprintf(text, sizeof(text),
			 "not a forkpin peer request (op %u): same forkpin version on both nodes?",
			 op);
	}
	ret = peer_ofi_reply(p, p->client_fa, FP_OFI_PEER_REPLY, rx->seq, status, text,
			     !status && op == FP_OFI_PEER_READ ? le32toh(rx->len) : 0);
	if (ret) { /* the client went away before the reply: the session is over */
		snprintf(why, sizeof(why), "replying: %s", p->c.err);
		peer_ofi_end(p, why);
		return;
	}
	if (op != FP_OFI_PEER_HELLO)
		p->requests++;
	p->idle_deadline = peer_ofi_ms((unsigned)(p->o->idle_s * 1000));
}

/* One received message (in rx). */
static void peer_ofi_message(struct peer_ofi *p)
{
	const struct fp_ofi_peer_msg *rx = fp_oconn_rx(&p->c);
	size_t name_len = le32toh(rx->name_len);

	if (le32toh(rx->magic) != FP_OFI_PEER_MAGIC || !name_len ||
	    name_len > FP_OFI_PEER_NAME_MAX) {
		printf("ignored a message that is not forkpin's (magic 0x%x)\n",
		       le32toh(rx->magic));
		fflush(stdout);
		return;
	}
	if (p->session &&
	    (name_len != p->client_len || memcmp(rx->name, p->client_name, name_len))) {
		peer_ofi_refuse(p, rx);
		return;
	}
	if (!p->session && peer_ofi_begin(p, rx))
		return;
	peer_ofi_request(p, rx);
}

/* Serve until killed; returns only when the receive cannot be posted. */
static int peer_ofi_loop(struct peer_ofi *p)
{
	for (;;) {
		enum fp_oconn_op op;
		int ret = fp_oconn_wait(&p->c, p->session ? p->idle_deadline : UINT64_MAX, &op);

		if (ret == -ETIMEDOUT && p->session) {
			char why[64];

			snprintf(why, sizeof(why), "idle for %g s: closed", p->o->idle_s);
			peer_ofi_end(p, why);
			continue;
		}
		if (ret && op == FP_OCONN_NOPS) { /* the CQ itself failed */
			fprintf(stderr, WHO ": %s\n", p->c.err);
			return FP_EXIT_FAIL;
		}
		if (ret) /* an error completion: whatever it was, the session is over */
			peer_ofi_end(p, p->c.err);
		else if (op == FP_OCONN_RECV)
			peer_ofi_message(p);
		if (op != FP_OCONN_RECV)
			continue; /* a late completion of an ended session's operation */
		if (fp_oconn_post_recv(&p->c)) {
			fprintf(stderr, WHO ": %s\n", p->c.err);
			return FP_EXIT_FAIL;
		}
	}
}

int fp_peer_serve_ofi(struct peer_opts *o, const struct sockaddr_in *sin)
{
	struct peer_ofi p = {.o = o};
	struct fi_info *info = NULL;
	char node[INET_ADDRSTRLEN], err[256], where[128];
	bool any = sin->sin_addr.s_addr == htonl(INADDR_ANY);
	int ret;

	ofi_case_env();
	if (ofi_load(err, sizeof(err))) {
		fprintf(stderr, WHO ": %s\n", err);
		return FP_EXIT_FAIL;
	}
	inet_ntop(AF_INET, &sin->sin_addr, node, sizeof(node));
	ret = fp_oconn_getinfo(o->ofi_provider, any ? NULL : node, o->port, true, &info);
	if (ret) {
		fprintf(stderr,
			WHO ": fi_getinfo(%s, %s port %s): %s: no endpoint of that provider here "
			    "(rdma link show; fi_info -p '%s')\n",
			o->ofi_provider, any ? "any address" : node, o->port, ofi_fn.strerror(-ret),
			o->ofi_provider);
		return FP_EXIT_FAIL;
	}
	if (!ofi_provider_pins(info->fabric_attr->prov_name))
		fprintf(stderr,
			WHO ": warning: provider %s does not pin: its clients' ofi-remote cases "
			    "SKIP\n",
			info->fabric_attr->prov_name);
	if (fp_oconn_open(&p.c, info) || fp_oconn_post_recv(&p.c)) {
		fprintf(stderr, WHO ": cannot listen on %s port %s with %s: %s%s\n",
			any ? "any address" : node, o->port, o->ofi_provider, p.c.err,
			strstr(p.c.err, "in use") ? ": another forkpin peer? choose --port" : "");
		return FP_EXIT_FAIL;
	}
	p.dev = p.c.info->domain_attr->name;
	fp_oconn_straddr(&p.c, p.c.name, where, sizeof(where));
	printf("forkpin peer: listening on %s (%s on %s), one client at a time, idle timeout "
	       "%g s\n",
	       where, p.c.info->fabric_attr->prov_name, p.dev, o->idle_s);
	fflush(stdout);
	ret = peer_ofi_loop(&p);
	fp_oconn_close(&p.c);
	return ret;
}

#else /* !HAVE_LIBFABRIC */

int fp_peer_serve_ofi(struct peer_opts *o, const struct sockaddr_in *sin)
{
	(void)o;
	(void)sin;
	fprintf(stderr, WHO ": --ofi: built without libfabric: install libfabric-dev and "
			    "reconfigure\n");
	return FP_EXIT_NOTHING_RAN;
}

#endif /* HAVE_LIBFABRIC */
