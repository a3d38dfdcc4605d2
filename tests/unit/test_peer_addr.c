/* SPDX-License-Identifier: MIT */
/* --peer HOST[:PORT]: the address forms two-node mode takes (backends/rdma_peer.h). */
#include "backends/rdma_peer.h"
#include "tap.h"

#include <string.h>

static bool parses(const char *spec, const char *host, const char *port)
{
	char h[64], p[16];

	return fp_peer_parse_addr(spec, h, sizeof(h), p, sizeof(p)) == 0 && !strcmp(h, host) &&
	       !strcmp(p, port);
}

static bool refused(const char *spec)
{
	char h[64], p[16];

	return fp_peer_parse_addr(spec, h, sizeof(h), p, sizeof(p)) != 0;
}

int main(void)
{
	ok(parses("nodeb", "nodeb", "7475"), "a bare name gets the default port");
	ok(parses("10.0.0.2:18515", "10.0.0.2", "18515"), "IPv4 with a port");
	ok(parses("fe80::1", "fe80::1", "7475"), "a bare IPv6 address is not HOST:PORT");
	ok(parses("[fe80::1]:7476", "fe80::1", "7476"), "[IPv6]:PORT");
	ok(parses("[::1]", "::1", "7475"), "[IPv6] alone");
	ok(refused("") && refused(":7475") && refused("nodeb:") && refused("nodeb:0") &&
	       refused("nodeb:65536") && refused("nodeb:x") && refused("[fe80::1") &&
	       refused("[fe80::1]x") && refused("[]:1"),
	   "empty host, bad or missing port, unclosed or trailing brackets are refused");
	ok(refused("a-host-name-longer-than-the-sixty-four-byte-buffer-the-test-gives-it.example"),
	   "a host longer than the buffer is refused, not cut");
	return done_testing();
}
