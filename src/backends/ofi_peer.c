// SPDX-License-Identifier: MIT
/*
 * Two-node libfabric: the endpoint both ends use (ofi_peer.h). Every wait is bounded by a
 * deadline; a peer that goes away is an error completion or the deadline, never a hang.
 */
#define _GNU_SOURCE
#include "ofi_peer.h"

#if HAVE_LIBFABRIC

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rdma/fi_cm.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "../util.h"
#include "ofi_lib.h"

/* The mr_mode bits both ends know how to honour (as the ofi rows). */
#define OCONN_MR_MODES                                                                             \
	(FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT)
/* the message buffer's key when the provider does not choose keys */
#define OCONN_BUF_KEY 0xf2
/* one message and one RMA in flight at a time: small queues */
#define OCONN_QUEUE_SIZE 16

static const char *const oconn_op_names[] = {"receive", "fi_send", "RMA", "fi_writedata (message)"};

static int oconn_error(struct fp_oconn *c, int ret, const char *call)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", call, ofi_fn.strerror(ret < 0 ? -ret : ret));
	return ret < 0 ? ret : -EIO;
}

int fp_oconn_getinfo(const char *prov, const char *node, const char *service, bool source,
		     struct fi_info **out)
{
	struct fi_info *hints = ofi_fn.dupinfo(NULL);
	int ret;

	if (!hints)
		return -FI_ENOMEM;
	hints->caps = FI_MSG | FI_RMA | FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ |
		      FI_REMOTE_WRITE;
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	hints->ep_attr->type = FI_EP_RDM;
	hints->domain_attr->mr_mode = OCONN_MR_MODES;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	/* B's write completes when the data is in A's memory: its reply may then say done */
	hints->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
	hints->fabric_attr->prov_name = strdup(prov);
	if (!hints->fabric_attr->prov_name) {
		ofi_fn.freeinfo(hints);
		return -FI_ENOMEM;
	}
	ret = ofi_fn.getinfo(OFI_API_VERSION, node, service, source ? FI_SOURCE : 0, hints, out);
	ofi_fn.freeinfo(hints);
	return ret;
}

int fp_oconn_mr_reg(struct fp_oconn *c, void *addr, size_t len, uint64_t access, uint64_t key,
		    struct fid_mr **mr)
{
	int ret = fi_mr_reg(c->domain, addr, len, access, 0, key, 0, mr, NULL);

	if (ret) {
		*mr = NULL;
		return oconn_error(c, ret, "fi_mr_reg");
	}
	if (c->mr_mode & FI_MR_ENDPOINT) {
		ret = fi_mr_bind(*mr, &c->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(*mr);
		if (ret) {
			fi_close(&(*mr)->fid);
			*mr = NULL;
			return oconn_error(c, ret, "fi_mr_bind/fi_mr_enable(FI_MR_ENDPOINT)");
		}
	}
	return 0;
}

/* CQ, AV and endpoint, enabled, and this endpoint's name. */
static int oconn_open_endpoint(struct fp_oconn *c)
{
	/* FORMAT_DATA: a remote write's completion carries the request number */
	struct fi_cq_attr cq_attr = {
	    .size = OCONN_QUEUE_SIZE, .format = FI_CQ_FORMAT_DATA, .wait_obj = FI_WAIT_NONE};
	struct fi_av_attr av_attr = {.type = c->info->domain_attr->av_type, .count = 4};
	int ret;

	ret = fi_cq_open(c->domain, &cq_attr, &c->cq, NULL);
	if (ret)
		return oconn_error(c, ret, "fi_cq_open");
	ret = fi_av_open(c->domain, &av_attr, &c->av, NULL);
	if (ret)
		return oconn_error(c, ret, "fi_av_open");
	ret = fi_endpoint(c->domain, c->info, &c->ep, NULL);
	if (ret)
		return oconn_error(c, ret, "fi_endpoint(FI_EP_RDM)");
	ret = fi_ep_bind(c->ep, &c->av->fid, 0);
	if (!ret)
		ret = fi_ep_bind(c->ep, &c->cq->fid, FI_TRANSMIT | FI_RECV);
	if (ret)
		return oconn_error(c, ret, "fi_ep_bind");
	ret = fi_enable(c->ep);
	if (ret)
		return oconn_error(c, ret, "fi_enable");
	c->name_len = sizeof(c->name);
	ret = fi_getname(&c->ep->fid, c->name, &c->name_len);
	if (ret)
		return oconn_error(c, ret, "fi_getname");
	return 0;
}

int fp_oconn_open(struct fp_oconn *c, struct fi_info *info)
{
	int ret;

	c->info = info;
	c->mr_mode = info->domain_attr->mr_mode;
	if (info->tx_attr->size > OCONN_QUEUE_SIZE)
		info->tx_attr->size = OCONN_QUEUE_SIZE;
	if (info->rx_attr->size > OCONN_QUEUE_SIZE)
		info->rx_attr->size = OCONN_QUEUE_SIZE;
	if (info->domain_attr->cq_data_size < FP_OFI_PEER_CQ_DATA_SIZE) {
		snprintf(c->err, sizeof(c->err),
			 "provider %s carries %zu bytes of remote CQ data, forkpin's messages "
			 "need %d",
			 info->fabric_attr->prov_name, info->domain_attr->cq_data_size,
			 FP_OFI_PEER_CQ_DATA_SIZE);
		return -ENODEV;
	}
	ret = ofi_fn.fabric(info->fabric_attr, &c->fabric, NULL);
	if (ret)
		return oconn_error(c, ret, "fi_fabric");
	ret = fi_domain(c->fabric, info, &c->domain, NULL);
	if (ret)
		return oconn_error(c, ret, "fi_domain");
	ret = oconn_open_endpoint(c);
	if (ret)
		return ret;
	/* MAP_SHARED: the message buffers never depend on the fork behaviour under test */
	c->buf = mmap(NULL, FP_OFI_PEER_BUFS * FP_OFI_PEER_BUF_LEN, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->buf == MAP_FAILED) {
		c->buf = NULL;
		snprintf(c->err, sizeof(c->err), "mmap(message buffers): %s", strerror(errno));
		return -errno;
	}
	/* FI_MR_ALLOCATED: backed before fi_mr_reg */
	memset(c->buf, 0, FP_OFI_PEER_BUFS * FP_OFI_PEER_BUF_LEN);
	return fp_oconn_mr_reg(c, c->buf, FP_OFI_PEER_BUFS * FP_OFI_PEER_BUF_LEN,
			       FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_WRITE,
			       OCONN_BUF_KEY, &c->mr);
}

void fp_oconn_close(struct fp_oconn *c)
{
	if (c->mr)
		fi_close(&c->mr->fid);
	if (c->ep)
		fi_close(&c->ep->fid);
	if (c->av)
		fi_close(&c->av->fid);
	if (c->cq)
		fi_close(&c->cq->fid);
	if (c->domain)
		fi_close(&c->domain->fid);
	if (c->fabric)
		fi_close(&c->fabric->fid);
	if (c->buf)
		munmap(c->buf, FP_OFI_PEER_BUFS * FP_OFI_PEER_BUF_LEN);
	if (c->info)
		ofi_fn.freeinfo(c->info);
	memset(c, 0, sizeof(*c));
}

int fp_oconn_insert(struct fp_oconn *c, const void *name, fi_addr_t *addr)
{
	int ret = fi_av_insert(c->av, name, 1, addr, 0, NULL);

	if (ret == 1)
		return 0;
	return oconn_error(c, ret < 0 ? ret : -FI_EINVAL, "fi_av_insert(the other end's name)");
}

void fp_oconn_straddr(struct fp_oconn *c, const void *name, char *buf, size_t size)
{
	size_t len = size;

	if (!fi_av_straddr(c->av, name, buf, &len) || !size)
		snprintf(buf, size, "(unprintable address)");
}

static void *oconn_desc(struct fp_oconn *c)
{
	return fi_mr_desc(c->mr);
}

void fp_oconn_tell_inbox(struct fp_oconn *c, struct fp_ofi_peer_msg *msg)
{
	size_t off = (unsigned char *)fp_oconn_inbox(c) - c->buf;

	msg->addr = htole64((c->mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)c->buf + off
							   : (uint64_t)off);
	msg->key = htole64(fi_mr_key(c->mr));
}

int fp_oconn_post_recv(struct fp_oconn *c)
{
	ssize_t ret = fi_recv(c->ep, fp_oconn_rx(c), FP_OFI_PEER_BUF_LEN, oconn_desc(c),
			      FI_ADDR_UNSPEC, &c->ctx[FP_OCONN_RECV]);

	return ret ? oconn_error(c, (int)ret, "fi_recv") : 0;
}

/* Post with @post until it is not -FI_EAGAIN (the provider needs progress: connecting). */
#define OCONN_POST_MS 5000
static int oconn_post(struct fp_oconn *c, const char *what,
		      ssize_t (*post)(struct fp_oconn *c, const void *arg), const void *arg)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)OCONN_POST_MS * 1000000u;

	for (;;) {
		ssize_t ret = post(c, arg);

		if (ret == 0)
			return 0;
		if (ret != -FI_EAGAIN)
			return oconn_error(c, (int)ret, what);
		if (fp_now_ns() > deadline) {
			snprintf(c->err, sizeof(c->err), "%s: still -FI_EAGAIN after %d ms", what,
				 OCONN_POST_MS);
			return -ETIMEDOUT;
		}
		/* progress without consuming completions: a zero-length read drives it */
		struct fi_cq_data_entry none;

		fi_cq_read(c->cq, &none, 0);
		sched_yield();
	}
}

struct oconn_send {
	fi_addr_t to;
	size_t len;
};

static ssize_t oconn_do_send(struct fp_oconn *c, const void *arg)
{
	const struct oconn_send *s = arg;

	return fi_send(c->ep, fp_oconn_tx(c), s->len, oconn_desc(c), s->to, &c->ctx[FP_OCONN_SEND]);
}

/* tx's header: the magic and this endpoint's name, for the other end to check and answer. */
static void oconn_sign(struct fp_oconn *c)
{
	struct fp_ofi_peer_msg *tx = fp_oconn_tx(c);

	tx->magic = htole32(FP_OFI_PEER_MAGIC);
	tx->name_len = htole32((uint32_t)c->name_len);
	memcpy(tx->name, c->name, c->name_len);
}

int fp_oconn_post_send(struct fp_oconn *c, fi_addr_t to, size_t payload)
{
	struct oconn_send s = {.to = to, .len = sizeof(struct fp_ofi_peer_msg) + payload};

	oconn_sign(c);
	return oconn_post(c, "fi_send", oconn_do_send, &s);
}

struct oconn_write_msg {
	fi_addr_t to;
	size_t len;
	uint64_t raddr, key;
	uint32_t seq;
};

/* fi_writedata, not fi_send: ofi_rxm hands it to the verbs QP with our buffer's own
 * registration (no bounce buffer), as an RDMA WRITE with immediate data. */
static ssize_t oconn_do_write_msg(struct fp_oconn *c, const void *arg)
{
	const struct oconn_write_msg *w = arg;

	return fi_writedata(c->ep, fp_oconn_tx(c), w->len, oconn_desc(c), w->seq, w->to, w->raddr,
			    w->key, &c->ctx[FP_OCONN_WRITE_MSG]);
}

int fp_oconn_post_write_msg(struct fp_oconn *c, fi_addr_t to, size_t payload, uint64_t raddr,
			    uint64_t key, uint32_t seq)
{
	struct oconn_write_msg w = {.to = to,
				    .len = sizeof(struct fp_ofi_peer_msg) + payload,
				    .raddr = raddr,
				    .key = key,
				    .seq = seq};

	oconn_sign(c);
	return oconn_post(c, "fi_writedata", oconn_do_write_msg, &w);
}

struct oconn_rma {
	bool read;
	void *local;
	size_t len;
	fi_addr_t to;
	uint64_t raddr, key;
};

static ssize_t oconn_do_rma(struct fp_oconn *c, const void *arg)
{
	const struct oconn_rma *r = arg;

	if (r->read)
		return fi_read(c->ep, r->local, r->len, oconn_desc(c), r->to, r->raddr, r->key,
			       &c->ctx[FP_OCONN_RMA]);
	return fi_write(c->ep, r->local, r->len, oconn_desc(c), r->to, r->raddr, r->key,
			&c->ctx[FP_OCONN_RMA]);
}

int fp_oconn_post_rma(struct fp_oconn *c, bool read, void *local, size_t len, fi_addr_t to,
		      uint64_t raddr, uint64_t key)
{
	struct oconn_rma r = {read, local, len, to, raddr, key};

	return oconn_post(c, read ? "fi_read" : "fi_write", oconn_do_rma, &r);
}

static enum fp_oconn_op oconn_which(struct fp_oconn *c, void *context)
{
	int i;

	for (i = 0; i < FP_OCONN_NOPS; i++)
		if (context == &c->ctx[i])
			return (enum fp_oconn_op)i;
	return FP_OCONN_NOPS;
}

/* Describe the error entry at the head of the CQ; *@op: whose it is. */
static int oconn_cq_error(struct fp_oconn *c, enum fp_oconn_op *op)
{
	struct fi_cq_err_entry e;
	char text[160] = "";
	ssize_t n;

	memset(&e, 0, sizeof(e));
	n = fi_cq_readerr(c->cq, &e, 0);
	if (n < 0)
		return oconn_error(c, (int)n, "fi_cq_readerr");
	*op = oconn_which(c, e.op_context);
	fi_cq_strerror(c->cq, e.prov_errno, e.err_data, text, sizeof(text));
	snprintf(c->err, sizeof(c->err), "%s completed with error: %s (provider error %d: %s)",
		 *op < FP_OCONN_NOPS ? oconn_op_names[*op] : "an operation", ofi_fn.strerror(e.err),
		 e.prov_errno, text);
	return e.err == FI_ECONNREFUSED ? -ECONNREFUSED : -EIO;
}

int fp_oconn_wait(struct fp_oconn *c, uint64_t deadline_ns, enum fp_oconn_op *op)
{
	unsigned idle = 0;

	*op = FP_OCONN_NOPS;
	for (;;) {
		struct fi_cq_data_entry entry;
		ssize_t n = fi_cq_read(c->cq, &entry, 1);

		/* the other end's fi_writedata landed in the inbox (ofi_rxm reports it with
		 * no context of ours: no receive of ours was consumed) */
		if (n == 1 && (entry.flags & FI_REMOTE_WRITE)) {
			c->inbox_data = (entry.flags & FI_REMOTE_CQ_DATA) ? entry.data : UINT64_MAX;
			*op = FP_OCONN_INBOX;
			return 0;
		}
		if (n == 1) {
			*op = oconn_which(c, entry.op_context);
			return 0;
		}
		if (n == -FI_EAVAIL)
			return oconn_cq_error(c, op);
		if (n != -FI_EAGAIN)
			return oconn_error(c, (int)n, "fi_cq_read");
		if (fp_now_ns() >= deadline_ns) {
			snprintf(c->err, sizeof(c->err), "no completion before the deadline");
			return -ETIMEDOUT;
		}
		/* yield first, then sleep longer the longer nothing comes: never spin a core for
		 * long (a peer waiting for its next client, 2-core hosts, TCG guests) */
		if (++idle < 64)
			sched_yield();
		else
			usleep(idle < 1024 ? 10 : idle < 4096 ? 200 : 2000);
	}
}

#endif /* HAVE_LIBFABRIC */
