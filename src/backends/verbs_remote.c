// SPDX-License-Identifier: MIT
/*
 * The verbs-remote backend: memory registered with ibv_reg_mr in the case process (long-term
 * pins through ib_umem, as in the verbs row), and a *remote* node's NIC moving data into and
 * out of it: `forkpin peer` on node B (src/peer.c), reached with `forkpin run --peer HOST`.
 *
 * Each case opens its own rdma_cm connection (RC QP) to the peer, so the peer keeps nothing
 * between cases. The case process registers the buffer itself (its own MR: the fork
 * semantics under test are this process's) and sends the peer (addr, rkey) with each request
 * (wire protocol in rdma_peer.h):
 *   DMA to host   = the peer RDMA WRITEs the pattern (sent with the request) into A's MR,
 *                   then replies with a SEND;
 *   DMA from host = the peer RDMA READs A's MR and SENDs the bytes back.
 * *_start only stages the request; dma_wait sends it and waits for the reply, so the data
 * moves during dma_wait (FP_CAP_QUEUED_DMA) whatever the caller did in between (fork).
 * Every wait is bounded and watches the connection: a peer lost mid-case is an error naming
 * the peer and the transfer, never a hang and never a pass.
 */
#define _GNU_SOURCE
#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdma_peer.h"

static const struct fp_option verbs_remote_options[] = {
    {
	.name = "peer",
	.arg = "HOST[:PORT]",
	.env = "FORKPIN_PEER",
	.help = "verbs-remote: the node running `forkpin peer` whose NIC does the DMA "
		"(default port 7475; docs/two-node.md)",
    },
    {0},
};

#define VERBS_REMOTE_CAPS                                                                          \
	(FP_CAP_PINS | FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST | FP_CAP_QUEUED_DMA |             \
	 FP_CAP_READ_ONLY_PIN | FP_CAP_ANY_MEMORY)
/* as the verbs row: soft-RoCE under QEMU TCG moves ~30 MB/s */
#define VERBS_REMOTE_CASE_BUDGET (64u << 20)

#define VERBS_REMOTE_NO_PEER                                                                       \
	"needs --peer HOST: start `forkpin peer` on another node and pass its address "            \
	"(docs/two-node.md)"

#if HAVE_LIBRDMACM

#include <netdb.h>
#include <time.h>

#include "../util.h"
#include "rdma_lib.h"

/* Bounds: address and route resolution, the whole connect (busy retries included), and one
 * transfer's round trip (the verbs row's bound). */
#define VR_RESOLVE_MS	 2000
#define VR_CONNECT_MS	 5000
#define VR_TRANSFER_MS	 5000
#define VR_BUSY_RETRY_MS 50

/* struct vr_state - one connection to the peer, in one case process (dev->priv). */
struct vr_state {
	struct rdma_event_channel *ev;
	struct rdma_cm_id *id;
	struct fp_rconn c;
	bool connected;
	char peer[300];	   /* HOST:PORT, for messages */
	char peer_dev[64]; /* the peer's RDMA device, from its accept */
	uint32_t seq;
	/* the staged transfer, between *_start and dma_wait */
	bool pending;
	enum fp_peer_op op;
	size_t off, len;
	void *dst;
};

struct vr_reg {
	struct ibv_mr *mr;
	void *addr;
	size_t len;
};

static const char *vr_op_str(enum fp_peer_op op)
{
	return op == FP_PEER_READ ? "RDMA READ" : "RDMA WRITE";
}

static void vr_teardown(struct vr_state *st)
{
	fp_rconn_destroy(&st->c);
	memset(&st->c, 0, sizeof(st->c));
	if (st->id)
		rdma_destroy_id(st->id);
	if (st->ev)
		rdma_destroy_event_channel(st->ev);
	st->id = NULL;
	st->ev = NULL;
	st->connected = false;
}

/* Describe a refusal: the peer's busy message, or no peer at all. Sets *@busy. */
static int vr_rejected(struct fp_dev *dev, struct vr_state *st, const struct rdma_cm_event *ev,
		       bool *busy)
{
	const char *pd = ev->param.conn.private_data;
	size_t n = ev->param.conn.private_data_len;
	char msg[160] = "";

	if (pd && n > strlen(FP_PEER_BUSY) && !memcmp(pd, FP_PEER_BUSY, strlen(FP_PEER_BUSY))) {
		*busy = true;
		snprintf(msg, sizeof(msg), "%.*s", (int)(n < sizeof(msg) ? n : sizeof(msg) - 1),
			 pd);
		return fp_dev_error(dev, -EBUSY,
				    "peer %s refused the connection for %d ms: %s (one client at "
				    "a time: is another forkpin run using it?)",
				    st->peer, VR_CONNECT_MS, msg);
	}
	return fp_dev_error(dev, -ECONNREFUSED,
			    "peer %s refused the connection (rdma_cm status %d): is `forkpin peer "
			    "--port %s` running there?",
			    st->peer, ev->status, strrchr(st->peer, ':') + 1);
}

/* Wait for CM event @want; anything else is described as the failure of @what. */
static int vr_expect(struct fp_dev *dev, struct vr_state *st, enum rdma_cm_event_type want,
		     uint64_t deadline, const char *what, bool *busy)
{
	struct rdma_cm_event *ev;
	int ret = fp_rconn_next_event(st->ev, deadline, &ev);

	if (ret == -ETIMEDOUT)
		return fp_dev_error(dev, ret, "peer %s: %s: no answer before the deadline",
				    st->peer, what);
	if (ret)
		return fp_dev_error(dev, ret, "peer %s: %s: rdma_get_cm_event: %s", st->peer, what,
				    strerror(-ret));
	if (ev->event == want) {
		if (want == RDMA_CM_EVENT_ESTABLISHED && ev->param.conn.private_data_len)
			snprintf(st->peer_dev, sizeof(st->peer_dev), "%.*s",
				 (int)ev->param.conn.private_data_len,
				 (const char *)ev->param.conn.private_data);
		ret = 0;
	} else if (ev->event == RDMA_CM_EVENT_REJECTED) {
		ret = vr_rejected(dev, st, ev, busy);
	} else {
		ret = fp_dev_error(dev, -EHOSTUNREACH,
				   "peer %s: %s: %s (status %d): check the address, the route and "
				   "that an RDMA device holds the local address (rdma link show)",
				   st->peer, what, rdma_event_str(ev->event), ev->status);
	}
	rdma_ack_cm_event(ev);
	return ret;
}

/* One connection attempt: resolve, set up the QP, connect. */
static int vr_connect_once(struct fp_dev *dev, struct vr_state *st, struct sockaddr_storage *dst,
			   uint64_t deadline, bool *busy)
{
	struct rdma_conn_param param = {
	    .responder_resources = 1,
	    .initiator_depth = 1,
	    .retry_count = 7,
	    .rnr_retry_count = 7,
	};
	int ret;

	st->ev = rdma_create_event_channel();
	if (!st->ev) /* no RDMA device or no rdma_ucm here: cannot run, a SKIP */
		return fp_dev_error(dev, -ENODEV,
				    "rdma_create_event_channel: %s: no local RDMA device for the "
				    "connection to the peer (modprobe rdma_ucm; rdma link show)",
				    strerror(errno));
	if (fp_rconn_channel_nonblock(st->ev) || rdma_create_id(st->ev, &st->id, NULL, RDMA_PS_TCP))
		return fp_dev_error(dev, -EIO, "rdma_create_id: %s", strerror(errno));
	if (rdma_resolve_addr(st->id, NULL, (struct sockaddr *)dst, VR_RESOLVE_MS))
		return fp_dev_error(dev, -EIO, "peer %s: rdma_resolve_addr: %s", st->peer,
				    strerror(errno));
	ret = vr_expect(dev, st, RDMA_CM_EVENT_ADDR_RESOLVED, deadline, "address resolution", busy);
	if (!ret && rdma_resolve_route(st->id, VR_RESOLVE_MS))
		ret = fp_dev_error(dev, -EIO, "peer %s: rdma_resolve_route: %s", st->peer,
				   strerror(errno));
	if (!ret)
		ret = vr_expect(dev, st, RDMA_CM_EVENT_ROUTE_RESOLVED, deadline, "route resolution",
				busy);
	if (!ret && fp_rconn_setup(&st->c, st->ev, st->id))
		ret = fp_dev_error(dev, -EIO, "peer %s: %s", st->peer, st->c.err);
	if (!ret && fp_rconn_post_recv(&st->c))
		ret = fp_dev_error(dev, -EIO, "peer %s: %s", st->peer, st->c.err);
	if (!ret && rdma_connect(st->id, &param))
		ret =
		    fp_dev_error(dev, -EIO, "peer %s: rdma_connect: %s", st->peer, strerror(errno));
	if (!ret)
		ret = vr_expect(dev, st, RDMA_CM_EVENT_ESTABLISHED, deadline, "connect", busy);
	st->connected = ret == 0;
	return ret;
}

/* Resolve HOST:PORT of --peer into @dst; 0 or -EINVAL with @err. */
static int vr_resolve(const char *spec, struct sockaddr_storage *dst, char *err, size_t err_size)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	char host[256], port[16];
	int ret;

	if (fp_peer_parse_addr(spec, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, err_size,
			 "--peer '%s': expected HOST[:PORT] (e.g. node-b:7475 or [fe80::1]:7475)",
			 spec);
		return -EINVAL;
	}
	ret = getaddrinfo(host, port, &hints, &ai);
	if (ret) {
		snprintf(err, err_size, "--peer %s: cannot resolve '%s': %s", spec, host,
			 gai_strerror(ret));
		return -EINVAL;
	}
	memcpy(dst, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

/* st->peer: HOST:PORT as messages name it, the default port filled in. */
static void vr_name_peer(struct vr_state *st, const char *spec)
{
	char host[256], port[16];

	if (fp_peer_parse_addr(spec, host, sizeof(host), port, sizeof(port)))
		snprintf(st->peer, sizeof(st->peer), "%s", spec);
	else
		snprintf(st->peer, sizeof(st->peer), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
			 port);
}

static void vr_close(struct fp_dev *dev)
{
	struct vr_state *st = dev->priv;

	if (!st)
		return;
	if (st->connected)
		rdma_disconnect(st->id); /* the peer sees the end of the case at once */
	vr_teardown(st);
	free(st);
	dev->priv = NULL;
}

/* No --peer for this run, or no rdma-core here: every open fails alike before it acquires
 * anything. */
static int vr_plan(struct fp_dev *dev)
{
	const char *spec = fp_option_get("peer"), *why;

	if (!spec || !spec[0])
		return fp_dev_error(dev, -ENODEV, "%s", VERBS_REMOTE_NO_PEER);
	why = fp_rdma_lib_missing(FP_RDMA_IBVERBS);
	if (!why)
		why = fp_rdma_lib_missing(FP_RDMA_RDMACM);
	return why ? fp_dev_error(dev, -ENODEV, "%s", why) : 0;
}

static int vr_open(struct fp_dev *dev)
{
	const char *spec = fp_option_get("peer");
	struct sockaddr_storage dst;
	uint64_t deadline = fp_now_ns() + (uint64_t)VR_CONNECT_MS * 1000000u;
	struct vr_state *st;
	char err[sizeof(dev->error)];
	int ret;

	if (vr_plan(dev))
		return -ENODEV;
	if (vr_resolve(spec, &dst, err, sizeof(err)))
		return fp_dev_error(dev, -EINVAL, "%s", err);
	st = calloc(1, sizeof(*st));
	if (!st)
		return fp_dev_error(dev, -ENOMEM, "calloc(verbs-remote state): out of memory");
	dev->priv = st;
	vr_name_peer(st, spec);
	for (;;) {
		bool busy = false;
		struct timespec pause = {0, VR_BUSY_RETRY_MS * 1000000L};

		ret = vr_connect_once(dev, st, &dst, deadline, &busy);
		if (!ret || !busy || fp_now_ns() >= deadline)
			break;
		vr_teardown(st); /* the previous case's connection is still being torn down */
		nanosleep(&pause, NULL);
	}
	if (ret) {
		vr_close(dev);
		return ret;
	}
	snprintf(dev->note, sizeof(dev->note), "DMA by peer %.64s's %.40s", st->peer,
		 st->peer_dev[0] ? st->peer_dev : "NIC");
	return 0;
}

static int vr_register(struct fp_dev *dev, void *addr, size_t len, enum fp_access access,
		       void **priv)
{
	struct vr_state *st = dev->priv;
	int flags = access == FP_ACCESS_READ_ONLY
			? IBV_ACCESS_REMOTE_READ /* a read-only pin: no FOLL_WRITE */
			: IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct vr_reg *r = calloc(1, sizeof(*r));

	if (!r)
		return fp_dev_error(dev, -ENOMEM,
				    "calloc(verbs-remote registration): out of memory");
	r->mr = ibv_reg_mr(st->c.pd, addr, len, flags);
	if (!r->mr) {
		int err = errno;

		free(r);
		return fp_dev_error(dev, -err, "ibv_reg_mr(buffer, %zu bytes%s): %s%s", len,
				    access == FP_ACCESS_READ_ONLY ? ", remote read only" : "",
				    strerror(err),
				    err == ENOMEM || err == EFAULT ? ": raise ulimit -l" : "");
	}
	r->addr = addr;
	r->len = len;
	*priv = r;
	return 0;
}

static void vr_dereg(struct fp_dev *dev, void *reg)
{
	struct vr_reg *r = reg;

	(void)dev;
	if (!r)
		return;
	ibv_dereg_mr(r->mr);
	free(r);
}

/* Stage a transfer; dma_wait sends it. */
static int vr_stage(struct fp_dev *dev, enum fp_peer_op op, size_t off, size_t len, void *dst)
{
	struct vr_state *st = dev->priv;

	if (!st->connected)
		return fp_dev_error(dev, -ENOTCONN, "peer %s: not connected", st->peer);
	st->op = op;
	st->off = off;
	st->len = len;
	st->dst = dst;
	st->pending = len > 0; /* nothing to move: dma_wait has nothing to wait for */
	return 0;
}

static int vr_dma_to_host_start(struct fp_dev *dev, void *reg, size_t off, const void *src,
				size_t len)
{
	struct vr_state *st = dev->priv;

	(void)reg;
	if (len > FP_PEER_MAX_TRANSFER)
		return fp_dev_error(dev, -EINVAL, "transfer of %zu bytes: more than %u", len,
				    FP_PEER_MAX_TRANSFER);
	memcpy(fp_rconn_tx(&st->c) + 1, src, len);
	return vr_stage(dev, FP_PEER_WRITE, off, len, NULL);
}

static int vr_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst, size_t len)
{
	(void)reg;
	if (len > FP_PEER_MAX_TRANSFER)
		return fp_dev_error(dev, -EINVAL, "transfer of %zu bytes: more than %u", len,
				    FP_PEER_MAX_TRANSFER);
	return vr_stage(dev, FP_PEER_READ, off, len, dst);
}

/* A lost connection or a timeout, described with the transfer it interrupted and how far
 * the request got. */
static int vr_lost(struct fp_dev *dev, struct vr_state *st, int ret, bool sent)
{
	st->connected = ret != -ECONNRESET && st->connected;
	return fp_dev_error(dev, ret == -ETIMEDOUT ? -ETIMEDOUT : -EIO,
			    "peer %s: %s of %zu bytes at offset %zu (request %u %s): %s%s",
			    st->peer, vr_op_str(st->op), st->len, st->off, st->seq,
			    sent ? "delivered" : "not acknowledged", st->c.err,
			    ret == -ETIMEDOUT ? " (no reply within 5000 ms: the peer process or "
						"its node went away, or the fabric dropped it)"
					      : " (the peer went away mid-case)");
}

/*
 * After a transfer's deadline passed: what was there to see, appended to c.err. A completion
 * still in the CQ means the wake-up was lost; a reply in the receive buffer without one means
 * the data landed but no completion came; neither means nothing arrived.
 */
static void vr_timeout_detail(struct vr_state *st, bool sent, bool replied)
{
	const struct fp_peer_msg *rx = fp_rconn_rx(&st->c);
	size_t used = strlen(st->c.err);
	struct ibv_wc wc;
	int n = ibv_poll_cq(st->c.cq, 1, &wc);

	snprintf(st->c.err + used, sizeof(st->c.err) - used,
		 "; then: send %s, reply %s, CQ %s, receive buffer holds %s %u",
		 sent ? "completed" : "not completed", replied ? "completed" : "not completed",
		 n > 0 ? (wc.opcode == IBV_WC_RECV ? "held a receive completion"
						   : "held a send completion")
		       : "empty",
		 le32toh(rx->magic) == FP_PEER_MAGIC ? "seq" : "no message, seq field",
		 le32toh(rx->seq));
}

/* Send the staged request; wait for its send completion and the reply. */
static int vr_round_trip(struct fp_dev *dev, struct vr_state *st, struct vr_reg *r)
{
	struct fp_peer_msg *tx = fp_rconn_tx(&st->c);
	uint64_t deadline = fp_now_ns() + (uint64_t)VR_TRANSFER_MS * 1000000u;
	bool sent = false, replied = false;
	int ret;

	tx->magic = htole32(FP_PEER_MAGIC);
	tx->op = htole32(st->op);
	tx->addr = htole64((uint64_t)(uintptr_t)r->addr + st->off);
	tx->rkey = htole32(r->mr->rkey);
	tx->len = htole32((uint32_t)st->len);
	tx->seq = htole32(++st->seq);
	tx->status = 0;
	ret = fp_rconn_post_send(&st->c, st->op == FP_PEER_WRITE ? st->len : 0);
	if (ret)
		return vr_lost(dev, st, ret, false);
	while (!(sent && replied)) {
		struct ibv_wc wc;

		ret = fp_rconn_wait(&st->c, deadline, &wc, NULL, NULL);
		if (ret == -ETIMEDOUT)
			vr_timeout_detail(st, sent, replied);
		if (ret)
			return vr_lost(dev, st, ret, sent);
		if (wc.opcode == IBV_WC_SEND)
			sent = true;
		else if (wc.opcode == IBV_WC_RECV)
			replied = true;
	}
	return 0;
}

static int vr_dma_wait(struct fp_dev *dev, void *reg)
{
	struct vr_state *st = dev->priv;
	struct fp_peer_msg *rx = fp_rconn_rx(&st->c);
	int ret;

	if (!st->pending)
		return 0;
	st->pending = false;
	ret = vr_round_trip(dev, st, reg);
	if (ret)
		return ret;
	if (le32toh(rx->magic) != FP_PEER_MAGIC || le32toh(rx->op) != FP_PEER_REPLY ||
	    le32toh(rx->seq) != st->seq)
		return fp_dev_error(dev, -EPROTO,
				    "peer %s: the reply to request %u is not a forkpin peer reply "
				    "(magic 0x%x, op %u, seq %u)",
				    st->peer, st->seq, le32toh(rx->magic), le32toh(rx->op),
				    le32toh(rx->seq));
	if (rx->status)
		return fp_dev_error(dev, -EIO,
				    "peer %s: %s of %zu bytes at offset %zu failed there: %.*s",
				    st->peer, vr_op_str(st->op), st->len, st->off,
				    (int)sizeof(rx->error), rx->error);
	if (st->op == FP_PEER_READ) {
		if (le32toh(rx->len) != st->len)
			return fp_dev_error(dev, -EPROTO,
					    "peer %s: RDMA READ of %zu bytes returned %u", st->peer,
					    st->len, le32toh(rx->len));
		memcpy(st->dst, rx + 1, st->len);
	}
	ret = fp_rconn_post_recv(&st->c); /* for the next reply */
	return ret ? fp_dev_error(dev, -EIO, "peer %s: %s", st->peer, st->c.err) : 0;
}

static void vr_fingerprint(struct fp_env *env)
{
	const char *spec = fp_option_get("peer");

	fp_env_set(env, "verbs-remote.peer", "%s",
		   spec && spec[0] ? spec : "(none: needs --peer HOST)");
}

/* --peer, in the main process: a malformed or unresolvable address is bad usage (exit 2). */
static int vr_check_options(char *err, size_t err_size)
{
	const char *spec = fp_option_get("peer");
	struct sockaddr_storage dst;

	if (!spec || !spec[0])
		return 0; /* the cases SKIP with the reason */
	return vr_resolve(spec, &dst, err, err_size);
}

static const struct fp_backend_ops verbs_remote_ops = {
    .open = vr_open,
    .reg = vr_register,
    .dma_to_host_start = vr_dma_to_host_start,
    .dma_from_host_start = vr_dma_from_host_start,
    .dma_wait = vr_dma_wait,
    .dereg = vr_dereg,
    .close = vr_close,
    .fingerprint = vr_fingerprint,
    .check_options = vr_check_options,
    .plan = vr_plan,
};

#define VERBS_REMOTE_OPS	 (&verbs_remote_ops)
#define VERBS_REMOTE_UNAVAILABLE NULL
#else
#define VERBS_REMOTE_OPS	 NULL
#define VERBS_REMOTE_UNAVAILABLE "built without librdmacm: install librdmacm-dev and reconfigure"
#endif /* HAVE_LIBRDMACM */

const struct fp_backend fp_verbs_remote_backend = {
    .name = "verbs-remote",
    .summary = "RDMA verbs: ibv_reg_mr pins here, RDMA WRITE/READ by a remote node's NIC "
	       "(forkpin peer, --peer HOST)",
    .caps = VERBS_REMOTE_CAPS,
    .limits =
	{
	    .max_transfer = FP_PEER_MAX_TRANSFER,
	    .case_budget = VERBS_REMOTE_CASE_BUDGET,
	    .align = 1,
	},
    .unavailable = VERBS_REMOTE_UNAVAILABLE,
    .ops = VERBS_REMOTE_OPS,
    .options = verbs_remote_options,
};
