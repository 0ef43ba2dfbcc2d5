#!/usr/bin/env python3
"""Writes the hand-built part of the seed corpus into fuzz/corpus/<target>/.

BGP messages are laid out field by field after the RFCs, with the capabilities and attributes
BIRD 2 and FRR put in theirs (multiprotocol, route refresh and enhanced route refresh,
graceful restart, 4-octet AS, add-path, hostname, long-lived GR), plus the malformed vectors
of the unit tests (src/packet/codec/tests.rs, src/packet/update/tests.rs) that panicked
zettabgp 0.6. BFD and L2 seeds are the byte vectors of src/packet/bfd/tests.rs and
src/l2/wire/captures.rs. Text seeds (config, manifest) are copied from examples/, bird-lab/,
deploy/ and tests/fixtures/.

Run from the repository root: python3 fuzz/seeds.py. File names are the content's SHA-1, as
libFuzzer names what it adds, so re-running is idempotent; `scripts/fuzz.sh` and
`cargo fuzz cmin` keep the corpus small.
"""

import hashlib
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def frame(kind, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def cap(code, value=b""):
    return bytes([code, len(value)]) + value


def mp(afi, safi):
    return cap(1, struct.pack("!HBB", afi, 0, safi))


def open_body(my_as, hold, router_id, caps, one_param_per_cap=False):
    if one_param_per_cap:  # FRR and old speakers: one optional parameter per capability
        params = b"".join(bytes([2, len(c)]) + c for c in caps)
    else:
        c = b"".join(caps)
        params = bytes([2, len(c)]) + c if c else b""
    return struct.pack("!BHH4sB", 4, my_as, hold, bytes(router_id), len(params)) + params


def hostname(host, domain=b""):
    return cap(73, bytes([len(host)]) + host + bytes([len(domain)]) + domain)


BIRD_OPEN = open_body(
    64500,
    240,
    [192, 0, 2, 1],
    [
        mp(1, 1),
        mp(2, 1),
        cap(2),
        cap(70),
        cap(6),
        cap(64, struct.pack("!HHBBHBB", 0x0078, 1, 1, 0x80, 2, 1, 0x80)),
        cap(65, struct.pack("!I", 64500)),
        cap(69, struct.pack("!HBB", 1, 1, 1)),
    ],
)
FRR_OPEN = open_body(
    23456,
    180,
    [192, 0, 2, 2],
    [
        mp(1, 1),
        mp(2, 1),
        cap(128),
        cap(2),
        cap(70),
        cap(65, struct.pack("!I", 4200000000)),
        cap(69, struct.pack("!HBBHBB", 1, 1, 1, 2, 1, 1)),
        hostname(b"frr-tor1"),
        cap(64, struct.pack("!H", 0x8078)),
        cap(71),
        cap(75, bytes([14]) + b"FRRouting/10.1"),
    ],
    one_param_per_cap=True,
)
PLAIN_OPEN = open_body(64512, 90, [192, 0, 2, 10], [])
OURS_OPEN = open_body(
    64512, 90, [192, 0, 2, 10],
    [mp(1, 1), mp(2, 1), cap(2), cap(65, struct.pack("!I", 64512))],
)


def attr(flags, kind, value):
    if len(value) > 255:
        flags |= 0x10
        return struct.pack("!BBH", flags, kind, len(value)) + value
    return struct.pack("!BBB", flags, kind, len(value)) + value


def prefix(p, length):
    n = (length + 7) // 8
    return bytes([length]) + bytes(p)[:n]


def update_body(withdrawn=b"", attrs=b"", nlri=b""):
    return struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri


def as_path(asns, four):
    fmt = "!I" if four else "!H"
    return bytes([2, len(asns)]) + b"".join(struct.pack(fmt, a) for a in asns)


def v4_announce(four):
    attrs = (
        attr(0x40, 1, b"\x00")
        + attr(0x40, 2, as_path([64500, 65001], four))
        + attr(0x40, 3, bytes([192, 0, 2, 1]))
        + attr(0x80, 4, struct.pack("!I", 0))
        + attr(0x40, 5, struct.pack("!I", 100))
        + attr(0xC0, 8, struct.pack("!HHHH", 64500, 100, 0xFFFF, 0x0000))
        + attr(0xC0, 32, struct.pack("!III", 64500, 1, 2))
    )
    nlri = prefix([198, 51, 100, 7], 32) + prefix([203, 0, 113, 0], 24) + prefix([198, 51, 100, 0], 25)
    return update_body(attrs=attrs, nlri=nlri)


def v6_announce(four, link_local):
    nh = bytes.fromhex("20010db8000000000000000000000001")
    if link_local:
        nh += bytes.fromhex("fe800000000000000000000000000001")
    nlri = prefix(bytes.fromhex("20010db8010000000000000000000007"), 128) + prefix(
        bytes.fromhex("20010db8010000000000000000000000"), 64
    )
    reach = struct.pack("!HBB", 2, 1, len(nh)) + nh + b"\x00" + nlri
    attrs = (
        attr(0x90, 14, reach)
        + attr(0x40, 1, b"\x00")
        + attr(0x50, 2, as_path([64500], four))
        + attr(0xC0, 8, struct.pack("!HH", 65535, 65281))
    )
    return update_body(attrs=attrs)


def v6_withdraw():
    nlri = prefix(bytes.fromhex("20010db8010000000000000000000007"), 128)
    return update_body(attrs=attr(0x90, 15, struct.pack("!HB", 2, 1) + nlri))


def v4_withdraw():
    return update_body(withdrawn=prefix([198, 51, 100, 7], 32) + prefix([203, 0, 113, 0], 24))


UPDATES_2 = [v4_announce(False), v6_announce(False, True), v4_withdraw(), v6_withdraw()]
UPDATES_4 = [v4_announce(True), v6_announce(True, False), v6_announce(True, True)]
EOR_V4 = update_body()
EOR_V6 = update_body(attrs=attr(0x80, 15, struct.pack("!HB", 2, 1)))
# The unit tests' malformed UPDATE bodies (src/packet/codec/tests.rs, update/tests.rs).
BAD_UPDATES = [
    bytes([0, 0, 0, 2, 0x40, 1]),  # attribute header cut before its length
    bytes([0, 0, 0, 9, 0x80, 14, 6, 0, 2, 1, 200, 0, 0]),  # MP_REACH next hop past the end
    bytes([0, 0, 0, 4, 0x80, 14, 1, 0]),  # 1-byte MP_REACH
    bytes([0, 0, 0, 5, 0x80, 15, 2, 0, 2]),  # 2-byte MP_UNREACH
    bytes([0, 0, 0, 0, 33, 1, 2, 3, 4, 5]),  # prefix longer than 32
    bytes([0, 1, 40, 0, 0]),  # withdrawn prefix cut short
    bytes([0, 200, 0, 0]),  # withdrawn length past the end
    update_body(attrs=attr(0x40, 1, b"\x00") + attr(0x40, 2, bytes([2, 2, 0, 0, 0xFD])),
                nlri=prefix([198, 51, 100, 1], 32)),  # short 4-byte-AS segment
    update_body(attrs=attr(0xC0, 1, b"\x07") + attr(0x40, 2, b"") + attr(0x40, 3, b"\x01\x02"),
                nlri=prefix([198, 51, 100, 1], 32)),  # treat-as-withdraw: flags, ORIGIN, NEXT_HOP
]
NOTIFICATIONS = [
    bytes([6, 2, 14]) + b"maintenance 42",  # Cease/Administrative Shutdown with a message (RFC 9003)
    bytes([6, 4]),  # Cease/Administrative Reset
    bytes([6, 10]),  # Cease/BFD Down (RFC 9384)
    bytes([4, 0]),  # Hold Timer Expired
    bytes([2, 2, 0xFD, 0xE8]),  # Bad Peer AS
    bytes([3, 1]),  # Malformed Attribute List
    bytes([1, 2, 0x00, 0x10]),  # Bad Message Length with the length
]
ROUTE_REFRESH = [struct.pack("!HBB", 1, 0, 1), struct.pack("!HBB", 2, 0, 1), struct.pack("!HBB", 1, 1, 1)]
KEEPALIVE = frame(4, b"")


def bgp():
    for body in [BIRD_OPEN, FRR_OPEN, PLAIN_OPEN, OURS_OPEN]:
        put("open", body)
    # Sessions as a speaker sees them: OPEN, KEEPALIVE, the table, End-of-RIB, then a
    # NOTIFICATION; selector 0 = 2-byte AS, 1 = 4-octet AS, 3 = 4-octet AS + extended messages.
    put("decode", bytes([0]) + frame(1, PLAIN_OPEN) + KEEPALIVE
        + b"".join(frame(2, u) for u in UPDATES_2) + frame(2, EOR_V4) + frame(3, NOTIFICATIONS[0]))
    put("decode", bytes([1]) + frame(1, BIRD_OPEN) + KEEPALIVE
        + b"".join(frame(2, u) for u in UPDATES_4) + frame(2, EOR_V4) + frame(2, EOR_V6)
        + frame(5, ROUTE_REFRESH[0]) + KEEPALIVE)
    put("decode", bytes([3]) + frame(1, FRR_OPEN) + KEEPALIVE + frame(2, UPDATES_4[0]) + frame(5, ROUTE_REFRESH[2]))
    for n in NOTIFICATIONS:
        put("decode", bytes([1]) + frame(3, n))
    for r in ROUTE_REFRESH:
        put("decode", bytes([0]) + frame(5, r))
    for b in BAD_UPDATES:
        put("decode", bytes([1]) + frame(2, b))
    put("decode", bytes([3]) + frame(2, update_body(
        attrs=attr(0x40, 1, b"\x00") + attr(0x40, 2, as_path([64500], True)) + attr(0x40, 3, bytes([192, 0, 2, 1])),
        nlri=b"".join(prefix([198, 18, i >> 8, i & 0xFF], 32) for i in range(1200)))))
    for u in UPDATES_2 + [EOR_V4, EOR_V6] + BAD_UPDATES:
        put("walk", bytes([0]) + u)
    for u in UPDATES_4:
        put("walk", bytes([1]) + u)


def bfd():
    # RFC 5880 §4.1: version 1, state, flags, detect mult, length 24, discriminators, intervals.
    def ctl(state, flags, mult, my, your, tx, rx, echo=0, auth=b"", diag=0):
        length = 24 + len(auth)
        if auth:
            flags |= 0x04
        return struct.pack("!BBBBIIIII", 0x20 | diag, (state << 6) | flags, mult, length, my, your, tx, rx, echo) + auth
    down = ctl(1, 0, 3, 1, 0, 1000000, 300000)
    init = ctl(2, 0, 3, 2, 1, 1000000, 300000)
    up = ctl(3, 0, 3, 2, 1, 300000, 300000)
    poll = ctl(3, 0x20, 3, 2, 1, 50000, 50000)
    final = ctl(3, 0x10, 3, 2, 1, 300000, 300000)
    admin_down = ctl(0, 0, 3, 2, 1, 1000000, 300000, diag=7)
    for p in [down, init, up, poll, final, admin_down, ctl(3, 0, 3, 2, 1, 300000, 300000, auth=bytes([1, 5, 1, 0x61, 0x62]))]:
        put("bfd", p)
    # A script (ferrolb::fuzzing::bfd): op 5 = receive the next `len` bytes.
    script = b""
    for p in [down, init, up, poll, final]:
        script += bytes([5, 10, len(p)]) + p + bytes([0, 40])
    script += bytes([1, 200, 2, 0, 3, 0, 4, 50])
    put("bfd", script)


def l2():
    path = os.path.join(ROOT, "src", "l2", "wire", "captures.rs")
    text = open(path).read()
    import re
    for m in re.finditer(r"pub const (\w+): \[u8; (\d+)\] = \[(.*?)\];", text, re.S):
        body = re.sub(r"//[^\n]*", "", m.group(3))
        data = bytes(int(x, 0) for x in re.findall(r"0x[0-9a-fA-F]+|\d+", body))
        assert len(data) == int(m.group(2)), m.group(1)
        put("l2", data)
        put("l2", data[14:])  # the layer under Ethernet (ARP, IPv6)
        if data[12:14] == b"\x86\xdd":
            put("l2", data[54:])  # the ICMPv6 message (NS/NA)


# scripts/fuzz.sh caps the text targets' inputs at 2 KB (-max_len): one YAML or TOML parse per
# input dominates their cost, and a longer input mostly repeats what a short one holds.
MAX_LEN = 2048


def text():
    for target, files in {
        "config": ["examples/standalone.toml", "bird-lab/clab/node.toml", "bird-lab/ecmp/node-a.toml"],
        "manifest": [
            "deploy/examples/bgpadvertisements.yaml",
            "deploy/examples/bgppeers.yaml",
            "deploy/examples/ipaddresspools.yaml",
            "deploy/ferrolb.yaml",
            "tests/fixtures/metallb/bgp.yaml",
            "tests/fixtures/metallb/l2.yaml",
            "tests/fixtures/metallb/pools.yaml",
        ],
    }.items():
        for f in files:
            data = open(os.path.join(ROOT, f), "rb").read()
            if len(data) <= MAX_LEN:
                put(target, data)
            if target == "manifest":  # and each document alone (multi-document files)
                for doc in data.split(b"\n---\n"):
                    if doc.strip() and len(doc) <= MAX_LEN:
                        put(target, doc.strip(b"-\n") + b"\n")


if __name__ == "__main__":
    bgp()
    bfd()
    l2()
    text()
