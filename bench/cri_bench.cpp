// kcr-cri-bench: times CRI calls against any runtime's socket (kcr,
// containerd, CRI-O) from one long-lived client, so figures are the
// runtime's and not a CLI's process start-up. Used by bench/pod_start.sh.
//
//   kcr-cri-bench SOCKET exec CONTAINER N      one line per call: microseconds
//   kcr-cri-bench SOCKET runp-parallel N DIR   wall milliseconds of N
//                                              RunPodSandbox calls at once
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "api/api.grpc.pb.h"

namespace v1 = ::runtime::v1;

namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  return c;
}

int Exec(v1::RuntimeService::Stub& rt, const std::string& id, int n) {
  for (int i = 0; i < n; i++) {
    v1::ExecSyncRequest req;
    req.set_container_id(id);
    req.add_cmd("true");
    req.set_timeout(10);
    v1::ExecSyncResponse resp;
    int64_t t0 = NowUs();
    grpc::Status st = rt.ExecSync(Ctx().get(), req, &resp);
    int64_t t1 = NowUs();
    if (!st.ok() || resp.exit_code() != 0) {
      std::fprintf(stderr, "ExecSync: %s (exit %d)\n", st.error_message().c_str(), resp.exit_code());
      return 1;
    }
    std::printf("%lld\n", static_cast<long long>(t1 - t0));
  }
  return 0;
}

int RunpParallel(v1::RuntimeService::Stub& rt, int n, const std::string& dir) {
  std::vector<std::thread> threads;
  std::vector<int> failed(static_cast<size_t>(n), 0);
  int64_t t0 = NowUs();
  for (int i = 0; i < n; i++)
    threads.emplace_back([&, i] {
      v1::RunPodSandboxRequest req;
      auto* c = req.mutable_config();
      std::string name = "par" + std::to_string(i);
      c->mutable_metadata()->set_name(name);
      c->mutable_metadata()->set_namespace_("bench");
      c->mutable_metadata()->set_uid(name);
      c->set_log_directory(dir + "/logs/" + name);
      c->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_pid(v1::CONTAINER);
      v1::RunPodSandboxResponse resp;
      grpc::Status st = rt.RunPodSandbox(Ctx().get(), req, &resp);
      if (!st.ok()) {
        std::fprintf(stderr, "RunPodSandbox %s: %s\n", name.c_str(), st.error_message().c_str());
        failed[static_cast<size_t>(i)] = 1;
      }
    });
  for (auto& t : threads) t.join();
  int64_t t1 = NowUs();
  for (int f : failed)
    if (f) return 1;
  std::printf("%lld\n", static_cast<long long>((t1 - t0) / 1000));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s SOCKET exec CONTAINER N | SOCKET runp-parallel N DIR\n", argv[0]);
    return 2;
  }
  auto ch = grpc::CreateChannel(std::string("unix:") + argv[1], grpc::InsecureChannelCredentials());
  auto rt = v1::RuntimeService::NewStub(ch);
  std::string cmd = argv[2];
  if (cmd == "exec" && argc == 5) return Exec(*rt, argv[3], std::atoi(argv[4]));
  if (cmd == "runp-parallel" && argc == 5) return RunpParallel(*rt, std::atoi(argv[3]), argv[4]);
  std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
  return 2;
}
