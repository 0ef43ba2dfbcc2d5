#!/usr/bin/env python3
"""Writes N routes as an MRT TABLE_DUMP_V2 file (RFC 6396), for `gobgp mrt inject global`.

    bird-lab/mrt.py ipv4 N NEXT_HOP FILE   # /32s from 198.18.0.0 up (RFC 2544 range, N <= 131072)
    bird-lab/mrt.py ipv6 N NEXT_HOP FILE   # /128s 2001:db8:100::X:Y, as bench.sh's BIRD sender

One PEER_INDEX_TABLE record (one peer, AS 64512, BGP ID 192.0.2.2), then one RIB_IPV4_UNICAST
or RIB_IPV6_UNICAST record per prefix with one RIB entry: ORIGIN IGP, an empty AS_PATH (a
locally originated route, like `gobgp global rib add`) and the next hop (NEXT_HOP for IPv4; for
IPv6 an MP_REACH_NLRI with AFI, SAFI, next hop and no NLRI: GoBGP 3.10 does not read the
abbreviated form of RFC 6396 section 4.3.4).

`gobgp mrt inject` (GoBGP 3.10) returns before the last few hundred paths of its queue reach
gobgpd and drops them, every time; so after the N prefixes the file repeats the first
min(N, PAD) of them (adding a path again changes nothing) and the lost tail is those repeats.
The caller still checks the RIB holds all N (`gobgp global rib summary`).
"""
import ipaddress
import struct
import sys

PAD = 4096

TABLE_DUMP_V2 = 13
PEER_INDEX_TABLE, RIB_IPV4_UNICAST, RIB_IPV6_UNICAST = 1, 2, 4


def record(subtype, body):
    return struct.pack("!IHHI", 0, TABLE_DUMP_V2, subtype, len(body)) + body


def attr(flags, kind, value):
    return struct.pack("!BBB", flags, kind, len(value)) + value


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("ipv4", "ipv6"):
        sys.exit(__doc__)
    family, n, next_hop, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    nh = ipaddress.ip_address(next_hop).packed
    if family == "ipv4":
        if not 0 < n <= 131072:
            sys.exit("mrt.py: ipv4 needs 0 < N <= 131072 (198.18.0.0/15)")
        base = int(ipaddress.ip_address("198.18.0.0"))
        prefixes = [struct.pack("!BI", 32, base + i) for i in range(n)]
        subtype = RIB_IPV4_UNICAST
        hop = attr(0x40, 3, nh)  # NEXT_HOP, well-known
    else:
        base = int(ipaddress.ip_address("2001:db8:100::"))
        prefixes = [struct.pack("!B", 128) + (base + i).to_bytes(16, "big") for i in range(n)]
        subtype = RIB_IPV6_UNICAST
        hop = attr(0x80, 14, struct.pack("!HBB", 2, 1, len(nh)) + nh + b"\x00")  # MP_REACH_NLRI
    attrs = attr(0x40, 1, b"\x00") + attr(0x40, 2, b"") + hop
    # Peer type 0x02: IPv4 peer address, 4-octet AS.
    peer = struct.pack("!B4s4sI", 0x02, bytes([192, 0, 2, 2]), bytes([192, 0, 2, 2]), 64512)
    index = struct.pack("!4sH", bytes([192, 0, 2, 2]), 0) + struct.pack("!H", 1) + peer
    entry_head = struct.pack("!HIH", 0, 0, len(attrs))
    with open(path, "wb") as out:
        out.write(record(PEER_INDEX_TABLE, index))
        for seq, prefix in enumerate(prefixes + prefixes[:PAD]):
            body = struct.pack("!I", seq) + prefix + struct.pack("!H", 1) + entry_head + attrs
            out.write(record(subtype, body))


if __name__ == "__main__":
    main()
