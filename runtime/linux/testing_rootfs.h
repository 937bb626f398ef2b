#pragma once
// Test helpers: a busybox root filesystem built from Debian's
// busybox-static, and a container spec over it with kcr's defaults.
#include <string>
#include <vector>

#include "runtime/oci/spec.h"

namespace kcr::runtime::testing {

// Creates a rootfs under a new temp dir and returns its path. Remove it
// with fs::RemoveAll when done.
std::string MakeBusyboxRootfs();

oci::Spec BusyboxSpec(const std::string& rootfs, std::vector<std::string> args);

}  // namespace kcr::runtime::testing
