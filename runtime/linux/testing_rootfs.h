#pragma once
// Test helpers: a busybox root filesystem built from Debian's
// busybox-static, and a container spec over it with kcr's defaults.
#include <string>
#include <vector>

#include "runtime/oci/spec.h"

namespace kcr::runtime::testing {

// Creates a rootfs under a new temp dir and returns its path. Remove it
// with fs::RemoveAll when done.
std::string MakeBusyboxRootfs();

// Adds a setuid-root copy of busybox to `rootfs` and an /etc/busybox.conf
// that lets its `id` keep the effective uid; returns the command printing
// the effective uid it runs with (0 unless no_new_privs stopped setuid).
// The config makes the plain busybox's `id` fail for non-root users, so
// give this a rootfs of its own.
std::vector<std::string> AddSetuidEuidProgram(const std::string& rootfs);

oci::Spec BusyboxSpec(const std::string& rootfs, std::vector<std::string> args);

// Where cgroup `rel` (relative to the hierarchy root) accounts memory: the
// v1 memory hierarchy, or the unified one on a cgroup v2 host.
std::string MemoryCgroupDir(const std::string& rel);

// How /proc/self/cgroup ends the line of a process at the root of its
// cgroup namespace: ":memory:/\n" (v1, hybrid) or "0::/\n" (v2).
std::string CgroupNsRootLine();

}  // namespace kcr::runtime::testing
