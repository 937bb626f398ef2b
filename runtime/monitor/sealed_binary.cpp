#include "runtime/monitor/sealed_binary.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kcr::monitor {

namespace {
// Linux 6.3: a memfd is executable only with MFD_EXEC where the
// vm.memfd_noexec sysctl says so; older kernels reject the flag (EINVAL).
constexpr unsigned kMfdExec = 0x0010U;
}  // namespace

StatusOr<UniqueFd> SealedCopy(const std::string& path, const std::string& name) {
  UniqueFd src(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src) return ErrnoError("open " + path);
  struct stat st;
  if (::fstat(src.get(), &st) != 0) return ErrnoError("stat " + path);
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(path + " is not a regular file");
  UniqueFd mem(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | kMfdExec));
  if (!mem && errno == EINVAL) mem.reset(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!mem) return ErrnoError("memfd_create for a copy of " + path);
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = ::sendfile(mem.get(), src.get(), &off, static_cast<size_t>(st.st_size - off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("copy " + path + " into a memfd");
    if (n == 0) return absl::DataLossError(path + " shrank while it was copied");
  }
  if (::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return ErrnoError("seal the copy of " + path);
  return mem;
}

}  // namespace kcr::monitor
