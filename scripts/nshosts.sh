# SPDX-License-Identifier: Apache-2.0
# Two "hosts" for the demo and the benchmark, sourced (not run): Linux
# network namespaces joined by a veth link (198.18.0.0/24, RFC 2544's
# benchmarking range), each enrolled under one fresh cluster CA and
# running its own esmpid, and an rsh agent through which Open MPI's
# launcher enters host B's namespace.
#
#   nshosts_up DIR BUILD [POLICY]   DIR: a private (0700) directory for
#                                   keys, sockets and logs; POLICY: a
#                                   policy file (default: embedded)
#   nshosts_mpirun ARGS...          mpirun on host A, one rank per host
#   nshosts_down                    kill what runs in them, delete them
#
# Sets ns_a ns_b veth_a veth_b ip_a ip_b. Needs root.
ns_a=esmpi-$$-a ns_b=esmpi-$$-b
veth_a=ev$$a veth_b=ev$$b
ip_a=198.18.0.1 ip_b=198.18.0.2
nshosts_dir=""

nshosts_up() {
	nshosts_dir=$1
	_b=$2
	_policy=""
	[ $# -ge 3 ] && _policy="--policy $3"
	ip netns add "$ns_a"
	ip netns add "$ns_b"
	ip link add "$veth_a" type veth peer name "$veth_b"
	ip link set "$veth_a" netns "$ns_a"
	ip link set "$veth_b" netns "$ns_b"
	ip -n "$ns_a" addr add "$ip_a/24" dev "$veth_a"
	ip -n "$ns_b" addr add "$ip_b/24" dev "$veth_b"
	for _ns in "$ns_a" "$ns_b"; do ip -n "$_ns" link set lo up; done
	ip -n "$ns_a" link set "$veth_a" up
	ip -n "$ns_b" link set "$veth_b" up
	"$_b/cli/esmpictl" ca init --dir "$nshosts_dir/ca" >/dev/null
	for _h in a b; do
		"$_b/cli/esmpictl" node enroll --ca "$nshosts_dir/ca" \
			--name "host-$_h" --out "$nshosts_dir/$_h" >/dev/null
		eval _ns=\$ns_$_h
		# shellcheck disable=SC2086 # _policy: empty or two words
		ip netns exec "$_ns" "$_b/daemon/esmpid" \
			--state-dir "$nshosts_dir/$_h" \
			--socket "$nshosts_dir/$_h.sock" \
			--admin-socket "$nshosts_dir/$_h-admin.sock" $_policy \
			--foreground --log-stderr 2>"$nshosts_dir/esmpid-$_h.log" &
	done
	for _ in $(seq 50); do
		[ -S "$nshosts_dir/a-admin.sock" ] &&
			[ -S "$nshosts_dir/b-admin.sock" ] && break
		sleep 0.1
	done
	if ! [ -S "$nshosts_dir/a-admin.sock" ] ||
	    ! [ -S "$nshosts_dir/b-admin.sock" ]; then
		echo "nshosts: esmpid did not start (logs: $nshosts_dir)" >&2
		return 1
	fi
	# mpirun runs on host A and reaches host B through this agent, which
	# enters B's namespace with B's daemon socket.
	cat >"$nshosts_dir/agent" <<EOF
#!/bin/sh
case \$1 in
$ip_a) ns=$ns_a; export ESMPI_SOCKET=$nshosts_dir/a.sock ;;
$ip_b) ns=$ns_b; export ESMPI_SOCKET=$nshosts_dir/b.sock ;;
*) echo "agent: unknown host \$1" >&2; exit 1 ;;
esac
shift
exec ip netns exec "\$ns" sh -c "\$*"
EOF
	chmod 755 "$nshosts_dir/agent"
}

nshosts_mpirun() {
	ESMPI_SOCKET="$nshosts_dir/a.sock" ip netns exec "$ns_a" mpirun \
		--allow-run-as-root --mca plm_rsh_agent "$nshosts_dir/agent" \
		--host "$ip_a,$ip_b" -np 2 --bind-to none \
		--mca btl tcp,self --mca btl_tcp_if_include 198.18.0.0/24 \
		--mca oob_tcp_if_include 198.18.0.0/24 "$@"
}

nshosts_down() {
	# shellcheck disable=SC2086 # _pids: one or more pids
	for _ns in "$ns_a" "$ns_b"; do
		_pids=$(ip netns pids "$_ns" 2>/dev/null)
		[ -n "$_pids" ] && kill $_pids 2>/dev/null
	done
	sleep 0.5
	# shellcheck disable=SC2086
	for _ns in "$ns_a" "$ns_b"; do
		_pids=$(ip netns pids "$_ns" 2>/dev/null)
		[ -n "$_pids" ] && kill -9 $_pids 2>/dev/null
		ip netns del "$_ns" 2>/dev/null
	done
	return 0
}
