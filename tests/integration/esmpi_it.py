# SPDX-License-Identifier: Apache-2.0
"""Helpers for the esmpid integration tests: binaries, a daemon harness, a
hand-written protobuf encoder/decoder for raw frames, audit-line parsing.

Only the standard library is used, so the suite runs with Debian's python3
and python3-pytest.
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("ESMPI_BUILD", str(REPO / "build")))
ESMPID = BUILD / "daemon" / "esmpid"
ESMPICTL = BUILD / "cli" / "esmpictl"
TESTCLIENT = BUILD / "tests" / "tools" / "esmpi-testclient"

# Every subprocess gets a timeout; this is the default.
CMD_TIMEOUT = 30

# Exit codes of esmpictl (cli/esmpictl.h)
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_DAEMON = 0, 1, 2, 3

# ESMPI_ERR_* (common/esmpi_err.h)
ERR_PROTOCOL = -10
ERR_TOO_LARGE = -8
ERR_DENIED = -12
ERR_POLICY = -15
ERR_BUSY = -21

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

POLICY_ROOT = """\
version: 1
access: { users: [root] }
defaults:
  suite: aes-256-gcm
"""
# The same, every record signed by its sender (ECDSA P-256).
POLICY_SIGN_ALL = POLICY_ROOT + "  sign: ecdsa-p256\n"

HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def run(cmd, timeout=CMD_TIMEOUT, **kw):
    """subprocess.run with text capture and a mandatory timeout."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=timeout, **kw)


def ctl(admin_sock, *args, timeout=CMD_TIMEOUT, prefix=()):
    cmd = list(prefix) + [ESMPICTL]
    if admin_sock is not None:
        cmd += ["--admin-socket", admin_sock]
    return run(cmd + list(args), timeout=timeout)


def keyx(*socks, project=None, timeout=60, prefix=()):
    cmd = list(prefix) + [TESTCLIENT, "keyx"]
    if project is not None:
        cmd += ["--project", project]
    return run(cmd + [str(s) for s in socks], timeout=timeout)


def hello(sock, project=None, prefix=(), timeout=CMD_TIMEOUT):
    cmd = list(prefix) + [TESTCLIENT, "hello", sock]
    if project is not None:
        cmd.append(project)
    return run(cmd, timeout=timeout)


DENY_TIMEOUT = 5


def run_refused(cmd, timeout=DENY_TIMEOUT):
    """Run a client that the daemon must refuse. A refusal is a prompt
    answer: hanging until our timeout is a failure of its own."""
    try:
        return run(cmd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"no answer within {timeout}s: {' '.join(map(str, cmd))} hung. "
            "esmpid queued its 'access denied' Error reply but never sent "
            "it (daemon/server.c accept_conn() registers the refused "
            "connection for EPOLLIN only and conn_readable() returns in "
            "its closing branch without conn_flush()), so the client "
            "waits for its own timeout and the refused connection stays "
            "open") from None


def wait_for(pred, timeout=5.0, interval=0.05, what="condition"):
    """Poll pred() until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for "
                                 f"{what}")
        time.sleep(interval)


# ---------------------------------------------------------------- protobuf

def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def frame(body):
    return struct.pack(">I", len(body)) + body


# Request body field numbers (proto/esmpi.proto)
REQ_HELLO, REQ_KEY_SHARE, REQ_WRAP, REQ_UNWRAP, REQ_GOODBYE = 10, 11, 12, 13, 14
REQ_LOAD_POLICY, REQ_SHOW_POLICY, REQ_STATUS = 30, 31, 32
# Reply body field numbers
REP_HELLO, REP_KEY_SHARE, REP_OK, REP_ERROR, REP_POLICY, REP_STATUS = (
    10, 11, 20, 21, 30, 32)


def request(body_field, body=b"", version=1):
    return f_varint(1, version) + f_bytes(body_field, body)


def hello_body(job_id, rank=0, size=1, project="", host="pytest"):
    return (f_varint(1, 1) + f_bytes(2, project) + f_bytes(3, job_id) +
            f_varint(4, rank) + f_varint(5, size) + f_bytes(6, host))


def _read_varint(buf, i):
    shift = v = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def parse(buf):
    """Decode one protobuf message into {field: [values]} (varints as int,
    length-delimited as bytes; nested messages are parsed by the caller)."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(buf, i)
        elif wt == 2:
            n, i = _read_varint(buf, i)
            v = bytes(buf[i:i + n])
            if len(v) != n:
                raise ValueError("truncated field")
            i += n
        elif wt == 1:
            v = bytes(buf[i:i + 8])
            i += 8
        elif wt == 5:
            v = bytes(buf[i:i + 4])
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(num, []).append(v)
    return out


def int32(v):
    """A protobuf int32 varint as a Python int (negatives are 64-bit)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_reply_raw(sock, timeout=5.0):
    """Read one Reply frame: (body_field, raw body bytes) or None on EOF."""
    sock.settimeout(timeout)
    hdr = recv_exact(sock, 4)
    if hdr is None:
        return None
    (n,) = struct.unpack(">I", hdr)
    body = recv_exact(sock, n)
    if body is None:
        raise AssertionError("reply frame truncated by the daemon")
    rep = parse(body)
    fields = [f for f in rep if f != 1]
    assert len(fields) == 1, f"reply with no single body: {rep}"
    return fields[0], rep[fields[0]][0]


def read_reply(sock, timeout=5.0):
    """Read one Reply frame: (body_field, parsed body) or None on EOF."""
    rep = read_reply_raw(sock, timeout)
    if rep is None:
        return None
    return rep[0], parse(rep[1])


def read_error(sock, timeout=5.0):
    """Read a reply that must be an Error; return (code, message)."""
    rep = read_reply(sock, timeout)
    assert rep is not None, "daemon closed the connection without a reply"
    field, body = rep
    assert field == REP_ERROR, f"expected an Error reply, got field {field}"
    return int32(body.get(1, [0])[0]), body.get(2, [b""])[0].decode()


def wait_eof(sock, timeout=5.0):
    """True when the daemon closes the connection (after any queued data)."""
    sock.settimeout(timeout)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return s


# ------------------------------------------------------------------- audit

_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|n|\\|\")")


def unescape(s):
    """Undo daemon/audit.c's escapes: \\xNN, \\n, \\\\, \\"."""
    def one(m):
        e = m.group(1)
        return chr(int(e[1:], 16)) if e[0] == "x" else \
            "\n" if e == "n" else e
    return _ESCAPE.sub(one, s)


def parse_audit_lines(text):
    """Audit events from esmpid's stderr lines
    `esmpid: audit K=V ... MESSAGE="..."` as dicts (values have their
    spaces escaped, so fields split on spaces)."""
    events = []
    for line in text.splitlines():
        if not line.startswith("esmpid: audit "):
            continue
        head = line[len("esmpid: audit "):]
        msg = ""
        k = head.find(' MESSAGE="')
        if k >= 0:
            msg = head[k + len(' MESSAGE="'):]
            msg = msg[:-1] if msg.endswith('"') else msg
            head = head[:k]
        ev = {}
        for tok in head.split(" "):
            key, eq, val = tok.partition("=")
            if eq:
                ev[key] = unescape(val)
        ev["MESSAGE"] = unescape(msg)
        events.append(ev)
    return events


# ------------------------------------------------------------------ daemon

class Daemon:
    """One esmpid in its own directory (sockets, notify socket, stderr)."""

    def __init__(self, root, name, state_dir=None, policy=None,
                 max_clients=None, log_stderr=True, extra=()):
        self.dir = Path(root) / name
        self.dir.mkdir(mode=0o755, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.state = Path(state_dir) if state_dir else self.dir / "state"
        self.sock = self.dir / "c.sock"
        self.admin = self.dir / "a.sock"
        self.policy = policy
        self.max_clients = max_clients
        self.log_stderr = log_stderr
        self.extra = list(extra)
        self.cmd_prefix = []      # e.g. prlimit
        self.errpath = self.dir / "stderr.log"
        self.proc = None
        self.notify = None
        self.notify_msgs = []

    def cmd(self):
        c = [ESMPID, "--state-dir", self.state, "--socket", self.sock,
             "--admin-socket", self.admin, "--foreground"]
        if self.policy is not None:
            c += ["--policy", self.policy]
        if self.max_clients is not None:
            c += ["--max-clients", str(self.max_clients)]
        if self.log_stderr:
            c.append("--log-stderr")
        return [str(x) for x in self.cmd_prefix + c + self.extra]

    def start(self, wait=True, timeout=15.0):
        npath = self.dir / "notify.sock"
        if npath.exists():
            npath.unlink()
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(npath))
        self.notify_msgs = []
        env = dict(os.environ)
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            env.pop(k, None)
        env["NOTIFY_SOCKET"] = str(npath)
        with open(self.errpath, "ab") as err:
            self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=err, env=env)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        self.notify.settimeout(0.1)
        while time.monotonic() < deadline:
            try:
                m = self.notify.recv(4096).decode()
                self.notify_msgs.append(m)
                if "READY=1" in m.split("\n"):
                    return
            except socket.timeout:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"esmpid exited with {self.proc.returncode} before "
                    f"READY=1; stderr:\n{self.log()}")
        raise AssertionError(f"esmpid sent no READY=1 within {timeout}s; "
                             f"stderr:\n{self.log()}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.errpath.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def audit(self, event=None):
        evs = parse_audit_lines(self.log())
        return [e for e in evs if event is None or e["ESMPI_EVENT"] == event]

    def wait_audit(self, event, count=1, timeout=5.0, pred=None):
        def got():
            evs = [e for e in self.audit(event) if pred is None or pred(e)]
            return evs if len(evs) >= count else None
        return wait_for(got, timeout, what=f"{count} audit event(s) {event} "
                        f"in esmpid stderr:\n{self.log()}")

    def ctl(self, *args, **kw):
        return ctl(self.admin, *args, **kw)

    def status(self):
        r = self.ctl("status", "--json")
        assert r.returncode == 0, f"status failed: {r.returncode} {r.stderr}"
        return json.loads(r.stdout)

    def show(self):
        r = self.ctl("policy", "show")
        assert r.returncode == 0, f"policy show failed: {r.stderr}"
        return r.stdout

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait; kill on timeout (and fail). Returns exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("esmpid did not exit within "
                                     f"{timeout}s of SIGTERM")
        return self.proc.returncode

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.notify is not None:
            self.notify.close()
            self.notify = None


# ----------------------------------------------------- key establishment

REQ_CERTIFY = 16
REP_WRAP, REP_UNWRAP, REP_REKEY = 12, 13, 14


def key_share(s):
    """KeyShare request on an open session: the raw KeyShare bytes."""
    s.sendall(frame(request(REQ_KEY_SHARE)))
    field, raw = read_reply_raw(s)
    assert field == REP_KEY_SHARE, (field, raw)
    return raw


def keyed_session(path, job, rank=0, size=1):
    """A session that went through the whole job key establishment of a
    one-rank job, as a rank does (the daemon does the cryptography; the
    client only carries the shares). Returns the socket."""
    assert size == 1 and rank == 0
    s = connect(path)
    s.sendall(frame(request(REQ_HELLO, hello_body(job, rank, size))))
    rep = read_reply(s)
    assert rep is not None and rep[0] == REP_HELLO, rep
    share = key_share(s)
    s.sendall(frame(request(REQ_WRAP, f_bytes(1, share))))
    field, raw = read_reply_raw(s)
    assert field == REP_WRAP, (field, parse(raw))
    wrapped = parse(raw)[1][0]
    s.sendall(frame(request(REQ_UNWRAP, f_bytes(1, share) +
                            f_bytes(2, wrapped))))
    field, raw = read_reply_raw(s)
    assert field == REP_UNWRAP, (field, parse(raw))
    return s


NOBODY_UID = NOGROUP_GID = 65534


def connect_as(path, uid=NOBODY_UID, gid=NOGROUP_GID, timeout=5.0):
    """A connection whose peer credentials (SO_PEERCRED, taken at
    connect) are uid's: a forked child drops to uid, connects and hands
    the socket back; the test then speaks for that user."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            parent.close()
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(path))
            socket.send_fds(child, [b"s"], [s.fileno()])
            code = 0
        finally:
            os._exit(code)
    child.close()
    try:
        parent.settimeout(timeout)
        _, fds, _, _ = socket.recv_fds(parent, 1, 1)
    finally:
        parent.close()
        os.waitpid(pid, 0)
    assert fds, f"uid {uid} could not connect to {path}"
    s = socket.socket(fileno=fds[0])
    s.settimeout(timeout)
    return s


def open_session(s, job, rank=0, size=1, project=""):
    """Hello on connected socket s; returns the parsed HelloReply."""
    s.sendall(frame(request(REQ_HELLO, hello_body(job, rank, size,
                                                  project))))
    rep = read_reply(s)
    assert rep is not None, "daemon closed the connection at Hello"
    return rep


def sanitizer_reports(text):
    """Lines of an ASan or UBSan report in a process's stderr."""
    return [ln for ln in text.splitlines()
            if "ERROR: AddressSanitizer" in ln or "runtime error:" in ln
            or "ERROR: LeakSanitizer" in ln]
