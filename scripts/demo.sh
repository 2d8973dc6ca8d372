#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The esmpi demo: install what is needed, build, then make two "hosts"
# (Linux network namespaces joined by a veth link), enroll each under one
# fresh cluster CA, start an esmpid on each, and run the same MPI job
# across the two hosts twice, plain and under esmpi, with a packet capture
# on the link. Shows what the wire carried and what the daemons audited.
# Run as root. Everything made here (namespaces, keys, captures) is
# removed at the end; keys live in a private (0700) temporary directory.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh

demo=$(mktemp -d /tmp/esmpi-demo.XXXXXX)	# mode 0700: private
b=$PWD/build
ctl() { "$b/cli/esmpictl" "$@"; }
ns_a=esmpi-demo-$$-a ns_b=esmpi-demo-$$-b
veth_a=ed$$a veth_b=ed$$b
ip_a=198.18.0.1 ip_b=198.18.0.2	# benchmarking range (RFC 2544)
capture=""
cleanup() {
	set +e
	for ns in "$ns_a" "$ns_b"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill $pids 2>/dev/null
	done
	sleep 0.5
	for ns in "$ns_a" "$ns_b"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$demo"
}
trap cleanup EXIT INT TERM

echo
echo "== two hosts: network namespaces $ns_a ($ip_a) and $ns_b ($ip_b)"
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$veth_a" type veth peer name "$veth_b"
ip link set "$veth_a" netns "$ns_a"
ip link set "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add "$ip_a/24" dev "$veth_a"
ip -n "$ns_b" addr add "$ip_b/24" dev "$veth_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up

echo
echo "== one cluster CA; each host enrolled with its own node key"
ctl ca init --dir "$demo/ca" >/dev/null
for h in a b; do
	ctl node enroll --ca "$demo/ca" --name "host-$h" --out "$demo/$h" >/dev/null
done
ls -l "$demo/a"

echo
echo "== esmpid on each host (embedded default policy)"
for h in a b; do
	eval ns=\$ns_$h
	ip netns exec "$ns" "$b/daemon/esmpid" --state-dir "$demo/$h" \
		--socket "$demo/$h.sock" --admin-socket "$demo/$h-admin.sock" \
		--foreground --log-stderr 2>"$demo/esmpid-$h.log" &
done
for _ in $(seq 50); do
	[ -S "$demo/a-admin.sock" ] && [ -S "$demo/b-admin.sock" ] && break
	sleep 0.1
done
ctl --admin-socket "$demo/a-admin.sock" status
echo
echo "policy in force:"
ctl --admin-socket "$demo/a-admin.sock" policy show | sed 's/^/  /'

# Open MPI's rsh launcher reaches host B through this agent, which enters
# B's namespace with B's daemon socket; mpirun itself runs on host A.
cat >"$demo/agent" <<EOF
#!/bin/sh
case \$1 in
$ip_a) ns=$ns_a; export ESMPI_SOCKET=$demo/a.sock ;;
$ip_b) ns=$ns_b; export ESMPI_SOCKET=$demo/b.sock ;;
*) echo "agent: unknown host \$1" >&2; exit 1 ;;
esac
shift
exec ip netns exec "\$ns" sh -c "\$*"
EOF
chmod 755 "$demo/agent"

run() {	# name, then extra mpirun arguments
	name=$1
	shift
	ip netns exec "$ns_b" tshark -i "$veth_b" -f tcp -w "$demo/$name.pcap" \
		-q 2>"$demo/tshark-$name.log" &
	capture=$!
	for _ in $(seq 100); do
		grep -q "Capturing on" "$demo/tshark-$name.log" 2>/dev/null && break
		sleep 0.1
	done
	ESMPI_SOCKET="$demo/a.sock" ip netns exec "$ns_a" mpirun \
		--allow-run-as-root --mca plm_rsh_agent "$demo/agent" \
		--host "$ip_a,$ip_b" -np 2 --bind-to none \
		--mca btl tcp,self --mca btl_tcp_if_include 198.18.0.0/24 \
		--mca oob_tcp_if_include 198.18.0.0/24 "$@" "$b/examples/ring"
	sleep 1
	kill -INT "$capture"
	wait "$capture" 2>/dev/null || true
}

echo
echo "== 1. plain Open MPI: rank 0 on host A, rank 1 on host B pass"
echo "      'ESMPI-SECRET-MARKER' around a ring"
run plain
echo
echo "== 2. the same binary under esmpi (what esmpirun adds: libesmpi preloaded)"
run encrypted -x "LD_PRELOAD=$b/libclient/libesmpi.so"

echo
echo "== what a sniffer on the link between the hosts saw"
count() { tshark -r "$demo/$1.pcap" -Y 'frame contains "ESMPI-SECRET-MARKER"' \
	2>/dev/null | wc -l; }
frames() { tshark -r "$demo/$1.pcap" -Y 'tcp.len > 0' 2>/dev/null | wc -l; }
plain=$(count plain)
enc=$(count encrypted)
echo "plain run:     $(frames plain) data frames, marker in $plain of them, e.g.:"
tshark -r "$demo/plain.pcap" -Y 'frame contains "ESMPI-SECRET-MARKER"' -x \
	2>/dev/null | grep -a -m 3 "ESMP\|SECR\|MARK" | sed 's/^/    /' || true
echo "esmpi run:     $(frames encrypted) data frames, marker in $enc of them;"
# The ring message's frame in the encrypted run is 40 bytes longer: the
# record's header and tag around the ciphertext.
len=$(tshark -r "$demo/plain.pcap" -Y 'frame contains "ESMPI-SECRET-MARKER"' \
	-T fields -e tcp.len 2>/dev/null | head -1)
echo "               the same message ($len bytes of TCP payload plain, $((len + 40))"
echo "               under esmpi) is a sealed record, e.g.:"
tshark -r "$demo/encrypted.pcap" -Y "tcp.len == $((len + 40))" -x 2>/dev/null |
	sed -n '6,9p' | sed 's/^/    /' || true
echo
echo "== audit trail (each host's esmpid; journald gets the same fields when it runs)"
for h in a b; do
	grep -a "ESMPI_EVENT=" "$demo/esmpid-$h.log" |
		sed -n "s/^esmpid: audit ESMPI_EVENT=\([a-z_]*\) .*MESSAGE=\"\(.*\)\"$/  host-$h \1: \2/p"
done

if [ "$plain" -gt 0 ] && [ "$enc" -eq 0 ]; then
	echo
	echo "demo: OK: the plaintext marker crossed the link between the hosts"
	echo "      without esmpi, and never with it"
else
	echo "demo: FAILED: expected the marker in the plain capture only" >&2
	exit 1
fi
