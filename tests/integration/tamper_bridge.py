# SPDX-License-Identifier: Apache-2.0
"""A user-space L2 bridge between two interfaces that tampers with TCP
payloads in flight: the network adversary of tests/integration/test_tamper.py.

  tamper_bridge.py --ports r1,r2 --tamper-port-min 50000 --tamper-port-max
      50099 --min-payload 1000 --offset 600 --every 1 --log FILE
  tamper_bridge.py --ports r1,r2 --marker ESMPI-SECRET-MARKER --log FILE
  tamper_bridge.py --ports r1,r2 --unit-len 256 --replay 3,8 --log FILE
  tamper_bridge.py --ports r1,r2 --unit-len 256 --swap 5 --log FILE
  tamper_bridge.py --ports r1,r2 --log FILE            (pass-through)

Every frame received on one port is sent out of the port its destination
MAC was seen on (out of every other port while unknown). In tamper mode,
every N-th IPv4 TCP segment with a port in [min, max] and at least
--min-payload payload bytes gets the payload byte at --offset XORed with
0x01; in marker mode, the first byte of the marker wherever it occurs in a
TCP payload. --from-end counts --offset back from the end of the payload
(the last byte is 1), --max-payload bounds the eligible segments. The TCP
checksum is recomputed, so the receiver's stack takes the segment. Each
rewrite is logged. Standard library only; ends on SIGTERM.

Replay and swap modes work on units: fixed-size application messages found
in a TCP stream (same port range), either esmpi records of --unit-len
plaintext bytes (24-byte header: version 1, a known suite, flags 0 or 4,
length --unit-len at bytes 16..24; the unit is the whole record,
--unit-len + 40 bytes) or, with --magic, plain messages of --unit-len bytes
starting with the magic. Units are numbered per TCP flow in stream order
(from 1). --replay K,J overwrites unit J with unit K's bytes; --swap K
exchanges units K and K+1: the segment holding unit K is held back until
unit K+1 is seen, then both go out with their units exchanged (the later
segment first; the receiver's TCP reassembles them). Rewrites are keyed by
TCP sequence number, so a retransmission carries the same bytes; lengths
never change, so the stream stays consistent.
"""
import argparse
import select
import signal
import socket
import struct
import sys
import time

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


SUITES = (1, 2, 3)  # esmpi record suites (proto/PROTOCOL.md section 5)
REC_OVERHEAD = 40


class Units:
    """Replay (--replay K,J) or swap (--swap K) of fixed-size units."""

    def __init__(self, a, log):
        self.a, self.log = a, log
        self.lenbytes = struct.pack("!Q", a.unit_len)
        self.flows = {}     # flow -> {"n": units seen, "pos": {seq: n},
        #                   "bytes": {n: unit}, "at": {n: seq}}
        self.rewrite = {}   # (flow, seq) -> replacement bytes
        self.held = None    # (frame, deadline) of swap mode
        self.rewrites = 0

    def find(self, pay):
        """(offset, length) of every whole unit in a TCP payload."""
        a, out = self.a, []
        if a.magic:
            k = pay.find(a.magic)
            while k >= 0 and k + a.unit_len <= len(pay):
                out.append((k, a.unit_len))
                k = pay.find(a.magic, k + a.unit_len)
            return out
        n = a.unit_len + REC_OVERHEAD
        k = pay.find(self.lenbytes, 16)
        while k >= 0:
            h = k - 16
            if (pay[h] == 1 and pay[h + 1] in SUITES and pay[h + 2] == 0
                    and pay[h + 3] in (0, 4) and h + n <= len(pay)):
                out.append((h, n))
                k = pay.find(self.lenbytes, h + n + 16)
            else:
                k = pay.find(self.lenbytes, k + 1)
        return out

    def note(self, frame):
        """Learn the units of a frame; returns (flow, [(seq, off, len)])."""
        seg = tcp_segment(frame)
        if seg is None:
            return None, []
        ip, tcp, pay, end, sport, dport = seg
        a = self.a
        if not (a.tamper_port_min <= sport <= a.tamper_port_max or
                a.tamper_port_min <= dport <= a.tamper_port_max):
            return None, []
        flow = (bytes(frame[ip + 12:ip + 20]), sport, dport)
        tseq = struct.unpack_from("!I", frame, tcp + 4)[0]
        f = self.flows.setdefault(flow, {"n": 0, "pos": {}, "bytes": {},
                                         "at": {}})
        units = []
        payload = bytes(frame[pay:end])
        for off, n in self.find(payload):
            sq = (tseq + off) & 0xFFFFFFFF
            if sq not in f["pos"]:
                f["n"] += 1
                f["pos"][sq] = f["n"]
                f["bytes"][f["n"]] = payload[off:off + n]
                f["at"][f["n"]] = sq
            units.append((sq, off, n))
        return flow, units

    def apply(self, frame, flow, units):
        seg = tcp_segment(frame)
        ip, tcp, pay, end = seg[:4]
        frame = bytearray(frame)
        changed = False
        for sq, off, n in units:
            new = self.rewrite.get((flow, sq))
            if new is not None and len(new) == n:
                frame[pay + off:pay + off + n] = new
                changed = True
                self.rewrites += 1
                unit = self.flows[flow]["pos"][sq]
                self.log.write(f"rewrite {self.rewrites} unit {unit} "
                               f"{seg[4]}->{seg[5]} len {n}\n")
        if changed:
            fix_tcp_checksum(frame, ip, tcp, end)
            self.log.flush()
        return bytes(frame)

    def plan(self, flow):
        """Set up the rewrites once the units they need were seen."""
        f, a = self.flows[flow], self.a
        if a.replay:
            k, j = a.replay
            if k in f["bytes"] and j in f["bytes"]:
                self.rewrite.setdefault((flow, f["at"][j]), f["bytes"][k])
        elif a.swap:
            k = a.swap
            if k in f["bytes"] and k + 1 in f["bytes"]:
                self.rewrite.setdefault((flow, f["at"][k]),
                                        f["bytes"][k + 1])
                self.rewrite.setdefault((flow, f["at"][k + 1]),
                                        f["bytes"][k])

    def __call__(self, frame):
        """Frames to send now, in order, for one received frame."""
        flow, units = self.note(frame)
        if flow is None:
            return [frame]
        self.plan(flow)
        f = self.flows[flow]
        k = self.a.swap
        if (k and self.held is None and k + 1 not in f["bytes"] and
                any(f["pos"][sq] == k for sq, _, _ in units)):
            self.held = (frame, flow, units, time.monotonic() + 2.0)
            self.log.write(f"hold unit {k}\n")
            self.log.flush()
            return []
        if (self.held is not None and self.held[1] == flow and
                k + 1 not in f["bytes"] and
                any(f["pos"][sq] == k for sq, _, _ in units)):
            # A retransmission (tail loss probe) of the held unit: it
            # must not deliver unit K before the exchange is set up.
            self.log.write(f"drop retransmission of unit {k}\n")
            self.log.flush()
            return []
        out = [self.apply(frame, flow, units)]
        if (self.held is not None and self.held[1] == flow and
                k + 1 in f["bytes"]):
            out += self.release()
        return out

    def release(self):
        frame, flow, units, _ = self.held
        self.held = None
        return [self.apply(frame, flow, units)]

    def timeout(self):
        """Seconds until a held frame must go out anyway, or None."""
        if self.held is None:
            return None
        return max(0.0, self.held[3] - time.monotonic())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ports", required=True, help="IF1,IF2[,IF3...]")
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
    p.add_argument("--unit-len", type=int, default=0)
    p.add_argument("--magic", type=lambda s: s.encode())
    p.add_argument("--replay", type=lambda s: tuple(map(int, s.split(","))),
                   help="K,J: overwrite unit J with unit K")
    p.add_argument("--swap", type=int, default=0,
                   help="K: exchange units K and K+1")
    p.add_argument("--log", required=True)
    a = p.parse_args()

    ports = a.ports.split(",")
    socks = []
    for name in ports:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                          socket.htons(ETH_P_ALL))
        s.bind((name, ETH_P_ALL))
        socks.append(s)
    # A learning switch: a frame goes to the port its destination was
    # last seen on, or to every other port while that is unknown.
    where = {}

    def outs(s, frame):
        learned = where.get(bytes(frame[0:6]))
        if learned is not None and learned is not s:
            return [learned]
        return [x for x in socks if x is not s]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(a.log, "a") as log:
        units = a.replay or a.swap
        tamper = Units(a, log) if units else Tamperer(a, log)
        mode = ("marker" if a.marker else
                f"replay {a.replay}" if a.replay else
                f"swap {a.swap}" if a.swap else
                f"tamper every {a.every}" if a.every > 0 else "pass-through")
        log.write(f"ready {mode} {','.join(ports)}\n")
        log.flush()
        held_to = None
        while True:
            wait = tamper.timeout() if units else None
            ready = select.select(socks, [], [], wait)[0]
            if units and not ready and tamper.held is not None:
                # Unit K+1 never came: let unit K go unchanged.
                log.write("release held frame unchanged\n")
                frame, flow, us, _ = tamper.held
                tamper.held = None
                for x in held_to:
                    x.send(frame)
                continue
            for s in ready:
                frame, addr = s.recvfrom(65535)
                if addr[2] == socket.PACKET_OUTGOING:
                    continue  # our own transmission, seen again
                where[bytes(frame[6:12])] = s
                to = outs(s, frame)
                out = tamper(frame) if units else [tamper(frame)]
                if units and not out:
                    held_to = to  # where the held frame goes
                try:
                    for f in out:
                        for x in to:
                            x.send(f)
                except OSError as e:  # e.g. a frame too big: drop it
                    log.write(f"drop {len(frame)} bytes: {e}\n")
                    log.flush()


if __name__ == "__main__":
    main()
