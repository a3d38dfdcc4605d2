// SPDX-License-Identifier: MIT
/*
 * `forkpin peer --ofi`: node B of two-node mode for the ofi-remote row (docs/two-node.md).
 * One RDM endpoint at a fixed address (fi_getinfo with FI_SOURCE); each ofi-remote case on
 * node A is one session (protocol: backends/ofi_peer.h): B inserts the client's endpoint
 * name into its address vector at HELLO and removes it at BYE or after --idle-timeout, so
 * nothing of a case outlives it (ofi_rxm closes its connection with the AV entry). HELLO
 * comes by fi_recv, every later request as the client's fi_writedata into this end's inbox,
 * and is answered the same way into the client's (ofi_peer.h says why). A HELLO from anyone
 * else while a session lasts is answered BUSY. Runs until killed; one line per
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
	uint64_t inbox, inbox_key; /* the client's inbox, from its HELLO */
	char client[128];	   /* printable */
	unsigned long requests;
	uint64_t idle_deadline;
	/* what arrived while an operation was waited for: a message (a HELLO from another
	 * client), a request (the client may send it as soon as it has the reply, before
	 * this end saw the reply's completion) */
	bool recv_pending, inbox_pending;
};

static uint64_t peer_ofi_ms(unsigned ms)
{
	return fp_now_ns() + (uint64_t)ms * 1000000u;
}

/*
 * Wait for the completion of @want within PEER_OFI_OP_MS; 0 or -errno (c.err says). A
 * message or request that arrives meanwhile is left for the loop.
 */
static int peer_ofi_complete(struct peer_ofi *p, enum fp_oconn_op want)
{
	uint64_t deadline = peer_ofi_ms(PEER_OFI_OP_MS);
	enum fp_oconn_op got;
	int ret;

	do {
		ret = fp_oconn_wait(&p->c, deadline, &got);
		if (!ret && got == FP_OCONN_RECV)
			p->recv_pending = true;
		else if (!ret && got == FP_OCONN_INBOX)
			p->inbox_pending = true;
	} while (!ret && got != want);
	return ret;
}

/*
 * Send tx (op, @seq as on the wire, @status, @text, @payload bytes, this end's inbox) to @to
 * and wait until it went: with @rma into the client's inbox, else with fi_send.
 */
static int peer_ofi_reply(struct peer_ofi *p, fi_addr_t to, bool rma, enum fp_ofi_peer_op op,
			  uint32_t seq, int status, const char *text, size_t payload)
{
	struct fp_ofi_peer_msg *tx = fp_oconn_tx(&p->c);
	int ret;

	tx->op = htole32(op);
	tx->seq = seq;
	tx->status = htole32((uint32_t)status);
	tx->len = htole32((uint32_t)payload);
	snprintf(tx->text, sizeof(tx->text), "%s", text);
	fp_oconn_tell_inbox(&p->c, tx);
	if (!rma) {
		ret = fp_oconn_post_send(&p->c, to, payload);
		return ret ? ret : peer_ofi_complete(p, FP_OCONN_SEND);
	}
	ret = fp_oconn_post_write_msg(&p->c, to, payload, p->inbox, p->inbox_key, le32toh(seq));
	return ret ? ret : peer_ofi_complete(p, FP_OCONN_WRITE_MSG);
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
		peer_ofi_reply(p, fa, false, FP_OFI_PEER_BUSY_REPLY, rx->seq, 0, text, 0);
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
	p->inbox = le64toh(rx->addr);
	p->inbox_key = le64toh(rx->key);
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

/* Reply to the client's request @rq in the inbox; a failed reply ends the session. */
static void peer_ofi_answer(struct peer_ofi *p, const struct fp_ofi_peer_msg *rq, bool rma,
			    int status, const char *text, size_t payload)
{
	char why[360];

	if (peer_ofi_reply(p, p->client_fa, rma, FP_OFI_PEER_REPLY, rq->seq, status, text,
			   payload)) { /* the client went away before the reply */
		snprintf(why, sizeof(why), "replying: %s", p->c.err);
		peer_ofi_end(p, why);
		return;
	}
	p->idle_deadline = peer_ofi_ms((unsigned)(p->o->idle_s * 1000));
}

/* The client's request @rq, written into the inbox: move the data, reply the same way. */
static void peer_ofi_request(struct peer_ofi *p, const struct fp_ofi_peer_msg *rq)
{
	uint32_t op = le32toh(rq->op);
	char text[sizeof(rq->text)] = "";
	int status = 0;

	if (op == FP_OFI_PEER_BYE) {
		peer_ofi_answer(p, rq, true, 0, "", 0);
		peer_ofi_end(p, "goodbye");
		return;
	}
	if (op == FP_OFI_PEER_WRITE || op == FP_OFI_PEER_READ) {
		if (p->o->die_after && ++p->o->served >= p->o->die_after) {
			printf("client %s: --die-after %lu: exiting without answering request %u "
			       "of this session\n",
			       p->client, p->o->die_after, le32toh(rq->seq));
			fflush(stdout);
			_exit(3);
		}
		status = peer_ofi_rma(p, rq, text, sizeof(text));
		p->requests++;
	} else {
		status = EPROTO;
		snprintf(text, sizeof(text),
			 "not a forkpin peer request (op %u): same forkpin version on both nodes?",
			 op);
	}
	peer_ofi_answer(p, rq, true, status, text,
			!status && op == FP_OFI_PEER_READ ? le32toh(rq->len) : 0);
}

/* Is @msg forkpin's, and signed with an endpoint name? */
static bool peer_ofi_valid(const struct fp_ofi_peer_msg *msg)
{
	size_t name_len = le32toh(msg->name_len);

	return le32toh(msg->magic) == FP_OFI_PEER_MAGIC && name_len &&
	       name_len <= FP_OFI_PEER_NAME_MAX;
}

static bool peer_ofi_from_client(struct peer_ofi *p, const struct fp_ofi_peer_msg *msg)
{
	return le32toh(msg->name_len) == p->client_len &&
	       !memcmp(msg->name, p->client_name, p->client_len);
}

/* One received message (in rx): a HELLO, which starts a session or is refused. */
static void peer_ofi_message(struct peer_ofi *p)
{
	const struct fp_ofi_peer_msg *rx = fp_oconn_rx(&p->c);
	uint32_t op = le32toh(rx->op);

	if (!peer_ofi_valid(rx)) {
		printf("ignored a message that is not forkpin's (magic 0x%x)\n",
		       le32toh(rx->magic));
		fflush(stdout);
		return;
	}
	if (p->session && !peer_ofi_from_client(p, rx)) {
		peer_ofi_refuse(p, rx);
		return;
	}
	if (op != FP_OFI_PEER_HELLO) { /* a client of another forkpin version */
		char text[sizeof(rx->text)];

		snprintf(text, sizeof(text),
			 "request op %u sent as a message: this peer takes requests only as "
			 "RMA into its inbox: same forkpin version on both nodes?",
			 op);
		if (p->session)
			peer_ofi_answer(p, rx, false, EPROTO, text, 0);
		printf("ignored message op %u: %s\n", op,
		       p->session ? "answered EPROTO" : "no session");
		fflush(stdout);
		return;
	}
	if (!p->session && peer_ofi_begin(p, rx))
		return;
	peer_ofi_answer(p, rx, false, 0, p->dev, 0);
}

/* The other end wrote into the inbox: the session's next request, else ignored. */
static void peer_ofi_inbox(struct peer_ofi *p)
{
	const struct fp_ofi_peer_msg *rq = fp_oconn_inbox(&p->c);

	if (!p->session || !peer_ofi_valid(rq) || !peer_ofi_from_client(p, rq)) {
		printf("ignored a request written outside a session (a late one of a closed "
		       "session?)\n");
		fflush(stdout);
		return;
	}
	if (p->c.inbox_data != le32toh(rq->seq)) {
		printf("client %s: request %u arrived as number %lld: ignored\n", p->client,
		       le32toh(rq->seq), (long long)p->c.inbox_data);
		fflush(stdout);
		return;
	}
	peer_ofi_request(p, rq);
}

/* A message arrived (or its receive failed, @ret): handle it, receive the next. */
static int peer_ofi_received(struct peer_ofi *p, int ret)
{
	if (ret) /* whatever it was, the session is over */
		peer_ofi_end(p, p->c.err);
	else
		peer_ofi_message(p);
	if (fp_oconn_post_recv(&p->c)) {
		fprintf(stderr, WHO ": %s\n", p->c.err);
		return FP_EXIT_FAIL;
	}
	return 0;
}

/* Serve until killed; returns only when the receive cannot be posted. */
static int peer_ofi_loop(struct peer_ofi *p)
{
	for (;;) {
		enum fp_oconn_op op;
		int ret;

		if (p->inbox_pending) {
			p->inbox_pending = false;
			peer_ofi_inbox(p);
			continue;
		}
		if (p->recv_pending) {
			p->recv_pending = false;
			if (peer_ofi_received(p, 0))
				return FP_EXIT_FAIL;
			continue;
		}
		ret = fp_oconn_wait(&p->c, p->session ? p->idle_deadline : UINT64_MAX, &op);
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
		if (op == FP_OCONN_RECV) {
			if (peer_ofi_received(p, ret))
				return FP_EXIT_FAIL;
		} else if (ret) { /* an error completion: whatever it was, the session is over */
			peer_ofi_end(p, p->c.err);
		} else if (op == FP_OCONN_INBOX) {
			peer_ofi_inbox(p);
		} /* else a late completion of an ended session's operation */
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
