// RuntimeService end to end: a real kcrd, real pods (netns, CNI bridge from
// Debian's plugins, monitors), real containers from the local registry's
// images, driven through crictl and gRPC.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "common/fs.h"
#include "test/e2e/kcrd_fixture.h"

namespace kcr::e2e {
namespace {

using nlohmann::json;
namespace v1 = ::runtime::v1;

class RuntimeServiceTest : public KcrdFixture {
 protected:
  // A network of the test's own (bridge, subnet, IPAM store), removed in
  // TearDown, so the host keeps nothing of the test.
  void SetUp() override {
    KcrdFixture::SetUp();
    bridge_ = "kcre2e" + std::to_string(getpid() % 100000);
    net_ = "kcr-e2e-" + std::to_string(getpid());
    ASSERT_TRUE(fs::MkdirAll(dir_ + "/net.d").ok());
    json conf = {{"cniVersion", "1.0.0"}, {"name", net_},
                 {"plugins", {{{"type", "bridge"}, {"bridge", bridge_}, {"isGateway", true}, {"ipMasq", true},
                               {"hairpinMode", true},
                               {"ipam", {{"type", "host-local"}, {"ranges", {{{{"subnet", "10.77.0.0/16"}}}}},
                                         {"routes", {{{"dst", "0.0.0.0/0"}}}}}}},
                              {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}},
                              {{"type", "bandwidth"}, {"capabilities", {{"bandwidth", true}}}},
                              {{"type", "loopback"}}}}};
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/net.d/10-e2e.conflist", conf.dump()).ok());
    Start("[cni]\nconf_dir = \"" + dir_ + "/net.d\"\n");
    for (const char* img : {"busybox", "kcr-test/web", "kcr-test/user-username"}) {
      ASSERT_TRUE(Pull(img).ok()) << img;
    }
  }

  void TearDown() override {
    KcrdFixture::TearDown();
    e2e::Run({"/sbin/ip", "link", "del", bridge_});
    fs::RemoveAll("/var/lib/cni/networks/" + net_).IgnoreError();
  }
  std::string bridge_, net_;

  std::string PodIp(const std::string& pod) {
    v1::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(pod);
    v1::PodSandboxStatusResponse resp;
    EXPECT_TRUE(Runtime().PodSandboxStatus(Ctx().get(), req, &resp).ok());
    return resp.status().network().ip();
  }
  // Nothing of kcr's is left on the host for pods under this test's root.
  void ExpectNoLeftovers() {
    auto mounts = fs::ReadFile("/proc/self/mountinfo").value_or("");
    EXPECT_EQ(mounts.find(dir_), std::string::npos) << "mounts left under " << dir_;
    EXPECT_EQ(CountEntries(state_ + "/netns"), 0);
    EXPECT_EQ(CountEntries(state_ + "/monitors"), 0);
  }
  bool CgroupExists(const std::string& pod_id) {
    struct stat st;
    return stat(MemoryCgroupDir(cgroup_parent_ + "/" + pod_id).c_str(), &st) == 0;
  }
};

TEST_F(RuntimeServiceTest, CrictlPodAndContainerLifecycle) {
  std::string pod_json = dir_ + "/pod.json", ctr_json = dir_ + "/ctr.json";
  json pod = {{"metadata", {{"name", "web"}, {"namespace", "e2e"}, {"uid", "u-web"}}},
              {"hostname", "webhost"},
              {"log_directory", dir_ + "/logs"},
              {"dns_config", {{"servers", {"10.96.0.10"}}, {"searches", {"e2e.svc.cluster.local"}}, {"options", {"ndots:5"}}}},
              {"linux", {{"security_context", {{"namespace_options", {{"pid", 1}}}}}}}};
  json ctr = {{"metadata", {{"name", "app"}}},
              {"image", {{"image", "busybox"}}},
              {"command", {"sh", "-c", "echo hello from kcr; while true; do sleep 1; done"}},
              {"log_path", "app.log"}};
  ASSERT_TRUE(fs::WriteFileAtomic(pod_json, pod.dump()).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(ctr_json, ctr.dump()).ok());
  CmdResult r = Crictl({"runp", pod_json});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string pod_id = r.out.substr(r.out.find_last_of('\n', r.out.size() - 2) + 1);
  pod_id = pod_id.substr(0, 64);
  ASSERT_EQ(pod_id.size(), 64u) << r.out;
  EXPECT_TRUE(CgroupExists(pod_id));
  r = Crictl({"create", pod_id, ctr_json, pod_json});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string cid = r.out.substr(r.out.size() - 65, 64);
  r = Crictl({"start", cid});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::string logs;
  for (int i = 0; i < 100 && logs.find("hello from kcr") == std::string::npos; i++) {
    logs = Crictl({"logs", cid}).out;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(logs.find("hello from kcr"), std::string::npos) << logs;
  r = Crictl({"exec", "-s", cid, "sh", "-c", "hostname; cat /etc/resolv.conf; ip -4 addr show eth0"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("webhost"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nameserver 10.96.0.10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("search e2e.svc.cluster.local"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("options ndots:5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("inet 10.77."), std::string::npos) << r.out;
  r = Crictl({"exec", "-s", cid, "sh", "-c", "exit 3"});
  EXPECT_NE(r.out.find("exited with 3"), std::string::npos) << r.out;  // crictl itself exits 1
  r = Crictl({"stats", "-o", "json", cid});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("workingSetBytes"), std::string::npos) << r.out;
  r = Crictl({"stop", "-t", "1", cid});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto st = CtrStatus(cid);
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  // The shell is PID 1 of its own PID namespace and has no TERM handler, so
  // only the SIGKILL after the timeout ends it.
  EXPECT_EQ(st.exit_code(), 137);
  ASSERT_EQ(Crictl({"rm", cid}).exit_code, 0);
  ASSERT_EQ(Crictl({"stopp", pod_id}).exit_code, 0);
  ASSERT_EQ(Crictl({"stopp", pod_id}).exit_code, 0);  // idempotent
  ASSERT_EQ(Crictl({"rmp", pod_id}).exit_code, 0);
  // Idempotent, as kubelet expects (crictl would first look the pod up).
  EXPECT_TRUE(RemovePod(pod_id).ok());
  v1::StopPodSandboxRequest stop_again;
  stop_again.set_pod_sandbox_id(pod_id);
  v1::StopPodSandboxResponse stop_resp;
  EXPECT_TRUE(Runtime().StopPodSandbox(Ctx().get(), stop_again, &stop_resp).ok());
  EXPECT_FALSE(CgroupExists(pod_id));
  ExpectNoLeftovers();
}

TEST_F(RuntimeServiceTest, HostPortAndPodToPodTraffic) {
  auto pc = PodConfig("web");
  auto* pm = pc.add_port_mappings();
  pm->set_container_port(80);
  pm->set_host_port(18080);
  pm->set_host_ip("127.0.0.1");
  auto web = RunPod(pc);
  ASSERT_TRUE(web.ok()) << web.status();
  auto httpd = RunCtr(*web, pc, CtrConfig("httpd", "kcr-test/web", {}));
  ASSERT_TRUE(httpd.ok()) << httpd.status();
  auto cc = PodConfig("client");
  auto client = RunPod(cc);
  ASSERT_TRUE(client.ok()) << client.status();
  auto sh = RunCtr(*client, cc, CtrConfig("sh", "busybox", {"sleep", "1000"}));
  ASSERT_TRUE(sh.ok()) << sh.status();
  std::string ip = PodIp(*web);
  ASSERT_FALSE(ip.empty());
  EXPECT_NE(ip, PodIp(*client));
  // Pod to pod over the bridge (busybox nc speaks HTTP by hand).
  auto out = Exec(*sh, {"sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 " + ip + " 80"});
  EXPECT_NE(out.stdout().find("200 OK"), std::string::npos) << out.stdout() << out.stderr();
  EXPECT_NE(out.stdout().find("kcr test web server"), std::string::npos);
  // hostPort on the host's loopback, through portmap.
  CmdResult r;
  for (int i = 0; i < 50; i++) {
    r = e2e::Run({"/usr/bin/curl", "-s", "-m", "5", "http://127.0.0.1:18080/"});
    if (r.out.find("kcr test web server") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(r.out.find("kcr test web server"), std::string::npos) << r.out;
}

// Rates (bytes/s) of the host's token-bucket qdiscs: the bandwidth plugin's
// shaping of pod traffic.
std::multiset<uint64_t> TbfRates() {
  std::multiset<uint64_t> rates;
  auto q = json::parse(e2e::Run({"/sbin/tc", "-j", "qdisc", "show"}).out, nullptr, false);
  if (q.is_array())
    for (const auto& e : q)
      if (e.value("kind", "") == "tbf" && e.contains("options")) rates.insert(e["options"].value("rate", uint64_t{0}));
  return rates;
}

TEST_F(RuntimeServiceTest, BandwidthAnnotationsShapeThePodsTraffic) {
  auto before = TbfRates();
  auto pc = PodConfig("shaped");
  (*pc.mutable_annotations())["kubernetes.io/ingress-bandwidth"] = "1M";
  (*pc.mutable_annotations())["kubernetes.io/egress-bandwidth"] = "2M";
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto during = TbfRates();
  EXPECT_EQ(during.count(125000) - before.count(125000), 1u) << "no 1 Mbit/s ingress limit";
  EXPECT_EQ(during.count(250000) - before.count(250000), 1u) << "no 2 Mbit/s egress limit";
  // A value kubelet would never send is refused before anything exists.
  auto bad = PodConfig("badly-shaped");
  (*bad.mutable_annotations())["kubernetes.io/egress-bandwidth"] = "fast";
  auto r = RunPod(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("kubernetes.io/egress-bandwidth"), absl::string_view::npos) << r.status();
  ASSERT_TRUE(RemovePod(*pod).ok());
  EXPECT_EQ(TbfRates(), before);  // the plugin's shaping went with the pod
  v1::ListPodSandboxRequest lreq;
  v1::ListPodSandboxResponse lresp;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), lreq, &lresp).ok());
  EXPECT_EQ(lresp.items_size(), 0);
}

// What kubelet reads of an exit: reasons OOMKilled, Completed and Error with
// their codes, and an ExecSync that outlives its timeout.
TEST_F(RuntimeServiceTest, ExitReasonsAndExecSyncTimeout) {
  auto pc = PodConfig("exits");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto hog = CtrConfig("hog", "busybox", {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  hog.mutable_linux()->mutable_resources()->set_memory_limit_in_bytes(16 << 20);
  auto oom = RunCtr(*pod, pc, hog);
  ASSERT_TRUE(oom.ok()) << oom.status();
  auto ok = RunCtr(*pod, pc, CtrConfig("ok", "busybox", {"true"}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto fail = RunCtr(*pod, pc, CtrConfig("fail", "busybox", {"sh", "-c", "exit 3"}));
  ASSERT_TRUE(fail.ok()) << fail.status();
  auto sleeper = RunCtr(*pod, pc, CtrConfig("sleeper", "busybox", {"sleep", "1000"}));
  ASSERT_TRUE(sleeper.ok()) << sleeper.status();
  auto exited = [&](const std::string& id) {
    for (int i = 0; i < 100; i++) {
      auto st = CtrStatus(id);
      if (st.state() == v1::CONTAINER_EXITED) return st;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return CtrStatus(id);
  };
  auto st = exited(*oom);
  EXPECT_EQ(st.reason(), "OOMKilled");
  EXPECT_EQ(st.exit_code(), 137);
  st = exited(*ok);
  EXPECT_EQ(st.reason(), "Completed");
  EXPECT_EQ(st.exit_code(), 0);
  st = exited(*fail);
  EXPECT_EQ(st.reason(), "Error");
  EXPECT_EQ(st.exit_code(), 3);
  v1::ExecSyncRequest req;
  req.set_container_id(*sleeper);
  for (const char* a : {"sleep", "30"}) req.add_cmd(a);
  req.set_timeout(1);
  v1::ExecSyncResponse resp;
  auto t0 = std::chrono::steady_clock::now();
  grpc::Status es = Runtime().ExecSync(Ctx().get(), req, &resp);
  EXPECT_EQ(es.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << es.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_EQ(Exec(*sleeper, {"true"}).exit_code(), 0);  // the container is unharmed
}

// What kubelet's PLEG, stats, resize and log rotation ask of a running node:
// list filters, stats lists, resource updates, log reopening, stop signals,
// hostPath symlinks.
TEST_F(RuntimeServiceTest, FiltersStatsUpdatesLogsAndStopSignals) {
  auto pa = PodConfig("fa");
  (*pa.mutable_labels())["app"] = "a";
  auto pb = PodConfig("fb");
  (*pb.mutable_labels())["app"] = "b";
  auto a = RunPod(pa), b = RunPod(pb);
  ASSERT_TRUE(a.ok() && b.ok());
  // A hostPath that is a symlink is resolved on the host.
  ASSERT_TRUE(fs::MkdirAll(dir_ + "/real").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ + "/real/file", "through the link\n").ok());
  ASSERT_EQ(::symlink((dir_ + "/real").c_str(), (dir_ + "/link").c_str()), 0);
  auto tick = CtrConfig("tick", "busybox", {"sh", "-c", "while true; do echo tick; sleep 0.1; done"});
  (*tick.mutable_labels())["role"] = "ticker";
  auto* m = tick.add_mounts();
  m->set_container_path("/mnt");
  m->set_host_path(dir_ + "/link");
  auto ta = RunCtr(*a, pa, tick);
  ASSERT_TRUE(ta.ok()) << ta.status();
  auto usr1 = CtrConfig("usr1", "busybox", {"sh", "-c", "trap 'exit 7' USR1; while true; do sleep 0.1; done"});
  usr1.set_stop_signal(v1::SIGNAL_SIGUSR1);
  auto ub = RunCtr(*b, pb, usr1);
  ASSERT_TRUE(ub.ok()) << ub.status();
  EXPECT_EQ(Exec(*ta, {"cat", "/mnt/file"}).stdout(), "through the link\n");

  v1::ListPodSandboxRequest lp;
  (*lp.mutable_filter()->mutable_label_selector())["app"] = "b";
  v1::ListPodSandboxResponse lpr;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), lp, &lpr).ok());
  ASSERT_EQ(lpr.items_size(), 1);
  EXPECT_EQ(lpr.items(0).id(), *b);
  lp.Clear();
  lp.mutable_filter()->set_id(*a);
  lp.mutable_filter()->mutable_state()->set_state(v1::SANDBOX_READY);
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), lp, &lpr).ok());
  ASSERT_EQ(lpr.items_size(), 1);
  EXPECT_EQ(lpr.items(0).id(), *a);
  v1::ListContainersRequest lc;
  (*lc.mutable_filter()->mutable_label_selector())["role"] = "ticker";
  v1::ListContainersResponse lcr;
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), lc, &lcr).ok());
  ASSERT_EQ(lcr.containers_size(), 1);
  EXPECT_EQ(lcr.containers(0).id(), *ta);
  lc.Clear();
  lc.mutable_filter()->set_pod_sandbox_id(*b);
  lc.mutable_filter()->mutable_state()->set_state(v1::CONTAINER_RUNNING);
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), lc, &lcr).ok());
  ASSERT_EQ(lcr.containers_size(), 1);
  EXPECT_EQ(lcr.containers(0).id(), *ub);

  // Stats lists, filtered by pod; CPU rate from two samples.
  v1::ListContainerStatsRequest ls;
  ls.mutable_filter()->set_pod_sandbox_id(*a);
  v1::ListContainerStatsResponse lsr;
  ASSERT_TRUE(Runtime().ListContainerStats(Ctx().get(), ls, &lsr).ok());
  ASSERT_EQ(lsr.stats_size(), 1);
  EXPECT_EQ(lsr.stats(0).attributes().id(), *ta);
  EXPECT_GT(lsr.stats(0).memory().working_set_bytes().value(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(Runtime().ListContainerStats(Ctx().get(), ls, &lsr).ok());
  EXPECT_GT(lsr.stats(0).cpu().usage_nano_cores().value(), 0u);
  v1::ListPodSandboxStatsRequest lps;
  v1::ListPodSandboxStatsResponse lpsr;
  ASSERT_TRUE(Runtime().ListPodSandboxStats(Ctx().get(), lps, &lpsr).ok());
  std::set<std::string> pods;
  for (const auto& s : lpsr.stats()) {
    pods.insert(s.attributes().id());
    EXPECT_TRUE(s.linux().memory().has_page_faults()) << s.attributes().id();
  }
  EXPECT_EQ(pods, (std::set<std::string>{*a, *b}));

  // In-place resize: the cgroup and ContainerStatus both carry the new limit.
  v1::UpdateContainerResourcesRequest up;
  up.set_container_id(*ta);
  up.mutable_linux()->set_memory_limit_in_bytes(48 << 20);
  v1::UpdateContainerResourcesResponse upr;
  ASSERT_TRUE(Runtime().UpdateContainerResources(Ctx().get(), up, &upr).ok());
  EXPECT_EQ(CtrStatus(*ta).resources().linux().memory_limit_in_bytes(), 48 << 20);
  v1::ContainerStatsRequest cs;
  cs.set_container_id(*ta);
  v1::ContainerStatsResponse csr;
  ASSERT_TRUE(Runtime().ContainerStats(Ctx().get(), cs, &csr).ok());
  auto limit = fs::ReadFile(MemoryCgroupDir(cgroup_parent_ + "/" + *a + "/" + *ta) + "/" + MemoryLimitFile());
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(std::stoll(*limit), 48 << 20);
  // Memory stats are complete (kubelet's /stats/summary takes them as
  // they come): page faults, and what the limit leaves.
  const auto& mem = csr.stats().memory();
  EXPECT_TRUE(mem.has_page_faults());
  EXPECT_GT(mem.page_faults().value(), 0u);
  EXPECT_TRUE(mem.has_major_page_faults());
  ASSERT_TRUE(mem.has_available_bytes());
  EXPECT_EQ(mem.available_bytes().value() + mem.working_set_bytes().value(), uint64_t{48} << 20);

  // Log rotation: kubelet renames the file, then asks for a new one.
  std::string log = CtrStatus(*ta).log_path();
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  v1::ReopenContainerLogRequest ro;
  ro.set_container_id(*ta);
  v1::ReopenContainerLogResponse ror;
  ASSERT_TRUE(Runtime().ReopenContainerLog(Ctx().get(), ro, &ror).ok());
  std::string fresh;
  for (int i = 0; i < 50 && fresh.find(" stdout F tick") == std::string::npos; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fresh = fs::ReadFile(log).value_or("");
  }
  EXPECT_NE(fresh.find(" stdout F tick"), std::string::npos) << fresh;
  EXPECT_NE(fs::ReadFile(log + ".1").value_or("").find(" stdout F tick"), std::string::npos);

  // The stop signal from the config reaches the process, before any SIGKILL.
  v1::StopContainerRequest stop;
  stop.set_container_id(*ub);
  stop.set_timeout(30);
  v1::StopContainerResponse stopr;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Runtime().StopContainer(Ctx().get(), stop, &stopr).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_EQ(CtrStatus(*ub).exit_code(), 7);

  // An unknown runtime handler is refused by name, and nothing is made.
  v1::RunPodSandboxRequest rh;
  *rh.mutable_config() = PodConfig("handler");
  rh.set_runtime_handler("gvisor");
  v1::RunPodSandboxResponse rhr;
  grpc::Status hs = Runtime().RunPodSandbox(Ctx().get(), rh, &rhr);
  EXPECT_EQ(hs.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(hs.error_message().find("gvisor"), std::string::npos) << hs.error_message();
  lp.Clear();
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), lp, &lpr).ok());
  EXPECT_EQ(lpr.items_size(), 2);
}

// hostNetwork, hostPID and hostIPC pods share the node's namespaces (and
// its hostname); an ordinary pod has its own.
TEST_F(RuntimeServiceTest, HostNamespacePods) {
  auto host_ns = [](const std::string& k) {
    char buf[64] = {};
    ssize_t n = ::readlink(("/proc/self/ns/" + k).c_str(), buf, sizeof buf - 1);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  };
  const std::string script = "for k in net pid ipc uts; do readlink /proc/self/ns/$k; done; hostname";
  char hn[256] = {};
  ::gethostname(hn, sizeof hn - 1);
  auto hp = PodConfig("hostns");
  auto* nso = hp.mutable_linux()->mutable_security_context()->mutable_namespace_options();
  nso->set_network(v1::NODE);
  nso->set_pid(v1::NODE);
  nso->set_ipc(v1::NODE);
  auto host = RunPod(hp);
  ASSERT_TRUE(host.ok()) << host.status();
  auto hc_cfg = CtrConfig("c", "busybox", {"sleep", "1000"});
  auto* csc = hc_cfg.mutable_linux()->mutable_security_context()->mutable_namespace_options();
  csc->set_network(v1::NODE);
  csc->set_pid(v1::NODE);
  csc->set_ipc(v1::NODE);
  auto hc = RunCtr(*host, hp, hc_cfg);
  ASSERT_TRUE(hc.ok()) << hc.status();
  std::string out = Exec(*hc, {"sh", "-c", script}).stdout();
  for (const char* k : {"net", "pid", "ipc", "uts"}) EXPECT_NE(out.find(host_ns(k)), std::string::npos) << k << out;
  EXPECT_TRUE(out.ends_with(std::string(hn) + "\n")) << out;
  auto own = PodConfig("ownns");
  auto pod = RunPod(own);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto oc = RunCtr(*pod, own, CtrConfig("c", "busybox", {"sleep", "1000"}));
  ASSERT_TRUE(oc.ok()) << oc.status();
  out = Exec(*oc, {"sh", "-c", script}).stdout();
  for (const char* k : {"net", "pid", "ipc", "uts"}) EXPECT_EQ(out.find(host_ns(k)), std::string::npos) << k << out;
  EXPECT_TRUE(out.ends_with("ownns\n")) << out;
}

TEST_F(RuntimeServiceTest, BadRequestsNameTheProblemAndChangeNothing) {
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, CtrConfig("c", "busybox", {"sleep", "100"}));
  ASSERT_TRUE(ctr.ok());
  v1::PodSandboxConfig bad = pc;
  bad.clear_metadata();
  EXPECT_EQ(RunPod(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = pc;
  bad.mutable_metadata()->clear_uid();
  auto r = RunPod(bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("uid"), absl::string_view::npos);
  r = RunPod(pc);  // same metadata again
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
  r = RunCtr(std::string(64, 'f'), pc, CtrConfig("x", "busybox", {"true"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  r = RunCtr(*pod, pc, CtrConfig("c", "busybox", {"true"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
  auto rel = CtrConfig("rel", "busybox", {"true"});
  auto* m = rel.add_mounts();
  m->set_container_path("relative/path");
  m->set_host_path(dir_);
  r = RunCtr(*pod, pc, rel);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("relative/path"), absl::string_view::npos) << r.status();
  r = RunCtr(*pod, pc, CtrConfig("noimg", "", {"true"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = RunCtr(*pod, pc, CtrConfig("absent", "kcr-test/never-pulled", {"true"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  // Nothing half-made: one pod, one container, still working.
  v1::ListPodSandboxResponse pods;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), {}, &pods).ok());
  EXPECT_EQ(pods.items_size(), 1);
  v1::ListContainersResponse ctrs;
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), {}, &ctrs).ok());
  EXPECT_EQ(ctrs.containers_size(), 1);
  EXPECT_EQ(Exec(*ctr, {"true"}).exit_code(), 0);
  // A missing hostPath source is created as a directory.
  auto hp = CtrConfig("hp", "busybox", {"sleep", "100"});
  auto* hm = hp.add_mounts();
  hm->set_container_path("/data");
  hm->set_host_path(dir_ + "/created-by-kcr");
  auto hpc = RunCtr(*pod, pc, hp);
  ASSERT_TRUE(hpc.ok()) << hpc.status();
  struct stat st;
  EXPECT_EQ(stat((dir_ + "/created-by-kcr").c_str(), &st), 0);
  EXPECT_EQ(Exec(*hpc, {"sh", "-c", "touch /data/x"}).exit_code(), 0);
  EXPECT_EQ(stat((dir_ + "/created-by-kcr/x").c_str(), &st), 0);
}

TEST_F(RuntimeServiceTest, DevicesPrivilegeAndSeccompThroughCri) {
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  // A requested device appears at its container path with its permissions;
  // other nodes made with CAP_MKNOD cannot be opened (device cgroup).
  auto dc = CtrConfig("dev", "busybox", {"sleep", "100"});
  auto* d = dc.add_devices();
  d->set_host_path("/dev/null");
  d->set_container_path("/dev/kcr-null");
  d->set_permissions("rw");
  dc.mutable_linux()->mutable_security_context()->mutable_seccomp()->set_profile_type(
      v1::SecurityProfile::RuntimeDefault);
  auto dev = RunCtr(*pod, pc, dc);
  ASSERT_TRUE(dev.ok()) << dev.status();
  auto r = Exec(*dev, {"sh", "-c", "test -c /dev/kcr-null && echo x > /dev/kcr-null && echo dev-ok"});
  EXPECT_EQ(r.stdout(), "dev-ok\n") << r.stderr();
  r = Exec(*dev, {"sh", "-c", "mknod /tmp/loop b 7 0 && head -c1 /tmp/loop 2>&1; mknod /tmp/kmsg c 1 11 && head -c1 /tmp/kmsg 2>&1"});
  EXPECT_NE(r.stdout().find("Operation not permitted"), std::string::npos) << r.stdout();
  EXPECT_EQ(r.stdout().find("No such device"), std::string::npos) << r.stdout();
  // Its own cgroup namespace, for exec'd processes too: no host cgroup path.
  r = Exec(*dev, {"cat", "/proc/self/cgroup"});
  EXPECT_EQ(r.stdout().find(cgroup_parent_), std::string::npos) << r.stdout();
  EXPECT_NE(r.stdout().find(CgroupV2() ? "0::/\n" : ":memory:/\n"), std::string::npos) << r.stdout();
  // RuntimeDefault seccomp: no namespaces, no mount.
  r = Exec(*dev, {"sh", "-c", "unshare -m true 2>/dev/null || echo denied"});
  EXPECT_EQ(r.stdout(), "denied\n");
  // A privileged container sees the host's devices and may use them.
  auto priv = CtrConfig("priv", "busybox", {"sleep", "100"});
  priv.mutable_linux()->mutable_security_context()->set_privileged(true);
  auto pv = RunCtr(*pod, pc, priv);
  ASSERT_TRUE(pv.ok()) << pv.status();
  r = Exec(*pv, {"sh", "-c", "test -e /dev/kmsg && head -c0 /dev/kmsg && echo host-devices"});
  EXPECT_EQ(r.stdout(), "host-devices\n") << r.stderr();
  // ... every capability kcrd holds (as this test, its parent, does), and a
  // writable /sys; an ordinary container has neither.
  std::string caps;
  std::istringstream status(fs::ReadFile("/proc/self/status").value_or(""));
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("CapEff:")) caps = line.substr(line.find_first_not_of(" \t", 7));
  const std::string probe = "grep CapEff /proc/self/status; grep ' /sys sysfs ' /proc/self/mounts | cut -d' ' -f4 | cut -c1-2";
  r = Exec(*pv, {"sh", "-c", probe});
  EXPECT_NE(r.stdout().find(caps + "\n"), std::string::npos) << r.stdout() << " want " << caps;
  EXPECT_TRUE(r.stdout().ends_with("rw\n")) << r.stdout() << Exec(*pv, {"sh", "-c", "grep -E 'sysfs|cgroup' /proc/self/mountinfo"}).stdout();
  r = Exec(*dev, {"sh", "-c", probe});
  EXPECT_EQ(r.stdout().find(caps + "\n"), std::string::npos) << r.stdout();
  EXPECT_TRUE(r.stdout().ends_with("ro\n")) << r.stdout();
  // A Localhost AppArmor profile cannot be honoured on a host without
  // AppArmor (this project's hosts): refused, naming it.
  auto aa = CtrConfig("aa", "busybox", {"true"});
  aa.mutable_linux()->mutable_security_context()->mutable_apparmor()->set_profile_type(v1::SecurityProfile::Localhost);
  aa.mutable_linux()->mutable_security_context()->mutable_apparmor()->set_localhost_ref("kcr-test-profile");
  auto aar = RunCtr(*pod, pc, aa);
  if (fs::ReadFile("/sys/module/apparmor/parameters/enabled").value_or("N")[0] != 'Y') {
    EXPECT_EQ(aar.status().code(), absl::StatusCode::kFailedPrecondition) << aar.status();
    EXPECT_NE(aar.status().message().find("kcr-test-profile"), absl::string_view::npos) << aar.status();
  }
  // Bad device requests name the problem and create nothing.
  auto bad = CtrConfig("baddev", "busybox", {"true"});
  d = bad.add_devices();
  d->set_host_path("/dev/kcr-no-such-device");
  d->set_container_path("/dev/x");
  auto b = RunCtr(*pod, pc, bad);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << b.status();
  EXPECT_NE(b.status().message().find("kcr-no-such-device"), absl::string_view::npos) << b.status();
  d->set_host_path("/dev/null");
  d->set_permissions("rwx");
  b = RunCtr(*pod, pc, bad);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << b.status();
  v1::ListContainersResponse ctrs;
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), {}, &ctrs).ok());
  EXPECT_EQ(ctrs.containers_size(), 2);
}

TEST_F(RuntimeServiceTest, TtyContainerWritesItsTerminalToTheLog) {
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto cc = CtrConfig("tty", "busybox", {"sh", "-c", "tty; echo to-stderr >&2"});
  cc.set_tty(true);
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  for (int i = 0; i < 100 && CtrStatus(*ctr).state() != v1::CONTAINER_EXITED; i++) usleep(50000);
  EXPECT_EQ(CtrStatus(*ctr).exit_code(), 0);
  std::string log;
  for (int i = 0; i < 50 && log.find("to-stderr") == std::string::npos; i++, usleep(50000))
    log = fs::ReadFile(dir_ + "/logs/p/tty.log").value_or("");
  // Both streams went through the terminal: one stdout stream.
  EXPECT_NE(log.find(" stdout F /dev/pts/0"), std::string::npos) << log;
  EXPECT_NE(log.find(" stdout F to-stderr"), std::string::npos) << log;
  EXPECT_EQ(log.find(" stderr "), std::string::npos) << log;
}

TEST_F(RuntimeServiceTest, NetworkStatsMetricsPodResizeAndCheckpoint) {
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, CtrConfig("c", "busybox", {"sleep", "100"}));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  EXPECT_EQ(Exec(*ctr, {"ping", "-c", "2", "-W", "1", "10.77.0.1"}).exit_code(), 0);

  // Pod stats carry the pod's network counters.
  v1::PodSandboxStatsRequest sreq;
  sreq.set_pod_sandbox_id(*pod);
  v1::PodSandboxStatsResponse sresp;
  ASSERT_TRUE(Runtime().PodSandboxStats(Ctx().get(), sreq, &sresp).ok());
  const auto& net = sresp.stats().linux().network();
  EXPECT_EQ(net.default_interface().name(), "eth0");
  EXPECT_GT(net.default_interface().tx_bytes().value(), 0u);
  EXPECT_GT(net.default_interface().rx_bytes().value(), 0u);

  // Metrics: descriptors, then values for the pod and its container.
  v1::ListMetricDescriptorsResponse descs;
  ASSERT_TRUE(Runtime().ListMetricDescriptors(Ctx().get(), {}, &descs).ok());
  std::set<std::string> names;
  for (const auto& d : descs.descriptors()) names.insert(d.name());
  EXPECT_TRUE(names.count("container_memory_working_set_bytes"));
  EXPECT_TRUE(names.count("container_network_transmit_bytes_total"));
  v1::ListPodSandboxMetricsResponse metrics;
  ASSERT_TRUE(Runtime().ListPodSandboxMetrics(Ctx().get(), {}, &metrics).ok());
  ASSERT_EQ(metrics.pod_metrics_size(), 1);
  const auto& pm = metrics.pod_metrics(0);
  EXPECT_EQ(pm.pod_sandbox_id(), *pod);
  bool tx = false, mem = false;
  for (const auto& m : pm.metrics())
    if (m.name() == "container_network_transmit_bytes_total" && m.label_values(0) == "eth0") tx = m.value().value() > 0;
  ASSERT_EQ(pm.container_metrics_size(), 1);
  EXPECT_EQ(pm.container_metrics(0).container_id(), *ctr);
  for (const auto& m : pm.container_metrics(0).metrics())
    if (m.name() == "container_memory_usage_bytes") {
      mem = m.value().value() > 0;
      EXPECT_EQ(m.label_values(0), "c");
      EXPECT_EQ(m.label_values(1), *ctr);
    }
  EXPECT_TRUE(tx);
  EXPECT_TRUE(mem);

  // In-place pod resize reaches the pod's cgroup.
  v1::UpdatePodSandboxResourcesRequest ureq;
  ureq.set_pod_sandbox_id(*pod);
  ureq.mutable_resources()->set_memory_limit_in_bytes(256 << 20);
  v1::UpdatePodSandboxResourcesResponse uresp;
  grpc::Status g = Runtime().UpdatePodSandboxResources(Ctx().get(), ureq, &uresp);
  ASSERT_TRUE(g.ok()) << g.error_message();
  auto limit = fs::ReadFile(MemoryCgroupDir(cgroup_parent_ + "/" + *pod) + "/" + MemoryLimitFile());
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(std::stoll(*limit), 256 << 20);
  ureq.mutable_resources()->add_hugepage_limits()->set_page_size("../2MB");
  EXPECT_EQ(Runtime().UpdatePodSandboxResources(Ctx().get(), ureq, &uresp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ureq.set_pod_sandbox_id(std::string(64, 'e'));
  EXPECT_EQ(Runtime().UpdatePodSandboxResources(Ctx().get(), ureq, &uresp).error_code(), grpc::StatusCode::NOT_FOUND);

  // Checkpoint: bad requests first; then CRIU decides (this project's test
  // hosts run a CRIU that cannot checkpoint: a precondition naming CRIU).
  v1::CheckpointContainerRequest creq;
  v1::CheckpointContainerResponse cresp;
  creq.set_container_id(*ctr);
  EXPECT_EQ(Runtime().CheckpointContainer(Ctx().get(), creq, &cresp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  creq.set_location(dir_ + "/checkpoint.tar");
  g = Runtime().CheckpointContainer(Ctx().get(), creq, &cresp);
  EXPECT_TRUE(g.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
              g.error_code() == grpc::StatusCode::UNIMPLEMENTED)
      << g.error_code() << " " << g.error_message();
  EXPECT_NE(g.error_message().find("CRIU"), std::string::npos) << g.error_message();
  creq.set_container_id(std::string(64, 'e'));
  EXPECT_EQ(Runtime().CheckpointContainer(Ctx().get(), creq, &cresp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Exec(*ctr, {"true"}).exit_code(), 0);  // the container is untouched
}

TEST_F(RuntimeServiceTest, StopsOfOnePodsContainersOverlap) {
  // kubelet stops a pod's containers in parallel; each grace period must
  // run alongside the others, not after them.
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  std::vector<std::string> ids;
  for (const char* name : {"a", "b"}) {
    auto c = RunCtr(*pod, pc, CtrConfig(name, "busybox", {"sh", "-c", "trap '' TERM; while true; do sleep 1; done"}));
    ASSERT_TRUE(c.ok()) << c.status();
    ids.push_back(*c);
  }
  usleep(300000);  // the traps are set
  auto stop = [&](const std::string& id) {
    v1::StopContainerRequest req;
    req.set_container_id(id);
    req.set_timeout(3);
    v1::StopContainerResponse resp;
    EXPECT_TRUE(Runtime().StopContainer(Ctx().get(), req, &resp).ok());
  };
  std::thread t([&] { stop(ids[0]); });
  usleep(200000);
  stop(ids[1]);
  t.join();
  auto a = CtrStatus(ids[0]), b = CtrStatus(ids[1]);
  ASSERT_EQ(a.state(), v1::CONTAINER_EXITED);
  ASSERT_EQ(b.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(a.exit_code(), 137);  // SIGKILL after the grace period
  // Overlapping grace periods end together; one after the other, 3 s apart.
  EXPECT_LT(std::llabs(b.finished_at() - a.finished_at()), 2000000000LL)
      << "a finished " << a.finished_at() << ", b " << b.finished_at();
}

TEST_F(RuntimeServiceTest, BidirectionalMountReachesTheHost) {
  std::string d = dir_ + "/shared";
  ASSERT_TRUE(fs::MkdirAll(d + "/fromctr").ok());
  ASSERT_EQ(::mount(d.c_str(), d.c_str(), nullptr, MS_BIND | MS_REC, nullptr), 0);
  struct Unmount {
    std::string d;
    ~Unmount() {
      ::umount2((d + "/fromctr").c_str(), MNT_DETACH);
      ::umount2(d.c_str(), MNT_DETACH);
    }
  } unmount{d};
  ASSERT_EQ(::mount(nullptr, d.c_str(), nullptr, MS_SHARED | MS_REC, nullptr), 0);
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto cc = CtrConfig("bd", "busybox", {"sleep", "100"});
  cc.mutable_linux()->mutable_security_context()->set_privileged(true);
  auto* m = cc.add_mounts();
  m->set_host_path(d);
  m->set_container_path("/shared");
  m->set_propagation(v1::PROPAGATION_BIDIRECTIONAL);
  auto ctr = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  auto r = Exec(*ctr, {"sh", "-c", "mount -t tmpfs tmpfs /shared/fromctr && touch /shared/fromctr/x"});
  ASSERT_EQ(r.exit_code(), 0) << r.stderr();
  struct stat st;
  EXPECT_EQ(::stat((d + "/fromctr/x").c_str(), &st), 0) << "the container's mount did not reach the host";
  RemoveAllPods();
  EXPECT_NE(fs::ReadFile("/proc/self/mountinfo").value_or("").find(" " + d + " "), std::string::npos)
      << "the host's shared mount went away with the container";
}

TEST_F(RuntimeServiceTest, ImageVolumes) {
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  v1::ImageStatusRequest isreq;
  isreq.mutable_image()->set_image("busybox");
  v1::ImageStatusResponse isresp;
  ASSERT_TRUE(Images().ImageStatus(Ctx().get(), isreq, &isresp).ok());
  std::string image_id = isresp.image().id();
  ASSERT_FALSE(image_id.empty());
  int snapshots_before = CountEntries(root_ + "/snapshots");
  auto with_volume = [&](const std::string& name, bool ro, const std::string& sub) {
    auto cc = CtrConfig(name, "busybox", {"sleep", "100"});
    auto* m = cc.add_mounts();
    m->set_container_path("/mnt/iv");
    m->set_readonly(ro);
    m->mutable_image()->set_image("busybox");
    m->set_image_sub_path(sub);
    return cc;
  };
  auto ctr = RunCtr(*pod, pc, with_volume("whole", true, ""));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  EXPECT_EQ(Exec(*ctr, {"/mnt/iv/bin/sh", "-c", "test -e /mnt/iv/bin/busybox"}).exit_code(), 0);  // executable, complete
  auto w = Exec(*ctr, {"touch", "/mnt/iv/x"});
  EXPECT_NE(w.exit_code(), 0);
  EXPECT_NE(w.stderr().find("Read-only"), std::string::npos) << w.stderr();
  bool reported = false;
  const v1::ContainerStatus status = CtrStatus(*ctr);
  for (const auto& m : status.mounts())
    if (m.container_path() == "/mnt/iv") reported = m.image().image_ref() == image_id;
  EXPECT_TRUE(reported) << "ContainerStatus does not report the volume's image ID";
  auto sub = RunCtr(*pod, pc, with_volume("sub", true, "bin"));
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ(Exec(*sub, {"test", "-e", "/mnt/iv/sh"}).exit_code(), 0);
  // Bad requests: writable, missing sub path, escaping sub path, unknown image.
  auto r = RunCtr(*pod, pc, with_volume("rw", false, ""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = RunCtr(*pod, pc, with_volume("nosub", true, "not-existing"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find("not-existing"), absl::string_view::npos) << r.status();
  r = RunCtr(*pod, pc, with_volume("esc", true, "../.."));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  auto unknown = with_volume("unknown", true, "");
  unknown.mutable_mounts(0)->mutable_image()->set_image("kcr-test/never-pulled");
  r = RunCtr(*pod, pc, unknown);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  v1::ListContainersResponse ctrs;
  ASSERT_TRUE(Runtime().ListContainers(Ctx().get(), {}, &ctrs).ok());
  EXPECT_EQ(ctrs.containers_size(), 2);
  // Removing the containers frees their volume snapshots.
  RemoveAllPods();
  EXPECT_EQ(CountEntries(root_ + "/snapshots"), snapshots_before) << "image volume snapshots left behind";
}

TEST_F(RuntimeServiceTest, RecursiveReadOnlyMountsAndTheContainersUser) {
  std::string d = dir_ + "/rro";
  ASSERT_TRUE(fs::MkdirAll(d + "/sub").ok());
  ASSERT_EQ(::mount("tmpfs", (d + "/sub").c_str(), "tmpfs", 0, nullptr), 0);
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{d + "/sub"};
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto with_mount = [&](const std::string& name, bool ro, bool rro, v1::MountPropagation prop) {
    auto cc = CtrConfig(name, "kcr-test/user-username", {"sleep", "100"});
    auto* m = cc.add_mounts();
    m->set_host_path(d);
    m->set_container_path("/mnt");
    m->set_readonly(ro);
    m->set_recursive_read_only(rro);
    m->set_propagation(prop);
    return cc;
  };
  auto rro = RunCtr(*pod, pc, with_mount("rro", true, true, v1::PROPAGATION_PRIVATE));
  ASSERT_TRUE(rro.ok()) << rro.status();
  auto r = Exec(*rro, {"sh", "-c", "touch /mnt/sub/x 2>&1"});
  EXPECT_NE(r.exit_code(), 0);
  EXPECT_NE(r.stdout().find("Read-only file system"), std::string::npos) << r.stdout();
  // Plain read-only: the mount itself refuses writes.
  auto ro = RunCtr(*pod, pc, with_mount("ro", true, false, v1::PROPAGATION_PRIVATE));
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_NE(Exec(*ro, {"sh", "-c", "touch /mnt/y 2>&1"}).stdout().find("Read-only"), std::string::npos);
  for (auto [name, ro_flag, prop] : {std::tuple{"bad1", false, v1::PROPAGATION_PRIVATE},
                                     std::tuple{"bad2", true, v1::PROPAGATION_BIDIRECTIONAL},
                                     std::tuple{"bad3", true, v1::PROPAGATION_HOST_TO_CONTAINER}}) {
    auto bad = RunCtr(*pod, pc, with_mount(name, ro_flag, true, prop));
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << name << ": " << bad.status();
  }
  // The user the first process runs as: the image's www-data, its own group
  // from /etc/passwd, and the requested supplemental group.
  auto cc = CtrConfig("who", "kcr-test/user-username", {"sleep", "100"});
  cc.mutable_linux()->mutable_security_context()->add_supplemental_groups(1234);
  cc.mutable_linux()->mutable_security_context()->set_supplemental_groups_policy(v1::SupplementalGroupsPolicy::Strict);
  auto who = RunCtr(*pod, pc, cc);
  ASSERT_TRUE(who.ok()) << who.status();
  const v1::ContainerStatus status = CtrStatus(*who);
  ASSERT_TRUE(status.has_user());
  EXPECT_EQ(status.user().linux().uid(), 33);
  EXPECT_EQ(status.user().linux().gid(), 33);
  std::vector<int64_t> groups(status.user().linux().supplemental_groups().begin(),
                              status.user().linux().supplemental_groups().end());
  std::sort(groups.begin(), groups.end());
  EXPECT_EQ(groups, (std::vector<int64_t>{33, 1234}));
  EXPECT_EQ(Exec(*who, {"id", "-G"}).stdout(), "33 1234\n");
  v1::StatusRequest sreq;
  v1::StatusResponse sresp;
  ASSERT_TRUE(Runtime().Status(Ctx().get(), sreq, &sresp).ok());
  EXPECT_TRUE(sresp.features().supplemental_groups_policy());
  ASSERT_GT(sresp.runtime_handlers_size(), 0);
  EXPECT_TRUE(sresp.runtime_handlers(0).features().recursive_read_only_mounts());
}

TEST_F(RuntimeServiceTest, KcrdCrashLosesNothing) {
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto longrun = RunCtr(*pod, pc, CtrConfig("long", "busybox", {"sh", "-c", "echo before; sleep 1000"}));
  ASSERT_TRUE(longrun.ok());
  auto quick = RunCtr(*pod, pc, CtrConfig("quick", "busybox", {"sh", "-c", "sleep 1; echo bye; exit 3"}));
  ASSERT_TRUE(quick.ok());
  std::string pid_before = Exec(*longrun, {"cat", "/proc/1/stat"}).stdout();
  Kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // "quick" exits while kcrd is down
  Start();
  auto l = CtrStatus(*longrun);
  EXPECT_EQ(l.state(), v1::CONTAINER_RUNNING);
  auto q = CtrStatus(*quick);
  EXPECT_EQ(q.state(), v1::CONTAINER_EXITED);
  EXPECT_EQ(q.exit_code(), 3);
  EXPECT_EQ(q.reason(), "Error");
  auto log = fs::ReadFile(q.log_path());
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("stdout F bye"), std::string::npos) << *log;
  EXPECT_EQ(Exec(*longrun, {"true"}).exit_code(), 0);  // the restarted kcrd reaches the monitor
  // Nothing was started twice: the same process (same start time), one "before".
  std::string pid_after = Exec(*longrun, {"cat", "/proc/1/stat"}).stdout();
  EXPECT_EQ(pid_after.substr(0, pid_after.find(' ')), pid_before.substr(0, pid_before.find(' ')));
  auto starttime = [](const std::string& stat) {  // field 22, after the ")" of the command
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::string f;
    for (int i = 3; i <= 22 && in >> f; i++) {}
    return f;
  };
  EXPECT_EQ(starttime(pid_after), starttime(pid_before));
  auto llog = fs::ReadFile(l.log_path());
  ASSERT_TRUE(llog.ok());
  EXPECT_EQ(std::count(llog->begin(), llog->end(), '\n'), 1) << *llog;
  v1::ListPodSandboxResponse pods;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), {}, &pods).ok());
  ASSERT_EQ(pods.items_size(), 1);
  EXPECT_EQ(pods.items(0).state(), v1::SANDBOX_READY);
}

// A reboot: kcrd, the monitors and the containers all die, the state dir
// (tmpfs) is emptied. kcrd restarts from its database alone.
TEST_F(RuntimeServiceTest, SimulatedRebootReportsExitedAndCleansUp) {
  auto pc = PodConfig("p");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, CtrConfig("c", "busybox", {"sleep", "1000"}));
  ASSERT_TRUE(ctr.ok());
  v1::PodSandboxStatusRequest sreq;
  sreq.set_pod_sandbox_id(*pod);
  sreq.set_verbose(true);
  v1::PodSandboxStatusResponse sresp;
  ASSERT_TRUE(Runtime().PodSandboxStatus(Ctx().get(), sreq, &sresp).ok());
  int monitor = json::parse(sresp.info().at("info")).value("monitorPid", -1);
  ASSERT_GT(monitor, 0);
  Kill9();
  ASSERT_EQ(kill(monitor, SIGKILL), 0);  // its containers die with it
  for (int i = 0; i < 100 && kill(monitor, 0) == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // The netns pin and the pod's shm are mounts the reboot would drop.
  e2e::Run({"/bin/umount", "-l", state_ + "/netns/" + *pod});
  e2e::Run({"/bin/umount", "-l", root_ + "/pods/" + *pod + "/shm"});
  ASSERT_TRUE(fs::RemoveAll(state_).ok());
  Start();
  v1::ListPodSandboxResponse pods;
  ASSERT_TRUE(Runtime().ListPodSandbox(Ctx().get(), {}, &pods).ok());
  ASSERT_EQ(pods.items_size(), 1);
  EXPECT_EQ(pods.items(0).state(), v1::SANDBOX_NOTREADY);
  auto st = CtrStatus(*ctr);
  EXPECT_EQ(st.state(), v1::CONTAINER_EXITED);
  v1::StopPodSandboxRequest stop;
  stop.set_pod_sandbox_id(*pod);
  v1::StopPodSandboxResponse stop_resp;
  grpc::Status s = Runtime().StopPodSandbox(Ctx().get(), stop, &stop_resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = RemovePod(*pod);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(CgroupExists(*pod));
  ExpectNoLeftovers();
  // A real reboot also flushes iptables; the simulated one must do that for
  // the pod's masquerade rules (the bridge plugin's DEL finds no interface
  // in a namespace that is gone, so it cannot know them).
  std::string cmd = "iptables -t nat -S | grep " + *pod +
                    " | sed 's/^-A/-D/' | while read -r rule; do eval iptables -t nat $rule; done; "
                    "for c in $(iptables -t nat -S | awk '/^-N CNI-/ {print $2}'); do "
                    "iptables -t nat -S $c | grep -q -- '-A' || iptables -t nat -X $c 2>/dev/null; done";
  EXPECT_EQ(e2e::Run({"/bin/sh", "-c", cmd}).exit_code, 0);
  EXPECT_EQ(e2e::Run({"/bin/sh", "-c", "iptables-save -t nat | grep -c " + *pod}).out, "0\n");
}

// kubelet's evented PLEG: every transition, including a container that ends
// on its own, arrives on the stream.
TEST_F(RuntimeServiceTest, ContainerEventsStream) {
  grpc::ClientContext ctx;
  v1::GetEventsRequest req;
  auto reader = Runtime().GetContainerEvents(&ctx, req);
  std::vector<std::pair<std::string, v1::ContainerEventType>> seen;
  std::vector<v1::ContainerEventResponse> events;
  std::mutex mu;
  std::thread t([&] {
    v1::ContainerEventResponse ev;
    while (reader->Read(&ev)) {
      std::lock_guard<std::mutex> l(mu);
      seen.emplace_back(ev.container_id(), ev.container_event_type());
      events.push_back(ev);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // subscribed
  auto pc = PodConfig("ev");
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto ctr = RunCtr(*pod, pc, CtrConfig("short", "busybox", {"sh", "-c", "exit 0"}));
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  auto count = [&](v1::ContainerEventType type) {
    std::lock_guard<std::mutex> l(mu);
    return std::count(seen.begin(), seen.end(), std::make_pair(*ctr, type));
  };
  for (int i = 0; i < 200 && count(v1::CONTAINER_STOPPED_EVENT) == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  v1::RemoveContainerRequest rm;
  rm.set_container_id(*ctr);
  v1::RemoveContainerResponse rm_resp;
  ASSERT_TRUE(Runtime().RemoveContainer(Ctx().get(), rm, &rm_resp).ok());
  for (int i = 0; i < 200 && count(v1::CONTAINER_DELETED_EVENT) == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ctx.TryCancel();
  t.join();
  EXPECT_EQ(count(v1::CONTAINER_CREATED_EVENT), 1);
  EXPECT_EQ(count(v1::CONTAINER_STARTED_EVENT), 1);
  EXPECT_EQ(count(v1::CONTAINER_STOPPED_EVENT), 1);  // it exited by itself
  EXPECT_EQ(count(v1::CONTAINER_DELETED_EVENT), 1);
  std::lock_guard<std::mutex> l(mu);
  std::vector<v1::ContainerEventType> order;
  for (const auto& [id, type] : seen)
    if (id == *ctr) order.push_back(type);
  EXPECT_EQ(order, (std::vector<v1::ContainerEventType>{v1::CONTAINER_CREATED_EVENT, v1::CONTAINER_STARTED_EVENT,
                                                         v1::CONTAINER_STOPPED_EVENT, v1::CONTAINER_DELETED_EVENT}));
  // Evented PLEG reads the pod and its containers from the event itself.
  for (const auto& ev : events) {
    if (ev.container_id() != *ctr) continue;
    EXPECT_EQ(ev.pod_sandbox_status().id(), *pod);
    EXPECT_GT(ev.created_at(), 0);
    if (ev.container_event_type() != v1::CONTAINER_STOPPED_EVENT) continue;
    bool found = false;
    for (const auto& cs : ev.containers_statuses())
      if (cs.id() == *ctr) {
        found = true;
        EXPECT_EQ(cs.state(), v1::CONTAINER_EXITED);
        EXPECT_EQ(cs.reason(), "Completed");
      }
    EXPECT_TRUE(found) << "STOPPED event without the container's status";
  }
}

TEST_F(RuntimeServiceTest, TwentyPodsAtOnce) {
  std::vector<std::thread> threads;
  std::vector<StatusOr<std::string>> ids(20, absl::UnknownError("not run"));
  for (int i = 0; i < 20; i++)
    threads.emplace_back([&, i] { ids[i] = RunPod(PodConfig("many-" + std::to_string(i))); });
  for (auto& t : threads) t.join();
  std::set<std::string> ips;
  for (int i = 0; i < 20; i++) {
    ASSERT_TRUE(ids[i].ok()) << i << ": " << ids[i].status();
    ips.insert(PodIp(*ids[i]));
  }
  EXPECT_EQ(ips.size(), 20u);
  threads.clear();
  std::vector<grpc::Status> removed(20);
  for (int i = 0; i < 20; i++)
    threads.emplace_back([&, i] { removed[i] = RemovePod(*ids[i]); });
  for (auto& t : threads) t.join();
  for (auto& st : removed) EXPECT_TRUE(st.ok()) << st.error_message();
  ExpectNoLeftovers();
}

}  // namespace
}  // namespace kcr::e2e

namespace kcr::e2e {
namespace {

// kubelet's in-place pod resize calls UpdatePodSandboxResources before it
// writes its own pod cgroup (linux.cgroup_parent) itself, with the pod
// overhead the request leaves out: kcr must not write that cgroup (as
// containerd and CRI-O don't); a pod cgroup kcr made is still kcr's to size.
TEST_F(RuntimeServiceTest, PodResizeLeavesKubeletsPodCgroupToKubelet) {
  auto pc = PodConfig("kubelet-parent");
  const std::string parent = cgroup_parent_ + "/kubepods-pod-resize";
  pc.mutable_linux()->set_cgroup_parent(parent);
  auto pod = RunPod(pc);
  ASSERT_TRUE(pod.ok()) << pod.status();
  const std::string limit_file = MemoryCgroupDir(parent) + "/" + MemoryLimitFile();
  auto before = fs::ReadFile(limit_file);
  ASSERT_TRUE(before.ok()) << before.status();

  v1::UpdatePodSandboxResourcesRequest ureq;
  ureq.set_pod_sandbox_id(*pod);
  ureq.mutable_resources()->set_memory_limit_in_bytes(256 << 20);
  ureq.mutable_overhead()->set_memory_limit_in_bytes(64 << 20);
  v1::UpdatePodSandboxResourcesResponse uresp;
  grpc::Status g = Runtime().UpdatePodSandboxResources(Ctx().get(), ureq, &uresp);
  ASSERT_TRUE(g.ok()) << g.error_message();
  EXPECT_EQ(fs::ReadFile(limit_file).value_or("<missing>"), *before) << "kcr wrote kubelet's pod cgroup";
  // Still checked: a pod that is not there.
  ureq.set_pod_sandbox_id(std::string(64, 'e'));
  EXPECT_EQ(Runtime().UpdatePodSandboxResources(Ctx().get(), ureq, &uresp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(RemovePod(*pod).ok());
}

}  // namespace
}  // namespace kcr::e2e
