#pragma once
// Runs one CNI plugin binary: stdin = network config, environment = CNI_*,
// stdout = result or error JSON. posix_spawn only: kcrd is multithreaded.
#include <string>
#include <vector>

#include "common/status.h"

namespace kcr::runtime {

struct PluginOutput {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// Runs `binary` with `env` (KEY=VALUE) and `input` on stdin, waits for it.
// Fails only if it cannot be started or waited for; a non-zero exit is in
// the output. Output beyond 4 MiB is an error (a plugin result is small).
StatusOr<PluginOutput> ExecPlugin(const std::string& binary, const std::vector<std::string>& env,
                                  const std::string& input);
// The same with arguments after argv[0] (other helper programs: criu).
StatusOr<PluginOutput> ExecProgram(const std::string& binary, const std::vector<std::string>& args,
                                   const std::vector<std::string>& env, const std::string& input);

}  // namespace kcr::runtime
