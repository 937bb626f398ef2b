#!/bin/bash
# A throw-away systemd "host" for the systemd cgroup driver's e2e tests, on
# machines whose PID 1 is not systemd.
#
#   systemd_host.sh start DIR   # prints systemd's PID (host view), writes DIR/pid
#   systemd_host.sh stop DIR    # kills it, removes its cgroups
#
# Debian's own /lib/systemd/systemd runs as PID 1 of new PID, mount, UTS and
# cgroup namespaces, rooted at a cgroup of its own (kcr-sd-<n>) in every
# hierarchy, with a private /sys/fs/cgroup, /proc and /run, and a unit path
# holding empty targets only, so it starts no service of this host. It is a
# real service manager: transient units, slices, delegation. Everything it
# makes lives in its namespaces or under its cgroups; stop removes both.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}

cgroup_mounts() {  # "TYPE TARGET" of the host's cgroup hierarchies
  awk '$3 == "cgroup" || $3 == "cgroup2" { print $3, $2 }' /proc/self/mounts
}

case $cmd in
start)
  name=kcr-sd-$$
  echo "$name" > "$dir/cgroup"
  mkdir -p "$dir/units"
  printf '[Unit]\nDescription=kcr systemd-driver test host\n' > "$dir/units/kcr-test.target"
  # Empty stand-ins for the targets a service's default dependencies name.
  for t in sysinit basic shutdown; do printf '[Unit]\nDescription=%s (empty)\n' "$t" > "$dir/units/$t.target"; done
  v2_root=
  while read -r type target; do
    mkdir -p "$target/$name"
    if [ "$type" = cgroup2 ] && [ "$target" = /sys/fs/cgroup ]; then
      v2_root=1
      for c in $(cat "$target/cgroup.controllers"); do echo "+$c" > "$target/cgroup.subtree_control" 2>/dev/null || true; done
    fi
    case $target in
    */cpuset)  # a new cpuset has no CPUs or memory nodes until given its parent's
      cat "$target/cpuset.cpus" > "$target/$name/cpuset.cpus"
      cat "$target/cpuset.mems" > "$target/$name/cpuset.mems" ;;
    esac
  done < <(cgroup_mounts)
  cgroup_mounts > "$dir/mounts"
  cat > "$dir/init.sh" <<EOF
set -e
if [ -n "$v2_root" ]; then
  mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
  mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
  while read -r type target; do
    mkdir -p "\$target"
    if [ "\$type" = cgroup2 ]; then mount -t cgroup2 cgroup2 "\$target"
    elif [ "\${target##*/}" = systemd ]; then mount -t cgroup -o none,name=systemd cgroup "\$target"
    else mount -t cgroup -o "\${target##*/}" cgroup "\$target"; fi
  done < "$dir/mounts"
fi
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /run
hostname kcr-systemd-host
exec env -i container=kcr-test SYSTEMD_UNIT_PATH="$dir/units" SYSTEMD_LOG_TARGET=console \
  /lib/systemd/systemd --unit=kcr-test.target --log-level=notice
EOF
  # Into the cgroups first: the cgroup namespace is rooted where unshare is.
  setsid bash -c '
    while read -r type target; do echo $$ > "$target/'"$name"'/cgroup.procs"; done < "'"$dir"'/mounts"
    exec unshare --pid --fork --mount --uts --cgroup --propagation private bash "'"$dir"'/init.sh"
  ' > "$dir/systemd.log" 2>&1 < /dev/null &
  launcher=$!
  echo "$launcher" > "$dir/launcher"
  for _ in $(seq 200); do
    pid=$(cat "/proc/$launcher/task/$launcher/children" 2>/dev/null | awk '{print $1}')
    if [ -n "$pid" ] && [ -S "/proc/$pid/root/run/systemd/private" ] &&
       nsenter -t "$pid" -m -p systemctl is-active -q kcr-test.target 2>/dev/null; then
      echo "$pid" > "$dir/pid"
      echo "$pid"
      exit 0
    fi
    sleep 0.05
  done
  echo "systemd did not come up; its log:" >&2
  cat "$dir/systemd.log" >&2
  exit 1
  ;;
stop)
  [ -f "$dir/cgroup" ] || exit 0
  name=$(cat "$dir/cgroup")
  # SIGKILL to a PID namespace's init ends every process in it.
  if [ -f "$dir/pid" ]; then kill -KILL "$(cat "$dir/pid")" 2>/dev/null || true; fi
  if [ -f "$dir/launcher" ]; then
    launcher=$(cat "$dir/launcher")
    for _ in $(seq 100); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.05; done
  fi
  while read -r type target; do
    [ -d "$target/$name" ] || continue
    for _ in $(seq 100); do
      find "$target/$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$target/$name" ] || break
      sleep 0.05
    done
    if [ -d "$target/$name" ]; then echo "cgroup $target/$name remains" >&2; exit 1; fi
  done < "$dir/mounts"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
