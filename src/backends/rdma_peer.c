// SPDX-License-Identifier: MIT
/*
 * Two-node RDMA: the connection helpers both ends use (rdma_peer.h). Every wait is bounded
 * by a deadline and watches the connection's CM events too, so a peer that goes away is a
 * described error at either end, never a hang.
 */
#define _GNU_SOURCE
#include "rdma_peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if HAVE_LIBRDMACM

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>

#include "../util.h"

/* completions in flight at most: one receive, one send, one RDMA operation */
#define RCONN_CQ_DEPTH 8

static int rconn_error(struct fp_rconn *c, int err, const char *call)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", call, strerror(err));
	return -err;
}

int fp_rconn_channel_nonblock(struct rdma_event_channel *ev)
{
	int fl = fcntl(ev->fd, F_GETFL);

	if (fl < 0 || fcntl(ev->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* poll() @fds until one is readable or @deadline_ns; 1 readable, 0 deadline, -errno. */
static int rconn_poll(struct pollfd *fds, nfds_t n, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = fp_now_ns();
		int ms, ret;

		if (now >= deadline_ns)
			return 0;
		ms = (int)((deadline_ns - now) / 1000000u) + 1;
		ret = poll(fds, n, ms);
		if (ret > 0)
			return 1;
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

int fp_rconn_next_event(struct rdma_event_channel *ev, uint64_t deadline_ns,
			struct rdma_cm_event **out)
{
	struct pollfd pfd = {.fd = ev->fd, .events = POLLIN};

	for (;;) {
		int ret;

		if (rdma_get_cm_event(ev, out) == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = rconn_poll(&pfd, 1, deadline_ns);
		if (ret <= 0)
			return ret ? ret : -ETIMEDOUT;
	}
}

int fp_rconn_setup(struct fp_rconn *c, struct rdma_event_channel *ev, struct rdma_cm_id *id)
{
	struct ibv_qp_init_attr attr = {
	    .cap = {.max_send_wr = 4, .max_recv_wr = 2, .max_send_sge = 1, .max_recv_sge = 1},
	    .qp_type = IBV_QPT_RC,
	    .sq_sig_all = 1,
	};
	uint8_t ack_timeout = 14; /* 4.096 us * 2^14 */
	int fl;

	c->ev = ev;
	c->id = id;
	c->pd = ibv_alloc_pd(id->verbs);
	if (!c->pd)
		return rconn_error(c, errno, "ibv_alloc_pd");
	c->chan = ibv_create_comp_channel(id->verbs);
	if (!c->chan)
		return rconn_error(c, errno, "ibv_create_comp_channel");
	fl = fcntl(c->chan->fd, F_GETFL);
	if (fl < 0 || fcntl(c->chan->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return rconn_error(c, errno, "fcntl(completion channel, O_NONBLOCK)");
	c->cq = ibv_create_cq(id->verbs, RCONN_CQ_DEPTH, NULL, c->chan, 0);
	if (!c->cq)
		return rconn_error(c, errno, "ibv_create_cq");
	attr.send_cq = attr.recv_cq = c->cq;
	/* a lost packet is retried after ~67 ms (as the verbs row's QPs), not rdma_cm's default
	 * of seconds: rxe on a busy veth drops some; best effort, older librdmacm lacks it */
	rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_ACK_TIMEOUT, &ack_timeout,
			sizeof(ack_timeout));
	if (rdma_create_qp(id, c->pd, &attr))
		return rconn_error(c, errno, "rdma_create_qp(RC)");
	/* MAP_SHARED: the message buffers never depend on the fork behaviour under test */
	c->buf = mmap(NULL, 2 * FP_PEER_BUF_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (c->buf == MAP_FAILED) {
		c->buf = NULL;
		return rconn_error(c, errno, "mmap(message buffers)");
	}
	c->mr = ibv_reg_mr(c->pd, c->buf, 2 * FP_PEER_BUF_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!c->mr)
		return rconn_error(c, errno, "ibv_reg_mr(message buffers, 2 MiB): raise ulimit -l");
	return 0;
}

void fp_rconn_destroy(struct fp_rconn *c)
{
	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->buf)
		munmap(c->buf, 2 * FP_PEER_BUF_LEN);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->chan)
		ibv_destroy_comp_channel(c->chan);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	c->mr = NULL;
	c->buf = NULL;
	c->cq = NULL;
	c->chan = NULL;
	c->pd = NULL;
}

int fp_rconn_post_recv(struct fp_rconn *c)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)fp_rconn_rx(c),
	    .length = (uint32_t)FP_PEER_BUF_LEN,
	    .lkey = c->mr->lkey,
	};
	struct ibv_recv_wr wr = {.wr_id = 1, .sg_list = &sge, .num_sge = 1}, *bad = NULL;
	int ret = ibv_post_recv(c->id->qp, &wr, &bad);

	return ret ? rconn_error(c, ret, "ibv_post_recv") : 0;
}

static int rconn_post(struct fp_rconn *c, struct ibv_send_wr *wr, const char *what)
{
	struct ibv_send_wr *bad = NULL;
	int ret = ibv_post_send(c->id->qp, wr, &bad);

	return ret ? rconn_error(c, ret, what) : 0;
}

int fp_rconn_post_send(struct fp_rconn *c, size_t payload)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)fp_rconn_tx(c),
	    .length = (uint32_t)(sizeof(struct fp_peer_msg) + payload),
	    .lkey = c->mr->lkey,
	};
	struct ibv_send_wr wr = {.wr_id = 2, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND};

	return rconn_post(c, &wr, "ibv_post_send(SEND)");
}

int fp_rconn_post_rdma(struct fp_rconn *c, enum ibv_wr_opcode op, void *local, size_t len,
		       uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)local, .length = (uint32_t)len, .lkey = c->mr->lkey};
	struct ibv_send_wr wr = {
	    .wr_id = 3,
	    .sg_list = &sge,
	    .num_sge = 1,
	    .opcode = op,
	    .wr.rdma = {.remote_addr = raddr, .rkey = rkey},
	};

	return rconn_post(c, &wr,
			  op == IBV_WR_RDMA_READ ? "ibv_post_send(RDMA READ)"
						 : "ibv_post_send(RDMA WRITE)");
}

/* A CM event during a wait: the callback decides, by default it ends the wait. */
static int rconn_take_event(struct fp_rconn *c, fp_rconn_event_fn on_event, void *arg)
{
	struct rdma_cm_event *ev;
	int ret;

	if (rdma_get_cm_event(c->ev, &ev))
		return errno == EAGAIN || errno == EWOULDBLOCK
			   ? 0
			   : rconn_error(c, errno, "rdma_get_cm_event");
	if (on_event) {
		ret = on_event(c, ev, arg);
	} else {
		snprintf(c->err, sizeof(c->err), "the connection ended (%s)",
			 rdma_event_str(ev->event));
		ret = -ECONNRESET;
	}
	rdma_ack_cm_event(ev);
	return ret;
}

static const char *rconn_opcode_str(enum ibv_wc_opcode op)
{
	switch (op) {
	case IBV_WC_SEND:
		return "SEND";
	case IBV_WC_RDMA_WRITE:
		return "RDMA WRITE";
	case IBV_WC_RDMA_READ:
		return "RDMA READ";
	case IBV_WC_RECV:
		return "receive";
	default:
		return "operation";
	}
}

/* One completion from the CQ: 1 got one, 0 none, -errno. */
static int rconn_poll_cq(struct fp_rconn *c, struct ibv_wc *wc)
{
	int n = ibv_poll_cq(c->cq, 1, wc);

	if (n < 0)
		return rconn_error(c, EIO, "ibv_poll_cq");
	if (n == 1 && wc->status != IBV_WC_SUCCESS) {
		/* an error completion's opcode is undefined: name it by its wr_id */
		static const char *const what[] = {"", "receive", "SEND", "RDMA operation"};

		snprintf(c->err, sizeof(c->err),
			 "%s completed with status '%s' (%d, vendor error 0x%x)",
			 wc->wr_id < 4 ? what[wc->wr_id] : "work request",
			 ibv_wc_status_str(wc->status), wc->status, wc->vendor_err);
		return -EIO;
	}
	return n;
}

int fp_rconn_wait(struct fp_rconn *c, uint64_t deadline_ns, struct ibv_wc *wc,
		  fp_rconn_event_fn on_event, void *arg)
{
	struct pollfd fds[2] = {{.fd = c->chan->fd, .events = POLLIN},
				{.fd = c->ev->fd, .events = POLLIN}};

	for (;;) {
		int ret = rconn_poll_cq(c, wc);

		if (ret)
			return ret < 0 ? ret : 0;
		/* arm, then look again, so no completion slips in before the sleep */
		if (ibv_req_notify_cq(c->cq, 0))
			return rconn_error(c, errno, "ibv_req_notify_cq");
		ret = rconn_poll_cq(c, wc);
		if (ret)
			return ret < 0 ? ret : 0;
		ret = rconn_poll(fds, 2, deadline_ns);
		if (ret < 0)
			return rconn_error(c, -ret, "poll(completions, CM events)");
		if (ret == 0) {
			snprintf(c->err, sizeof(c->err), "no completion before the deadline");
			return -ETIMEDOUT;
		}
		if (fds[0].revents) {
			struct ibv_cq *cq;
			void *ctx;

			if (ibv_get_cq_event(c->chan, &cq, &ctx) == 0)
				ibv_ack_cq_events(cq, 1);
			/* completions first: a reply that came with the disconnect still counts */
			continue;
		}
		if (fds[1].revents) {
			ret = rconn_take_event(c, on_event, arg);
			if (ret)
				return ret;
		}
	}
}

int fp_rconn_expect(struct fp_rconn *c, const struct ibv_wc *wc, enum ibv_wc_opcode want)
{
	if (wc->opcode == want)
		return 0;
	snprintf(c->err, sizeof(c->err), "expected a %s completion, got a %s",
		 rconn_opcode_str(want), rconn_opcode_str(wc->opcode));
	return -EPROTO;
}

#endif /* HAVE_LIBRDMACM */

int fp_peer_parse_addr(const char *spec, char *host, size_t host_size, char *port, size_t port_size)
{
	const char *colon, *h = spec;
	size_t hlen;

	if (!spec || !spec[0])
		return -EINVAL;
	if (spec[0] == '[') { /* [IPv6]:PORT */
		const char *close = strchr(spec, ']');

		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		h = spec + 1;
		hlen = (size_t)(close - h);
		colon = close[1] ? close + 1 : NULL;
	} else {
		colon = strrchr(spec, ':');
		if (colon && strchr(spec, ':') != colon) /* a bare IPv6 address */
			colon = NULL;
		hlen = colon ? (size_t)(colon - spec) : strlen(spec);
	}
	if (hlen == 0 || hlen >= host_size)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (colon) {
		char *end;
		unsigned long p = strtoul(colon + 1, &end, 10);

		if (!colon[1] || *end || p == 0 || p > 65535)
			return -EINVAL;
		snprintf(port, port_size, "%lu", p);
	} else {
		snprintf(port, port_size, "%u", FP_PEER_DEFAULT_PORT);
	}
	return 0;
}
