#include "cri/container_spec.h"

#include "cri/apparmor.h"
#include "cri/container_userns.h"

#include "cri/runtime_common.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>
#include <set>

#include <dirent.h>
#include <sys/sysmacros.h>

#include "common/fs.h"
#include "common/log.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/cgroups/device_filter.h"
#include "runtime/oci/seccomp_default.h"

namespace kcr::cri {

namespace v1 = ::runtime::v1;
namespace oci = kcr::runtime::oci;
using nlohmann::json;

namespace {

std::vector<std::string> AllCapabilities() {
  return {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
          "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
          "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
          "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
          "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
          "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
          "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
          "CAP_CHECKPOINT_RESTORE"};
}

std::string CapName(std::string c) {
  std::transform(c.begin(), c.end(), c.begin(), ::toupper);
  return c.rfind("CAP_", 0) == 0 ? c : "CAP_" + c;
}

std::vector<std::string> JsonStrings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& e : j[key])
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

// The device node at host path `host` (a directory: every node below it)
// as linux.devices entries at `ctr`, and an allow rule for each.
Status AddDevices(const std::string& host, const std::string& ctr, const std::string& access, int depth,
                  oci::Spec* s) {
  struct stat st;
  if (::stat(host.c_str(), &st) != 0) return ErrnoError("device " + host);
  if (S_ISDIR(st.st_mode)) {
    if (depth > 8) return absl::OkStatus();
    DIR* d = ::opendir(host.c_str());
    if (!d) return ErrnoError("device " + host);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
    ::closedir(d);
    for (const auto& n : names) {
      Status st2 = AddDevices(host + "/" + n, ctr + "/" + n, access, depth + 1, s);
      if (!st2.ok() && depth == 0) return st2;
    }
    return absl::OkStatus();
  }
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
    if (depth > 0) return absl::OkStatus();  // a directory's other files
    return absl::InvalidArgumentError("device " + host + " is not a character or block device");
  }
  std::string type = S_ISBLK(st.st_mode) ? "b" : "c";
  int64_t maj = major(st.st_rdev), min = minor(st.st_rdev);
  s->linux.devices.push_back({ctr, type, maj, min, st.st_mode & 0777, st.st_uid, st.st_gid});
  s->linux.resources->devices.push_back({true, type, maj, min, access});
  return absl::OkStatus();
}

// Every device node under the host's /dev, for privileged containers
// (the pty, shm and mqueue instances are the container's own).
Status AddHostDevices(oci::Spec* s) {
  DIR* d = ::opendir("/dev");
  if (!d) return ErrnoError("open /dev");
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.push_back(e->d_name);
  ::closedir(d);
  static const std::set<std::string> kSkip = {".", "..", "pts", "shm", "mqueue", "console", "ptmx", "fd",
                                              "core", "stdin", "stdout", "stderr"};
  for (const auto& n : names) {
    if (kSkip.count(n)) continue;
    Status st = AddDevices("/dev/" + n, "/dev/" + n, "rwm", 1, s);
    if (!st.ok()) spdlog::debug("privileged container: host device /dev/{} skipped: {}", n, st.message());
  }
  return absl::OkStatus();
}

}  // namespace

std::string ImageVolumeKey(const std::string& container_id, int i) { return container_id + "-iv" + std::to_string(i); }

StatusOr<oci::Spec> BuildContainerSpec(const ContainerSpecInput& in) {
  const v1::ContainerConfig& c = in.config;
  const auto& sc = c.linux().security_context();
  const auto& pod_ns = in.pod.linux().security_context().namespace_options();
  json img = json::parse(in.image.config_json, nullptr, false);
  json ic = img.is_object() && img.contains("config") && img["config"].is_object() ? img["config"] : json::object();
  oci::Spec s;
  s.root_path = in.rootfs;
  s.root_readonly = sc.readonly_rootfs();

  // Command: CRI command replaces the image entrypoint; CRI args replace
  // the image cmd (and are appended to whichever entrypoint applies).
  std::vector<std::string> entry = JsonStrings(ic, "Entrypoint"), cmd = JsonStrings(ic, "Cmd");
  if (!c.command().empty()) {
    entry.assign(c.command().begin(), c.command().end());
    cmd.clear();
  }
  if (!c.args().empty()) cmd.assign(c.args().begin(), c.args().end());
  s.process.args = entry;
  s.process.args.insert(s.process.args.end(), cmd.begin(), cmd.end());
  if (s.process.args.empty())
    return absl::InvalidArgumentError("container " + c.metadata().name() + ": no command given and image " +
                                      c.image().image() + " has no entrypoint or cmd");

  // Environment: image first, CRI envs override by name.
  std::vector<std::string> env = JsonStrings(ic, "Env");
  for (const auto& kv : c.envs()) {
    std::string prefix = kv.key() + "=";
    env.erase(std::remove_if(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; }),
              env.end());
    env.push_back(prefix + kv.value());
  }
  bool has_path = std::any_of(env.begin(), env.end(), [](const std::string& e) { return e.rfind("PATH=", 0) == 0; });
  if (!has_path) env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  env.push_back("HOSTNAME=" + fs::ReadFile(in.pod_dir + "/hostname").value_or(""));
  if (!env.back().empty() && env.back().back() == '\n') env.back().pop_back();
  s.process.env = env;
  s.process.cwd = !c.working_dir().empty() ? c.working_dir() : ic.value("WorkingDir", std::string());
  if (s.process.cwd.empty()) s.process.cwd = "/";
  s.process.terminal = c.tty();

  // User: run_as_* over the image's USER ("uid", "name", "uid:gid", "name:gid").
  std::string user = ic.value("User", std::string());
  std::string u = user.substr(0, user.find(':'));
  std::string g = user.find(':') == std::string::npos ? "" : user.substr(user.find(':') + 1);
  if (sc.has_run_as_user()) {
    s.process.user.uid = static_cast<uint32_t>(sc.run_as_user().value());
  } else if (!sc.run_as_username().empty()) {
    s.process.user.username = sc.run_as_username();
  } else if (!u.empty()) {
    if (u.find_first_not_of("0123456789") == std::string::npos) s.process.user.uid = static_cast<uint32_t>(std::stoul(u));
    else s.process.user.username = u;
  }
  if (sc.has_run_as_group()) s.process.user.gid = static_cast<uint32_t>(sc.run_as_group().value());
  else if (!g.empty() && g.find_first_not_of("0123456789") == std::string::npos)
    s.process.user.gid = static_cast<uint32_t>(std::stoul(g));
  else s.process.user.gid_from_passwd = true;  // no group asked for: the user's own, as Docker does
  s.process.user.strict_groups = sc.supplemental_groups_policy() == v1::SupplementalGroupsPolicy::Strict;
  for (auto gid : sc.supplemental_groups()) s.process.user.additional_gids.push_back(static_cast<uint32_t>(gid));
  s.process.no_new_privileges = sc.no_new_privs();
  if (c.linux().resources().oom_score_adj() != 0)
    s.process.oom_score_adj = static_cast<int>(c.linux().resources().oom_score_adj());

  // Capabilities.
  std::vector<std::string> caps = sc.privileged() ? AllCapabilities() : oci::DefaultCapabilities();
  if (!sc.privileged()) {
    const auto& cp = sc.capabilities();
    bool drop_all = std::any_of(cp.drop_capabilities().begin(), cp.drop_capabilities().end(),
                                [](const std::string& x) { return CapName(x) == "CAP_ALL"; });
    if (drop_all) caps.clear();
    for (const auto& a : cp.add_capabilities()) {
      if (CapName(a) == "CAP_ALL") {
        caps = AllCapabilities();
        break;
      }
      caps.push_back(CapName(a));
    }
    for (const auto& d : cp.drop_capabilities())
      caps.erase(std::remove(caps.begin(), caps.end(), CapName(d)), caps.end());
    std::set<std::string> known;
    for (const auto& k : AllCapabilities()) known.insert(k);
    for (const auto& k : caps)
      if (!known.count(k)) return absl::InvalidArgumentError("capabilities: unknown capability \"" + k + "\"");
  }
  std::sort(caps.begin(), caps.end());
  caps.erase(std::unique(caps.begin(), caps.end()), caps.end());
  // A non-root user keeps capabilities only through ambient ones (not asked
  // for by CRI before add_ambient_capabilities): permitted/effective are
  // what the kernel leaves after setuid.
  s.process.capabilities = oci::Capabilities{caps, caps, {}, caps, {}};
  for (const auto& a : sc.capabilities().add_ambient_capabilities()) {
    s.process.capabilities->ambient.push_back(CapName(a));
    s.process.capabilities->inheritable.push_back(CapName(a));
  }

  // Mounts: defaults, the pod's files, then the CRI mounts.
  s.mounts = oci::DefaultMounts();
  // The container's own cgroups, read-only, over /sys (containerd's
  // default mount; runtime/linux/cgroup_mount.h says what it holds).
  s.mounts.push_back({"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}});
  if (sc.privileged())
    for (auto& m : s.mounts)
      if (m.destination == "/sys" || m.destination == "/sys/fs/cgroup")
        m.options.erase(std::remove(m.options.begin(), m.options.end(), "ro"), m.options.end());
  std::set<std::string> cri_dests;
  for (const auto& m : c.mounts()) cri_dests.insert(m.container_path());
  for (auto [file, dest] : {std::pair{"hostname", "/etc/hostname"}, std::pair{"hosts", "/etc/hosts"},
                            std::pair{"resolv.conf", "/etc/resolv.conf"}})
    if (!cri_dests.count(dest)) s.mounts.push_back({dest, "bind", in.pod_dir + "/" + file, {"rbind", "rprivate"}});
  if (pod_ns.ipc() != v1::NODE && !cri_dests.count("/dev/shm")) {
    s.mounts.erase(std::remove_if(s.mounts.begin(), s.mounts.end(),
                                  [](const oci::Mount& m) { return m.destination == "/dev/shm"; }),
                   s.mounts.end());
    s.mounts.push_back({"/dev/shm", "bind", in.pod_dir + "/shm", {"rbind", "rprivate"}});
  } else if (pod_ns.ipc() == v1::NODE) {
    for (auto& m : s.mounts)
      if (m.destination == "/dev/shm") m = {"/dev/shm", "bind", "/dev/shm", {"rbind", "rprivate"}};
  }
  size_t image_volume = 0;
  for (const auto& m : c.mounts()) {
    if (!m.image().image().empty()) {
      // The image's layers, read-only; a sub path is shown in place of the root.
      if (image_volume >= in.image_volumes.size()) return absl::InternalError("image volume not prepared");
      const ImageVolume& v = in.image_volumes[image_volume++];
      for (const auto& im : v.mounts) {
        std::vector<std::string> opts = im.options;
        opts.erase(std::remove(opts.begin(), opts.end(), "rw"), opts.end());
        opts.push_back("ro");
        opts.push_back("nodev");
        opts.push_back("nosuid");
        if (!v.sub_path.empty()) opts.push_back("kcr.subpath=" + v.sub_path);
        s.mounts.push_back({m.container_path(), im.type, im.source, opts});
      }
      continue;
    }
    std::string src = m.host_path();
    struct stat st;
    if (::stat(src.c_str(), &st) != 0) {
      // A missing hostPath source becomes a directory, as containerd does.
      KCR_RETURN_IF_ERROR(Annotate(fs::MkdirAll(src, 0755), "mount " + m.container_path()));
    }
    char real[PATH_MAX];
    if (::realpath(src.c_str(), real)) src = real;  // symlinks resolved on the host
    std::vector<std::string> opts = {"rbind"};
    switch (m.propagation()) {
      case v1::PROPAGATION_HOST_TO_CONTAINER: opts.push_back("rslave"); break;
      case v1::PROPAGATION_BIDIRECTIONAL: opts.push_back("rshared"); break;
      default: opts.push_back("rprivate"); break;
    }
    if (m.readonly()) opts.push_back("ro");
    if (m.recursive_read_only()) opts.push_back("rro");  // every submount read-only too (mount_setattr)
    s.mounts.push_back({m.container_path(), "bind", src, opts});
  }
  for (const auto& m : c.mounts())
    if (m.propagation() == v1::PROPAGATION_BIDIRECTIONAL) s.linux.rootfs_propagation = "rshared";
    else if (m.propagation() == v1::PROPAGATION_HOST_TO_CONTAINER && s.linux.rootfs_propagation.empty())
      s.linux.rootfs_propagation = "rslave";

  // Namespaces: the pod's network, IPC and UTS; PID per container unless shared.
  s.linux.namespaces.push_back({"mount", ""});
  // A cgroup namespace rooted at the container's cgroup: /proc/self/cgroup
  // shows no host paths (privileged containers keep the host's on v1 hosts).
  if (!sc.privileged() || runtime::DetectCgroupLayout() == runtime::CgroupLayout::kV2)
    s.linux.namespaces.push_back({"cgroup", ""});
  if (pod_ns.network() != v1::NODE) s.linux.namespaces.push_back({"network", "pod"});
  if (pod_ns.ipc() != v1::NODE) s.linux.namespaces.push_back({"ipc", "pod"});
  if (pod_ns.network() != v1::NODE) s.linux.namespaces.push_back({"uts", "pod"});
  // kubelet repeats the pod's PID mode in every container; a container
  // config without namespace options (crictl) follows its pod. POD joins the
  // pod's shared namespace, which only a pod created with POD mode has.
  v1::NamespaceMode pid_mode = sc.has_namespace_options() ? sc.namespace_options().pid() : pod_ns.pid();
  if (pid_mode == v1::POD && pod_ns.pid() != v1::POD) pid_mode = v1::CONTAINER;
  if (pid_mode == v1::POD) s.linux.namespaces.push_back({"pid", "pod"});
  else if (pid_mode != v1::NODE) s.linux.namespaces.push_back({"pid", ""});
  // The pod's user namespace, if it has one, and the mounts idmapped through it.
  KCR_RETURN_IF_ERROR(ApplyPodUserNamespace(c, in.pod, in.pod_dir, &s));

  if (!sc.privileged()) {
    s.linux.masked_paths = sc.masked_paths().empty() ? oci::DefaultMaskedPaths()
                                                     : std::vector<std::string>(sc.masked_paths().begin(), sc.masked_paths().end());
    // The host's kernel log, which kubelet's default list leaves visible:
    // a container given CAP_SYSLOG (or CAP_SYS_ADMIN) would read and drain
    // it; the others cannot open it anyway, so hiding it costs nothing.
    if (std::find(s.linux.masked_paths.begin(), s.linux.masked_paths.end(), "/proc/kmsg") == s.linux.masked_paths.end())
      s.linux.masked_paths.push_back("/proc/kmsg");
    s.linux.readonly_paths = sc.readonly_paths().empty()
                                 ? oci::DefaultReadonlyPaths()
                                 : std::vector<std::string>(sc.readonly_paths().begin(), sc.readonly_paths().end());
  }
  for (const auto& [k, v] : in.pod.linux().sysctls()) s.linux.sysctl[k] = v;

  // AppArmor, where the host has it, applied at exec: a Localhost profile
  // (loaded by the admin) by name; RuntimeDefault, or nothing asked, is
  // kcr's own profile (apparmor.h). Without AppArmor a Localhost profile
  // cannot be honoured and is refused; RuntimeDefault and Unconfined mean
  // nothing to do. Privileged containers run unconfined.
  std::string aa_type, aa_name;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // apparmor_profile: what older kubelets send
  const std::string legacy_aa = sc.apparmor_profile();
#pragma GCC diagnostic pop
  if (sc.has_apparmor()) {
    switch (sc.apparmor().profile_type()) {
      case v1::SecurityProfile::Localhost:
        aa_type = "localhost";
        aa_name = sc.apparmor().localhost_ref();
        break;
      case v1::SecurityProfile::RuntimeDefault: aa_type = "runtime/default"; break;
      default: aa_type = "unconfined"; break;
    }
  } else if (legacy_aa.rfind("localhost/", 0) == 0) {
    aa_type = "localhost";
    aa_name = legacy_aa.substr(10);
  } else if (!legacy_aa.empty()) {
    aa_type = legacy_aa == "unconfined" ? "unconfined" : "runtime/default";
  }
  // Unset means the runtime's default, as with containerd and CRI-O.
  if (aa_type.empty()) aa_type = "runtime/default";
  if (!sc.privileged() && aa_type == "localhost") {
    if (aa_name.empty()) return absl::InvalidArgumentError("apparmor: localhost profile has no name");
    if (!in.apparmor_enabled)
      return absl::FailedPreconditionError("apparmor profile \"" + aa_name + "\": AppArmor is not enabled on this host");
    s.process.apparmor_profile = aa_name;
  } else if (!sc.privileged() && aa_type == "runtime/default" && in.apparmor_enabled) {
    s.process.apparmor_profile = kDefaultAppArmorProfile;  // loaded by kcrd before the container starts
  }

  // Seccomp (CRI: an unset profile is unconfined; privileged is unconfined).
  if (sc.has_seccomp() && !sc.privileged()) {
    switch (sc.seccomp().profile_type()) {
      case v1::SecurityProfile::RuntimeDefault: s.linux.seccomp = oci::RuntimeDefaultSeccomp(caps); break;
      case v1::SecurityProfile::Localhost: {
        auto text = fs::ReadFile(sc.seccomp().localhost_ref(), 4 << 20);
        if (!text.ok()) return Annotate(text.status(), "seccomp localhost profile");
        auto prof = oci::ParseSeccompProfile(*text, caps);
        if (!prof.ok()) return Annotate(prof.status(), "seccomp localhost profile " + sc.seccomp().localhost_ref());
        s.linux.seccomp = *prof;
        break;
      }
      default: break;
    }
  }

  // Resources and cgroup.
  s.linux.cgroups_path = in.cgroups_path;
  auto res = ResourcesFromCri(c.linux().resources());
  if (!res.ok()) return res.status();
  // Devices: the default allow-list and the requested devices, or all of
  // the host's for a privileged container.
  s.linux.resources = *res;
  if (sc.privileged()) {
    s.linux.resources->devices.push_back({true, "a", {}, {}, "rwm"});
    KCR_RETURN_IF_ERROR(AddHostDevices(&s));
  } else {
    s.linux.resources->devices = runtime::DefaultDeviceRules();
  }
  for (const auto& d : c.devices()) {
    if (d.container_path().empty() || d.container_path()[0] != '/')
      return absl::InvalidArgumentError("devices: container path \"" + d.container_path() + "\" is not absolute");
    std::string access = d.permissions().empty() ? "rwm" : d.permissions();
    if (access.find_first_not_of("rwm") != std::string::npos)
      return absl::InvalidArgumentError("devices: permissions \"" + access + "\" of " + d.host_path() +
                                        " are not a combination of r, w, m");
    Status st = AddDevices(d.host_path(), d.container_path(), access, 0, &s);
    if (!st.ok()) return absl::InvalidArgumentError("devices: " + std::string(st.message()));
  }
  KCR_RETURN_IF_ERROR(oci::ValidateSpec(s));
  return s;
}

}  // namespace kcr::cri
