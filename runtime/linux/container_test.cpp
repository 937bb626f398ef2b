// Real containers from a busybox rootfs built here from Debian's
// busybox-static: namespaces, rootfs, users, capabilities, seccomp,
// cgroups, exit codes, and bad specs.
#include "runtime/linux/container.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "runtime/cgroups/device_filter.h"
#include "runtime/linux/testing_rootfs.h"
#include "runtime/oci/seccomp_default.h"

namespace kcr::runtime {
namespace {

class ContainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rootfs_ = testing::MakeBusyboxRootfs();
    ASSERT_FALSE(rootfs_.empty());
  }
  static void TearDownTestSuite() { fs::RemoveAll(rootfs_).IgnoreError(); }

  oci::Spec Spec(std::vector<std::string> args) { return testing::BusyboxSpec(rootfs_, std::move(args)); }

  struct Result {
    int code = -1;
    std::string out;
  };
  // Create, start, wait; stdout and stderr captured.
  StatusOr<Result> RunSpec(const oci::Spec& s, CgroupManager* cg = nullptr, CreateOptions o = {}) {
    std::string outf = rootfs_ + "-out";  // beside the rootfs, removed on every path
    struct Unlink {
      std::string p;
      ~Unlink() { ::unlink(p.c_str()); }
    } unlink_out{outf};
    UniqueFd out(::open(outf.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    o.stdout_fd = o.stderr_fd = out.get();
    o.cgroups = cg;
    KCR_ASSIGN_OR_RETURN(auto c, Container::Create(s, o));
    KCR_RETURN_IF_ERROR(c->Start());
    KCR_ASSIGN_OR_RETURN(int st, c->Wait());
    Result r;
    r.code = ExitCodeOf(st);
    r.out = fs::ReadFile(outf).value_or("");
    return r;
  }
  Result Run(std::vector<std::string> args) {
    auto r = RunSpec(Spec(std::move(args)));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(Result{});
  }
  static std::string rootfs_;
};
std::string ContainerTest::rootfs_;

int MountCount() {
  auto m = fs::ReadFile("/proc/self/mountinfo");
  int n = 0;
  for (char c : m.value_or("")) n += c == '\n';
  return n;
}

TEST_F(ContainerTest, RunsAndReportsExitCodes) {
  int mounts = MountCount();
  Result r = Run({"sh", "-c", "echo hello; exit 3"});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(MountCount(), mounts);  // nothing leaked into our mount namespace
}

TEST_F(ContainerTest, NamespacesIsolate) {
  auto s = Spec({"sh", "-c", "hostname; echo pid=$$; ls /sys/class/net; ipcs 2>/dev/null | head -0"});
  s.hostname = "kcr-test-host";
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("kcr-test-host\n"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("pid=1\n"), std::string::npos) << r->out;  // init of its own PID namespace
  EXPECT_NE(r->out.find("lo"), std::string::npos) << r->out;
  EXPECT_EQ(r->out.find("eth0"), std::string::npos) << r->out;
  char host[256];
  gethostname(host, sizeof host);
  EXPECT_STRNE(host, "kcr-test-host");
}

// Each namespace the spec lists is the container's own; one it leaves out
// is the host's.
TEST_F(ContainerTest, OwnAndHostNamespaces) {
  const std::vector<std::string> kinds = {"ipc", "uts", "net", "pid", "mnt"};
  std::string script;
  for (const auto& k : kinds) script += "readlink /proc/self/ns/" + k + "; ";
  auto host_ns = [&](const std::string& k) {
    char buf[64] = {};
    ssize_t n = ::readlink(("/proc/self/ns/" + k).c_str(), buf, sizeof buf - 1);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) + "\n";
  };
  auto own = RunSpec(Spec({"sh", "-c", script}));
  ASSERT_TRUE(own.ok()) << own.status();
  for (const auto& k : kinds) EXPECT_EQ(own->out.find(host_ns(k)), std::string::npos) << k << " is the host's";
  // With the host's network namespace /sys shows the host's devices, and
  // nothing under it is writable.
  auto s = Spec({"sh", "-c", script + "awk '$2 ~ \"^/sys\" && $4 ~ \"^rw\" {print \"writable\", $2}' /proc/self/mounts"});
  s.linux.namespaces = {{"pid", ""}, {"mount", ""}};  // host IPC, UTS and network
  auto host = RunSpec(s);
  ASSERT_TRUE(host.ok()) << host.status();
  for (const auto& k : {"ipc", "uts", "net"}) EXPECT_NE(host->out.find(host_ns(k)), std::string::npos) << k;
  EXPECT_EQ(host->out.find(host_ns("pid")), std::string::npos);
  EXPECT_EQ(host->out.find("writable"), std::string::npos) << host->out;
}

// rlimits, oom_score_adj and namespaced sysctls reach the process; a sysctl
// that would change the host, or one without its namespace, is refused.
TEST_F(ContainerTest, RlimitsOomScoreAdjAndSysctls) {
  auto s = Spec({"sh", "-c",
                 "grep 'Max open files' /proc/self/limits | tr -s ' ' | cut -d' ' -f4,5; cat /proc/self/oom_score_adj; "
                 "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_forward"});
  s.process.rlimits = {{"RLIMIT_NOFILE", 2048, 1024}};
  s.process.oom_score_adj = 500;
  s.linux.sysctl = {{"kernel.shm_rmid_forced", "1"}, {"net/ipv4/ip_forward", "1"}};
  std::string host_forward = fs::ReadFile("/proc/sys/net/ipv4/ip_forward").value_or("?");
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "1024 2048\n500\n1\n1\n");
  EXPECT_EQ(fs::ReadFile("/proc/sys/net/ipv4/ip_forward").value_or("?"), host_forward);
  // (the host's own value: even a regression here would change nothing)
  std::string panic = fs::ReadFile("/proc/sys/kernel/panic").value_or("0\n");
  s.linux.sysctl = {{"kernel.panic", panic.substr(0, panic.find('\n'))}};
  auto bad = RunSpec(s);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("kernel.panic"), absl::string_view::npos) << bad.status();
  s.linux.sysctl = {{"net.ipv4.ip_forward", "1"}};
  s.linux.namespaces = {{"pid", ""}, {"mount", ""}};  // the host's network namespace
  bad = RunSpec(s);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("network namespace"), absl::string_view::npos) << bad.status();
}

// Masked paths are the spec's: the defaults hide /proc/timer_list, an
// empty list shows it, an added path hides that file.
TEST_F(ContainerTest, MaskedPathsFollowTheSpec) {
  const char* script = "wc -c < /proc/timer_list; wc -c < /etc/passwd";
  auto def = RunSpec(Spec({"sh", "-c", script}));
  ASSERT_TRUE(def.ok()) << def.status();
  EXPECT_EQ(def->out.substr(0, 2), "0\n") << def->out;
  auto s = Spec({"sh", "-c", script});
  s.linux.masked_paths = {"/etc/passwd"};
  auto custom = RunSpec(s);
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_NE(custom->out.substr(0, 2), "0\n") << custom->out;  // timer_list shows
  EXPECT_TRUE(custom->out.ends_with("\n0\n")) << custom->out;  // passwd hidden
}

TEST_F(ContainerTest, KilledBySignalIs128PlusSignal) {
  CreateOptions o;
  auto c = Container::Create(Spec({"sleep", "60"}), o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Start().ok());
  kill((*c)->pid(), SIGKILL);
  auto st = (*c)->Wait();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(ExitCodeOf(*st), 137);
}

TEST_F(ContainerTest, ReadOnlyRootAndMaskedPaths) {
  auto s = Spec({"sh", "-c",
                 "touch /x 2>/dev/null && echo rw || echo ro; "
                 "cat /proc/kcore 2>/dev/null | wc -c; "
                 "(echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo sysrw || echo sysro; "
                 "touch /tmp/../dev/shm/ok && echo shm"});
  s.root_readonly = true;
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "ro\n0\nsysro\nshm\n");
}

TEST_F(ContainerTest, UsersFromTheImage) {
  auto s = Spec({"sh", "-c", "id -u; id -g; id -G"});
  s.process.user.username = "www-data";
  s.process.user.gid_from_passwd = true;
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "33\n33\n33 500\n");
  // An explicit group wins over the passwd entry's; Strict adds no
  // /etc/group memberships.
  s.process.user.gid_from_passwd = false;
  s.process.user.gid = 44;
  s.process.user.strict_groups = true;
  r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "33\n44\n44\n");
  s.process.user.username = "no-such-user";
  auto bad = RunSpec(s);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no-such-user"), absl::string_view::npos) << bad.status();
  s = Spec({"id", "-u"});
  s.process.user.uid = 1234;
  r = RunSpec(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "1234\n");
}

TEST_F(ContainerTest, Capabilities) {
  Result r = Run({"sh", "-c", "grep CapEff /proc/self/status"});
  // The default set: chown dac_override fowner fsetid kill setgid setuid setpcap
  // net_bind_service net_raw sys_chroot mknod audit_write setfcap.
  EXPECT_NE(r.out.find("00000000a80425fb"), std::string::npos) << r.out;
  auto s = Spec({"sh", "-c", "grep CapEff /proc/self/status; chown 33 /tmp 2>/dev/null && echo chowned || echo denied"});
  s.process.capabilities = oci::Capabilities{};
  auto none = RunSpec(s);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_NE(none->out.find("0000000000000000"), std::string::npos) << none->out;
  EXPECT_NE(none->out.find("denied"), std::string::npos) << none->out;
}

TEST_F(ContainerTest, SeccompBlocksSethostname) {
  auto s = Spec({"sh", "-c", "hostname changed 2>&1; echo rc=$?"});
  s.process.capabilities->effective.push_back("CAP_SYS_ADMIN");
  s.process.capabilities->permitted.push_back("CAP_SYS_ADMIN");
  s.process.capabilities->bounding.push_back("CAP_SYS_ADMIN");
  s.linux.seccomp = oci::Seccomp{"SCMP_ACT_ALLOW", {}, {"SCMP_ARCH_X86_64"}, {{{"sethostname"}, "SCMP_ACT_ERRNO", {}, {}}}};
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("rc=1"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("not permitted"), std::string::npos) << r->out;
}

TEST_F(ContainerTest, RuntimeDefaultIsAnAllowList) {
  // Ordinary work runs; what needs CAP_SYS_ADMIN fails with EPERM; clone
  // may not create namespaces; an unknown (not allowed) call fails.
  auto s = Spec({"sh", "-c",
                 "ls / >/dev/null && echo listed; (sleep 0 &) ; wait; echo forked;"
                 "hostname other 2>/dev/null || echo hostname-denied;"
                 "unshare -n true 2>/dev/null || echo unshare-denied;"
                 "nsenter -t 1 -n true 2>/dev/null || echo setns-denied"});
  s.linux.seccomp = oci::RuntimeDefaultSeccomp(s.process.capabilities->bounding);
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const char* want : {"listed", "forked", "hostname-denied", "unshare-denied", "setns-denied"})
    EXPECT_NE(r->out.find(want), std::string::npos) << want << " missing from: " << r->out;
  // With CAP_SYS_ADMIN the same profile lets sethostname through.
  s = Spec({"sh", "-c", "hostname other && hostname"});
  for (auto* set : {&s.process.capabilities->bounding, &s.process.capabilities->effective,
                    &s.process.capabilities->permitted})
    set->push_back("CAP_SYS_ADMIN");
  s.linux.seccomp = oci::RuntimeDefaultSeccomp(s.process.capabilities->bounding);
  r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "other\n");
}

TEST_F(ContainerTest, SeccompArgumentConditions) {
  // socket(AF_UNIX) allowed, anything else refused: a rule with an argument.
  auto s = Spec({"sh", "-c", "nc 127.0.0.1 1 2>&1 </dev/null | head -1; echo done"});
  oci::Seccomp sc;
  sc.default_action = "SCMP_ACT_ALLOW";
  sc.architectures = {"SCMP_ARCH_X86_64"};
  oci::SeccompSyscall deny;
  deny.names = {"socket"};
  deny.action = "SCMP_ACT_ERRNO";
  deny.errno_ret = EACCES;
  deny.args = {{0, AF_INET, 0, "SCMP_CMP_EQ"}};
  sc.syscalls.push_back(deny);
  s.linux.seccomp = sc;
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("ermission denied"), std::string::npos) << r->out;
}

TEST_F(ContainerTest, DeviceNodesFromTheSpec) {
  auto s = Spec({"sh", "-c", "ls -ln /dev/kcr/null; echo x > /dev/kcr/null && echo written"});
  s.linux.devices.push_back({"/dev/kcr/null", "c", 1, 3, 0620, 0, 5});
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("crw--w----"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find(" 0        5 "), std::string::npos) << r->out;  // uid 0, gid 5
  EXPECT_NE(r->out.find("1,   3"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("written"), std::string::npos) << r->out;
  s = Spec({"true"});
  s.linux.devices.push_back({"dev/relative", "c", 1, 3, {}, {}, {}});
  EXPECT_NE(RunSpec(s).status().message().find("linux.devices[].path"), absl::string_view::npos);
}

TEST_F(ContainerTest, TerminalIsAPtyFromTheContainersDevpts) {
  auto s = Spec({"sh", "-c", "tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys; stty size; echo err >&2"});
  s.process.terminal = true;
  CreateOptions o;
  auto c = Container::Create(s, o);
  ASSERT_TRUE(c.ok()) << c.status();
  UniqueFd master = (*c)->TakeConsole();
  ASSERT_TRUE(master);
  EXPECT_FALSE((*c)->TakeConsole());  // handed over once
  ASSERT_TRUE((*c)->Start().ok());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(master.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));  // EIO at hang-up
  auto st = (*c)->Wait();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(ExitCodeOf(*st), 0);
  // The container's own devpts instance numbers from 0; output lines end
  // in \r\n as a terminal writes them; stderr goes to the terminal too.
  EXPECT_NE(out.find("/dev/pts/0\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("all-ttys"), std::string::npos) << out;
  EXPECT_NE(out.find("24 80"), std::string::npos) << out;
  EXPECT_NE(out.find("err"), std::string::npos) << out;
}

// Mount propagation between a shared host directory and a container, for
// each mode: what the container mounts reaches the host only when
// bidirectional; what the host mounts later reaches the container unless
// private; the host's mounts survive the container in every mode.
TEST_F(ContainerTest, MountPropagationModes) {
  for (const char* mode : {"rprivate", "rslave", "rshared"}) {
    SCOPED_TRACE(mode);
    std::string d = fs::MakeTempDir("kcr-propagation");
    struct Cleanup {  // on every path, failures included
      std::string d;
      ~Cleanup() {
        for (const char* sub : {"/inner", "/fromhost", ""}) ::umount2((d + sub).c_str(), MNT_DETACH);
        ::unlink((d + "-out").c_str());
        fs::RemoveAll(d).IgnoreError();
      }
    } cleanup{d};
    ASSERT_EQ(::mount(d.c_str(), d.c_str(), nullptr, MS_BIND | MS_REC, nullptr), 0);
    ASSERT_EQ(::mount(nullptr, d.c_str(), nullptr, MS_SHARED | MS_REC, nullptr), 0);
    ::mkdir((d + "/inner").c_str(), 0755);
    ::mkdir((d + "/fromhost").c_str(), 0755);
    auto s = Spec({"sh", "-c",
                   "mount -t tmpfs tmpfs " + d + "/inner && touch " + d + "/inner/x; touch " + d +
                       "/ready; while [ ! -e " + d + "/go ]; do sleep 0.05; done; ls " + d + "/fromhost"});
    for (auto* set : {&s.process.capabilities->bounding, &s.process.capabilities->effective,
                      &s.process.capabilities->permitted})
      set->push_back("CAP_SYS_ADMIN");
    s.mounts.push_back({d, "bind", d, {"rbind", mode}});
    s.linux.rootfs_propagation = std::string(mode) == "rshared" ? "rshared" : std::string(mode) == "rslave" ? "rslave" : "";
    std::string outf = d + "-out";
    UniqueFd out(::open(outf.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    CreateOptions o;
    o.stdout_fd = o.stderr_fd = out.get();
    auto c = Container::Create(s, o);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE((*c)->Start().ok());
    struct stat st;
    for (int i = 0; i < 200 && ::stat((d + "/ready").c_str(), &st) != 0; i++) usleep(10000);
    bool seen_on_host = ::stat((d + "/inner/x").c_str(), &st) == 0;
    EXPECT_EQ(seen_on_host, std::string(mode) == "rshared");
    ASSERT_EQ(::mount("tmpfs", (d + "/fromhost").c_str(), "tmpfs", 0, nullptr), 0);
    ASSERT_TRUE(fs::WriteFileAtomic(d + "/fromhost/y", "").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(d + "/go", "").ok());
    auto w = (*c)->Wait();
    ASSERT_TRUE(w.ok());
    std::string got = fs::ReadFile(outf).value_or("");
    EXPECT_EQ(got.find("y") != std::string::npos, std::string(mode) != "rprivate") << got;
    // The host's own mounts are still there after the container's end.
    std::string mi = fs::ReadFile("/proc/self/mountinfo").value_or("");
    EXPECT_NE(mi.find(" " + d + "/fromhost "), std::string::npos);
    EXPECT_NE(mi.find(" " + d + " "), std::string::npos);
  }
}

TEST_F(ContainerTest, BadSpecsNameTheProblem) {
  auto s = Spec({"true"});
  s.root_path = "/nonexistent/kcr-rootfs";
  auto r = RunSpec(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("root.path"), absl::string_view::npos) << r.status();
  s = Spec({"true"});
  s.mounts.push_back({"relative", "tmpfs", "tmpfs", {}});
  r = RunSpec(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mounts[].destination"), absl::string_view::npos) << r.status();
  s = Spec({"/bin/no-such-binary"});
  r = RunSpec(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-binary"), absl::string_view::npos) << r.status();
  s = Spec({"true"});
  s.linux.seccomp = oci::Seccomp{"SCMP_ACT_NOPE", {}, {}, {}};
  r = RunSpec(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("seccomp"), absl::string_view::npos) << r.status();
}

// ---- Confinement: nothing of the runtime or the host reaches a container.

// A descriptor the creating process holds without O_CLOEXEC, and the
// init's own /dev/null for an unset stdin, are gone before the program
// runs (CVE-2024-21626 class): ls sees its stdio and its own listing fd.
TEST_F(ContainerTest, NoDescriptorBeyondStdioReachesTheContainer) {
  UniqueFd leak(::open("/", O_RDONLY | O_DIRECTORY));  // inheritable on purpose
  ASSERT_TRUE(leak);
  Result r = Run({"ls", "/proc/self/fd"});
  EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

// A working directory through /proc/self/fd cannot land in a directory of
// the runtime's (the init's descriptors are closed, magic links are not
// followed): the container is refused instead of starting in the host's tree.
TEST_F(ContainerTest, WorkingDirectoryCannotEscapeThroughProcSelfFd) {
  std::string host_dir = fs::MakeTempDir("kcr-host-dir");
  ASSERT_TRUE(fs::WriteFileAtomic(host_dir + "/host-marker", "").ok());
  UniqueFd dir(::open(host_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir);
  auto s = Spec({"ls"});
  s.process.cwd = "/proc/self/fd/" + std::to_string(dir.get());
  auto r = RunSpec(s);
  fs::RemoveAll(host_dir).IgnoreError();
  ASSERT_FALSE(r.ok()) << "started in: " << r->out;
  EXPECT_NE(r.status().message().find("process.cwd"), absl::string_view::npos) << r.status();
  // A symlink inside the root is still followed (resolved in the root).
  s = Spec({"pwd"});
  s.process.cwd = "/tmp/../bin/..";
  auto ok = RunSpec(s);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->out, "/\n");
}

// The parent-death signal survives the identity change (the kernel clears
// it when the uids change): a uid-1000 container dies with the process
// that created it instead of running on unsupervised.
TEST_F(ContainerTest, NonRootContainerDiesWithItsParent) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);  // the orphaned init is reaped here
  struct Unset {
    ~Unset() { ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }
  } unset;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd pid_r(p[0]), pid_w(p[1]);
  pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {  // the container's parent, as a monitor would be
    auto s = Spec({"sleep", "1000"});
    s.process.user.uid = s.process.user.gid = 1000;
    auto c = Container::Create(s, CreateOptions{});
    if (!c.ok() || !(*c)->Start().ok()) ::_exit(1);
    pid_t pid = (*c)->pid();
    if (::write(pid_w.get(), &pid, sizeof pid) != sizeof pid) ::_exit(1);
    for (;;) ::pause();
  }
  pid_w.reset();
  pid_t init = 0;
  ASSERT_EQ(::read(pid_r.get(), &init, sizeof init), static_cast<ssize_t>(sizeof init));
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, init, 0)));
  ASSERT_TRUE(pidfd);
  ::kill(helper, SIGKILL);
  int st;
  ::waitpid(helper, &st, 0);
  pollfd pfd{pidfd.get(), POLLIN, 0};
  bool died = ::poll(&pfd, 1, 20000) == 1;  // only bounds a failure
  if (!died) ::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
  ::waitpid(init, &st, 0);
  EXPECT_TRUE(died) << "the uid-1000 container outlived its parent";
}

// Until it execs, the init runs the runtime's own image: a process with the
// same uid and more capabilities but no CAP_SYS_PTRACE cannot open its
// /proc/<pid>/exe (CVE-2019-5736 class). After exec, the program is
// dumpable again as usual: a uid-1000 process owns its /proc entry.
TEST_F(ContainerTest, InitIsNotDumpableUntilExec) {
  auto c = Container::Create(Spec({"true"}), CreateOptions{});
  ASSERT_TRUE(c.ok()) << c.status();
  std::string exe = "/proc/" + std::to_string((*c)->pid()) + "/exe";
  pid_t probe = ::fork();
  ASSERT_GE(probe, 0);
  if (probe == 0) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2] = {};
    if (::syscall(SYS_capget, &hdr, d) != 0) ::_exit(2);
    d[0].effective &= ~(1u << CAP_SYS_PTRACE);
    d[0].permitted &= ~(1u << CAP_SYS_PTRACE);
    if (::syscall(SYS_capset, &hdr, d) != 0) ::_exit(2);
    int fd = ::open(exe.c_str(), O_RDONLY | O_CLOEXEC);
    ::_exit(fd >= 0 ? 0 : (errno == EPERM || errno == EACCES) ? 1 : 3);
  }
  int st = 0;
  ::waitpid(probe, &st, 0);
  EXPECT_EQ(WEXITSTATUS(st), 1) << "0: opened it; 2: capset failed; 3: another error";
  ASSERT_TRUE((*c)->Start().ok());
  ASSERT_TRUE((*c)->Wait().ok());
  auto s = Spec({"stat", "-c", "%u", "/proc/self/status"});
  s.process.user.uid = s.process.user.gid = 1000;
  auto r = RunSpec(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "1000\n");
}

// no_new_privs is the spec's even with a seccomp profile (libseccomp would
// force it on): without it the filter is loaded while the init still holds
// CAP_SYS_ADMIN, so non-root containers get it too.
TEST_F(ContainerTest, SeccompLeavesNoNewPrivsToTheSpec) {
  for (uint32_t uid : {0u, 1000u})
    for (bool nnp : {false, true}) {
      SCOPED_TRACE("uid " + std::to_string(uid) + (nnp ? " no_new_privs" : ""));
      auto s = Spec({"grep", "NoNewPrivs", "/proc/self/status"});
      s.process.user.uid = s.process.user.gid = uid;
      s.process.no_new_privileges = nnp;
      s.linux.seccomp = oci::RuntimeDefaultSeccomp(s.process.capabilities->bounding);
      auto r = RunSpec(s);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->out, std::string("NoNewPrivs:\t") + (nnp ? "1" : "0") + "\n");
    }
}

// A setuid-root program gains euid 0 under a seccomp profile unless
// no_new_privs is asked for (allowPrivilegeEscalation).
TEST_F(ContainerTest, SetuidWorksWithSeccompWithoutNoNewPrivs) {
  std::string root = testing::MakeBusyboxRootfs();
  ASSERT_FALSE(root.empty());
  struct Remove {
    std::string r;
    ~Remove() { fs::RemoveAll(r).IgnoreError(); }
  } remove{root};
  auto euid = testing::AddSetuidEuidProgram(root);
  ASSERT_FALSE(euid.empty());
  for (bool nnp : {false, true}) {
    SCOPED_TRACE(nnp ? "no_new_privs" : "privilege escalation allowed");
    auto s = testing::BusyboxSpec(root, euid);
    s.process.user.uid = s.process.user.gid = 1000;
    s.process.no_new_privileges = nnp;
    s.linux.seccomp = oci::RuntimeDefaultSeccomp(s.process.capabilities->bounding);
    auto r = RunSpec(s);
    ASSERT_TRUE(r.ok()) << r.status();
    // With no_new_privs the setuid bit is ignored: busybox, still uid
    // 1000, cannot take the uid its config names.
    EXPECT_EQ(r->out, nnp ? "id: setresgid: Operation not permitted\n" : "0\n");
  }
}

// An image whose /etc/passwd or /etc/group is a FIFO cannot block the
// init: the user databases must be regular files, opened without
// blocking; a symlink in the root is followed, a magic link is not.
TEST_F(ContainerTest, UserDatabasesMustBeRegularFiles) {
  std::string root = testing::MakeBusyboxRootfs();
  ASSERT_FALSE(root.empty());
  struct Remove {
    std::string r;
    ~Remove() { fs::RemoveAll(r).IgnoreError(); }
  } remove{root};
  CreateOptions o;
  o.init_timeout = std::chrono::seconds(10);  // only bounds a failure
  for (const char* db : {"/etc/passwd", "/etc/group"}) {
    SCOPED_TRACE(db);
    std::string path = root + db, saved = fs::ReadFile(path).value_or("");
    ASSERT_EQ(::unlink(path.c_str()), 0);
    ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
    auto s = testing::BusyboxSpec(root, {"id"});
    s.process.user.username = "www-data";
    auto r = RunSpec(s, nullptr, o);
    ::unlink(path.c_str());
    ASSERT_TRUE(fs::WriteFileAtomic(path, saved).ok());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(std::string(db) + " is not a regular file"), absl::string_view::npos)
        << r.status();
  }
  std::string passwd = root + "/etc/passwd";
  ASSERT_EQ(::rename(passwd.c_str(), (passwd + ".real").c_str()), 0);
  ASSERT_EQ(::symlink("passwd.real", passwd.c_str()), 0);
  auto s = testing::BusyboxSpec(root, {"id", "-u"});
  s.process.user.username = "www-data";
  auto r = RunSpec(s, nullptr, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "33\n");
  ASSERT_EQ(::unlink(passwd.c_str()), 0);
  ASSERT_EQ(::symlink("/proc/self/root/etc/passwd.real", passwd.c_str()), 0);
  r = RunSpec(s, nullptr, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/etc/passwd"), absl::string_view::npos) << r.status();
}

// Stands in for an init that blocks during its set-up: the "cgroup" it is
// placed in stops it.
class StoppingCgroups : public CgroupManager {
 public:
  std::string Driver() const override { return "cgroupfs"; }
  Status Create(const std::string&, const oci::Resources&) override { return absl::OkStatus(); }
  Status Add(const std::string&, pid_t pid) override {
    stopped = pid;
    return ::kill(pid, SIGSTOP) == 0 ? absl::OkStatus() : ErrnoError("SIGSTOP");
  }
  Status Update(const std::string&, const oci::Resources&) override { return absl::OkStatus(); }
  StatusOr<CgroupStats> Stats(const std::string&) override { return CgroupStats{}; }
  Status Destroy(const std::string&) override { return absl::OkStatus(); }
  std::string Dir(const std::string&) const override { return ""; }
  pid_t stopped = -1;
};

// Every wait on the init is bounded: one that never reports is killed, and
// the error names the phase and the init's last step.
TEST_F(ContainerTest, WaitsOnTheInitAreBounded) {
  StoppingCgroups cg;
  auto s = Spec({"true"});
  s.linux.cgroups_path = "kcr-test/stopped";
  CreateOptions o;
  o.cgroups = &cg;
  o.init_timeout = std::chrono::milliseconds(200);
  auto c = Container::Create(s, o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDeadlineExceeded) << c.status();
  EXPECT_NE(c.status().message().find("set-up"), absl::string_view::npos) << c.status();
  ASSERT_GT(cg.stopped, 0);
  int st;
  EXPECT_EQ(::waitpid(cg.stopped, &st, WNOHANG), -1);  // killed and reaped already
  // Stopped between create and start: Start gives up, the init is killed.
  o.cgroups = nullptr;
  c = Container::Create(Spec({"true"}), o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(::kill((*c)->pid(), SIGSTOP), 0);
  Status started = (*c)->Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kDeadlineExceeded) << started;
  EXPECT_NE(started.message().find("exec"), absl::string_view::npos) << started;
  auto w = (*c)->Wait();
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(WIFSIGNALED(*w) && WTERMSIG(*w) == SIGKILL) << *w;
}

class CgroupContainerTest : public ContainerTest {
 protected:
  void SetUp() override {
    auto m = NewCgroupfsManager();
    ASSERT_TRUE(m.ok()) << m.status();
    cg_ = std::move(*m);
    path_ = "kcr-test/" + std::to_string(getpid());
  }
  void TearDown() override {
    EXPECT_TRUE(cg_->Destroy(path_).ok());
    cg_->Destroy("kcr-test").IgnoreError();
  }
  std::unique_ptr<CgroupManager> cg_;
  std::string path_;
};

TEST_F(CgroupContainerTest, PidsLimitEnforced) {
  auto s = Spec({"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo started; kill $(jobs -p) 2>/dev/null; exit 0"});
  s.linux.cgroups_path = path_;
  s.linux.resources = oci::Resources{};
  s.linux.resources->pids_limit = 4;
  auto r = RunSpec(s, cg_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("fork"), std::string::npos) << r->out;  // "can't fork"
}

TEST_F(CgroupContainerTest, DeviceAllowListIsEnforced) {
  // CAP_MKNOD lets a container make any node; the device cgroup decides
  // which it may open. /dev/zero (1:5) is left out of this list on purpose.
  const char* script =
      "rm -f /tmp/z; mknod /tmp/z c 1 5 && (head -c1 /tmp/z >/dev/null 2>&1 && echo zero-read || echo zero-denied);"
      "echo x > /dev/null && echo null-ok";
  auto s = Spec({"sh", "-c", script});
  s.linux.cgroups_path = path_;
  s.linux.resources = oci::Resources{};
  s.linux.resources->devices = {{false, "a", {}, {}, "rwm"}, {true, "c", {}, {}, "m"}, {true, "c", 1, 3, "rwm"}};
  auto r = RunSpec(s, cg_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("zero-denied"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("null-ok"), std::string::npos) << r->out;
  ASSERT_TRUE(cg_->Destroy(path_).ok());
  // The same container under the default rules reads /dev/zero.
  s.linux.resources->devices = DefaultDeviceRules();
  r = RunSpec(s, cg_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->out.find("zero-read"), std::string::npos) << r->out;
}

TEST_F(CgroupContainerTest, CgroupNamespaceIsRootedAtTheContainersCgroup) {
  auto s = Spec({"sh", "-c", "cat /proc/self/cgroup"});
  s.linux.cgroups_path = path_;
  s.linux.resources = oci::Resources{};
  s.linux.namespaces.push_back({"cgroup", ""});
  auto r = RunSpec(s, cg_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  // Its own cgroup is its root: no host path shows.
  EXPECT_EQ(r->out.find(path_), std::string::npos) << r->out;
  EXPECT_NE(r->out.find(testing::CgroupNsRootLine()), std::string::npos) << r->out;
}

TEST_F(CgroupContainerTest, MemoryLimitOomKillIsReported) {
  auto s = Spec({"sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"});
  s.linux.cgroups_path = path_;
  s.linux.resources = oci::Resources{};
  s.linux.resources->memory_limit = 32 << 20;
  auto r = RunSpec(s, cg_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  auto stats = cg_->Stats(path_);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GE(stats->oom_kills, 1u) << r->out;
  EXPECT_EQ(r->out.find("survived"), std::string::npos) << r->out;
}


// A user database that is a kernel interface is refused before a byte is
// read: the init still holds the runtime's capabilities, and /proc/kmsg
// read with them drains the host's kernel log (here with no masked paths,
// as a privileged container has none).
TEST_F(ContainerTest, UserDatabasesOnKernelFilesystemsAreRefused) {
  std::string root = testing::MakeBusyboxRootfs();
  ASSERT_FALSE(root.empty());
  struct Remove {
    std::string r;
    ~Remove() { fs::RemoveAll(r).IgnoreError(); }
  } remove{root};
  CreateOptions o;
  o.init_timeout = std::chrono::seconds(10);
  std::string passwd = root + "/etc/passwd";
  // Something unread in /proc/kmsg's view of the log, whatever came before.
  if (UniqueFd kmsg(::open("/dev/kmsg", O_WRONLY | O_CLOEXEC)); kmsg) {
    std::string line = "kcr test: UserDatabasesOnKernelFilesystemsAreRefused\n";
    ASSERT_GT(::write(kmsg.get(), line.data(), line.size()), 0);
  }
  for (const char* target : {"/proc/kmsg", "/sys/kernel/uevent_seqnum"}) {
    SCOPED_TRACE(target);
    ASSERT_EQ(::unlink(passwd.c_str()), 0);
    ASSERT_EQ(::symlink(target, passwd.c_str()), 0);
    int unread = static_cast<int>(::syscall(SYS_syslog, 9 /* SYSLOG_ACTION_SIZE_UNREAD */, nullptr, 0));
    auto s = testing::BusyboxSpec(root, {"id", "-u"});
    s.process.user.username = "www-data";
    s.linux.masked_paths.clear();
    auto r = RunSpec(s, nullptr, o);
    ASSERT_FALSE(r.ok());
    std::string fs_name = std::string(target).starts_with("/proc") ? "procfs" : "sysfs";
    EXPECT_NE(r.status().message().find("/etc/passwd is a file of " + fs_name), absl::string_view::npos)
        << r.status();
    if (fs_name == "procfs") {
      ASSERT_GT(unread, 0);
      EXPECT_GE(::syscall(SYS_syslog, 9, nullptr, 0), unread) << "the container drained the host's kernel log";
    }
  }
}

}  // namespace
}  // namespace kcr::runtime
