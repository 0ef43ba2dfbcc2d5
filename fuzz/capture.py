#!/usr/bin/env python3
"""A recording BGP peer for fuzz/capture.sh: listens on ADDR:179, answers the router's OPEN
with an OPEN (AS 64512, IPv4 and IPv6 unicast, 4-octet AS, route refresh) and KEEPALIVEs,
asks for a ROUTE-REFRESH after a few seconds, then sends a malformed UPDATE so the router closes
with a NOTIFICATION. Everything the router sent is written, byte for byte, to OUT.

Usage: capture.py ADDR OUT
"""

import socket
import struct
import sys
import time

addr, out = sys.argv[1], sys.argv[2]


def frame(kind, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


caps = (
    bytes([1, 4, 0, 1, 0, 1])
    + bytes([1, 4, 0, 2, 0, 1])
    + bytes([2, 0])
    + bytes([65, 4]) + struct.pack("!I", 64512)
)
params = bytes([2, len(caps)]) + caps
OPEN = frame(1, struct.pack("!BHH4sB", 4, 64512, 90, bytes([192, 0, 2, 2]), len(params)) + params)
KEEPALIVE = frame(4, b"")
REFRESH = frame(5, struct.pack("!HBB", 1, 0, 1))
BAD_UPDATE = frame(2, bytes([0, 0, 0, 2, 0x40, 1]))

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, 179))
srv.listen(1)
srv.settimeout(15)
conn, _ = srv.accept()
conn.settimeout(0.2)
got = b""
start = time.time()
sent_open = refresh = bad = False
while time.time() - start < 12:
    try:
        chunk = conn.recv(65536)
        if not chunk:
            break
        got += chunk
    except socket.timeout:
        pass
    now = time.time() - start
    if not sent_open and len(got) >= 19:
        conn.sendall(OPEN + KEEPALIVE)
        sent_open = True
    if sent_open and not refresh and now > 5:
        conn.sendall(KEEPALIVE + REFRESH)
        refresh = True
    if refresh and not bad and now > 8:
        conn.sendall(BAD_UPDATE)
        bad = True
conn.close()
open(out, "wb").write(got)
print(f"{out}: {len(got)} bytes")
