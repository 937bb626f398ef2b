#pragma once
// A sealed in-memory copy of an executable, for kcrd to start monitors
// from. A container init and an exec child run the monitor's image until
// they exec the container's program; a process in the container that opens
// their /proc/<pid>/exe reaches that image (the CVE-2019-5736 class). From
// a sealed memfd it reaches no host file, and the copy cannot be written.
#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace kcr::monitor {

// Copies the executable at `path` into a memfd named `name`
// (MFD_CLOEXEC | MFD_ALLOW_SEALING, MFD_EXEC where the kernel has it) and
// seals it: no write, no growth or shrinking, no further seal changes.
// posix_spawn runs it as /proc/self/fd/<fd> (an ELF needs no open fd after
// exec, so close-on-exec is fine). One copy serves every process started
// from it: the pages are shared as a file's are.
StatusOr<UniqueFd> SealedCopy(const std::string& path, const std::string& name);

}  // namespace kcr::monitor
