// SPDX-License-Identifier: MIT
/*
 * The ofi-remote backend: memory registered with fi_mr_reg in the case process (a libfabric
 * provider that pins, verbs;ofi_rxm by default: ib_umem's long-term pins, as in the ofi row),
 * and a *remote* node's NIC moving data into and out of it with libfabric RMA: `forkpin peer
 * --ofi` on node B (src/peer_ofi.c), reached with `forkpin run --ofi-peer HOST` (or --peer
 * HOST: the same node at the ofi port).
 *
 * Each case opens its own endpoint and session (HELLO ... BYE) with the peer, so the peer
 * keeps nothing between cases; addresses are exchanged the libfabric way (ofi_peer.h). HELLO
 * is the only message sent before the case forks; every request after it, and the goodbye,
 * goes as RMA into the peer's inbox, never through ofi_rxm's own (pinned, private) message
 * buffers, which a kernel without early COW breaks too. The case process registers the
 * buffer itself and sends the peer (RMA address, key) with each request:
 *   DMA to host   = the peer fi_writes the pattern (sent with the request) into A's MR with
 *                   delivery complete, then replies;
 *   DMA from host = the peer fi_reads A's MR and sends the bytes back.
 * *_start only stages the request; dma_wait sends it and waits for the reply, so the data
 * moves during dma_wait (FP_CAP_QUEUED_DMA) whatever the caller did in between (fork).
 * Every wait is bounded: a peer lost mid-case is an error naming the peer and the transfer,
 * never a hang and never a pass.
 */
#define _GNU_SOURCE
#include "registry.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ofi_lib.h"
#include "ofi_peer.h"
#include "rdma_peer.h"

static const struct fp_option ofi_remote_options[] = {
    {
	.name = "ofi-peer",
	.arg = "HOST[:PORT]",
	.env = "FORKPIN_OFI_PEER",
	.help = "ofi-remote: the node running `forkpin peer --ofi` whose NIC does the DMA "
		"(default: --peer's host, port 7476; docs/two-node.md)",
    },
    {0},
};

#define OFI_REMOTE_CAPS                                                                            \
	(FP_CAP_PINS | FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST | FP_CAP_QUEUED_DMA |             \
	 FP_CAP_ANY_MEMORY)
/* as the ofi row: soft-RoCE under QEMU TCG moves ~30 MB/s */
#define OFI_REMOTE_CASE_BUDGET (64u << 20)

#define OFI_REMOTE_NO_PEER                                                                         \
	"needs --ofi-peer HOST (or --peer HOST): start `forkpin peer --ofi` on another node "      \
	"(docs/two-node.md)"

#if HAVE_LIBFABRIC

/* Is there a PORT in HOST[:PORT] / [V6]:PORT? */
static bool or_has_port(const char *spec)
{
	const char *colon = strrchr(spec, ':');

	if (spec[0] == '[')
		return strstr(spec, "]:") != NULL;
	return colon && strchr(spec, ':') == colon;
}

/*
 * The peer's host and port: --ofi-peer (default port 7476), else --peer's host at 7476.
 * 1 when neither is given, 0, or -EINVAL with @err (a malformed address).
 */
static int or_peer_addr(char *host, size_t host_size, char *port, size_t port_size, char *err,
			size_t err_size)
{
	const char *spec = fp_option_get("ofi-peer");
	const char *flag = "--ofi-peer";
	bool own = spec && spec[0];

	if (!own) {
		spec = fp_option_get("peer");
		flag = "--peer";
	}
	if (!spec || !spec[0])
		return 1;
	if (fp_peer_parse_addr(spec, host, host_size, port, port_size)) {
		snprintf(err, err_size,
			 "%s '%s': expected HOST[:PORT] (e.g. node-b:%u or [fe80::1]:%u)", flag,
			 spec, FP_OFI_PEER_DEFAULT_PORT, FP_OFI_PEER_DEFAULT_PORT);
		return -EINVAL;
	}
	if (!own || !or_has_port(spec))
		snprintf(port, port_size, "%u", FP_OFI_PEER_DEFAULT_PORT);
	return 0;
}

/* The provider: --ofi-provider when given, else verbs;ofi_rxm. */
static const char *or_provider(void)
{
	const char *p = fp_option_get("ofi-provider");

	return p && p[0] ? p : FP_OFI_PEER_PROVIDER;
}

#include <time.h>

#include <rdma/fi_errno.h>

#include "../util.h"
#include "ofi_zygote.h"

/* Bounds: the whole session start (busy retries included), one transfer's round trip (as
 * the verbs-remote row), and the goodbye. */
#define OR_CONNECT_MS	 5000
#define OR_TRANSFER_MS	 5000
#define OR_BYE_MS	 1000
#define OR_BUSY_RETRY_MS 50
/* the case buffer's key when the provider does not choose keys */
#define OR_BUFFER_KEY 0xf1

/* struct or_state - one session with the peer, in one case process (dev->priv). */
struct or_state {
	struct fp_oconn c;
	fi_addr_t peer_fa;
	bool session;		   /* HELLO answered: BYE at close */
	uint64_t inbox, inbox_key; /* the peer's inbox, from HELLO's reply */
	char peer[300];		   /* HOST:PORT, for messages */
	char peer_dev[64];	   /* the peer's NIC (its domain), from HELLO's reply */
	uint32_t seq;
	/* the staged transfer, between *_start and dma_wait */
	bool pending;
	enum fp_ofi_peer_op op;
	size_t off, len;
	void *dst;
};

struct or_reg {
	struct fid_mr *mr;
	char *addr;
	uint64_t key;
};

static const char *or_op_str(enum fp_ofi_peer_op op)
{
	switch (op) {
	case FP_OFI_PEER_READ:
		return "fi_read";
	case FP_OFI_PEER_WRITE:
		return "fi_write";
	case FP_OFI_PEER_HELLO:
		return "hello";
	default:
		return "goodbye";
	}
}

/*
 * Send tx as request @op with @payload bytes, HELLO with fi_send, any other into the peer's
 * inbox; wait for its completion and the reply until @deadline. 0 with the reply in rx
 * (HELLO) or the inbox (checked: magic and seq), or -errno with c.err and *@sent (the send
 * completed) set.
 */
static int or_round_trip(struct or_state *st, enum fp_ofi_peer_op op, size_t payload,
			 uint64_t deadline, bool *sent)
{
	struct fp_ofi_peer_msg *tx = fp_oconn_tx(&st->c), *rx = fp_oconn_rx(&st->c);
	bool hello = op == FP_OFI_PEER_HELLO, replied = false;
	enum fp_oconn_op sent_op = hello ? FP_OCONN_SEND : FP_OCONN_WRITE_MSG;
	enum fp_oconn_op reply_op = hello ? FP_OCONN_RECV : FP_OCONN_INBOX;
	int ret;

	*sent = false;
	tx->op = htole32(op);
	tx->seq = htole32(++st->seq);
	tx->status = 0;
	if (hello) {
		fp_oconn_tell_inbox(&st->c, tx);
		ret = fp_oconn_post_send(&st->c, st->peer_fa, payload);
	} else {
		rx = fp_oconn_inbox(&st->c);
		ret = fp_oconn_post_write_msg(&st->c, st->peer_fa, payload, st->inbox,
					      st->inbox_key, st->seq);
	}
	while (!ret && !(*sent && replied)) {
		enum fp_oconn_op done;

		ret = fp_oconn_wait(&st->c, deadline, &done);
		if (!ret && done == sent_op)
			*sent = true;
		else if (!ret && done == reply_op)
			replied = true;
	}
	if (ret)
		return ret;
	if (!hello && st->c.inbox_data != st->seq) {
		snprintf(st->c.err, sizeof(st->c.err),
			 "the reply to request %u carries request number %lld: same forkpin "
			 "version on both nodes?",
			 st->seq, (long long)st->c.inbox_data);
		return -EPROTO;
	}
	if (le32toh(rx->magic) != FP_OFI_PEER_MAGIC || le32toh(rx->seq) != st->seq) {
		snprintf(
		    st->c.err, sizeof(st->c.err),
		    "the reply to request %u is not a forkpin peer reply (magic 0x%x, seq %u): "
		    "same forkpin version on both nodes?",
		    st->seq, le32toh(rx->magic), le32toh(rx->seq));
		return -EPROTO;
	}
	return 0;
}

/* The reply to a HELLO is read: receive the next one (a retry after BUSY). */
static int or_rearm(struct fp_dev *dev, struct or_state *st)
{
	if (fp_oconn_post_recv(&st->c))
		return fp_dev_error(dev, -EIO, "peer %s: %s", st->peer, st->c.err);
	return 0;
}

/* One HELLO: 0 (session open), -EBUSY (another client is served), or -errno described. */
static int or_hello_once(struct fp_dev *dev, struct or_state *st, uint64_t deadline)
{
	struct fp_ofi_peer_msg *rx = fp_oconn_rx(&st->c);
	bool sent;
	int ret = or_round_trip(st, FP_OFI_PEER_HELLO, 0, deadline, &sent);

	if (ret == -ECONNREFUSED)
		return fp_dev_error(dev, ret,
				    "peer %s refused the connection (%s): is `forkpin peer --ofi "
				    "--port %s` running there?",
				    st->peer, st->c.err, strrchr(st->peer, ':') + 1);
	if (ret == -ETIMEDOUT)
		return fp_dev_error(dev, ret,
				    "peer %s: no answer to hello within %d ms (hello %s): is "
				    "`forkpin peer --ofi` running there, and does the route reach "
				    "it over RDMA?",
				    st->peer, OR_CONNECT_MS,
				    sent ? "delivered" : "not acknowledged");
	if (ret)
		return fp_dev_error(dev, ret == -EPROTO ? ret : -EIO, "peer %s: hello: %s",
				    st->peer, st->c.err);
	ret = or_rearm(dev, st);
	if (ret)
		return ret;
	if (le32toh(rx->op) == FP_OFI_PEER_BUSY_REPLY)
		return fp_dev_error(dev, -EBUSY,
				    "peer %s refused the session for %d ms: %.*s (one client at a "
				    "time: is another forkpin run using it?)",
				    st->peer, OR_CONNECT_MS, (int)sizeof(rx->text) - 1, rx->text);
	if (rx->status)
		return fp_dev_error(dev, -EIO, "peer %s: hello failed there: %.*s", st->peer,
				    (int)sizeof(rx->text) - 1, rx->text);
	snprintf(st->peer_dev, sizeof(st->peer_dev), "%.*s", (int)sizeof(st->peer_dev) - 1,
		 rx->text);
	st->inbox = le64toh(rx->addr);
	st->inbox_key = le64toh(rx->key);
	st->session = true;
	return 0;
}

/* HELLO until the peer takes us, retrying while it serves another client. */
static int or_hello(struct fp_dev *dev, struct or_state *st)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)OR_CONNECT_MS * 1000000u;
	struct timespec pause = {0, OR_BUSY_RETRY_MS * 1000000L};
	int ret;

	while ((ret = or_hello_once(dev, st, deadline)) == -EBUSY && fp_now_ns() < deadline)
		nanosleep(&pause, NULL);
	return ret;
}

/* Describe an fi_getinfo failure for the peer: no provider or no route is a SKIP. */
static int or_getinfo_error(struct fp_dev *dev, struct or_state *st, const char *prov, int ret)
{
	if (ret == -FI_ENODATA)
		return fp_dev_error(dev, -ENODEV,
				    "libfabric provider %s has no RDM endpoint with FI_RMA towards "
				    "peer %s here (no RDMA device on the route? rdma link show; "
				    "fi_info -p '%s')",
				    prov, st->peer, prov);
	return fp_dev_error(dev, -ENODEV, "fi_getinfo(%s, peer %s): %s", prov, st->peer,
			    ofi_fn.strerror(-ret));
}

static void or_close(struct fp_dev *dev)
{
	struct or_state *st = dev->priv;

	if (!st)
		return;
	if (st->session) { /* the peer serves the next client at once, not after its timeout */
		bool sent;

		or_round_trip(st, FP_OFI_PEER_BYE, 0, fp_now_ns() + OR_BYE_MS * 1000000ull, &sent);
	}
	fp_oconn_close(&st->c);
	free(st);
	dev->priv = NULL;
}

/* Open the endpoint towards the peer and start the session. */
static int or_connect(struct fp_dev *dev, struct or_state *st, const char *host, const char *port)
{
	const char *prov = or_provider();
	struct fi_info *info = NULL;
	int ret;

	ofi_case_env();
	ret = ofi_load(dev->error, sizeof(dev->error));
	if (ret)
		return ret;
	if (!ofi_provider_pins(prov))
		return fp_dev_error(dev, -ENODEV,
				    "provider %s does not pin memory: ofi-remote needs a NIC "
				    "provider (--ofi-provider 'verbs;ofi_rxm', efa)",
				    prov);
	ret = fp_oconn_getinfo(prov, host, port, false, &info);
	if (ret || !info || !info->dest_addr) {
		if (info)
			ofi_fn.freeinfo(info);
		return or_getinfo_error(dev, st, prov, ret ? ret : -FI_ENODATA);
	}
	ret = fp_oconn_open(&st->c, info);
	if (!ret)
		ret = fp_oconn_insert(&st->c, info->dest_addr, &st->peer_fa);
	if (!ret)
		ret = fp_oconn_post_recv(&st->c);
	if (ret)
		return fp_dev_error(dev, ret == -ENOMEM ? ret : -EIO, "%s towards peer %s: %s",
				    prov, st->peer, st->c.err);
	return or_hello(dev, st);
}

/* No peer named for this run: every open SKIPs alike before it acquires anything (a
 * malformed address is open's -EINVAL, each case reports it). */
static int or_plan(struct fp_dev *dev)
{
	char host[256], port[16], err[sizeof(dev->error)];

	if (or_peer_addr(host, sizeof(host), port, sizeof(port), err, sizeof(err)) > 0)
		return fp_dev_error(dev, -ENODEV, "%s", OFI_REMOTE_NO_PEER);
	return 0;
}

static int or_open(struct fp_dev *dev)
{
	char host[256], port[16], err[sizeof(dev->error)];
	struct or_state *st;
	int ret = or_peer_addr(host, sizeof(host), port, sizeof(port), err, sizeof(err));

	if (ret)
		return ret > 0 ? fp_dev_error(dev, -ENODEV, "%s", OFI_REMOTE_NO_PEER)
			       : fp_dev_error(dev, -EINVAL, "%s", err);
	st = calloc(1, sizeof(*st));
	if (!st)
		return fp_dev_error(dev, -ENOMEM, "calloc(ofi-remote state): out of memory");
	dev->priv = st;
	snprintf(st->peer, sizeof(st->peer), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	ret = or_connect(dev, st, host, port);
	if (ret) {
		or_close(dev);
		return ret;
	}
	snprintf(dev->note, sizeof(dev->note), "DMA by peer %.64s's %.32s (%s)", st->peer,
		 st->peer_dev[0] ? st->peer_dev : "NIC", st->c.info->fabric_attr->prov_name);
	return 0;
}

static int or_register(struct fp_dev *dev, void *addr, size_t len, enum fp_access access,
		       void **priv)
{
	struct or_state *st = dev->priv;
	struct or_reg *r = calloc(1, sizeof(*r));

	(void)access; /* FI_REMOTE_READ alone does not promise a read-only pin: no such cap */
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "calloc(ofi-remote registration): out of memory");
	if (fp_oconn_mr_reg(&st->c, addr, len, FI_REMOTE_READ | FI_REMOTE_WRITE, OR_BUFFER_KEY,
			    &r->mr)) {
		free(r);
		return fp_dev_error(dev, -EIO, "%s (buffer, %zu bytes)%s", st->c.err, len,
				    strstr(st->c.err, "memory") ? ": raise ulimit -l" : "");
	}
	r->addr = addr;
	r->key = fi_mr_key(r->mr);
	if (r->key == FI_KEY_NOTAVAIL) {
		fi_close(&r->mr->fid);
		free(r);
		return fp_dev_error(dev, -ENODEV,
				    "fi_mr_key: no key (FI_MR_RAW providers are not supported)");
	}
	*priv = r;
	return 0;
}

static void or_dereg(struct fp_dev *dev, void *reg)
{
	struct or_reg *r = reg;

	(void)dev;
	if (!r)
		return;
	fi_close(&r->mr->fid);
	free(r);
}

/* Stage a transfer; dma_wait sends it. */
static int or_stage(struct fp_dev *dev, enum fp_ofi_peer_op op, size_t off, size_t len, void *dst)
{
	struct or_state *st = dev->priv;

	if (len > FP_OFI_PEER_MAX_TRANSFER)
		return fp_dev_error(dev, -EINVAL, "transfer of %zu bytes: more than %u", len,
				    FP_OFI_PEER_MAX_TRANSFER);
	st->op = op;
	st->off = off;
	st->len = len;
	st->dst = dst;
	st->pending = len > 0; /* nothing to move: dma_wait has nothing to wait for */
	return 0;
}

static int or_dma_to_host_start(struct fp_dev *dev, void *reg, size_t off, const void *src,
				size_t len)
{
	struct or_state *st = dev->priv;

	(void)reg;
	if (len <= FP_OFI_PEER_MAX_TRANSFER)
		memcpy(fp_oconn_tx(&st->c) + 1, src, len);
	return or_stage(dev, FP_OFI_PEER_WRITE, off, len, NULL);
}

static int or_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst, size_t len)
{
	(void)reg;
	return or_stage(dev, FP_OFI_PEER_READ, off, len, dst);
}

/* A lost peer or a timeout, described with the transfer and how far the request got. */
static int or_lost(struct fp_dev *dev, struct or_state *st, int ret, bool sent)
{
	/* no goodbye: the connection broke, or the peer is gone or wedged (a goodbye would
	 * wait for it again); a live peer drops the session after its idle timeout */
	st->session = false;
	return fp_dev_error(dev, ret == -ETIMEDOUT ? -ETIMEDOUT : -EIO,
			    "peer %s: %s of %zu bytes at offset %zu (request %u %s): %s%s",
			    st->peer, or_op_str(st->op), st->len, st->off, st->seq,
			    sent ? "delivered" : "not acknowledged", st->c.err,
			    ret == -ETIMEDOUT ? " (no reply within 5000 ms: the peer process or "
						"its node went away, or the fabric dropped it)"
					      : " (the peer went away mid-case?)");
}

static int or_dma_wait(struct fp_dev *dev, void *reg)
{
	struct or_state *st = dev->priv;
	struct or_reg *r = reg;
	struct fp_ofi_peer_msg *tx = fp_oconn_tx(&st->c), *rx = fp_oconn_inbox(&st->c);
	uint64_t base = (st->c.mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)r->addr : 0;
	bool sent;
	int ret;

	if (!st->pending)
		return 0;
	st->pending = false;
	tx->addr = htole64(base + st->off);
	tx->key = htole64(r->key);
	tx->len = htole32((uint32_t)st->len);
	ret = or_round_trip(st, st->op, st->op == FP_OFI_PEER_WRITE ? st->len : 0,
			    fp_now_ns() + (uint64_t)OR_TRANSFER_MS * 1000000u, &sent);
	if (ret)
		return or_lost(dev, st, ret, sent);
	if (le32toh(rx->op) != FP_OFI_PEER_REPLY)
		return fp_dev_error(dev, -EPROTO, "peer %s: %s: answered with op %u (busy?)",
				    st->peer, or_op_str(st->op), le32toh(rx->op));
	if (rx->status)
		return fp_dev_error(dev, -EIO,
				    "peer %s: %s of %zu bytes at offset %zu failed there: %.*s",
				    st->peer, or_op_str(st->op), st->len, st->off,
				    (int)sizeof(rx->text) - 1, rx->text);
	if (st->op == FP_OFI_PEER_READ) {
		if (le32toh(rx->len) != st->len)
			return fp_dev_error(dev, -EPROTO,
					    "peer %s: fi_read of %zu bytes returned %u", st->peer,
					    st->len, le32toh(rx->len));
		memcpy(st->dst, rx + 1, st->len);
	}
	return 0;
}

/* ---- case processes start from a zygote that has loaded libfabric (ofi_zygote.c) ---- */

static struct ofi_zygote or_zygote;

static int or_spawn(void (*body)(void *arg, int fd), const void *arg, size_t arg_size, int fd)
{
	const char *use = getenv("FORKPIN_OFI_ZYGOTE");
	char host[256], port[16], err[256];

	/* no peer: every case SKIPs at once, the runner's fork is cheaper */
	if ((use && !strcmp(use, "0")) ||
	    or_peer_addr(host, sizeof(host), port, sizeof(port), err, sizeof(err)))
		return -ENOSYS;
	return ofi_zygote_spawn(&or_zygote, ofi_prepare_providers, body, arg, arg_size, fd);
}

static void or_fingerprint(struct fp_env *env)
{
	char host[256], port[16], err[256];
	int ret = or_peer_addr(host, sizeof(host), port, sizeof(port), err, sizeof(err));

	if (ret)
		fp_env_set(env, "ofi-remote.peer", "%s",
			   ret > 0 ? "(none: needs --ofi-peer or --peer HOST)" : err);
	else
		fp_env_set(env, "ofi-remote.peer", strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
			   port);
	fp_env_set(env, "ofi-remote.provider", "%s", or_provider());
}

/* --ofi-peer/--peer, in the main process: malformed or unresolvable is bad usage (exit 2). */
static int or_check_options(char *err, size_t err_size)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	char host[256], port[16];
	int ret = or_peer_addr(host, sizeof(host), port, sizeof(port), err, err_size);

	if (ret)
		return ret > 0 ? 0 : ret; /* no peer: the cases SKIP with the reason */
	ret = getaddrinfo(host, port, &hints, &ai);
	if (ret) {
		snprintf(err, err_size, "ofi-remote peer %s: cannot resolve '%s': %s", host, host,
			 gai_strerror(ret));
		return -EINVAL;
	}
	freeaddrinfo(ai);
	return 0;
}

static const struct fp_backend_ops ofi_remote_ops = {
    .open = or_open,
    .reg = or_register,
    .dma_to_host_start = or_dma_to_host_start,
    .dma_from_host_start = or_dma_from_host_start,
    .dma_wait = or_dma_wait,
    .dereg = or_dereg,
    .close = or_close,
    .fingerprint = or_fingerprint,
    .check_options = or_check_options,
    .spawn = or_spawn,
    .plan = or_plan,
};
#define OFI_REMOTE_OPS	       (&ofi_remote_ops)
#define OFI_REMOTE_UNAVAILABLE NULL
#else
#define OFI_REMOTE_OPS	       NULL
#define OFI_REMOTE_UNAVAILABLE "built without libfabric: install libfabric-dev and reconfigure"
#endif

const struct fp_backend fp_ofi_remote_backend = {
    .name = "ofi-remote",
    .summary = "libfabric fi_mr_reg pins here, fi_write/fi_read by a remote node's NIC "
	       "(forkpin peer --ofi, --ofi-peer HOST)",
    .caps = OFI_REMOTE_CAPS,
    .limits =
	{
	    .max_transfer = FP_OFI_PEER_MAX_TRANSFER,
	    .case_budget = OFI_REMOTE_CASE_BUDGET,
	    .align = 1,
	},
    .unavailable = OFI_REMOTE_UNAVAILABLE,
    .ops = OFI_REMOTE_OPS,
    .options = ofi_remote_options,
};
