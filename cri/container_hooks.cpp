#include "cri/container_hooks.h"

#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "runtime/linux/hooks.h"

namespace kcr::cri {

namespace oci = kcr::runtime::oci;

Status WriteBundleSpec(const std::string& bundle, const oci::Spec& spec) {
  if (spec.hooks.empty()) return absl::OkStatus();
  return Annotate(fs::WriteFileAtomic(bundle + "/config.json", oci::SerializeSpec(spec), 0600), "bundle config.json");
}

void RunPostHooks(const std::string& bundle, const std::string& id, bool poststop, pid_t pid) {
  auto text = fs::ReadFile(bundle + "/config.json", 16 << 20);
  if (!text.ok()) return;  // no hooks (or no bundle any more)
  auto spec = oci::ParseSpec(*text);
  if (!spec.ok()) {
    spdlog::warn("container {}: its hooks could not be read: {}", id, spec.status().message());
    return;
  }
  // poststop runs once: a removal retried after a later step failed finds no hooks.
  if (poststop) ::unlink((bundle + "/config.json").c_str());
  const auto& hooks = poststop ? spec->hooks.poststop : spec->hooks.poststart;
  if (hooks.empty()) return;
  std::string state = kcr::runtime::HookState(id, poststop ? "stopped" : "running", pid, bundle, spec->annotations);
  Status st = kcr::runtime::RunHooks(hooks, poststop ? "poststop" : "poststart", state);
  if (!st.ok()) spdlog::warn("container {}: {}", id, st.message());
}

}  // namespace kcr::cri
