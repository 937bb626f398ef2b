// The device allow-list: v1 lines (unit) and the cgroup v2 eBPF filter
// attached to a real cgroup2 directory of our own (integration).
#include "runtime/cgroups/device_filter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"

namespace kcr::runtime {
namespace {

TEST(DeviceFilter, V1Lines) {
  auto w = V1DeviceWrites({{false, "a", {}, {}, "rwm"}, {true, "c", 1, 3, "rw"}, {true, "b", {}, -1, "m"}});
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], (std::pair<std::string, std::string>{"devices.deny", "a"}));
  EXPECT_EQ(w[1], (std::pair<std::string, std::string>{"devices.allow", "c 1:3 rw"}));
  EXPECT_EQ(w[2], (std::pair<std::string, std::string>{"devices.allow", "b *:* m"}));
}

TEST(DeviceFilter, DefaultRulesDenyFirst) {
  auto r = DefaultDeviceRules();
  ASSERT_FALSE(r.empty());
  EXPECT_FALSE(r[0].allow);
  EXPECT_EQ(r[0].type, "a");
}

// Where cgroup2 is mounted (the unified hierarchy or a hybrid's
// /sys/fs/cgroup/unified), or "" when it is not.
std::string Cgroup2Mount() {
  auto mi = fs::ReadFile("/proc/self/mountinfo");
  if (!mi.ok()) return "";
  size_t pos = 0;
  while (pos < mi->size()) {
    size_t end = mi->find('\n', pos);
    std::string line = mi->substr(pos, end - pos);
    size_t dash = line.find(" - ");
    if (dash != std::string::npos && line.compare(dash + 3, 8, "cgroup2 ") == 0) {
      // field 5 is the mount point
      size_t p = 0;
      for (int i = 0; i < 4; i++) p = line.find(' ', p) + 1;
      return line.substr(p, line.find(' ', p) - p);
    }
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return "";
}

// Runs a child inside `dir` that opens /dev/null and /dev/zero for
// reading; returns bit 1 when null opened, bit 2 when zero opened.
int Probe(const std::string& dir) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open((dir + "/cgroup.procs").c_str(), O_WRONLY);
    if (fd < 0 || ::write(fd, "0", 1) != 1) _exit(100);
    ::close(fd);
    int bits = 0;
    if (int f = ::open("/dev/null", O_RDONLY); f >= 0) bits |= 1, ::close(f);
    if (int f = ::open("/dev/zero", O_RDONLY); f >= 0) bits |= 2, ::close(f);
    _exit(bits);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(DeviceFilter, V2ProgramEnforcesTheList) {
  std::string mnt = Cgroup2Mount();
  if (mnt.empty()) GTEST_SKIP() << "no cgroup2 mount on this host";
  std::string dir = mnt + "/kcr-devfilter-test-" + std::to_string(getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
  struct Cleanup {
    std::string d;
    ~Cleanup() { ::rmdir(d.c_str()); }
  } cleanup{dir};
  EXPECT_EQ(Probe(dir), 3);  // no filter: both open
  ASSERT_TRUE(AttachDeviceFilter(dir, {{false, "a", {}, {}, "rwm"}, {true, "c", 1, 3, "rwm"}}).ok());
  EXPECT_EQ(Probe(dir), 1);  // only null
  // Replacing the filter: read-only access to zero, null no longer listed.
  ASSERT_TRUE(AttachDeviceFilter(dir, {{false, "a", {}, {}, "rwm"}, {true, "c", 1, 5, "r"}}).ok());
  EXPECT_EQ(Probe(dir), 2);
  // A later rule overrides an earlier one; "allow all" resets the default.
  ASSERT_TRUE(AttachDeviceFilter(dir, {{false, "a", {}, {}, "rwm"}, {true, "a", {}, {}, "rwm"},
                                       {false, "c", 1, 5, "rwm"}}).ok());
  EXPECT_EQ(Probe(dir), 1);
  // Mode bits: a write-only rule does not allow reading.
  ASSERT_TRUE(AttachDeviceFilter(dir, {{false, "a", {}, {}, "rwm"}, {true, "c", {}, {}, "w"}}).ok());
  EXPECT_EQ(Probe(dir), 0);
}

}  // namespace
}  // namespace kcr::runtime
