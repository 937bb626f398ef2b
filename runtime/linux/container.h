#pragma once
// The internal OCI runtime's process creation: turns an oci::Spec into a
// confined process (namespaces, rootfs and mounts, pivot_root, user,
// capabilities, no_new_privs, seccomp, rlimits) in two phases like an OCI
// runtime's create/start: Create() leaves the init process set up and
// waiting just before execve; Start() lets it exec.
//
// Must be called from a single-threaded process (kcr-monitor, kcr-oci,
// tests): the child runs C++ between clone and exec.
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "runtime/cgroups/cgroup.h"
#include "runtime/oci/spec.h"

namespace kcr::runtime {

struct RootfsMount {  // made on spec.root_path before anything else (an image snapshot)
  std::string type, source;
  std::vector<std::string> options;
};

struct CreateOptions {
  std::vector<RootfsMount> rootfs;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // -1: /dev/null
  // When set, the init is placed in spec.linux.cgroups_path (created with
  // spec.linux.resources) before it runs any of the container's set-up.
  CgroupManager* cgroups = nullptr;
  // Bound on each wait for the init: its set-up (Create) and its exec
  // (Start). On expiry the init is killed and the call returns
  // DeadlineExceeded naming the step the init was in: an image can make
  // the init block (a FIFO where a file is expected), and the caller (a
  // single-threaded monitor holding a pod's lock upstream) must not.
  std::chrono::milliseconds init_timeout{60000};
  // The container's ID, for the state its hooks read (spec.hooks). Their
  // bundle is the directory holding spec.root_path.
  std::string container_id;
};

class Container {
 public:
  // Creates the init process. Errors name the failing step and field
  // ("pivot_root: ...", "user \"nobody2\" not found in /etc/passwd");
  // DeadlineExceeded after opts.init_timeout (the init is killed).
  static StatusOr<std::unique_ptr<Container>> Create(const oci::Spec& spec, const CreateOptions& opts);
  ~Container();

  // Create in halves, for an event loop that must not wait on an init
  // (kcr-monitor): Spawn clones the init and releases it into its set-up,
  // whose progress arrives on setup_fd(); ContinueSetup() takes what is
  // there without blocking: true once the init waits for Start, false
  // while it is still setting up, Create's errors when it failed (the
  // Container is then to be destroyed, which kills and reaps the init).
  // The caller bounds the set-up at opts.init_timeout and then destroys
  // the Container; SetupTimedOut() is Create's DeadlineExceeded naming the
  // step the init hung in.
  static StatusOr<std::unique_ptr<Container>> Spawn(const oci::Spec& spec, const CreateOptions& opts);
  int setup_fd() const { return report_r_.get(); }
  StatusOr<bool> ContinueSetup();
  Status SetupTimedOut() const;

  pid_t pid() const { return pid_; }
  // Lets the process exec. Errors when exec failed (e.g. no such binary);
  // DeadlineExceeded when the init neither execs nor fails within the
  // create options' init_timeout (it is then killed; Wait() reaps it).
  Status Start();
  // Waits for exit: the wait status (as waitpid). Only the parent may wait.
  StatusOr<int> Wait();
  // With process.terminal: the pty master (the container's stdin, stdout
  // and stderr are the slave, its controlling terminal). Empty otherwise,
  // and after the first call.
  UniqueFd TakeConsole() { return std::move(console_); }
  // The owner reaped the process itself (waitpid(-1)): the destructor must
  // not signal a pid that may have been reused.
  void MarkReaped() { waited_ = true; }

 private:
  Container() = default;
  pid_t pid_ = -1;
  UniqueFd start_w_;  // write a byte: exec
  UniqueFd report_r_; // the init's progress and errors; EOF at exec
  std::string report_buf_;  // bytes read from report_r_ not yet parsed
  std::string step_ = "starting";  // the step the init last said it entered
  std::chrono::milliseconds init_timeout_{60000};
  UniqueFd console_;
  UniqueFd console_sock_;  // the init sends the pty master here (terminal), until set up
  bool set_up_ = false;
  bool waited_ = false;
};

// "exit code" in the CRI sense from a wait status: the code, or 128+signal.
int ExitCodeOf(int wait_status);

}  // namespace kcr::runtime
