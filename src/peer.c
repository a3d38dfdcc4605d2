// SPDX-License-Identifier: MIT
/*
 * `forkpin peer`: node B of two-node mode (docs/two-node.md). Listens with rdma_cm and serves
 * one client at a time: each verbs-remote case on node A connects, sends requests, and B's
 * NIC does the DMA into and out of A's registered memory (protocol: backends/rdma_peer.h).
 *
 * Stateless between cases: each connection gets its own PD, CQ, QP and buffers, all gone
 * when it ends. A second client while one is served is refused with FP_PEER_BUSY in the
 * rejection's private data (A retries briefly, then reports it). An idle connection is
 * closed after --idle-timeout. Runs until killed; one line per connection on stdout.
 * With --ofi it serves the ofi-remote row through libfabric instead (peer_ofi.c), with the
 * same rules.
 */
#define _GNU_SOURCE
#include "peer_ofi.h"

#include "backends/ofi_peer.h"
#include "backends/rdma_lib.h"
#include "backends/rdma_peer.h"
#include "cmd.h"
#include "subcommands.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_DEFAULT_IDLE_S 30.0

static void peer_usage(FILE *f)
{
	fprintf(f,
		"usage: forkpin peer [--ofi [--ofi-provider NAME]] [--port N] [--device "
		"NAME[:PORT]]\n                    [--idle-timeout SEC]\n"
		"Serve RDMA to `forkpin run --peer THIS-HOST[:PORT]` on another node: this node's "
		"NIC\nwrites into and reads from the memory of that node's verbs-remote cases "
		"(docs/two-node.md).\n"
		"  --ofi                serve the ofi-remote row through libfabric instead "
		"(--ofi-peer)\n"
		"  --ofi-provider NAME  with --ofi: the provider (default %s)\n"
		"  --port N             port to listen on (default %u; with --ofi %u)\n"
		"  --device NAME[:PORT] listen on this RDMA device's IPv4 address only (default: "
		"all)\n"
		"  --idle-timeout SEC   close a connection idle this long (default %g)\n"
		"  --die-after N        tests: exit without answering the Nth request (a node lost "
		"mid-case)\n"
		"  -h, --help           this help\n"
		"Runs until killed; one line per connection. Exit: 2 bad usage, 1 cannot listen.\n",
		FP_OFI_PEER_PROVIDER, FP_PEER_DEFAULT_PORT, FP_OFI_PEER_DEFAULT_PORT,
		PEER_DEFAULT_IDLE_S);
}

/* The IPv4 address of RDMA device @name's netdev (port @port), for --device. */
static void peer_device_addr(const char *name, unsigned port, struct sockaddr_in *sin)
{
	char path[256], ndev[IF_NAMESIZE + 1] = "";
	struct ifaddrs *ifa = NULL, *i;

	snprintf(path, sizeof(path), "/sys/class/infiniband/%s", name);
	if (access(path, F_OK))
		fp_usage_error(WHO, "--device %s: no such RDMA device (rdma link show lists them)",
			       name);
	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%u/gid_attrs/ndevs/0", name,
		 port);
	if (fp_read_line(path, ndev, sizeof(ndev)) || !ndev[0])
		fp_usage_error(
		    WHO,
		    "--device %s:%u: no netdev behind it (%s): an InfiniBand port has no "
		    "IP address to listen on; omit --device",
		    name, port, path);
	if (getifaddrs(&ifa))
		fp_usage_error(WHO, "getifaddrs: %s", strerror(errno));
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && !strcmp(i->ifa_name, ndev))
			break;
	if (!i) {
		freeifaddrs(ifa);
		fp_usage_error(
		    WHO,
		    "--device %s: its netdev %s has no IPv4 address: ip addr add ADDR/LEN "
		    "dev %s",
		    name, ndev, ndev);
	}
	memcpy(sin, i->ifa_addr, sizeof(*sin));
	freeifaddrs(ifa);
}

static void peer_parse(struct peer_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"device", required_argument, NULL, 'd'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"die-after", required_argument, NULL, 'x'},
	    {"ofi", no_argument, NULL, 'o'},
	    {"ofi-provider", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	o->port[0] = '\0';
	o->idle_s = PEER_DEFAULT_IDLE_S;
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			snprintf(o->port, sizeof(o->port), "%lu",
				 fp_parse_count(WHO, "--port", optarg, 65535));
			break;
		case 'd':
			o->device = optarg;
			break;
		case 'i':
			if (!fp_parse_seconds(optarg, &o->idle_s) || o->idle_s <= 0)
				fp_usage_error(WHO, "--idle-timeout '%s': give seconds, e.g. 30",
					       optarg);
			break;
		case 'x':
			o->die_after = fp_parse_count(WHO, "--die-after", optarg, 1000000000);
			break;
		case 'o':
			o->ofi = true;
			break;
		case 'P':
			o->ofi_provider = optarg;
			break;
		case 'h':
			peer_usage(stdout);
			exit(FP_EXIT_OK);
		default:
			fp_usage_error(WHO,
				       "unknown or incomplete option '%s': `forkpin peer --help` "
				       "lists the options",
				       argv[optind - 1]);
		}
	}
	if (optind < argc)
		fp_usage_error(WHO, "unexpected argument '%s': `forkpin peer --help`",
			       argv[optind]);
	if (o->ofi_provider && !o->ofi)
		fp_usage_error(WHO, "--ofi-provider needs --ofi (the verbs peer uses rdma_cm)");
	if (!o->port[0])
		snprintf(o->port, sizeof(o->port), "%u",
			 o->ofi ? FP_OFI_PEER_DEFAULT_PORT : FP_PEER_DEFAULT_PORT);
	if (!o->ofi_provider)
		o->ofi_provider = FP_OFI_PEER_PROVIDER;
}

/* Where to listen: --device's address, or every address. */
static void peer_listen_addr(const struct peer_opts *o, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_ANY);
	if (o->device) {
		char name[64];
		const char *colon = strchr(o->device, ':');
		size_t n = colon ? (size_t)(colon - o->device) : strlen(o->device);
		unsigned long port = 1;

		if (n == 0 || n >= sizeof(name))
			fp_usage_error(WHO, "--device '%s': expected NAME[:PORT], e.g. rxe0:1",
				       o->device);
		if (colon)
			port = fp_parse_count(WHO, "--device PORT", colon + 1, 255);
		memcpy(name, o->device, n);
		name[n] = '\0';
		peer_device_addr(name, (unsigned)port, sin);
	}
	sin->sin_port = htons((uint16_t)atoi(o->port));
}

#if HAVE_LIBRDMACM

/* bound on one RDMA operation of B's */
#define PEER_OP_MS 5000
/* refused connection requests kept for destruction until the current wait returns */
#define PEER_MAX_REFUSED 16

/* One served connection, and the requests refused while it lasts. */
struct peer_conn {
	struct fp_rconn c;
	struct rdma_cm_id *id;
	char client[INET6_ADDRSTRLEN + 8];
	struct rdma_cm_id *refused[PEER_MAX_REFUSED];
	size_t nrefused;
	unsigned long requests;
	bool request_received; /* the next request's receive completed while waiting for another */
	unsigned long early; /* how often: requests served that came before the last reply's ack */
	char doing[96];	     /* what the session waits for now, for the log when it ends there */
};

/* The client's address, for the log and for refusals. */
static void peer_name_client(struct rdma_cm_id *id, char *buf, size_t size)
{
	struct sockaddr *sa = rdma_get_peer_addr(id);
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
	snprintf(buf, size, "%s", host);
}

/* Refuse @id: another client is being served. */
static void peer_refuse(struct peer_conn *pc, struct rdma_cm_id *id)
{
	char msg[96], who[INET6_ADDRSTRLEN + 8];

	peer_name_client(id, who, sizeof(who));
	snprintf(msg, sizeof(msg), "%s: serving %s", FP_PEER_BUSY, pc->client);
	rdma_reject(id, msg, (uint8_t)(strlen(msg) + 1));
	printf("refused %s: serving %s\n", who, pc->client);
	fflush(stdout);
	if (pc->nrefused < PEER_MAX_REFUSED)
		pc->refused[pc->nrefused++] = id; /* destroyed once its event is acked */
}

/* CM events while serving: refuse newcomers; the served client's end stops the wait. */
static int peer_on_event(struct fp_rconn *c, struct rdma_cm_event *ev, void *arg)
{
	struct peer_conn *pc = arg;

	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST && ev->id != pc->id) {
		peer_refuse(pc, ev->id);
		return 0;
	}
	if (ev->id == pc->id && ev->event == RDMA_CM_EVENT_ESTABLISHED)
		return 0;
	if (ev->id != pc->id)
		return 0; /* a refused id's leftovers */
	snprintf(c->err, sizeof(c->err), "%s", rdma_event_str(ev->event));
	return -ECONNRESET;
}

static int peer_wait(struct peer_conn *pc, uint64_t deadline, struct ibv_wc *wc)
{
	int ret = fp_rconn_wait(&pc->c, deadline, wc, peer_on_event, pc);

	while (pc->nrefused)
		rdma_destroy_id(pc->refused[--pc->nrefused]);
	return ret;
}

/* Wait for the completion of opcode @want within @ms; 0 or -errno (pc->c.err says). */
static int peer_complete(struct peer_conn *pc, enum ibv_wc_opcode want, int ms)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)ms * 1000000u;
	struct ibv_wc wc;
	int ret;

	do {
		ret = peer_wait(pc, deadline, &wc);
		/* The client's next request can complete before the ack of our reply does (the
		 * ack may come late, rxe defers acks): keep it, or it is never served. */
		if (!ret && wc.opcode == IBV_WC_RECV && want != IBV_WC_RECV) {
			pc->request_received = true;
			pc->early++;
		}
	} while (!ret && wc.opcode != want);
	return ret;
}

/* Request @rq's RDMA READ or WRITE between @local and the client's MR; 0 or -errno
 * (pc->c.err says). */
static int peer_rdma(struct peer_conn *pc, const struct fp_peer_msg *rq, char *local)
{
	bool write = le32toh(rq->op) == FP_PEER_WRITE;
	uint32_t len = le32toh(rq->len);
	int ret;

	snprintf(pc->doing, sizeof(pc->doing), "the %s of request %u (%u bytes)",
		 write ? "RDMA WRITE" : "RDMA READ", le32toh(rq->seq), len);
	ret = fp_rconn_post_rdma(&pc->c, write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ, local, len,
				 le64toh(rq->addr), le32toh(rq->rkey));
	return ret ? ret
		   : peer_complete(pc, write ? IBV_WC_RDMA_WRITE : IBV_WC_RDMA_READ, PEER_OP_MS);
}

/* Move the data of request @rq with this node's NIC; the reply goes in tx. -ECONNRESET when
 * the client left meanwhile (no reply then), else 0. */
static int peer_do(struct peer_conn *pc, const struct fp_peer_msg *rq, struct fp_peer_msg *tx)
{
	uint32_t op = le32toh(rq->op), len = le32toh(rq->len);
	int ret;

	memset(tx, 0, sizeof(*tx));
	tx->magic = htole32(FP_PEER_MAGIC);
	tx->op = htole32(FP_PEER_REPLY);
	tx->seq = rq->seq;
	if (le32toh(rq->magic) != FP_PEER_MAGIC || (op != FP_PEER_WRITE && op != FP_PEER_READ) ||
	    len > FP_PEER_MAX_TRANSFER) {
		tx->status = htole32(EPROTO);
		snprintf(tx->error, sizeof(tx->error),
			 "not a forkpin peer request (magic 0x%x, op %u, len %u): same forkpin "
			 "version on both nodes?",
			 le32toh(rq->magic), op, len);
		return 0;
	}
	ret = peer_rdma(pc, rq, op == FP_PEER_WRITE ? (char *)(rq + 1) : (char *)(tx + 1));
	if (ret == -ECONNRESET)
		return ret;
	if (ret) {
		tx->status = htole32((uint32_t)-ret);
		snprintf(tx->error, sizeof(tx->error), "%.*s", (int)sizeof(tx->error) - 1,
			 pc->c.err);
		return 0;
	}
	tx->len = htole32(op == FP_PEER_READ ? len : 0);
	return 0;
}

/* Wait up to @idle_s for the client's next request (it may have arrived already). */
static int peer_next_request(struct peer_conn *pc, double idle_s)
{
	uint64_t deadline = fp_now_ns() + (uint64_t)(idle_s * 1e9);
	struct ibv_wc wc;
	int ret = 0;

	if (pc->request_received) {
		pc->request_received = false;
		return 0;
	}
	do
		ret = peer_wait(pc, deadline, &wc);
	while (!ret && wc.opcode != IBV_WC_RECV);
	return ret;
}

/* Serve requests until the client leaves, idles out or breaks; returns why it ended. */
static const char *peer_serve_requests(struct peer_conn *pc, struct peer_opts *o, char *why,
				       size_t why_size)
{
	for (;;) {
		struct fp_peer_msg *rx = fp_rconn_rx(&pc->c), *tx = fp_rconn_tx(&pc->c);
		int ret;

		pc->doing[0] = '\0'; /* between requests: an end here is no interruption */
		ret = peer_next_request(pc, o->idle_s);
		if (ret == -ETIMEDOUT) {
			snprintf(why, why_size, "idle for %g s: closed", o->idle_s);
			return why;
		}
		if (ret) {
			snprintf(why, why_size, "%s", pc->c.err);
			return why;
		}
		if (o->die_after && ++o->served >= o->die_after) {
			printf("client %s: --die-after %lu: exiting without answering request %u "
			       "of this connection\n",
			       pc->client, o->die_after, le32toh(rx->seq));
			fflush(stdout);
			_exit(3);
		}
		if (peer_do(pc, rx, tx)) {
			snprintf(why, why_size, "%s", pc->c.err);
			return why;
		}
		/* (the reply's ack may come after the client took the reply and left: no
		 * interruption) */
		pc->doing[0] = '\0';
		/* the next request's receive first, then the reply that lets the client send it */
		ret = fp_rconn_post_recv(&pc->c);
		if (!ret)
			ret = fp_rconn_post_send(&pc->c, le32toh(tx->len));
		if (ret) {
			snprintf(why, why_size, "replying: %s", pc->c.err);
			return why;
		}
		pc->requests++;
		/* the client may take the reply and leave before its ack reaches us: an end */
		if (peer_complete(pc, IBV_WC_SEND, PEER_OP_MS)) {
			snprintf(why, why_size, "%s", pc->c.err);
			return why;
		}
	}
}

/* One client, from its connect request to the end of its connection. */
static void peer_serve(struct rdma_event_channel *ev, struct rdma_cm_id *id, struct peer_opts *o)
{
	struct peer_conn pc = {.id = id};
	const char *dev = ibv_get_device_name(id->verbs->device);
	struct rdma_conn_param param = {
	    .responder_resources = 1,
	    .initiator_depth = 1,
	    .rnr_retry_count = 7,
	    .private_data = dev,
	    .private_data_len = (uint8_t)(strlen(dev) + 1),
	};
	char why[320];
	const char *end = why;

	peer_name_client(id, pc.client, sizeof(pc.client));
	if (fp_rconn_setup(&pc.c, ev, id) || fp_rconn_post_recv(&pc.c)) {
		snprintf(why, sizeof(why), "setting up: %s", pc.c.err);
		rdma_reject(id, NULL, 0);
	} else if (rdma_accept(id, &param)) {
		snprintf(why, sizeof(why), "rdma_accept: %s", strerror(errno));
	} else {
		end = peer_serve_requests(&pc, o, why, sizeof(why));
		rdma_disconnect(id);
	}
	printf("client %s on %s: %lu request(s) served", pc.client, dev, pc.requests);
	if (pc.early)
		printf(" (%lu before the ack of the previous reply)", pc.early);
	printf("; %s%s%s\n", end, pc.doing[0] ? " while waiting for " : "", pc.doing);
	fflush(stdout);
	fp_rconn_destroy(&pc.c);
	rdma_destroy_id(id);
}

/* The verbs peer: rdma_cm listener, one connection at a time. */
static int peer_serve_rdma_cm(struct peer_opts *o, const struct sockaddr_in *listen_sin)
{
	struct sockaddr_in sin = *listen_sin;
	struct rdma_event_channel *ev;
	struct rdma_cm_id *listen_id;
	char addr[INET_ADDRSTRLEN];
	const char *why = fp_rdma_lib_missing(FP_RDMA_RDMACM);

	if (why) {
		fprintf(stderr, WHO ": %s\n", why);
		return FP_EXIT_FAIL;
	}
	ev = rdma_create_event_channel();
	if (!ev || fp_rconn_channel_nonblock(ev) ||
	    rdma_create_id(ev, &listen_id, NULL, RDMA_PS_TCP)) {
		fprintf(stderr, WHO ": rdma_cm: %s: is rdma_ucm loaded (modprobe rdma_ucm)?\n",
			strerror(errno));
		return FP_EXIT_FAIL;
	}
	inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr));
	if (rdma_bind_addr(listen_id, (struct sockaddr *)&sin) || rdma_listen(listen_id, 4)) {
		fprintf(stderr, WHO ": cannot listen on %s port %s: %s%s\n", addr, o->port,
			strerror(errno),
			errno == EADDRINUSE ? ": another forkpin peer? choose --port" : "");
		return FP_EXIT_FAIL;
	}
	printf("forkpin peer: listening on %s port %s%s%s, one client at a time, idle timeout "
	       "%g s\n",
	       addr, o->port, o->device ? " of " : "", o->device ? o->device : "", o->idle_s);
	fflush(stdout);
	for (;;) {
		struct rdma_cm_event *e;
		struct rdma_cm_id *id;
		int ret = fp_rconn_next_event(ev, UINT64_MAX, &e);

		if (ret) {
			fprintf(stderr, WHO ": rdma_get_cm_event: %s\n", strerror(-ret));
			return FP_EXIT_FAIL;
		}
		id = e->event == RDMA_CM_EVENT_CONNECT_REQUEST ? e->id : NULL;
		rdma_ack_cm_event(e);
		if (id)
			peer_serve(ev, id, o);
	}
}

#else /* !HAVE_LIBRDMACM */

static int peer_serve_rdma_cm(struct peer_opts *o, const struct sockaddr_in *listen_sin)
{
	(void)o;
	(void)listen_sin;
	fprintf(stderr, WHO ": built without librdmacm: install librdmacm-dev and reconfigure "
			    "(or serve ofi-remote with --ofi)\n");
	return FP_EXIT_NOTHING_RAN;
}

#endif /* HAVE_LIBRDMACM */

int fp_cmd_peer(int argc, char **argv)
{
	struct peer_opts o = {0};
	struct sockaddr_in sin;

	peer_parse(&o, argc, argv);
	peer_listen_addr(&o, &sin);
	return o.ofi ? fp_peer_serve_ofi(&o, &sin) : peer_serve_rdma_cm(&o, &sin);
}
