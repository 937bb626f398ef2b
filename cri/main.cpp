// kcrd: the kcr CRI daemon.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/log_format.h"
#include "cri/config.h"
#include "cri/daemon.h"
#include "cri/version.h"

int main(int argc, char** argv) {
  using namespace kcr::cri;
  CLI::App app{"kcrd: a Kubernetes CRI container runtime"};
  std::string config_path, root, state, listen, log_level;
  bool version = false;
  app.add_option("--config", config_path, "TOML configuration file (see `kcrd config default`)");
  app.add_option("--root", root, "persistent state directory (default /var/lib/kcr)");
  app.add_option("--state", state, "runtime state directory (default /run/kcr)");
  app.add_option("--listen", listen, "CRI unix socket (default <state>/kcr.sock)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error (default info)");
  app.add_flag("--version", version, "print the version and exit");
  auto* config_cmd = app.add_subcommand("config", "configuration helpers");
  config_cmd->add_subcommand("default", "print the complete default configuration");
  config_cmd->require_subcommand(1);
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::cout << "kcrd " << kVersion << " (CRI API runtime.v1, k8s.io/cri-api " << kCriApiVersion << ")\n";
    return 0;
  }
  if (config_cmd->parsed()) {
    std::cout << DefaultConfigToml();
    return 0;
  }

  kcr::StatusOr<Config> cfg = config_path.empty() ? ParseConfig("", "defaults") : LoadConfig(config_path);
  if (!cfg.ok()) {
    std::cerr << "kcrd: " << cfg.status().message() << "\n";
    return 2;
  }
  if (!root.empty()) cfg->root = root;
  if (!state.empty()) cfg->state = state;
  if (!listen.empty()) cfg->listen = listen;
  if (!log_level.empty()) cfg->log_level = log_level;
  if (auto st = kcr::SetLogFormat(cfg->log_format); !st.ok()) {
    std::cerr << "kcrd: " << st.message() << "\n";
    return 2;
  }
  if (auto st = kcr::SetLogLevel(cfg->log_level); !st.ok()) {
    std::cerr << "kcrd: " << st.message() << "\n";
    return 2;
  }

  // Block termination signals and SIGHUP (re-read logging) in every
  // thread: one thread sigwait()s them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (auto st = RunDaemon(*cfg); !st.ok()) {
    spdlog::critical("kcrd: {}", st.message());
    return 1;
  }
  return 0;
}
