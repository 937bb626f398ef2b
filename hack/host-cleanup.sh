#!/usr/bin/env bash
# Removes what the tests' pods leave on the host through the CNI plugins of
# kcrd's built-in network, once nothing uses it any more: the kcr0 bridge
# (no ports left), its host-local IPAM store (no address held), and the
# portmap plugin's CNI-HOSTPORT-* nat chains (no port mapping left: only
# the plugin's fixed rules; portmap makes them again on its next ADD).
# hack/test.sh runs it last. Safe to run any time.
set -uo pipefail
if [[ -d /sys/class/net/kcr0 && -z "$(ls /sys/class/net/kcr0/brif 2>/dev/null)" ]]; then
  ip link del kcr0
fi
ipam=/var/lib/cni/networks/kcr
if [[ -d $ipam ]] && ! ls "$ipam" | grep -qvE '^(last_reserved_ip\..*|lock)$'; then
  rm -rf "$ipam"
fi
nat() { iptables -w -t nat "$@"; }
if nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1 && ! nat -S CNI-HOSTPORT-DNAT | grep -q '^-A'; then
  nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null
  nat -D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null
  nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ 2>/dev/null
  for c in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
    nat -F "$c" 2>/dev/null
    nat -X "$c" 2>/dev/null
  done
fi
true
