#pragma once
// Steps the container's init runs between clone() and execve(). Each
// returns a Status naming the step; the child reports the first failure to
// the parent over its report pipe. Internal to runtime/linux (and the
// monitor's exec path, which shares ConfineAndExec).
#include <functional>
#include <vector>

#include "common/status.h"
#include "runtime/linux/container.h"

namespace kcr::runtime::child {

// Mount namespace: rootfs, spec mounts, /dev, pivot_root, masked and
// read-only paths, read-only root. With a user namespace (`userns_fd` >=
// 0, not joined yet) the rootfs's layers and the mounts whose options say
// "idmap" or "ridmap" are idmapped through it, and files are created as
// the container's root (ActAsContainerRoot). `before_pivot`, when set, runs
// once the mounts and devices are made and before pivot_root (the
// createContainer hooks' point); its error aborts.
Status SetupRootfs(const oci::Spec& spec, const CreateOptions& opts, int userns_fd = -1,
                   const std::function<Status()>& before_pivot = {});

// The init's hostname (its own UTS namespace only); sysctls are part of
// SetupRootfs.
Status SetupProcessEnv(const oci::Spec& spec);

// process.rlimits and process.oomScoreAdj (EPERM tolerated for a negative
// value this host's root may not set): a step of ConfineAndExec, so an
// exec'd process gets exactly what the container's init got.
Status SetupProcessLimits(const oci::Spec& spec);

// Closes every descriptor above stdio but `keep`, and makes those
// close-on-exec: from then on /proc/self/fd reaches nothing of the
// runtime's, and nothing of it survives exec.
Status CloseDescriptorsExcept(std::vector<int> keep);

struct ConfineOptions {
  // Descriptors above stdio the caller still needs until exec (the init's
  // report pipe); every other one is closed first. They become
  // close-on-exec.
  std::vector<int> keep_fds;
  // The read end of a pipe whose write end only the parent holds (kept
  // open too). Once the parent-death signal is set again after the
  // identity change, a hang-up there means the parent died in between
  // (the kernel had cleared the signal): ConfineAndExec then fails
  // instead of running on unsupervised. -1: no check. (getppid() cannot
  // tell: it is 0 for a parent outside the process's PID namespace.)
  int parent_pipe = -1;
  // The user namespace to join (a descriptor, kept open like keep_fds),
  // after the process limits and AppArmor and before the seccomp filter
  // and the identity change, so user, groups and capabilities are the
  // namespace's. -1: none.
  int userns_fd = -1;
  // Called with the name of each step as it begins ("seccomp", "user
  // identity", "exec", ...), for the caller's progress reports.
  std::function<void(const char*)> on_step;
  // Runs after the identity change and before the last steps: the init
  // reports "ready" and waits for Start here. An error aborts.
  std::function<Status()> before_exec;
};

// Turns the calling process into the container's process and execs
// spec.process, for the container init and an exec'd process alike,
// in the one order that honours process.noNewPrivileges:
//   1. non-dumpable (until execve restores it): /proc/<pid>/exe of the
//      runtime's image is closed to the container (CVE-2019-5736);
//   2. every descriptor above stdio closed but opts.keep_fds and
//      opts.parent_pipe, which become close-on-exec (CVE-2024-21626): done
//      before any filter is loaded, so no profile can refuse it, and every
//      descriptor opened afterwards is O_CLOEXEC;
//   3. process.rlimits and oomScoreAdj (SetupProcessLimits), while the
//      runtime's privileges still allow raising a hard limit;
//      process.apparmorProfile for the coming exec;
//   3b. the user namespace (opts.userns_fd): what needs the host's
//      privileges is done by now;
//   4. without noNewPrivileges, the seccomp filter, while CAP_SYS_ADMIN is
//      still held (a filter without no_new_privs needs it): setuid
//      binaries and file capabilities keep working. The profile must then
//      allow the runtime's remaining calls (setgroups, setres[ug]id,
//      capset, prctl, openat2, fstat, read, chdir, mkdirat, close_range,
//      poll, write, execve), as runc's order requires too;
//   5. user, groups, capabilities, no_new_privs, cwd (user databases and
//      cwd resolved in the root, never through a magic link, never
//      blocking);
//   6. PR_SET_PDEATHSIG(SIGKILL) again (the identity change cleared it),
//      then the parent check (opts.parent_pipe);
//   7. opts.before_exec;
//   8. with noNewPrivileges, the seccomp filter, as late as possible;
//   9. execve of args[0] (looked up on the spec's PATH without a '/').
// Returns only on failure, with the step in the message; the caller
// reports it and _exits. A program that is not there gives NotFound.
Status ConfineAndExec(const oci::Spec& spec, const ConfineOptions& opts);

// Steps of ConfineAndExec (internal to runtime/linux).
Status SetupIdentity(const oci::Spec& spec);
Status ApplyAppArmor(const oci::Spec& spec);
Status Exec(const oci::Spec& spec);

// The seccomp filter of spec.linux.seccomp, leaving no_new_privs alone
// (libseccomp sets it by default): loading it needs CAP_SYS_ADMIN or
// no_new_privs already set.
Status LoadSeccomp(const oci::Spec& spec);

}  // namespace kcr::runtime::child
