#include "runtime/linux/userns.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

namespace kcr::runtime {

namespace {

std::string MapText(const std::vector<oci::IdMapping>& m) {
  std::string s;
  for (const auto& e : m)
    s += std::to_string(e.container_id) + " " + std::to_string(e.host_id) + " " + std::to_string(e.size) + "\n";
  return s;
}

Status WriteProcFile(pid_t pid, const char* name, const std::string& text) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  UniqueFd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  // The kernel takes a map in a single write.
  if (!f || ::write(f.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return ErrnoError("write " + path + " (\"" + text.substr(0, text.find('\n')) + "\")");
  return absl::OkStatus();
}

}  // namespace

std::string FormatIdMapping(const oci::IdMapping& m) {
  return std::to_string(m.container_id) + ":" + std::to_string(m.host_id) + ":" + std::to_string(m.size);
}

StatusOr<oci::IdMapping> ParseIdMapping(const std::string& text) {
  oci::IdMapping m;
  unsigned long long c, h, n;
  char tail;
  if (std::sscanf(text.c_str(), "%llu:%llu:%llu%c", &c, &h, &n, &tail) != 3 || c > UINT32_MAX || h > UINT32_MAX ||
      n > UINT32_MAX)
    return absl::InvalidArgumentError("id mapping \"" + text + "\" is not container:host:length");
  m.container_id = static_cast<uint32_t>(c);
  m.host_id = static_cast<uint32_t>(h);
  m.size = static_cast<uint32_t>(n);
  return m;
}

StatusOr<UniqueFd> MakeUserNamespace(const std::vector<oci::IdMapping>& uids, const std::vector<oci::IdMapping>& gids) {
  if (uids.empty() || gids.empty()) return absl::InvalidArgumentError("user namespace: uid and gid mappings are needed");
  int ready[2], done[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (::pipe2(done, O_CLOEXEC) != 0) return ErrnoError("pipe");
  UniqueFd done_r(done[0]), done_w(done[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork the user namespace's holder");
  if (pid == 0) {
    // Async-signal-safe only: the caller may have threads.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (::getppid() != parent) ::_exit(1);
    char b = ::unshare(CLONE_NEWUSER) == 0 ? 'u' : 'e';
    if (::write(ready[1], &b, 1) != 1) ::_exit(1);
    ::close(done[1]);
    ::read(done[0], &b, 1);  // EOF once the parent holds the namespace
    ::_exit(0);
  }
  ready_w.reset();
  done_r.reset();
  struct Reap {
    pid_t pid;
    UniqueFd* done;
    ~Reap() {
      done->reset();  // the child's read ends
      int st;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
  } reap{pid, &done_w};
  char b = 0;
  ssize_t n;
  while ((n = ::read(ready_r.get(), &b, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) return absl::InternalError("user namespace: its holder died before unsharing");
  if (b != 'u') return absl::FailedPreconditionError("user namespace: unshare(CLONE_NEWUSER) failed in its holder");
  KCR_RETURN_IF_ERROR(Annotate(WriteProcFile(pid, "uid_map", MapText(uids)), "user namespace"));
  KCR_RETURN_IF_ERROR(Annotate(WriteProcFile(pid, "gid_map", MapText(gids)), "user namespace"));
  std::string ns = "/proc/" + std::to_string(pid) + "/ns/user";
  UniqueFd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError("user namespace: open " + ns);
  return fd;
}

StatusOr<UniqueFd> IdmappedTree(const std::string& path, int userns_fd, bool recursive) {
  unsigned rec = recursive ? AT_RECURSIVE : 0;
  UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec)));
  if (!tree) return ErrnoError("idmapped mount of " + path + ": open_tree");
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | rec, &attr, sizeof attr) != 0)
    return ErrnoError("idmapped mount of " + path + " (its filesystem may not support idmapped mounts)");
  return tree;
}

Status MountIdmapped(const std::string& source, int target_fd, int userns_fd, bool recursive) {
  KCR_ASSIGN_OR_RETURN(UniqueFd tree, IdmappedTree(source, userns_fd, recursive));
  if (::syscall(SYS_move_mount, tree.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return ErrnoError("attach the idmapped mount of " + source);
  return absl::OkStatus();
}

StatusOr<std::string> IdmapOverlayData(const std::string& data, int userns_fd, std::vector<UniqueFd>* held) {
  std::map<std::string, int> copies;  // parent directory -> its idmapped copy
  auto through = [&](const std::string& layer) -> StatusOr<std::string> {
    size_t slash = layer.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == layer.size())
      return absl::InvalidArgumentError("overlay layer \"" + layer + "\" has no parent directory to idmap");
    std::string parent = layer.substr(0, slash);
    auto it = copies.find(parent);
    if (it == copies.end()) {
      KCR_ASSIGN_OR_RETURN(UniqueFd t, IdmappedTree(parent, userns_fd, false));
      it = copies.emplace(parent, t.get()).first;
      held->push_back(std::move(t));
    }
    return "/proc/self/fd/" + std::to_string(it->second) + layer.substr(slash);
  };
  std::string out;
  size_t pos = 0;
  while (pos <= data.size()) {
    size_t end = data.find(',', pos);
    if (end == std::string::npos) end = data.size();
    std::string opt = data.substr(pos, end - pos);
    pos = end + 1;
    if (opt.rfind("lowerdir=", 0) == 0) {
      std::string lowers = opt.substr(9), mapped;
      for (size_t p = 0; p <= lowers.size();) {
        size_t e = lowers.find(':', p);
        if (e == std::string::npos) e = lowers.size();
        KCR_ASSIGN_OR_RETURN(std::string l, through(lowers.substr(p, e - p)));
        mapped += (mapped.empty() ? "" : ":") + l;
        p = e + 1;
      }
      opt = "lowerdir=" + mapped;
    } else if (opt.rfind("upperdir=", 0) == 0 || opt.rfind("workdir=", 0) == 0) {
      size_t eq = opt.find('=');
      KCR_ASSIGN_OR_RETURN(std::string l, through(opt.substr(eq + 1)));
      opt = opt.substr(0, eq + 1) + l;
    }
    if (!opt.empty()) out += (out.empty() ? "" : ",") + opt;
  }
  return out;
}

Status ActAsContainerRoot(const oci::Spec& spec) {
  auto uid = oci::HostId(spec.linux.uid_mappings, 0), gid = oci::HostId(spec.linux.gid_mappings, 0);
  if (!uid || !gid) return absl::InvalidArgumentError("linux.uidMappings: container id 0 is not mapped");
  ::setfsgid(*gid);
  ::setfsuid(*uid);
  if (static_cast<uint32_t>(::setfsuid(static_cast<uid_t>(-1))) != *uid ||
      static_cast<uint32_t>(::setfsgid(static_cast<gid_t>(-1))) != *gid)
    return absl::PermissionDeniedError("set the filesystem ids to the container root's host ids " +
                                       std::to_string(*uid) + ":" + std::to_string(*gid));
  // A change of fsuid away from 0 clears the file capabilities
  // (CAP_DAC_OVERRIDE, CAP_FOWNER, ...) from the effective set; the
  // runtime still needs them to reach its own state and the bind sources.
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  if (::syscall(SYS_capget, &h, d) != 0) return ErrnoError("capget");
  for (auto& e : d) e.effective = e.permitted;
  if (::syscall(SYS_capset, &h, d) != 0) return ErrnoError("capset (restore the effective set)");
  return absl::OkStatus();
}

}  // namespace kcr::runtime
