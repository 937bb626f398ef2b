// The sealed copy kcrd starts monitors from: sealed, not writable by
// anyone (root included), runnable, and what the process's exe names.
#include "runtime/monitor/sealed_binary.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace kcr::monitor {
namespace {

TEST(SealedCopy, IsSealedUnwritableAndRunsAsAMemfd) {
  auto mem = SealedCopy("/bin/sleep", "kcr-test-sleep");
  ASSERT_TRUE(mem.ok()) << mem.status();
  int seals = ::fcntl(mem->get(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
            F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  EXPECT_NE(::fcntl(mem->get(), F_GETFD) & FD_CLOEXEC, 0);
  std::string path = "/proc/self/fd/" + std::to_string(mem->get());
  char argv0[] = "sleep", arg[] = "30";
  char* argv[] = {argv0, arg, nullptr};
  pid_t pid;
  ASSERT_EQ(::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ), 0);
  char buf[256] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1), 0);
  EXPECT_EQ(std::string(buf).rfind("/memfd:kcr-test-sleep", 0), 0u) << buf;
  // Neither the running image nor the copy can be changed, even by root.
  int w = ::open(("/proc/" + std::to_string(pid) + "/exe").c_str(), O_WRONLY | O_CLOEXEC);
  if (w >= 0) {
    EXPECT_LT(::write(w, "x", 1), 0);
    EXPECT_EQ(errno, EPERM);
    ::close(w);
  } else {
    EXPECT_TRUE(errno == ETXTBSY || errno == EPERM) << errno;
  }
  EXPECT_LT(::pwrite(mem->get(), "x", 1, 0), 0);
  EXPECT_LT(::ftruncate(mem->get(), 0), 0);
  ::kill(pid, SIGKILL);
  int st;
  ::waitpid(pid, &st, 0);
}

TEST(SealedCopy, NamesWhatItCannotCopy) {
  auto mem = SealedCopy("/nonexistent/kcr-monitor", "x");
  ASSERT_FALSE(mem.ok());
  EXPECT_NE(mem.status().message().find("/nonexistent/kcr-monitor"), absl::string_view::npos);
}

}  // namespace
}  // namespace kcr::monitor
