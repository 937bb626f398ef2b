// Pod user namespaces (KEP-127) through a real kcrd: root inside is an
// unprivileged host uid outside, the image's files are idmapped (root's
// inside, never chowned), host files reach the container through a mount
// only as the mount's mapping says, and nothing (mounts, namespaces) is
// left behind by containers that come and go.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

constexpr uint32_t kHostBase = 65536 * 32;  // 2097152, as kubelet allocates (multiples of 65536)
constexpr uint32_t kLength = 65536;

void SetMappings(google::protobuf::RepeatedPtrField<v1::IDMapping>* out, uint32_t host, uint32_t len) {
  auto* m = out->Add();
  m->set_container_id(0);
  m->set_host_id(host);
  m->set_length(len);
}

class UsernsTest : public KcrdFixture {
 protected:
  void SetUp() override {
    KcrdFixture::SetUp();
    Start();
    ASSERT_TRUE(Pull("busybox").ok());
  }

  v1::PodSandboxConfig UsernsPod(const std::string& name, uint32_t uid_len = kLength) {
    v1::PodSandboxConfig pc = PodConfig(name);
    auto* u = pc.mutable_linux()->mutable_security_context()->mutable_namespace_options()->mutable_userns_options();
    u->set_mode(v1::POD);
    SetMappings(u->mutable_uids(), kHostBase, uid_len);
    SetMappings(u->mutable_gids(), kHostBase, kLength);
    return pc;
  }

  // A container config repeating the pod's namespace options, as kubelet sends it.
  v1::ContainerConfig UsernsCtr(const v1::PodSandboxConfig& pc, const std::string& name, std::vector<std::string> cmd) {
    v1::ContainerConfig c = CtrConfig(name, "busybox", std::move(cmd));
    *c.mutable_linux()->mutable_security_context()->mutable_namespace_options() =
        pc.linux().security_context().namespace_options();
    return c;
  }

  pid_t CtrPid(const std::string& id) {
    v1::ContainerStatusRequest req;
    req.set_container_id(id);
    req.set_verbose(true);
    v1::ContainerStatusResponse resp;
    if (!Runtime().ContainerStatus(Ctx().get(), req, &resp).ok() || !resp.info().count("info")) return -1;
    return json::parse(resp.info().at("info"), nullptr, false).value("pid", -1);
  }

  static std::string StatusLine(pid_t pid, const std::string& key) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);)
      if (line.rfind(key + ":", 0) == 0) return line;
    return "";
  }

  static std::string Link(const std::string& path) {
    char buf[256] = {};
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  // Every process that is in, or holds a descriptor of, the user namespace `ns` ("user:[N]").
  static std::vector<std::string> Holders(const std::string& ns) {
    std::vector<std::string> out;
    DIR* proc = ::opendir("/proc");
    while (dirent* e = proc ? ::readdir(proc) : nullptr) {
      std::string pid = e->d_name;
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      if (Link("/proc/" + pid + "/ns/user") == ns) out.push_back(pid + " (member)");
      if (DIR* fds = ::opendir(("/proc/" + pid + "/fd").c_str())) {
        while (dirent* f = ::readdir(fds))
          if (Link("/proc/" + pid + "/fd/" + f->d_name) == ns) out.push_back(pid + " (fd " + f->d_name + ")");
        ::closedir(fds);
      }
    }
    if (proc) ::closedir(proc);
    return out;
  }

  static int MountsMentioning(const std::string& needle) {
    auto info = fs::ReadFile("/proc/self/mountinfo", 16 << 20);
    int n = 0;
    for (size_t p = 0; info.ok() && (p = info->find(needle, p)) != std::string::npos; p += needle.size()) n++;
    return n;
  }

  std::string Exec1(const std::string& ctr, std::vector<std::string> cmd) {
    auto r = Exec(ctr, std::move(cmd));
    return r.stdout() + r.stderr();
  }
};

TEST_F(UsernsTest, RootInsideIsAnUnprivilegedHostUserOutside) {
  v1::PodSandboxConfig pc = UsernsPod("userns-root");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, UsernsCtr(pc, "c", {"sleep", "1000"}));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  EXPECT_EQ(Exec1(*ctr, {"id", "-u"}), "0\n");
  EXPECT_EQ(Exec1(*ctr, {"id", "-g"}), "0\n");
  std::string map = Exec1(*ctr, {"cat", "/proc/self/uid_map"});
  EXPECT_NE(map.find("0    " + std::to_string(kHostBase) + "      " + std::to_string(kLength)), std::string::npos)
      << map;
  // Seen from the host: the container's init runs as the mapped uid, not root.
  pid_t pid = CtrPid(*ctr);
  ASSERT_GT(pid, 0);
  std::string h = std::to_string(kHostBase);
  EXPECT_EQ(StatusLine(pid, "Uid"), "Uid:\t" + h + "\t" + h + "\t" + h + "\t" + h);
  EXPECT_EQ(StatusLine(pid, "Gid"), "Gid:\t" + h + "\t" + h + "\t" + h + "\t" + h);
  EXPECT_NE(Link("/proc/" + std::to_string(pid) + "/ns/user"), Link("/proc/self/ns/user"));
  // The image's files are root's inside (idmapped layers, nothing chowned),
  // and so are kcr's pod files; the container's root may write its rootfs.
  EXPECT_EQ(Exec1(*ctr, {"stat", "-c", "%u:%g", "/bin", "/etc/passwd", "/etc/hosts", "/etc/resolv.conf", "/dev/shm"}),
            "0:0\n0:0\n0:0\n0:0\n0:0\n");
  auto w = Exec(*ctr, {"sh", "-c", "echo x > /made-inside && mkdir /d && stat -c %u:%g /made-inside /d"});
  EXPECT_EQ(w.exit_code(), 0) << w.stderr();
  EXPECT_EQ(w.stdout(), "0:0\n0:0\n");
  // Capabilities are the namespace's: root inside cannot act on the host's
  // kernel (a host-wide sysctl) even with its full capability set there.
  auto sys = Exec(*ctr, {"sh", "-c", "echo 1 > /proc/sys/kernel/sysrq"});
  EXPECT_NE(sys.exit_code(), 0);
}

TEST_F(UsernsTest, HostFilesReachTheContainerOnlyAsTheMountMapsThem) {
  std::string host_dir = dir_ + "/vol";
  ASSERT_TRUE(fs::MkdirAll(host_dir, 0777).ok());
  ::chmod(host_dir.c_str(), 0777);
  ASSERT_TRUE(fs::WriteFileAtomic(host_dir + "/secret", "s3cret\n").ok());
  ::chmod((host_dir + "/secret").c_str(), 0600);  // root's only

  v1::PodSandboxConfig pc = UsernsPod("userns-vol");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  v1::ContainerConfig cc = UsernsCtr(pc, "c", {"sleep", "1000"});
  // Without mappings (a hostPath the pod was not mapped for): host ids as they are.
  auto* plain = cc.add_mounts();
  plain->set_container_path("/plain");
  plain->set_host_path(host_dir);
  // With the pod's mappings, as kubelet sends every volume of such a pod.
  auto* mapped = cc.add_mounts();
  mapped->set_container_path("/mapped");
  mapped->set_host_path(host_dir);
  SetMappings(mapped->mutable_uidmappings(), kHostBase, kLength);
  SetMappings(mapped->mutable_gidmappings(), kHostBase, kLength);
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(ctr.ok()) << ctr.status();

  auto r = Exec(*ctr, {"cat", "/plain/secret"});
  EXPECT_NE(r.exit_code(), 0);
  EXPECT_NE(r.stderr().find("Permission denied"), std::string::npos) << r.stderr();
  EXPECT_EQ(Exec1(*ctr, {"stat", "-c", "%u", "/plain/secret"}), "65534\n");  // unmapped: the overflow id
  auto wr = Exec(*ctr, {"sh", "-c", "echo hi > /plain/from-plain"});
  EXPECT_EQ(wr.exit_code(), 0) << wr.stderr();
  struct stat st{};
  ASSERT_EQ(::stat((host_dir + "/from-plain").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kHostBase);
  EXPECT_EQ(st.st_gid, kHostBase);

  // Through the idmapped mount host root is the container's root.
  EXPECT_EQ(Exec1(*ctr, {"cat", "/mapped/secret"}), "s3cret\n");
  EXPECT_EQ(Exec1(*ctr, {"stat", "-c", "%u", "/mapped/secret"}), "0\n");
  wr = Exec(*ctr, {"sh", "-c", "echo hi > /mapped/from-mapped"});
  EXPECT_EQ(wr.exit_code(), 0) << wr.stderr();
  ASSERT_EQ(::stat((host_dir + "/from-mapped").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);  // written unshifted, as kubelet's volumes expect
}

TEST_F(UsernsTest, RequestsThatCannotBeHonouredAreRefusedByName) {
  // Mapping lengths that differ (uid vs gid).
  auto bad = RunPod(UsernsPod("userns-bad", 1000));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("differs"), absl::string_view::npos) << bad.status();
  v1::PodSandboxConfig pc = UsernsPod("userns-ok");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  // A mount mapped otherwise than the pod.
  v1::ContainerConfig cc = UsernsCtr(pc, "c", {"true"});
  auto* m = cc.add_mounts();
  m->set_container_path("/x");
  m->set_host_path(dir_);
  SetMappings(m->mutable_uidmappings(), kHostBase + kLength, kLength);
  SetMappings(m->mutable_gidmappings(), kHostBase + kLength, kLength);
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_FALSE(ctr.ok());
  EXPECT_NE(ctr.status().message().find("other than the pod's"), absl::string_view::npos) << ctr.status();
  // A container that asks for a user namespace its pod does not have.
  v1::PodSandboxConfig plain_pc = PodConfig("userns-none");
  auto plain = RunPod(plain_pc);
  ASSERT_TRUE(plain.ok()) << plain.status();
  ctr = RunCtr(*plain, plain_pc, UsernsCtr(pc, "c", {"true"}));
  ASSERT_FALSE(ctr.ok());
  EXPECT_NE(ctr.status().message().find("the pod has none"), absl::string_view::npos) << ctr.status();
}

// Containers started and stopped again and again leave no mount and no
// hold on the pod's user namespace; the pod's removal releases it.
TEST_F(UsernsTest, ContainersComingAndGoingLeaveNothingBehind) {
  constexpr int kRounds = 100;
  v1::PodSandboxConfig pc = UsernsPod("userns-churn");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  int mounts_before = MountsMentioning(root_);
  std::string ns;
  for (int i = 0; i < kRounds; i++) {
    auto ctr = RunCtr(*pod, pc, UsernsCtr(pc, "c" + std::to_string(i), {"sleep", "1000"}));
    ASSERT_TRUE(ctr.ok()) << "round " << i << ": " << ctr.status();
    if (ns.empty()) {
      ns = Link("/proc/" + std::to_string(CtrPid(*ctr)) + "/ns/user");
      ASSERT_EQ(ns.rfind("user:[", 0), 0u) << ns;
    }
    v1::StopContainerRequest stop;
    stop.set_container_id(*ctr);
    stop.set_timeout(0);
    v1::StopContainerResponse sr;
    ASSERT_TRUE(Runtime().StopContainer(Ctx().get(), stop, &sr).ok()) << "round " << i;
    v1::RemoveContainerRequest rm;
    rm.set_container_id(*ctr);
    v1::RemoveContainerResponse rr;
    ASSERT_TRUE(Runtime().RemoveContainer(Ctx().get(), rm, &rr).ok()) << "round " << i;
  }
  // The containers' rootfs and idmapped layer copies lived in their own
  // mount namespaces: the host's table is as it was.
  EXPECT_EQ(MountsMentioning(root_), mounts_before);
  // Only the monitor holds the namespace (by descriptor), no process is in it.
  std::vector<std::string> holders = Holders(ns);
  ASSERT_EQ(holders.size(), 1u) << ::testing::PrintToString(holders);
  EXPECT_NE(holders[0].find("(fd "), std::string::npos) << holders[0];
  ASSERT_TRUE(RemovePod(*pod).ok());
  EXPECT_TRUE(Holders(ns).empty()) << ::testing::PrintToString(Holders(ns));
  EXPECT_EQ(MountsMentioning(*pod), 0);
}

}  // namespace
}  // namespace kcr::e2e
