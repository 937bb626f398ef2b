// kcr-oci: a command-line front end to kcr's internal OCI runtime, for
// benchmarks and for checking the runtime against OCI bundles.
//   kcr-oci run [--bundle DIR] [--cgroup-driver cgroupfs] ID
// runs the bundle's config.json to completion and exits with its status.
// (create/start/state/kill/delete, for the OCI runtime-tools suite, come
// with the monitor's state directory.)
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>

#include "common/fs.h"
#include "common/paths.h"
#include "runtime/linux/container.h"

int main(int argc, char** argv) {
  using namespace kcr;
  CLI::App app{"kcr-oci: kcr's internal OCI runtime"};
  app.require_subcommand(1);
  auto* run = app.add_subcommand("run", "create, start and wait for a container");
  std::string bundle = ".", id, driver;
  run->add_option("--bundle,-b", bundle, "bundle directory with config.json");
  run->add_option("--cgroup-driver", driver, "place the container in linux.cgroupsPath (cgroupfs)");
  run->add_option("id", id, "container ID")->required();
  // What kcr-monitor does per container: no runtime binary is exec'd, the
  // already running process clones the container's init.
  auto* loop = app.add_subcommand("loop", "create+start+wait COUNT times in this process; print microseconds each");
  int count = 100;
  loop->add_option("--bundle,-b", bundle, "bundle directory with config.json");
  loop->add_option("--count,-n", count, "iterations");
  CLI11_PARSE(app, argc, argv);

  auto text = fs::ReadFile(JoinPath(bundle, "config.json"));
  if (!text.ok()) {
    std::cerr << "kcr-oci: " << text.status().message() << "\n";
    return 125;
  }
  auto spec = runtime::oci::ParseSpec(*text);
  if (!spec.ok()) {
    std::cerr << "kcr-oci: " << spec.status().message() << "\n";
    return 125;
  }
  if (!spec->root_path.empty() && spec->root_path[0] != '/') spec->root_path = JoinPath(bundle, spec->root_path);
  std::unique_ptr<runtime::CgroupManager> cg;
  runtime::CreateOptions opts;
  opts.stdin_fd = 0;
  opts.stdout_fd = 1;
  opts.stderr_fd = 2;
  if (!driver.empty()) {
    if (driver != "cgroupfs") {
      std::cerr << "kcr-oci: cgroup driver \"" << driver << "\": only cgroupfs is supported here\n";
      return 125;
    }
    auto m = runtime::NewCgroupfsManager();
    if (!m.ok()) {
      std::cerr << "kcr-oci: " << m.status().message() << "\n";
      return 125;
    }
    cg = std::move(*m);
    opts.cgroups = cg.get();
  }
  if (loop->parsed()) {
    opts.stdin_fd = opts.stdout_fd = opts.stderr_fd = -1;
    for (int i = 0; i < count; i++) {
      auto t0 = std::chrono::steady_clock::now();
      auto c = runtime::Container::Create(*spec, opts);
      if (!c.ok() || !(*c)->Start().ok() || !(*c)->Wait().ok()) {
        std::cerr << "kcr-oci: iteration " << i << " failed" << (c.ok() ? "" : ": " + std::string(c.status().message()))
                  << "\n";
        return 1;
      }
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
      std::cout << us << "\n";
    }
    return 0;
  }
  auto c = runtime::Container::Create(*spec, opts);
  if (!c.ok()) {
    std::cerr << "kcr-oci: " << c.status().message() << "\n";
    return 125;
  }
  if (auto st = (*c)->Start(); !st.ok()) {
    std::cerr << "kcr-oci: " << st.message() << "\n";
    return 125;
  }
  auto ws = (*c)->Wait();
  if (cg && !spec->linux.cgroups_path.empty()) cg->Destroy(spec->linux.cgroups_path).IgnoreError();
  if (!ws.ok()) return 125;
  return runtime::ExitCodeOf(*ws);
}
