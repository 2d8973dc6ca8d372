# SPDX-License-Identifier: Apache-2.0
"""The README's first command, as a new user runs it: scripts/demo.sh
installs (already done here), builds, makes two namespace hosts, and must
show the marker on the link in the plain run only, a sealed record, and
both daemons' audit trails. It must also leave nothing behind."""
import re
import subprocess

import esmpi_it as it


def netns_list():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True,
                       text=True, timeout=it.CMD_TIMEOUT, check=True)
    return {line.split()[0] for line in r.stdout.splitlines()
            if line.startswith("esmpi-demo-")}


def test_demo_script():
    r = subprocess.run([str(it.REPO / "scripts" / "demo.sh")],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=600)
    out = r.stdout
    assert r.returncode == 0, f"demo failed:\n{out}\n{r.stderr}"
    assert "demo: OK" in out
    plain = re.search(r"plain run: +(\d+) data frames, marker in (\d+)", out)
    enc = re.search(r"esmpi run: +(\d+) data frames, marker in (\d+)", out)
    assert plain and int(plain.group(2)) > 0, out
    assert enc and int(enc.group(1)) > 0 and int(enc.group(2)) == 0, out
    # Both runs computed the same thing.
    rings = re.findall(r"^ring: .*$", out, re.M)
    assert len(rings) == 2 and rings[0] == rings[1], out
    for host in ("host-a", "host-b"):
        assert re.search(rf"{host} session_open: .*aes-256-gcm", out), out
        assert f"{host} session_close: session 1 closed (finalize)" in out
    # (Other tests may run their own namespaces meanwhile: only the
    # demo's own names count.)
    assert not netns_list(), "demo left network namespaces behind"
