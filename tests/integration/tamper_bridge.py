# SPDX-License-Identifier: Apache-2.0
"""A user-space L2 bridge between two interfaces that tampers with TCP
payloads in flight: the network adversary of tests/integration/test_tamper.py.

  tamper_bridge.py --ports r1,r2 --tamper-port-min 50000 --tamper-port-max
      50099 --min-payload 1000 --offset 600 --every 1 --log FILE
  tamper_bridge.py --ports r1,r2 --marker ESMPI-SECRET-MARKER --log FILE
  tamper_bridge.py --ports r1,r2 --log FILE            (pass-through)

Every frame received on one port is sent out of the other. In tamper mode,
every N-th IPv4 TCP segment with a port in [min, max] and at least
--min-payload payload bytes gets the payload byte at --offset XORed with
0x01; in marker mode, the first byte of the marker wherever it occurs in a
TCP payload. --from-end counts --offset back from the end of the payload
(the last byte is 1), --max-payload bounds the eligible segments. The TCP
checksum is recomputed, so the receiver's stack takes the segment. Each
rewrite is logged. Standard library only; ends on SIGTERM.
"""
import argparse
import select
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_segment(frame):
    """(ip offset, tcp offset, payload offset, sport, dport) of an IPv4 TCP
    frame (Ethernet II, optionally one 802.1Q tag), else None."""
    off = 12
    etype = struct.unpack_from("!H", frame, off)[0]
    if etype == 0x8100:
        off += 4
        etype = struct.unpack_from("!H", frame, off)[0]
    ip = off + 2
    if etype != 0x0800 or len(frame) < ip + 20 or frame[ip] >> 4 != 4:
        return None
    ihl = (frame[ip] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, ip + 2)[0]
    frag = struct.unpack_from("!H", frame, ip + 6)[0]
    if frame[ip + 9] != 6 or frag & 0x3FFF or len(frame) < ip + total:
        return None  # not TCP, a fragment, or truncated
    tcp = ip + ihl
    doff = (frame[tcp + 12] >> 4) * 4
    sport, dport = struct.unpack_from("!HH", frame, tcp)
    return ip, tcp, tcp + doff, ip + total, sport, dport


def fix_tcp_checksum(frame, ip, tcp, end):
    seg_len = end - tcp
    struct.pack_into("!H", frame, tcp + 16, 0)
    pseudo = bytes(frame[ip + 12:ip + 20]) + struct.pack("!BBH", 0, 6,
                                                          seg_len)
    struct.pack_into("!H", frame, tcp + 16,
                     checksum(pseudo + bytes(frame[tcp:end])))


class Tamperer:
    def __init__(self, a, log):
        self.a, self.log = a, log
        self.eligible = self.rewrites = 0

    def __call__(self, frame):
        seg = tcp_segment(frame)
        if seg is None:
            return frame
        ip, tcp, pay, end, sport, dport = seg
        a = self.a
        if a.marker:
            k = bytes(frame[pay:end]).find(a.marker)
            if k < 0:
                return frame
            where = k
        else:
            if not (a.tamper_port_min <= sport <= a.tamper_port_max or
                    a.tamper_port_min <= dport <= a.tamper_port_max):
                return frame
            if end - pay < max(a.min_payload, a.offset + 1):
                return frame
            if a.max_payload and end - pay > a.max_payload:
                return frame
            self.eligible += 1
            if a.every <= 0 or self.eligible % a.every:
                return frame
            where = end - pay - a.offset if a.from_end else a.offset
        frame = bytearray(frame)
        frame[pay + where] ^= 0x01
        fix_tcp_checksum(frame, ip, tcp, end)
        self.rewrites += 1
        self.log.write(f"rewrite {self.rewrites} {sport}->{dport} offset "
                       f"{where} payload {end - pay}\n")
        self.log.flush()
        return frame


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ports", required=True, help="IF1,IF2")
    p.add_argument("--tamper-port-min", type=int, default=0)
    p.add_argument("--tamper-port-max", type=int, default=65535)
    p.add_argument("--min-payload", type=int, default=1)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--from-end", action="store_true",
                   help="--offset counts back from the payload's end")
    p.add_argument("--max-payload", type=int, default=0)
    p.add_argument("--every", type=int, default=0,
                   help="tamper every N-th eligible segment (0: never)")
    p.add_argument("--marker", type=lambda s: s.encode())
    p.add_argument("--log", required=True)
    a = p.parse_args()

    ports = a.ports.split(",")
    socks = []
    for name in ports:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                          socket.htons(ETH_P_ALL))
        s.bind((name, ETH_P_ALL))
        socks.append(s)
    other = {socks[0]: socks[1], socks[1]: socks[0]}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(a.log, "a") as log:
        tamper = Tamperer(a, log)
        mode = ("marker" if a.marker else
                f"tamper every {a.every}" if a.every > 0 else "pass-through")
        log.write(f"ready {mode} {','.join(ports)}\n")
        log.flush()
        while True:
            for s in select.select(socks, [], [])[0]:
                frame, addr = s.recvfrom(65535)
                if addr[2] == socket.PACKET_OUTGOING:
                    continue  # our own transmission, seen again
                try:
                    other[s].send(tamper(frame))
                except OSError as e:  # e.g. a frame too big: drop it
                    log.write(f"drop {len(frame)} bytes: {e}\n")
                    log.flush()


if __name__ == "__main__":
    main()
