/* SPDX-License-Identifier: MIT */
/*
 * Two-node libfabric: the wire protocol and the endpoint that both ends use, the ofi-remote
 * backend (ofi_remote.c, node A, in each case process) and `forkpin peer --ofi` (peer_ofi.c,
 * node B).
 *
 * Addressing is libfabric's own, as fabtests do it: B opens a reliable-datagram endpoint
 * (FI_EP_RDM, default provider verbs;ofi_rxm) at fi_getinfo(B's address, port, FI_SOURCE);
 * A gets B's endpoint address from fi_getinfo(B's address, port) (info->dest_addr), inserts
 * it into its address vector and sends its own endpoint name (fi_getname) in every message;
 * B inserts that name into its address vector to answer. ofi_rxm sets up the underlying
 * verbs connection itself. Nothing else is exchanged beyond what RMA needs: the buffer's
 * RMA address and key.
 *
 * One session per case: HELLO, then one request per transfer, then BYE; B serves one session
 * at a time and answers anyone else BUSY. Only HELLO and its reply (or BUSY) are messages
 * (fi_send/fi_recv): each carries the sender's inbox (addr, key), the part of its MAP_SHARED
 * message buffer the other end may write. Every later request and reply, BYE included, is an
 * fi_writedata of the header (and payload) from the sender's tx into the other end's inbox,
 * the request number as remote CQ data: the receiver learns of it from a remote-write
 * completion, no receive posted. Why not fi_send: ofi_rxm sends and receives messages
 * through its own bounce buffers, private memory it registered (pinned) when the endpoint
 * opened, so on a kernel without early COW the fork()s of a case break A's messages the way
 * they break its buffer; its RMA goes straight from and to the application's registered
 * memory, and the messages' buffers are MAP_SHARED (docs/two-node.md). Each fi_writedata
 * consumes a receive ofi_rxm posted on the verbs QP, which the verbs provider's flow control
 * returns in a credit message from an ofi_rxm buffer: small enough to go inline (a CPU copy
 * when posted), so a fork() does not make it stale (measured). Not FI_OFI_RXM_USE_SRX, which
 * would end that flow control: libfabric 1.17's verbs provider reports every completion of a
 * shared receive queue as a receive, and ofi_rxm takes a remote write for a message. Requests:
 *   FP_OFI_PEER_WRITE: the payload follows the header; B fi_writes it to A's MR at
 *                      (addr, key) with delivery complete, then replies (no payload);
 *   FP_OFI_PEER_READ:  B fi_reads len bytes of A's MR at (addr, key) and replies with them.
 * A reply's status other than 0 is an errno from B, described in its text; the reply to
 * HELLO carries B's domain (its NIC) in the text.
 */
#ifndef FORKPIN_OFI_PEER_H
#define FORKPIN_OFI_PEER_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FP_OFI_PEER_DEFAULT_PORT 7476
#define FP_OFI_PEER_PROVIDER	 "verbs;ofi_rxm"
/* largest payload of one request or reply: one transfer */
#define FP_OFI_PEER_MAX_TRANSFER (1u << 20)
#define FP_OFI_PEER_MAGIC	 0x666b6f66u /* "fkof" */
/* a BUSY reply's text starts with this (as verbs-remote's refusal) */
#define FP_OFI_PEER_BUSY "forkpin-peer busy"
/* the longest endpoint name (fi_getname) a message carries */
#define FP_OFI_PEER_NAME_MAX 256

enum fp_ofi_peer_op {
	FP_OFI_PEER_HELLO = 1,
	FP_OFI_PEER_WRITE = 2,
	FP_OFI_PEER_READ = 3,
	FP_OFI_PEER_BYE = 4,
	FP_OFI_PEER_REPLY = 5,
	FP_OFI_PEER_BUSY_REPLY = 6,
};

/* The header of every message; little-endian on the wire. */
struct fp_ofi_peer_msg {
	uint32_t magic;
	uint32_t op;	   /* enum fp_ofi_peer_op */
	uint64_t addr;	   /* request: the RMA address in A's MR (as A's mr_mode says); HELLO
			    * and its reply: the sender's inbox */
	uint64_t key;	   /* request: A's MR key (fi_mr_key); HELLO, its reply: the inbox's */
	uint32_t len;	   /* payload or transfer length */
	uint32_t status;   /* reply: 0, or an errno at the peer */
	uint32_t seq;	   /* request number in this session, echoed in the reply */
	uint32_t name_len; /* the sender's endpoint name, for the answer */
	uint8_t name[FP_OFI_PEER_NAME_MAX];
	char text[200]; /* reply: what failed at the peer; HELLO's reply: the peer's NIC */
};

/* One message buffer: header + the largest payload. */
#define FP_OFI_PEER_BUF_LEN (sizeof(struct fp_ofi_peer_msg) + FP_OFI_PEER_MAX_TRANSFER)
/* An end's buffers: tx, rx (fi_recv: HELLO and its reply), inbox (the other end's writes). */
#define FP_OFI_PEER_BUFS 3
/* the request number rides in the remote CQ data: verbs carries 32 bits of it */
#define FP_OFI_PEER_CQ_DATA_SIZE 4

#if HAVE_LIBFABRIC

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>

/*
 * Which operation a completion belongs to (its context): a receive, an fi_send, an RMA of
 * the case's data, a message written into the other end's inbox (fp_oconn_post_write_msg);
 * FP_OCONN_INBOX is no operation of ours but the other end's message in our inbox.
 */
enum fp_oconn_op {
	FP_OCONN_RECV,
	FP_OCONN_SEND,
	FP_OCONN_RMA,
	FP_OCONN_WRITE_MSG,
	FP_OCONN_NOPS,
	FP_OCONN_INBOX = FP_OCONN_NOPS + 1,
};

/*
 * struct fp_oconn - one end: an RDM endpoint with its CQ and AV, and a registered MAP_SHARED
 * buffer holding one outgoing message (tx), one received (rx) and one the other end wrote
 * (inbox), each FP_OFI_PEER_BUF_LEN bytes, in that order.
 */
struct fp_oconn {
	struct fi_info *info; /* owned */
	uint64_t mr_mode;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	unsigned char *buf;
	struct fid_mr *mr;
	uint8_t name[FP_OFI_PEER_NAME_MAX]; /* this endpoint's name (fi_getname) */
	size_t name_len;
	struct fi_context2 ctx[FP_OCONN_NOPS];
	uint64_t inbox_data; /* the remote CQ data of the last FP_OCONN_INBOX */
	char err[320];	     /* the last failure, described */
};

static inline struct fp_ofi_peer_msg *fp_oconn_tx(struct fp_oconn *c)
{
	return (struct fp_ofi_peer_msg *)c->buf;
}

static inline struct fp_ofi_peer_msg *fp_oconn_rx(struct fp_oconn *c)
{
	return (struct fp_ofi_peer_msg *)(c->buf + FP_OFI_PEER_BUF_LEN);
}

static inline struct fp_ofi_peer_msg *fp_oconn_inbox(struct fp_oconn *c)
{
	return (struct fp_ofi_peer_msg *)(c->buf + 2 * FP_OFI_PEER_BUF_LEN);
}

/* Put this end's inbox (RMA address as mr_mode says, key) into @msg's addr and key. */
void fp_oconn_tell_inbox(struct fp_oconn *c, struct fp_ofi_peer_msg *msg);

/*
 * fi_getinfo for messages and RMA on an RDM endpoint of provider @prov at @node:@service:
 * B's own address with @source (FI_SOURCE), else the peer's (info->dest_addr). 0 or -FI_E*.
 */
int fp_oconn_getinfo(const char *prov, const char *node, const char *service, bool source,
		     struct fi_info **out);

/*
 * Open @c on @info (which @c then owns; freed by fp_oconn_close also after failures): fabric,
 * domain, CQ, AV, endpoint, the message buffer registered. 0 or -errno with c->err.
 */
int fp_oconn_open(struct fp_oconn *c, struct fi_info *info);
void fp_oconn_close(struct fp_oconn *c);

/* Register [addr, addr+len) with @access as the provider's mr_mode demands (key @key unless
 * the provider chooses). 0 or -errno with c->err. */
int fp_oconn_mr_reg(struct fp_oconn *c, void *addr, size_t len, uint64_t access, uint64_t key,
		    struct fid_mr **mr);

/* Insert endpoint name @name into the AV. 0 or -errno with c->err. */
int fp_oconn_insert(struct fp_oconn *c, const void *name, fi_addr_t *addr);
/* "fi_sockaddr_in://10.0.0.1:7476": @name as libfabric prints it. */
void fp_oconn_straddr(struct fp_oconn *c, const void *name, char *buf, size_t size);

/* Post the receive of the next message into rx. */
int fp_oconn_post_recv(struct fp_oconn *c);
/* Send tx's header (with this endpoint's name) and @payload bytes after it to @to. */
int fp_oconn_post_send(struct fp_oconn *c, fi_addr_t to, size_t payload);
/*
 * Write tx's header (with this endpoint's name) and @payload bytes after it into @to's inbox
 * at (@raddr, @key), with @seq as remote CQ data (fi_writedata).
 */
int fp_oconn_post_write_msg(struct fp_oconn *c, fi_addr_t to, size_t payload, uint64_t raddr,
			    uint64_t key, uint32_t seq);
/* fi_read into / fi_write from @local (inside c->buf) of @len bytes at @to's (@raddr, @key). */
int fp_oconn_post_rma(struct fp_oconn *c, bool read, void *local, size_t len, fi_addr_t to,
		      uint64_t raddr, uint64_t key);

/*
 * Wait for one completion until @deadline_ns (fp_now_ns clock), driving the provider's
 * progress. 0 with *@op (FP_OCONN_INBOX: c->inbox_data says which message), -ETIMEDOUT, or -EIO
 * (-ECONNREFUSED: the other end refused) for an error completion of operation *@op (c->err says
 * which and the provider's text).
 */
int fp_oconn_wait(struct fp_oconn *c, uint64_t deadline_ns, enum fp_oconn_op *op);

#endif /* HAVE_LIBFABRIC */

#endif
