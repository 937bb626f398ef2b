#pragma once
// OCI hooks (runtime-spec config.md#posix-platform-hooks): each hook runs
// as a child with the container's state JSON on its stdin, its own env and
// args, and a bound on its run time; one that exits non-zero or outlives
// its timeout (its process group is then killed) is an error naming the
// hook, the point and what it wrote.
//
// Safe in a multithreaded process (posix_spawn, no fork) and in the
// container's init between clone and exec (kcr's createRuntime,
// createContainer and startContainer points run there; kcrd runs poststart
// and poststop).
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::runtime {

// The wait for a hook without a timeout of its own. The runtime-spec
// allows waiting forever; kcr bounds every wait (a hung hook would hold a
// container's creation, or a CRI call, for good).
inline constexpr std::chrono::seconds kDefaultHookTimeout{30};

// The state JSON (runtime-spec runtime.md#state) handed to hooks.
std::string HookState(const std::string& id, const std::string& status, pid_t pid, const std::string& bundle,
                      const std::map<std::string, std::string>& annotations);

// Runs `hooks` in order; stops at the first failure. `point` names the
// hook point in errors ("createContainer"). FailedPrecondition for a hook
// that failed, DeadlineExceeded for one that timed out.
Status RunHooks(const std::vector<oci::Hook>& hooks, const char* point, const std::string& state);

}  // namespace kcr::runtime
