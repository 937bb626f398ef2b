#include "runtime/oci/spec.h"

#include <sys/resource.h>

#include <nlohmann/json.hpp>
#include <set>

namespace kcr::runtime::oci {

using nlohmann::json;

std::vector<std::string> DefaultCapabilities() {
  // The default set of containerd, CRI-O and Docker.
  return {"CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER", "CAP_MKNOD",
          "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",           "CAP_SETFCAP", "CAP_SETPCAP",
          "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",     "CAP_AUDIT_WRITE"};
}

std::vector<Mount> DefaultMounts() {
  return {
      {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
      {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
      {"/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
      {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
      {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
      {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
  };
}

std::vector<std::string> DefaultMaskedPaths() {
  return {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"};
}

std::vector<std::string> DefaultReadonlyPaths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

namespace {

// Field access that turns nlohmann's exceptions into a status naming the field.
template <typename T>
Status Read(const json& j, const char* key, const std::string& path, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    return absl::InvalidArgumentError("config.json: " + path + key + " has the wrong type");
  }
  return absl::OkStatus();
}

template <typename T>
Status ReadOpt(const json& j, const char* key, const std::string& path, std::optional<T>* out) {
  if (!j.contains(key) || j[key].is_null()) return absl::OkStatus();
  T v{};
  KCR_RETURN_IF_ERROR(Read(j, key, path, &v));
  *out = v;
  return absl::OkStatus();
}

}  // namespace

std::vector<std::pair<const char*, std::vector<Hook>*>> HookLists(Hooks& h) {
  return {{"prestart", &h.prestart},           {"createRuntime", &h.create_runtime},
          {"createContainer", &h.create_container}, {"startContainer", &h.start_container},
          {"poststart", &h.poststart},         {"poststop", &h.poststop}};
}

StatusOr<Spec> ParseSpec(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("config.json: not a JSON object");
  Spec s;
  KCR_RETURN_IF_ERROR(Read(j, "ociVersion", "", &s.oci_version));
  KCR_RETURN_IF_ERROR(Read(j, "hostname", "", &s.hostname));
  if (j.contains("root") && j["root"].is_object()) {
    KCR_RETURN_IF_ERROR(Read(j["root"], "path", "root.", &s.root_path));
    KCR_RETURN_IF_ERROR(Read(j["root"], "readonly", "root.", &s.root_readonly));
  }
  if (j.contains("process") && j["process"].is_object()) {
    const json& p = j["process"];
    Process& pr = s.process;
    KCR_RETURN_IF_ERROR(Read(p, "terminal", "process.", &pr.terminal));
    KCR_RETURN_IF_ERROR(Read(p, "args", "process.", &pr.args));
    KCR_RETURN_IF_ERROR(Read(p, "env", "process.", &pr.env));
    KCR_RETURN_IF_ERROR(Read(p, "cwd", "process.", &pr.cwd));
    KCR_RETURN_IF_ERROR(Read(p, "noNewPrivileges", "process.", &pr.no_new_privileges));
    KCR_RETURN_IF_ERROR(ReadOpt(p, "oomScoreAdj", "process.", &pr.oom_score_adj));
    KCR_RETURN_IF_ERROR(Read(p, "apparmorProfile", "process.", &pr.apparmor_profile));
    if (p.contains("user") && p["user"].is_object()) {
      KCR_RETURN_IF_ERROR(Read(p["user"], "uid", "process.user.", &pr.user.uid));
      KCR_RETURN_IF_ERROR(Read(p["user"], "gid", "process.user.", &pr.user.gid));
      KCR_RETURN_IF_ERROR(Read(p["user"], "additionalGids", "process.user.", &pr.user.additional_gids));
      KCR_RETURN_IF_ERROR(Read(p["user"], "username", "process.user.", &pr.user.username));
      KCR_RETURN_IF_ERROR(Read(p["user"], "kcrGidFromPasswd", "process.user.", &pr.user.gid_from_passwd));
      KCR_RETURN_IF_ERROR(Read(p["user"], "kcrStrictGroups", "process.user.", &pr.user.strict_groups));
    }
    if (p.contains("capabilities") && p["capabilities"].is_object()) {
      const json& c = p["capabilities"];
      Capabilities caps;
      KCR_RETURN_IF_ERROR(Read(c, "bounding", "process.capabilities.", &caps.bounding));
      KCR_RETURN_IF_ERROR(Read(c, "effective", "process.capabilities.", &caps.effective));
      KCR_RETURN_IF_ERROR(Read(c, "inheritable", "process.capabilities.", &caps.inheritable));
      KCR_RETURN_IF_ERROR(Read(c, "permitted", "process.capabilities.", &caps.permitted));
      KCR_RETURN_IF_ERROR(Read(c, "ambient", "process.capabilities.", &caps.ambient));
      pr.capabilities = caps;
    }
    if (p.contains("rlimits") && p["rlimits"].is_array())
      for (const auto& r : p["rlimits"]) {
        Rlimit rl;
        KCR_RETURN_IF_ERROR(Read(r, "type", "process.rlimits[].", &rl.type));
        KCR_RETURN_IF_ERROR(Read(r, "hard", "process.rlimits[].", &rl.hard));
        KCR_RETURN_IF_ERROR(Read(r, "soft", "process.rlimits[].", &rl.soft));
        pr.rlimits.push_back(rl);
      }
  }
  if (j.contains("mounts") && j["mounts"].is_array())
    for (const auto& m : j["mounts"]) {
      Mount mt;
      KCR_RETURN_IF_ERROR(Read(m, "destination", "mounts[].", &mt.destination));
      KCR_RETURN_IF_ERROR(Read(m, "type", "mounts[].", &mt.type));
      KCR_RETURN_IF_ERROR(Read(m, "source", "mounts[].", &mt.source));
      KCR_RETURN_IF_ERROR(Read(m, "options", "mounts[].", &mt.options));
      s.mounts.push_back(mt);
    }
  if (j.contains("linux") && j["linux"].is_object()) {
    const json& l = j["linux"];
    if (l.contains("namespaces") && l["namespaces"].is_array())
      for (const auto& n : l["namespaces"]) {
        Namespace ns;
        KCR_RETURN_IF_ERROR(Read(n, "type", "linux.namespaces[].", &ns.type));
        KCR_RETURN_IF_ERROR(Read(n, "path", "linux.namespaces[].", &ns.path));
        s.linux.namespaces.push_back(ns);
      }
    for (auto [key, out] : {std::pair{"uidMappings", &s.linux.uid_mappings}, std::pair{"gidMappings", &s.linux.gid_mappings}})
      if (l.contains(key) && l[key].is_array())
        for (const auto& m : l[key]) {
          IdMapping im;
          std::string at = std::string("linux.") + key + "[].";
          KCR_RETURN_IF_ERROR(Read(m, "containerID", at, &im.container_id));
          KCR_RETURN_IF_ERROR(Read(m, "hostID", at, &im.host_id));
          KCR_RETURN_IF_ERROR(Read(m, "size", at, &im.size));
          out->push_back(im);
        }
    KCR_RETURN_IF_ERROR(Read(l, "sysctl", "linux.", &s.linux.sysctl));
    KCR_RETURN_IF_ERROR(Read(l, "cgroupsPath", "linux.", &s.linux.cgroups_path));
    KCR_RETURN_IF_ERROR(Read(l, "maskedPaths", "linux.", &s.linux.masked_paths));
    KCR_RETURN_IF_ERROR(Read(l, "readonlyPaths", "linux.", &s.linux.readonly_paths));
    KCR_RETURN_IF_ERROR(Read(l, "rootfsPropagation", "linux.", &s.linux.rootfs_propagation));
    if (l.contains("devices") && l["devices"].is_array())
      for (const auto& d : l["devices"]) {
        Device dev;
        KCR_RETURN_IF_ERROR(Read(d, "path", "linux.devices[].", &dev.path));
        KCR_RETURN_IF_ERROR(Read(d, "type", "linux.devices[].", &dev.type));
        KCR_RETURN_IF_ERROR(Read(d, "major", "linux.devices[].", &dev.major));
        KCR_RETURN_IF_ERROR(Read(d, "minor", "linux.devices[].", &dev.minor));
        KCR_RETURN_IF_ERROR(ReadOpt(d, "fileMode", "linux.devices[].", &dev.file_mode));
        KCR_RETURN_IF_ERROR(ReadOpt(d, "uid", "linux.devices[].", &dev.uid));
        KCR_RETURN_IF_ERROR(ReadOpt(d, "gid", "linux.devices[].", &dev.gid));
        s.linux.devices.push_back(dev);
      }
    if (l.contains("resources") && l["resources"].is_object()) {
      const json& r = l["resources"];
      Resources res;
      if (r.contains("cpu") && r["cpu"].is_object()) {
        KCR_RETURN_IF_ERROR(ReadOpt(r["cpu"], "shares", "linux.resources.cpu.", &res.cpu_shares));
        KCR_RETURN_IF_ERROR(ReadOpt(r["cpu"], "quota", "linux.resources.cpu.", &res.cpu_quota));
        KCR_RETURN_IF_ERROR(ReadOpt(r["cpu"], "period", "linux.resources.cpu.", &res.cpu_period));
        KCR_RETURN_IF_ERROR(Read(r["cpu"], "cpus", "linux.resources.cpu.", &res.cpuset_cpus));
        KCR_RETURN_IF_ERROR(Read(r["cpu"], "mems", "linux.resources.cpu.", &res.cpuset_mems));
      }
      if (r.contains("memory") && r["memory"].is_object()) {
        KCR_RETURN_IF_ERROR(ReadOpt(r["memory"], "limit", "linux.resources.memory.", &res.memory_limit));
        KCR_RETURN_IF_ERROR(ReadOpt(r["memory"], "swap", "linux.resources.memory.", &res.memory_swap));
      }
      if (r.contains("pids") && r["pids"].is_object())
        KCR_RETURN_IF_ERROR(ReadOpt(r["pids"], "limit", "linux.resources.pids.", &res.pids_limit));
      if (r.contains("devices") && r["devices"].is_array())
        for (const auto& d : r["devices"]) {
          DeviceRule dr;
          KCR_RETURN_IF_ERROR(Read(d, "allow", "linux.resources.devices[].", &dr.allow));
          KCR_RETURN_IF_ERROR(Read(d, "type", "linux.resources.devices[].", &dr.type));
          KCR_RETURN_IF_ERROR(ReadOpt(d, "major", "linux.resources.devices[].", &dr.major));
          KCR_RETURN_IF_ERROR(ReadOpt(d, "minor", "linux.resources.devices[].", &dr.minor));
          KCR_RETURN_IF_ERROR(Read(d, "access", "linux.resources.devices[].", &dr.access));
          res.devices.push_back(dr);
        }
      if (r.contains("hugepageLimits") && r["hugepageLimits"].is_array())
        for (const auto& h : r["hugepageLimits"]) {
          HugepageLimit hl;
          KCR_RETURN_IF_ERROR(Read(h, "pageSize", "linux.resources.hugepageLimits[].", &hl.page_size));
          KCR_RETURN_IF_ERROR(Read(h, "limit", "linux.resources.hugepageLimits[].", &hl.limit));
          res.hugepage_limits.push_back(hl);
        }
      KCR_RETURN_IF_ERROR(Read(r, "unified", "linux.resources.", &res.unified));
      s.linux.resources = res;
    }
    if (l.contains("seccomp") && l["seccomp"].is_object()) {
      const json& sc = l["seccomp"];
      Seccomp seccomp;
      KCR_RETURN_IF_ERROR(Read(sc, "defaultAction", "linux.seccomp.", &seccomp.default_action));
      KCR_RETURN_IF_ERROR(ReadOpt(sc, "defaultErrnoRet", "linux.seccomp.", &seccomp.default_errno_ret));
      KCR_RETURN_IF_ERROR(Read(sc, "architectures", "linux.seccomp.", &seccomp.architectures));
      if (sc.contains("syscalls") && sc["syscalls"].is_array())
        for (const auto& c : sc["syscalls"]) {
          SeccompSyscall sys;
          KCR_RETURN_IF_ERROR(Read(c, "names", "linux.seccomp.syscalls[].", &sys.names));
          KCR_RETURN_IF_ERROR(Read(c, "action", "linux.seccomp.syscalls[].", &sys.action));
          KCR_RETURN_IF_ERROR(ReadOpt(c, "errnoRet", "linux.seccomp.syscalls[].", &sys.errno_ret));
          if (c.contains("args") && c["args"].is_array())
            for (const auto& a : c["args"]) {
              SeccompArg arg;
              KCR_RETURN_IF_ERROR(Read(a, "index", "linux.seccomp.syscalls[].args[].", &arg.index));
              KCR_RETURN_IF_ERROR(Read(a, "value", "linux.seccomp.syscalls[].args[].", &arg.value));
              KCR_RETURN_IF_ERROR(Read(a, "valueTwo", "linux.seccomp.syscalls[].args[].", &arg.value_two));
              KCR_RETURN_IF_ERROR(Read(a, "op", "linux.seccomp.syscalls[].args[].", &arg.op));
              sys.args.push_back(arg);
            }
          seccomp.syscalls.push_back(sys);
        }
      s.linux.seccomp = seccomp;
    }
  }
  KCR_RETURN_IF_ERROR(Read(j, "annotations", "", &s.annotations));
  if (j.contains("hooks") && j["hooks"].is_object()) {
    for (auto [key, list] : HookLists(s.hooks)) {
      if (!j["hooks"].contains(key) || !j["hooks"][key].is_array()) continue;
      std::string path = std::string("hooks.") + key + "[].";
      for (const auto& h : j["hooks"][key]) {
        Hook hook;
        KCR_RETURN_IF_ERROR(Read(h, "path", path, &hook.path));
        KCR_RETURN_IF_ERROR(Read(h, "args", path, &hook.args));
        KCR_RETURN_IF_ERROR(Read(h, "env", path, &hook.env));
        KCR_RETURN_IF_ERROR(ReadOpt(h, "timeout", path, &hook.timeout));
        list->push_back(hook);
      }
    }
  }
  return s;
}

std::string SerializeSpec(const Spec& s) {
  json j;
  j["ociVersion"] = s.oci_version;
  j["root"] = {{"path", s.root_path}, {"readonly", s.root_readonly}};
  if (!s.hostname.empty()) j["hostname"] = s.hostname;
  const Process& p = s.process;
  j["process"] = {{"terminal", p.terminal}, {"args", p.args}, {"env", p.env}, {"cwd", p.cwd},
                  {"noNewPrivileges", p.no_new_privileges},
                  {"user", {{"uid", p.user.uid}, {"gid", p.user.gid}, {"additionalGids", p.user.additional_gids}}}};
  if (!p.user.username.empty()) j["process"]["user"]["username"] = p.user.username;
  if (p.user.gid_from_passwd) j["process"]["user"]["kcrGidFromPasswd"] = true;
  if (p.user.strict_groups) j["process"]["user"]["kcrStrictGroups"] = true;
  if (p.oom_score_adj) j["process"]["oomScoreAdj"] = *p.oom_score_adj;
  if (!p.apparmor_profile.empty()) j["process"]["apparmorProfile"] = p.apparmor_profile;
  if (p.capabilities)
    j["process"]["capabilities"] = {{"bounding", p.capabilities->bounding}, {"effective", p.capabilities->effective},
                                    {"inheritable", p.capabilities->inheritable},
                                    {"permitted", p.capabilities->permitted}, {"ambient", p.capabilities->ambient}};
  for (const auto& r : p.rlimits) j["process"]["rlimits"].push_back({{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}});
  j["mounts"] = json::array();
  for (const auto& m : s.mounts)
    j["mounts"].push_back({{"destination", m.destination}, {"type", m.type}, {"source", m.source}, {"options", m.options}});
  json l;
  l["namespaces"] = json::array();
  for (const auto& n : s.linux.namespaces) {
    json e = {{"type", n.type}};
    if (!n.path.empty()) e["path"] = n.path;
    l["namespaces"].push_back(e);
  }
  for (auto [key, in] : {std::pair{"uidMappings", &s.linux.uid_mappings}, std::pair{"gidMappings", &s.linux.gid_mappings}})
    for (const auto& m : *in) l[key].push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
  if (!s.linux.sysctl.empty()) l["sysctl"] = s.linux.sysctl;
  if (!s.linux.cgroups_path.empty()) l["cgroupsPath"] = s.linux.cgroups_path;
  l["maskedPaths"] = s.linux.masked_paths;
  l["readonlyPaths"] = s.linux.readonly_paths;
  if (!s.linux.rootfs_propagation.empty()) l["rootfsPropagation"] = s.linux.rootfs_propagation;
  if (const auto& r = s.linux.resources) {
    json res;
    if (r->cpu_shares) res["cpu"]["shares"] = *r->cpu_shares;
    if (r->cpu_quota) res["cpu"]["quota"] = *r->cpu_quota;
    if (r->cpu_period) res["cpu"]["period"] = *r->cpu_period;
    if (!r->cpuset_cpus.empty()) res["cpu"]["cpus"] = r->cpuset_cpus;
    if (!r->cpuset_mems.empty()) res["cpu"]["mems"] = r->cpuset_mems;
    if (r->memory_limit) res["memory"]["limit"] = *r->memory_limit;
    if (r->memory_swap) res["memory"]["swap"] = *r->memory_swap;
    if (r->pids_limit) res["pids"]["limit"] = *r->pids_limit;
    for (const auto& d : r->devices) {
      json e = {{"allow", d.allow}, {"type", d.type}, {"access", d.access}};
      if (d.major) e["major"] = *d.major;
      if (d.minor) e["minor"] = *d.minor;
      res["devices"].push_back(e);
    }
    for (const auto& h : r->hugepage_limits) res["hugepageLimits"].push_back({{"pageSize", h.page_size}, {"limit", h.limit}});
    if (!r->unified.empty()) res["unified"] = r->unified;
    l["resources"] = res;
  }
  if (const auto& sc = s.linux.seccomp) {
    json js = {{"defaultAction", sc->default_action}, {"architectures", sc->architectures}};
    if (sc->default_errno_ret) js["defaultErrnoRet"] = *sc->default_errno_ret;
    for (const auto& c : sc->syscalls) {
      json e = {{"names", c.names}, {"action", c.action}};
      if (c.errno_ret) e["errnoRet"] = *c.errno_ret;
      for (const auto& a : c.args)
        e["args"].push_back({{"index", a.index}, {"value", a.value}, {"valueTwo", a.value_two}, {"op", a.op}});
      js["syscalls"].push_back(e);
    }
    l["seccomp"] = js;
  }
  for (const auto& d : s.linux.devices) {
    json e = {{"path", d.path}, {"type", d.type}, {"major", d.major}, {"minor", d.minor}};
    if (d.file_mode) e["fileMode"] = *d.file_mode;
    if (d.uid) e["uid"] = *d.uid;
    if (d.gid) e["gid"] = *d.gid;
    l["devices"].push_back(e);
  }
  j["linux"] = l;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  Hooks hooks = s.hooks;
  for (auto [key, list] : HookLists(hooks))
    for (const auto& h : *list) {
      json e = {{"path", h.path}};
      if (!h.args.empty()) e["args"] = h.args;
      if (!h.env.empty()) e["env"] = h.env;
      if (h.timeout) e["timeout"] = *h.timeout;
      j["hooks"][key].push_back(e);
    }
  return j.dump(2);
}

namespace {
const std::set<std::string> kNamespaces = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup"};
const std::set<std::string> kRlimits = {
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS",
    "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"};
const std::set<std::string> kActions = {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                        "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",
                                        "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"};
const std::set<std::string> kCmpOps = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                        "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError("config.json: " + field + " " + why);
}
}  // namespace

std::optional<uint32_t> HostId(const std::vector<IdMapping>& m, uint32_t id) {
  if (m.empty()) return id;
  for (const auto& e : m)
    if (id >= e.container_id && id - e.container_id < e.size) return e.host_id + (id - e.container_id);
  return std::nullopt;
}

bool HasUserNamespace(const Spec& s) {
  for (const auto& n : s.linux.namespaces)
    if (n.type == "user") return true;
  return false;
}

std::string SysctlNamespace(const std::string& raw) {
  std::string key = raw;
  for (char& c : key)
    if (c == '/') c = '.';
  if (key == "kernel.sem" || key.starts_with("kernel.shm") || key.starts_with("kernel.msg") ||
      key.starts_with("fs.mqueue."))
    return "ipc";
  if (key == "kernel.hostname" || key == "kernel.domainname") return "uts";
  if (key.starts_with("net.")) return "network";
  return "";
}

Status ValidateSpec(const Spec& s, const std::string& bundle) {
  if (s.root_path.empty()) return Bad("root.path", "is empty");
  if (s.process.args.empty()) return Bad("process.args", "is empty");
  if (s.process.cwd.empty() || s.process.cwd[0] != '/')
    return Bad("process.cwd", "\"" + s.process.cwd + "\" is not an absolute path");
  for (const auto& m : s.mounts) {
    if (m.destination.empty() || m.destination[0] != '/')
      return Bad("mounts[].destination", "\"" + m.destination + "\" is not an absolute path");
    if (m.destination.find("/../") != std::string::npos || m.destination.ends_with("/.."))
      return Bad("mounts[].destination", "\"" + m.destination + "\" contains \"..\"");
  }
  std::set<std::string> seen;
  for (const auto& n : s.linux.namespaces) {
    if (!kNamespaces.count(n.type)) return Bad("linux.namespaces[].type", "\"" + n.type + "\" is unknown");
    if (!seen.insert(n.type).second) return Bad("linux.namespaces", "lists \"" + n.type + "\" twice");
    // kcr's runtime joins a user namespace (the pod's) and never makes one.
    if (n.type == "user" && n.path.empty())
      return Bad("linux.namespaces", "a new user namespace is not supported: name the one to join by path");
    if (n.type == "user" && (s.linux.uid_mappings.empty() || s.linux.gid_mappings.empty()))
      return Bad("linux.uidMappings", "a user namespace needs its uid and gid mappings");
  }
  for (const auto& r : s.process.rlimits) {
    if (!kRlimits.count(r.type)) return Bad("process.rlimits[].type", "\"" + r.type + "\" is unknown");
    if (r.soft > r.hard) return Bad("process.rlimits[" + r.type + "]", "soft limit above hard limit");
  }
  // Only namespaced sysctls, and only in a namespace of the container's
  // own (a listed one: new, or the pod's): anything else is the host's.
  for (const auto& [k, v] : s.linux.sysctl) {
    std::string ns = SysctlNamespace(k);
    if (ns.empty()) return Bad("linux.sysctl", "\"" + k + "\" is not namespaced: it would change the host");
    if (!seen.count(ns)) return Bad("linux.sysctl", "\"" + k + "\" needs the container's own " + ns + " namespace");
    if (k.find("..") != std::string::npos || v.find('\n') != std::string::npos)
      return Bad("linux.sysctl", "\"" + k + "\" is malformed");
  }
  for (const auto& env : s.process.env)
    if (env.find('=') == std::string::npos || env[0] == '=')
      return Bad("process.env", "entry \"" + env + "\" is not KEY=VALUE");
  if (const auto& sc = s.linux.seccomp) {
    if (!kActions.count(sc->default_action))
      return Bad("linux.seccomp.defaultAction", "\"" + sc->default_action + "\" is unknown");
    for (const auto& c : sc->syscalls) {
      if (!kActions.count(c.action)) return Bad("linux.seccomp.syscalls[].action", "\"" + c.action + "\" is unknown");
      if (c.names.empty()) return Bad("linux.seccomp.syscalls[].names", "is empty");
      for (const auto& a : c.args) {
        if (!kCmpOps.count(a.op)) return Bad("linux.seccomp.syscalls[].args[].op", "\"" + a.op + "\" is unknown");
        if (a.index > 5) return Bad("linux.seccomp.syscalls[].args[].index", "must be 0..5");
      }
    }
  }
  if (const auto& r = s.linux.resources) {
    if (r->memory_limit && *r->memory_limit < 0 && *r->memory_limit != -1)
      return Bad("linux.resources.memory.limit", "is negative");
    if (r->cpu_period && (*r->cpu_period < 1000 || *r->cpu_period > 1000000))
      return Bad("linux.resources.cpu.period", "must be 1000..1000000 microseconds");
    for (const auto& d : r->devices) {
      if (d.type != "a" && d.type != "c" && d.type != "b")
        return Bad("linux.resources.devices[].type", "\"" + d.type + "\" is not a, c or b");
      if (d.access.empty() || d.access.find_first_not_of("rwm") != std::string::npos)
        return Bad("linux.resources.devices[].access", "\"" + d.access + "\" is not a combination of r, w, m");
    }
    for (const auto& h : r->hugepage_limits)
      if (h.page_size.empty() || h.page_size.find_first_of("/.") != std::string::npos)
        return Bad("linux.resources.hugepageLimits[].pageSize", "\"" + h.page_size + "\" is not a page size");
    for (const auto& [k, v] : r->unified)
      if (k.empty() || k.find('/') != std::string::npos || k.find("..") != std::string::npos)
        return Bad("linux.resources.unified", "key \"" + k + "\" is not a cgroup file name");
  }
  for (const auto& d : s.linux.devices) {
    if (d.path.size() < 2 || d.path[0] != '/' || d.path.find("/../") != std::string::npos || d.path.ends_with("/.."))
      return Bad("linux.devices[].path", "\"" + d.path + "\" is not an absolute path without \"..\"");
    if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
      return Bad("linux.devices[].type", "\"" + d.type + "\" is not c, b, u or p");
  }
  Hooks hooks = s.hooks;
  for (auto [key, list] : HookLists(hooks))
    for (const auto& h : *list) {
      if (h.path.empty() || h.path[0] != '/')
        return Bad(std::string("hooks.") + key + "[].path", "\"" + h.path + "\" is not an absolute path");
      if (h.timeout && *h.timeout <= 0)
        return Bad(std::string("hooks.") + key + "[].timeout", std::to_string(*h.timeout) + " is not positive");
    }
  (void)bundle;
  return absl::OkStatus();
}

}  // namespace kcr::runtime::oci
