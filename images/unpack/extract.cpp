#include "images/unpack/extract.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <vector>

#include "common/fd.h"
#include "common/log.h"

namespace kcr::images {

namespace {

constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;

int OpenAt2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path.empty() ? "." : path.c_str(), &how, sizeof how));
}

Status Refuse(const std::string& entry, const std::string& why) {
  return absl::FailedPreconditionError("layer entry \"" + entry + "\": " + why);
}

// Lexical clean: drops "", "." and a leading "/"; ".." pops, never above root.
std::vector<std::string> Clean(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string c = path.substr(start, end - start);
    if (c == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!c.empty() && c != ".") {
      out.push_back(c);
    }
    start = end + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& c, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; i++) s += (i ? "/" : "") + c[i];
  return s;
}

// Removes `name` in `dirfd`, recursively for directories. OK if missing.
Status RemoveAt(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? absl::OkStatus() : ErrnoError("stat " + name);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) return ErrnoError("unlink " + name);
    return absl::OkStatus();
  }
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open " + name);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return ErrnoError("opendir " + name);
  }
  std::vector<std::string> children;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") children.push_back(n);
  }
  Status st_rm;
  for (const auto& c : children) {
    st_rm = RemoveAt(::dirfd(d), c);
    if (!st_rm.ok()) break;
  }
  ::closedir(d);
  KCR_RETURN_IF_ERROR(st_rm);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return ErrnoError("rmdir " + name);
  return absl::OkStatus();
}

class Extractor {
 public:
  explicit Extractor(UniqueFd root) : root_(std::move(root)) {}

  Status Entry(TarReader& tar, const TarEntry& e, ExtractStats& stats) {
    std::vector<std::string> comps = Clean(e.path);
    if (comps.empty()) return absl::OkStatus();  // the root itself
    if (comps.size() > 256) return Refuse(e.path, "nested deeper than 256 directories");
    std::string base = comps.back();
    comps.pop_back();
    KCR_ASSIGN_OR_RETURN(UniqueFd parent, OpenParent(comps, e.path));

    if (base.rfind(".wh.", 0) == 0) return Whiteout(parent.get(), comps, base, e.path);
    for (const auto& [k, v] : e.xattrs)
      if (k.rfind("trusted.overlay.", 0) == 0) return Refuse(e.path, "carries overlayfs xattr " + k);

    if (e.type != EntryType::kDir) KCR_RETURN_IF_ERROR(Annotate(RemoveAt(parent.get(), base), e.path));
    switch (e.type) {
      case EntryType::kFile: return File(tar, parent.get(), base, e, stats);
      case EntryType::kDir: return Dir(parent.get(), comps, base, e);
      case EntryType::kSymlink: {
        if (e.linkname.empty()) return Refuse(e.path, "symlink with an empty target");
        if (::symlinkat(e.linkname.c_str(), parent.get(), base.c_str()) != 0) return ErrnoError("symlink " + e.path);
        if (::fchownat(parent.get(), base.c_str(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid),
                       AT_SYMLINK_NOFOLLOW) != 0)
          return ErrnoError("chown " + e.path);
        struct timespec ts[2] = {{e.mtime, 0}, {e.mtime, 0}};
        ::utimensat(parent.get(), base.c_str(), ts, AT_SYMLINK_NOFOLLOW);
        return absl::OkStatus();
      }
      case EntryType::kHardlink: return Hardlink(parent.get(), base, e);
      case EntryType::kChar:
      case EntryType::kBlock:
      case EntryType::kFifo: {
        mode_t type = e.type == EntryType::kChar ? S_IFCHR : e.type == EntryType::kBlock ? S_IFBLK : S_IFIFO;
        if (::mknodat(parent.get(), base.c_str(), type | (e.mode & 0777), makedev(e.devmajor, e.devminor)) != 0)
          return ErrnoError("mknod " + e.path);
        return Own(parent.get(), base, e);
      }
    }
    return absl::OkStatus();
  }

  // Directory mtimes last: creating entries inside changed them.
  void FinishDirTimes() {
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      UniqueFd fd(OpenAt2(root_.get(), it->first, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, kResolve));
      if (!fd) continue;
      struct timespec ts[2] = {{it->second, 0}, {it->second, 0}};
      ::futimens(fd.get(), ts);
    }
  }

 private:
  // Opens (creating as needed) the directory of `comps` inside the root.
  StatusOr<UniqueFd> OpenParent(const std::vector<std::string>& comps, const std::string& entry) {
    UniqueFd fd(OpenAt2(root_.get(), Join(comps, comps.size()), O_PATH | O_DIRECTORY, kResolve));
    if (fd) return fd;
    if (errno != ENOENT) return Refuse(entry, std::string("parent directory: ") + std::strerror(errno));
    for (size_t i = 1; i <= comps.size(); i++) {
      UniqueFd cur(OpenAt2(root_.get(), Join(comps, i), O_PATH | O_DIRECTORY, kResolve));
      if (cur) continue;
      if (errno != ENOENT) return Refuse(entry, std::string("parent directory: ") + std::strerror(errno));
      UniqueFd up(OpenAt2(root_.get(), Join(comps, i - 1), O_PATH | O_DIRECTORY, kResolve));
      if (!up) return Refuse(entry, std::string("parent directory: ") + std::strerror(errno));
      if (::mkdirat(up.get(), comps[i - 1].c_str(), 0755) != 0 && errno != EEXIST)
        return ErrnoError("mkdir for " + entry);
    }
    fd.reset(OpenAt2(root_.get(), Join(comps, comps.size()), O_PATH | O_DIRECTORY, kResolve));
    if (!fd) return Refuse(entry, std::string("parent directory: ") + std::strerror(errno));
    return fd;
  }

  Status Whiteout(int parent, const std::vector<std::string>& comps, const std::string& base,
                  const std::string& entry) {
    if (base == ".wh..wh..opq") {
      UniqueFd dir(OpenAt2(root_.get(), Join(comps, comps.size()), O_RDONLY | O_DIRECTORY, kResolve));
      if (!dir) return ErrnoError("open opaque directory of " + entry);
      if (::fsetxattr(dir.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
        return ErrnoError("mark opaque " + entry);
      return absl::OkStatus();
    }
    std::string name = base.substr(4);
    if (name.empty() || name == "." || name == ".." || name.rfind(".wh.", 0) == 0)
      return Refuse(entry, "invalid whiteout");
    KCR_RETURN_IF_ERROR(RemoveAt(parent, name));
    if (::mknodat(parent, name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) return ErrnoError("whiteout " + entry);
    return absl::OkStatus();
  }

  Status Xattrs(int fd, const TarEntry& e) {
    for (const auto& [k, v] : e.xattrs) {
      if (::fsetxattr(fd, k.c_str(), v.data(), v.size(), 0) != 0) {
        if (k.rfind("security.", 0) == 0 || errno == ENOTSUP) {
          spdlog::debug("layer entry {}: xattr {} not applied: {}", e.path, k, std::strerror(errno));
          continue;
        }
        return ErrnoError("set xattr " + k + " on " + e.path);
      }
    }
    return absl::OkStatus();
  }

  Status File(TarReader& tar, int parent, const std::string& base, const TarEntry& e, ExtractStats& stats) {
    UniqueFd fd(::openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return ErrnoError("create " + e.path);
    char buf[65536];
    for (;;) {
      KCR_ASSIGN_OR_RETURN(size_t n, tar.Read(buf, sizeof buf));
      if (n == 0) break;
      size_t off = 0;
      while (off < n) {
        ssize_t w = ::write(fd.get(), buf + off, n - off);
        if (w < 0) {
          if (errno == EINTR) continue;
          return ErrnoError("write " + e.path);
        }
        off += static_cast<size_t>(w);
      }
      stats.bytes += static_cast<int64_t>(n);
    }
    // chown before chmod: chown clears setuid/setgid bits.
    if (::fchown(fd.get(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0)
      return ErrnoError("chown " + e.path);
    if (::fchmod(fd.get(), e.mode) != 0) return ErrnoError("chmod " + e.path);
    KCR_RETURN_IF_ERROR(Xattrs(fd.get(), e));
    struct timespec ts[2] = {{e.mtime, 0}, {e.mtime, 0}};
    ::futimens(fd.get(), ts);
    return absl::OkStatus();
  }

  Status Dir(int parent, std::vector<std::string> comps, const std::string& base, const TarEntry& e) {
    struct stat st;
    if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
      KCR_RETURN_IF_ERROR(RemoveAt(parent, base));
    if (::mkdirat(parent, base.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("mkdir " + e.path);
    UniqueFd fd(::openat(parent, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return ErrnoError("open " + e.path);
    if (::fchown(fd.get(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid)) != 0)
      return ErrnoError("chown " + e.path);
    if (::fchmod(fd.get(), e.mode) != 0) return ErrnoError("chmod " + e.path);
    KCR_RETURN_IF_ERROR(Xattrs(fd.get(), e));
    comps.push_back(base);
    dir_times_.emplace_back(Join(comps, comps.size()), e.mtime);
    return absl::OkStatus();
  }

  Status Hardlink(int parent, const std::string& base, const TarEntry& e) {
    std::vector<std::string> target = Clean(e.linkname);
    if (target.empty()) return Refuse(e.path, "hard link to the layer root");
    UniqueFd t(OpenAt2(root_.get(), Join(target, target.size()), O_PATH | O_NOFOLLOW, kResolve));
    if (!t) return Refuse(e.path, "hard link target \"" + e.linkname + "\" is not in this layer");
    struct stat st;
    if (::fstat(t.get(), &st) != 0 || S_ISDIR(st.st_mode))
      return Refuse(e.path, "hard link target \"" + e.linkname + "\" is a directory");
    if (::linkat(t.get(), "", parent, base.c_str(), AT_EMPTY_PATH) != 0) return ErrnoError("link " + e.path);
    return absl::OkStatus();
  }

  Status Own(int parent, const std::string& base, const TarEntry& e) {
    if (::fchownat(parent, base.c_str(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid),
                   AT_SYMLINK_NOFOLLOW) != 0)
      return ErrnoError("chown " + e.path);
    if (::fchmodat(parent, base.c_str(), e.mode & 07777, 0) != 0) return ErrnoError("chmod " + e.path);
    return absl::OkStatus();
  }

  UniqueFd root_;
  std::vector<std::pair<std::string, int64_t>> dir_times_;
};

}  // namespace

StatusOr<ExtractStats> ExtractLayer(TarReader& tar, const std::string& root) {
  UniqueFd rfd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rfd) return ErrnoError("open layer root " + root);
  Extractor x(std::move(rfd));
  ExtractStats stats;
  TarEntry e;
  for (;;) {
    KCR_ASSIGN_OR_RETURN(bool more, tar.Next(&e));
    if (!more) break;
    KCR_RETURN_IF_ERROR(x.Entry(tar, e, stats));
    stats.entries++;
  }
  x.FinishDirTimes();
  return stats;
}

}  // namespace kcr::images
