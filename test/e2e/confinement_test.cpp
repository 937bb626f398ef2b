// Nothing of the host reaches a container, through a real kcrd: its own
// cgroups (and only those) read-only at /sys/fs/cgroup, no descriptor of
// kcrd or the monitor, and no host binary behind /proc/<pid>/exe of the
// processes that run kcr's code (monitor, container init before exec).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/fd.h"
#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

class ConfinementTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    // A descriptor kcrd's launcher leaves open without close-on-exec (as a
    // shell or supervisor may): kcrd must not hand it on.
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    leaked_r_.reset(p[0]);
    leaked_w_.reset(p[1]);
    leaked_ino_ = Inode(::getpid(), p[0]);
    Start();
    ASSERT_TRUE(Pull("busybox").ok());
  }

  static std::string Link(pid_t pid, const std::string& fd) {
    char buf[512] = {};
    ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/fd/" + fd).c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  static std::string Inode(pid_t pid, int fd) { return Link(pid, std::to_string(fd)); }
  // fd -> what it is ("pipe:[123]", "/dev/null", ...), and its open flags.
  struct Fd {
    std::string target;
    bool cloexec = false;
  };
  static std::map<int, Fd> Fds(pid_t pid) {
    std::map<int, Fd> out;
    std::string base = "/proc/" + std::to_string(pid);
    if (DIR* d = ::opendir((base + "/fd").c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        Fd f{Link(pid, e->d_name), false};
        std::istringstream info(fs::ReadFile(base + "/fdinfo/" + e->d_name).value_or(""));
        for (std::string line; std::getline(info, line);)
          if (line.starts_with("flags:")) f.cloexec = std::stoul(line.substr(6), nullptr, 8) & O_CLOEXEC;
        out[std::stoi(e->d_name)] = f;
      }
      ::closedir(d);
    }
    return out;
  }
  static std::string Describe(const std::map<int, Fd>& fds) {
    std::string s;
    for (const auto& [n, f] : fds) s += std::to_string(n) + " -> " + f.target + (f.cloexec ? " (cloexec)\n" : "\n");
    return s;
  }
  json PodInfo(const std::string& pod) {
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(pod);
    req.set_verbose(true);
    v1::PodSandboxStatusResponse resp;
    EXPECT_TRUE(Runtime().PodSandboxStatus(Ctx().get(), req, &resp).ok());
    return json::parse(resp.info().count("info") ? resp.info().at("info") : "{}", nullptr, false);
  }
  static std::string Exe(pid_t pid) {
    char buf[512] = {};
    ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // The image behind /proc/<pid>/exe cannot be written, even by root here.
  static void ExpectUnwritableExe(pid_t pid) {
    int fd = ::open(("/proc/" + std::to_string(pid) + "/exe").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      EXPECT_TRUE(errno == ETXTBSY || errno == EPERM) << "open: " << strerror(errno);
      return;
    }
    EXPECT_LT(::write(fd, "\x7f", 1), 0) << "wrote to the image of " << pid;
    EXPECT_EQ(errno, EPERM);
    ::close(fd);
  }

  UniqueFd leaked_r_, leaked_w_;
  std::string leaked_ino_;
};

TEST_F(ConfinementTest, AContainerReadsItsOwnCgroupLimitsReadOnlyAndNothingElse) {
  auto pc = PodConfig("limits");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto cc = CtrConfig("app", "busybox", {"sleep", "1000"});
  auto* res = cc.mutable_linux()->mutable_resources();
  res->set_memory_limit_in_bytes(64 << 20);
  res->set_cpu_quota(50000);
  res->set_cpu_period(100000);
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  // Another pod: its cgroups must not be visible from the first.
  auto pc2 = PodConfig("other");
  auto other = RunPod(pc2);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(RunCtr(*other, pc2, CtrConfig("app", "busybox", {"sleep", "1000"})).ok());

  auto r = Exec(*ctr, {"cat", CgroupV2() ? "/sys/fs/cgroup/memory.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes"});
  EXPECT_EQ(r.stdout(), "67108864\n") << r.stderr();
  if (CgroupV2()) {
    r = Exec(*ctr, {"cat", "/sys/fs/cgroup/cpu.max"});
    EXPECT_EQ(r.stdout(), "50000 100000\n") << r.stderr();
  } else {
    r = Exec(*ctr, {"cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"});
    EXPECT_EQ(r.stdout(), "50000\n100000\n") << r.stderr();
  }
  // Read-only: no limit raised, no cgroup made, nothing added to the tmpfs.
  const std::string limit = CgroupV2() ? "/sys/fs/cgroup/memory.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes";
  const std::string sub = CgroupV2() ? "/sys/fs/cgroup/escape" : "/sys/fs/cgroup/memory/escape";
  r = Exec(*ctr, {"sh", "-c", "echo 1000000000 > " + limit + "; mkdir " + sub + "; mkdir /sys/fs/cgroup/x; true"});
  size_t erofs = 0;
  for (size_t pos = 0; (pos = r.stderr().find("Read-only file system", pos)) != std::string::npos; pos++) erofs++;
  EXPECT_EQ(erofs, 3u) << r.stderr();
  r = Exec(*ctr, {"cat", limit});
  EXPECT_EQ(r.stdout(), "67108864\n");
  // Every cgroup mount is read-only.
  r = Exec(*ctr, {"sh", "-c", "awk '$5 ~ \"^/sys/fs/cgroup\" { print $5, $6 }' /proc/self/mountinfo"});
  EXPECT_FALSE(r.stdout().empty());
  std::istringstream mounts(r.stdout());
  for (std::string line; std::getline(mounts, line);) EXPECT_NE(line.find(" ro,"), std::string::npos) << line;
  // Only its own cgroup: no directory below it (no other pod's, no host's)
  // but the tracking cgroup of the exec that looks (kcr-exec-<pid>), and no
  // host path anywhere.
  r = Exec(*ctr, {"find", "/sys/fs/cgroup", "-mindepth", CgroupV2() ? "1" : "2", "-type", "d", "!", "-name",
                  "kcr-exec-*"});
  EXPECT_EQ(r.stdout(), "") << r.stderr();
  r = Exec(*ctr, {"sh", "-c", "ls -R /sys/fs/cgroup; grep cgroup /proc/self/mountinfo"});
  EXPECT_EQ(r.stdout().find(cgroup_parent_), std::string::npos) << r.stdout();
  EXPECT_EQ(r.stdout().find(*other), std::string::npos);
  EXPECT_EQ(r.stdout().find(*pod), std::string::npos);
  if (!CgroupV2()) {
    // The hierarchies kcr places containers in, by controller name.
    r = Exec(*ctr, {"sh", "-c", "cd /sys/fs/cgroup && ls -d cpu/ cpuacct/ memory/ pids/ devices/ cpuset/"});
    EXPECT_EQ(r.exit_code(), 0) << r.stdout() << r.stderr();
  }
  // A privileged container's are writable (as containerd mounts them), and
  // still its own.
  auto priv = CtrConfig("priv", "busybox", {"sleep", "1000"});
  priv.mutable_linux()->mutable_security_context()->set_privileged(true);
  priv.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(64 << 20);
  auto pv = RunCtr(*pod, pc, priv);
  ASSERT_TRUE(pv.ok()) << pv.status();
  r = Exec(*pv, {"cat", limit});
  EXPECT_EQ(r.stdout(), "67108864\n") << r.stderr();
  r = Exec(*pv, {"sh", "-c", "awk '$5 ~ \"^/sys/fs/cgroup\" { print $5, $6 }' /proc/self/mountinfo"});
  std::istringstream pmounts(r.stdout());
  for (std::string line; std::getline(pmounts, line);) EXPECT_NE(line.find(" rw,"), std::string::npos) << line;
  r = Exec(*pv, {"find", "/sys/fs/cgroup", "-mindepth", CgroupV2() ? "1" : "2", "-type", "d", "!", "-name",
                  "kcr-exec-*"});
  EXPECT_EQ(r.stdout(), "") << r.stderr();
}

TEST_F(ConfinementTest, NoDescriptorOfKcrdOrTheMonitorReachesAContainer) {
  // kcrd: everything beyond stdio is close-on-exec, the inherited pipe too.
  pid_t kcrd = KcrdPid();
  ASSERT_GT(kcrd, 0);
  auto kfds = Fds(kcrd);
  for (const auto& [n, f] : kfds) {
    if (n > 2) {
      EXPECT_TRUE(f.cloexec) << "kcrd fd " << n << " -> " << f.target << " is inherited by its children";
    }
  }
  auto pc = PodConfig("fds");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto cc = CtrConfig("app", "busybox", {"sleep", "1000"});
  cc.set_stdin(true);  // stdio: three pipes of the monitor's
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  // The monitor: stdio on /dev/null, everything else its own and
  // close-on-exec; no pipe it shares with kcrd.
  pid_t monitor = PodInfo(*pod).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  kfds = Fds(kcrd);
  std::set<std::string> kcrd_pipes;
  for (const auto& [n, f] : kfds)
    if (f.target.starts_with("pipe:")) kcrd_pipes.insert(f.target);
  auto mfds = Fds(monitor);
  for (int n : {0, 1, 2}) EXPECT_EQ(mfds[n].target, "/dev/null") << Describe(mfds);
  for (const auto& [n, f] : mfds) {
    if (n <= 2) continue;
    EXPECT_TRUE(f.cloexec) << "monitor fd " << n << " -> " << f.target << "\n" << Describe(mfds);
    EXPECT_NE(f.target, leaked_ino_) << "kcrd's launcher's pipe reached the monitor";
    EXPECT_FALSE(kcrd_pipes.count(f.target)) << "monitor fd " << n << " is kcrd's " << f.target;
  }
  // The container's init and an exec'd process hold stdio only (and the
  // listing's own descriptor).
  auto r = Exec(*ctr, {"ls", "/proc/1/fd"});
  EXPECT_EQ(r.stdout(), "0\n1\n2\n") << r.stderr();
  r = Exec(*ctr, {"ls", "/proc/self/fd"});
  EXPECT_EQ(r.stdout(), "0\n1\n2\n3\n") << r.stderr();
}

TEST_F(ConfinementTest, MonitorsAndContainerInitsRunFromASealedCopy) {
  auto pc = PodConfig("sealed");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  pid_t monitor = PodInfo(*pod).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  EXPECT_TRUE(Exe(monitor).starts_with("/memfd:kcr-monitor")) << Exe(monitor);
  ExpectUnwritableExe(monitor);
  // A created container's init waits for StartContainer in the monitor's
  // image: the same sealed copy.
  auto created = RunCtr(*pod, pc, CtrConfig("created", "busybox", {"sleep", "1000"}), /*start=*/false);
  ASSERT_TRUE(created.ok()) << created.status();
  std::string m = std::to_string(monitor);
  std::istringstream kids(fs::ReadFile("/proc/" + m + "/task/" + m + "/children").value_or(""));
  int inits = 0;
  for (pid_t kid; kids >> kid;) {
    EXPECT_TRUE(Exe(kid).starts_with("/memfd:kcr-monitor")) << kid << ": " << Exe(kid);
    ExpectUnwritableExe(kid);
    inits++;
  }
  EXPECT_GE(inits, 1);
  // One copy for all: a second pod's monitor maps the same memfd inode.
  auto pod2 = RunPod(PodConfig("sealed2"));
  ASSERT_TRUE(pod2.ok()) << pod2.status();
  pid_t monitor2 = PodInfo(*pod2).value("monitorPid", -1);
  struct stat a, b;
  ASSERT_EQ(::stat(("/proc/" + m + "/exe").c_str(), &a), 0);
  ASSERT_EQ(::stat(("/proc/" + std::to_string(monitor2) + "/exe").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_dev, b.st_dev);
}


// The host's kernel log is masked in every non-privileged container, also
// when kubelet sends its own list of masked paths (which leaves it out)
// and the container holds CAP_SYSLOG, which could otherwise drain it.
TEST_F(ConfinementTest, TheKernelLogIsMasked) {
  auto pc = PodConfig("kmsg");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto cc = CtrConfig("app", "busybox", {"sleep", "1000"});
  auto* sc = cc.mutable_linux()->mutable_security_context();
  for (const char* p : {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                        "/sys/devices/virtual/powercap"})  // kubelet's list
    sc->add_masked_paths(p);
  sc->mutable_capabilities()->add_add_capabilities("SYSLOG");
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  auto r = Exec(*ctr, {"stat", "-c", "%F %t:%T", "/proc/kmsg"});
  EXPECT_EQ(r.stdout(), "character special file 1:3\n") << r.stderr();
}

}  // namespace
}  // namespace kcr::e2e
