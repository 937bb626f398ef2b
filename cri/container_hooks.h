#pragma once
// The OCI hooks kcrd itself runs (poststart, poststop: the runtime
// namespace's points, after the monitor started or removed the
// container), and the bundle config.json they and the other hooks read.
#include <sys/types.h>

#include <string>

#include "common/status.h"
#include "runtime/oci/spec.h"

namespace kcr::cri {

// Writes `spec` as <bundle>/config.json when it has hooks (hooks such as
// nvidia-ctk's read the bundle's config.json to find the rootfs); nothing
// otherwise, so a container without hooks costs no extra write.
Status WriteBundleSpec(const std::string& bundle, const kcr::runtime::oci::Spec& spec);

// Runs the poststart (`poststop` false) or poststop hooks of the bundle's
// config.json, if it has any, with the state ("running" or "stopped").
// Failures are logged as warnings: the runtime-spec lets neither point
// undo what already happened.
void RunPostHooks(const std::string& bundle, const std::string& id, bool poststop, pid_t pid);

}  // namespace kcr::cri
