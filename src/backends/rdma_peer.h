/* SPDX-License-Identifier: MIT */
/*
 * Two-node RDMA: the wire protocol and the connection that both ends use, the verbs-remote
 * backend (verbs_remote.c, node A, in each case process) and `forkpin peer` (peer.c, node B).
 *
 * One rdma_cm connection (RC QP) per case. A sends one request per transfer as a SEND; B
 * moves the data with its own NIC and answers with a SEND:
 *   FP_PEER_WRITE: the payload follows the header; B RDMA WRITEs it into A's MR at
 *                  (addr, rkey), then replies (no payload);
 *   FP_PEER_READ:  B RDMA READs len bytes of A's MR at (addr, rkey) and replies with them.
 * A status other than 0 in the reply is an errno from B, described in the reply's text.
 * Connection private data: B's accept carries the name of the RDMA device that does the DMA;
 * a refusal carries FP_PEER_BUSY and who is being served.
 */
#ifndef FORKPIN_RDMA_PEER_H
#define FORKPIN_RDMA_PEER_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>

#define FP_PEER_DEFAULT_PORT 7475
/* largest payload of one request or reply: one transfer */
#define FP_PEER_MAX_TRANSFER (1u << 20)
#define FP_PEER_MAGIC	     0x666b7072u /* "fkpr" */
/* the refusal's private data starts with this: another client is being served */
#define FP_PEER_BUSY "forkpin-peer busy"

enum fp_peer_op {
	FP_PEER_WRITE = 1,
	FP_PEER_READ = 2,
	FP_PEER_REPLY = 3,
};

/* The header of every message; little-endian on the wire. */
struct fp_peer_msg {
	uint32_t magic;
	uint32_t op;	 /* enum fp_peer_op */
	uint64_t addr;	 /* request: where in A's MR (A's virtual address) */
	uint32_t rkey;	 /* request: A's MR */
	uint32_t len;	 /* payload or transfer length */
	uint32_t status; /* reply: 0, or an errno at the peer */
	uint32_t seq;	 /* request number on this connection, echoed in the reply */
	char error[200]; /* reply: what failed at the peer */
};

/* One message buffer: header + the largest payload. */
#define FP_PEER_BUF_LEN (sizeof(struct fp_peer_msg) + FP_PEER_MAX_TRANSFER)

#if HAVE_LIBRDMACM

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/*
 * struct fp_rconn - one end of a connection: its QP and a registered buffer holding one
 * outgoing and one incoming message (tx at buf, rx at buf + FP_PEER_BUF_LEN).
 */
struct fp_rconn {
	struct rdma_event_channel *ev; /* not owned: the connection's event channel */
	struct rdma_cm_id *id;	       /* not owned */
	struct ibv_pd *pd;
	struct ibv_comp_channel *chan;
	struct ibv_cq *cq;
	unsigned char *buf;
	struct ibv_mr *mr;
	char err[256]; /* the last failure, described */
};

static inline struct fp_peer_msg *fp_rconn_tx(struct fp_rconn *c)
{
	return (struct fp_peer_msg *)c->buf;
}

static inline struct fp_peer_msg *fp_rconn_rx(struct fp_rconn *c)
{
	return (struct fp_peer_msg *)(c->buf + FP_PEER_BUF_LEN);
}

/* Make @ev's fd non-blocking, so waits can be bounded with poll(). 0 or -errno. */
int fp_rconn_channel_nonblock(struct rdma_event_channel *ev);

/*
 * The next CM event on @ev, waiting until @deadline_ns (fp_now_ns clock). 0 with *@out set
 * (ack it with rdma_ack_cm_event), -ETIMEDOUT, or another -errno. Never blocks past the
 * deadline.
 */
int fp_rconn_next_event(struct rdma_event_channel *ev, uint64_t deadline_ns,
			struct rdma_cm_event **out);

/*
 * Set up @c's PD, CQ, RC QP and buffer on @id (resolved or connecting). 0, or -errno with
 * c->err. @c must be zeroed; fp_rconn_destroy releases what was made, also after failures.
 */
int fp_rconn_setup(struct fp_rconn *c, struct rdma_event_channel *ev, struct rdma_cm_id *id);
void fp_rconn_destroy(struct fp_rconn *c);

/* Post the receive of the next message into rx. */
int fp_rconn_post_recv(struct fp_rconn *c);
/* Send tx's header and @payload bytes after it. */
int fp_rconn_post_send(struct fp_rconn *c, size_t payload);
/* RDMA @op (IBV_WR_RDMA_WRITE from / IBV_WR_RDMA_READ into @local) of @len bytes at
 * (@raddr, @rkey); @local lies inside c->buf. */
int fp_rconn_post_rdma(struct fp_rconn *c, enum ibv_wr_opcode op, void *local, size_t len,
		       uint64_t raddr, uint32_t rkey);

/*
 * What fp_rconn_wait does with a CM event that arrives while it waits for a completion: 0 to
 * keep waiting, or a negative errno to stop (after describing why in c->err). Called before
 * the event is acked. NULL: every event stops the wait with -ECONNRESET.
 */
typedef int (*fp_rconn_event_fn)(struct fp_rconn *c, struct rdma_cm_event *ev, void *arg);

/*
 * Wait for one completion until @deadline_ns, while watching the CM channel (a disconnect is
 * an error, not a hang). 0 with *@wc (status success), -EIO on an error completion,
 * -ETIMEDOUT, or what @on_event returned; c->err says which.
 */
int fp_rconn_wait(struct fp_rconn *c, uint64_t deadline_ns, struct ibv_wc *wc,
		  fp_rconn_event_fn on_event, void *arg);

/* 0 when @wc is a completion of @want; else -EPROTO, described in c->err. */
int fp_rconn_expect(struct fp_rconn *c, const struct ibv_wc *wc, enum ibv_wc_opcode want);

#endif /* HAVE_LIBRDMACM */

/* Parse "HOST[:PORT]" (or "[V6]:PORT") into @host and @port (default FP_PEER_DEFAULT_PORT).
 * 0, or -EINVAL. */
int fp_peer_parse_addr(const char *spec, char *host, size_t host_size, char *port,
		       size_t port_size);

#endif
