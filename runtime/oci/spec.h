#pragma once
// kcr's container spec: the subset of the OCI runtime-spec config.json
// (https://github.com/opencontainers/runtime-spec/blob/main/config.md) that
// kcr's internal runtime implements, with the spec's JSON field names so an
// OCI bundle's config.json loads as is.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kcr::runtime::oci {

struct User {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string username;  // kcr extension: resolved from the rootfs's /etc/passwd when set
  // kcr extensions: take gid from the user's /etc/passwd entry (no group was
  // asked for); do not add the groups /etc/group gives the user (CRI's
  // SupplementalGroupsPolicy Strict).
  bool gid_from_passwd = false, strict_groups = false;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t hard = 0, soft = 0;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct Process {
  bool terminal = false;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
  std::string apparmor_profile;  // applied at exec; empty: none
};

struct Mount {
  std::string destination, type, source;
  std::vector<std::string> options;
};

struct Namespace {
  std::string type;  // pid network mount ipc uts user cgroup
  std::string path;  // join this one instead of creating
};

// linux.resources.devices[]: the device cgroup allow-list, applied in
// order (a later rule overrides an earlier one for what it matches).
struct DeviceRule {
  bool allow = false;
  std::string type = "a";          // a (all), c, b
  std::optional<int64_t> major, minor;  // unset or -1: any
  std::string access = "rwm";
};

struct HugepageLimit {
  std::string page_size;  // "2MB", "1GB" (the cgroup file's spelling)
  uint64_t limit = 0;
};

struct Resources {
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;
  std::optional<uint64_t> cpu_period;
  std::string cpuset_cpus, cpuset_mems;
  std::optional<int64_t> memory_limit, memory_swap;
  std::optional<int64_t> pids_limit;
  std::vector<DeviceRule> devices;
  std::vector<HugepageLimit> hugepage_limits;
  std::map<std::string, std::string> unified;  // cgroup v2 files, written as given
};

// linux.devices[]: a node created in the container's /dev.
struct Device {
  std::string path;  // absolute, under /dev
  std::string type;  // c, b, u, p
  int64_t major = 0, minor = 0;
  std::optional<uint32_t> file_mode, uid, gid;
};

struct SeccompArg {
  uint32_t index = 0;
  uint64_t value = 0, value_two = 0;
  std::string op;  // SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT, _MASKED_EQ
};

struct SeccompSyscall {
  std::vector<std::string> names;
  std::string action;  // SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, ...
  std::optional<uint32_t> errno_ret;
  std::vector<SeccompArg> args;  // all must match (libseccomp ANDs them)
};

struct Seccomp {
  std::string default_action;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<SeccompSyscall> syscalls;
};

// linux.uidMappings[] / gidMappings[]: ids [container_id, container_id +
// size) of a user namespace are host ids [host_id, host_id + size).
struct IdMapping {
  uint32_t container_id = 0, host_id = 0, size = 0;
};

struct Linux {
  std::vector<Namespace> namespaces;
  // The user namespace's mappings. kcr's runtime joins a user namespace
  // (the pod's, by path) and never makes one: these describe it, for the
  // ids the runtime writes (a pty's owner) and the idmapped mounts'
  // host-side owner of container root.
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, std::string> sysctl;
  std::optional<Resources> resources;
  std::string cgroups_path;
  std::optional<Seccomp> seccomp;
  std::vector<std::string> masked_paths, readonly_paths;
  std::string rootfs_propagation;
  std::vector<Device> devices;
};

// hooks.<point>[]: a program the runtime runs at a point of the container's
// life (config.md#posix-platform-hooks), with the container's state JSON on
// its stdin. timeout: seconds, unset for none.
struct Hook {
  std::string path;
  std::vector<std::string> args, env;
  std::optional<int> timeout;
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
  bool empty() const {
    return prestart.empty() && create_runtime.empty() && create_container.empty() && start_container.empty() &&
           poststart.empty() && poststop.empty();
  }
};

struct Spec {
  std::string oci_version = "1.0.2";
  std::string root_path;
  bool root_readonly = false;
  std::string hostname;
  Process process;
  std::vector<Mount> mounts;
  Linux linux;
  Hooks hooks;
  std::map<std::string, std::string> annotations;  // passed to hooks in the state
};

// The hook lists of `h` by their config.json names, in the order the
// runtime-spec runs them.
std::vector<std::pair<const char*, std::vector<Hook>*>> HookLists(Hooks& h);

// Parses config.json. InvalidArgument naming the field on a type error.
StatusOr<Spec> ParseSpec(const std::string& json_text);
std::string SerializeSpec(const Spec& s);

// Checks what the runtime needs before any process exists: root path set,
// args non-empty, absolute mount destinations and cwd, known namespace and
// rlimit types, seccomp actions, absolute hook paths and positive timeouts. InvalidArgument naming the field.
// `bundle` resolves a relative root path.
Status ValidateSpec(const Spec& s, const std::string& bundle = "");

// The namespace a sysctl belongs to ("kernel.shm_rmid_forced" or
// "kernel/shm_rmid_forced"): "ipc", "uts" or "network"; "" for one that is
// not namespaced (it would change the host).
std::string SysctlNamespace(const std::string& key);

// The host id of container id `id` under `m` (the id itself without
// mappings); nullopt when `id` is not mapped.
std::optional<uint32_t> HostId(const std::vector<IdMapping>& m, uint32_t id);

// Whether the spec joins or makes a user namespace.
bool HasUserNamespace(const Spec& s);

// The defaults every container gets (OCI/Docker conventions): /proc, /dev
// tmpfs, /dev/pts, /dev/shm, /dev/mqueue, /sys read-only; masked and
// read-only /proc paths; the standard capability set.
std::vector<Mount> DefaultMounts();
std::vector<std::string> DefaultMaskedPaths();
std::vector<std::string> DefaultReadonlyPaths();
std::vector<std::string> DefaultCapabilities();

}  // namespace kcr::runtime::oci
