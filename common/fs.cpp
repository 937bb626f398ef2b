#include "common/fs.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

#include "common/fd.h"

namespace kcr::fs {

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  return ::mkdtemp(tmpl.data()) ? tmpl : std::string();
}

Status SyncDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoError("open " + path);
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + path);
  return absl::OkStatus();
}

static std::string DirName(const std::string& path) {
  auto pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  std::random_device rd;
  std::string tmp = path + ".tmp." + std::to_string(rd());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return ErrnoError("create " + tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = ErrnoError("write " + tmp);
      ::unlink(tmp.c_str());
      return st;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    Status st = ErrnoError("fsync " + tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = ErrnoError("rename " + tmp);
    ::unlink(tmp.c_str());
    return st;
  }
  return SyncDir(DirName(path));
}

StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError("open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes)
      return absl::ResourceExhaustedError(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

Status MkdirAll(const std::string& path, int mode) {
  if (path.empty()) return absl::InvalidArgumentError("MkdirAll: empty path");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(path + " exists and is not a directory");
  }
  std::string parent = DirName(path);
  if (parent != path) KCR_RETURN_IF_ERROR(MkdirAll(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError("mkdir " + path);
  return absl::OkStatus();
}

static int RemoveOne(const char* p, const struct stat*, int type, struct FTW*) {
  int rc = (type == FTW_DP) ? ::rmdir(p) : ::unlink(p);
  return (rc != 0 && errno != ENOENT) ? -1 : 0;
}

Status RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("lstat " + path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("unlink " + path);
    return absl::OkStatus();
  }
  if (::nftw(path.c_str(), RemoveOne, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
    return ErrnoError("remove " + path);
  return absl::OkStatus();
}

namespace {
thread_local DiskUsage* g_usage;
int CountOne(const char*, const struct stat* st, int, struct FTW*) {
  g_usage->bytes += static_cast<uint64_t>(st->st_blocks) * 512;
  g_usage->inodes += 1;
  return 0;
}
}  // namespace

DiskUsage Usage(const std::string& path) {
  DiskUsage u;
  g_usage = &u;
  ::nftw(path.c_str(), CountOne, 64, FTW_PHYS | FTW_MOUNT);
  g_usage = nullptr;
  return u;
}

}  // namespace kcr::fs
