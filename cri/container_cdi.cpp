#include "cri/container_cdi.h"

#include <algorithm>
#include <map>
#include <set>

namespace kcr::cri {

namespace oci = kcr::runtime::oci;
namespace cdi = kcr::runtime::cdi;

StatusOr<std::vector<std::string>> CdiDeviceNames(const ::runtime::v1::ContainerConfig& c) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& d : c.cdi_devices())
    if (!d.name().empty() && seen.insert(d.name()).second) names.push_back(d.name());
  std::map<std::string, std::string> annotations(c.annotations().begin(), c.annotations().end());
  KCR_ASSIGN_OR_RETURN(std::vector<std::string> annotated, cdi::DevicesFromAnnotations(annotations));
  for (const auto& n : annotated)
    if (seen.insert(n).second) names.push_back(n);
  return names;
}

namespace {

size_t Depth(const std::string& p) { return static_cast<size_t>(std::count(p.begin(), p.end(), '/')); }

}  // namespace

Status ApplyCdiEdits(const cdi::ContainerEdits& e, oci::Spec* s) {
  if (e.intel_rdt)
    return absl::FailedPreconditionError("CDI edits ask for intelRdt (class " + e.intel_rdt->clos_id +
                                         "), which kcr's runtime does not support");
  for (const auto& kv : e.env) {
    std::string prefix = kv.substr(0, kv.find('=') + 1);
    auto& env = s->process.env;
    env.erase(std::remove_if(env.begin(), env.end(), [&](const std::string& x) { return x.rfind(prefix, 0) == 0; }),
              env.end());
    env.push_back(kv);
  }
  if (!s->linux.resources) s->linux.resources = oci::Resources{};
  for (const auto& n : e.device_nodes) {
    auto& devs = s->linux.devices;
    devs.erase(std::remove_if(devs.begin(), devs.end(), [&](const oci::Device& d) { return d.path == n.path; }),
               devs.end());
    devs.push_back({n.path, n.type, n.major, n.minor, n.file_mode, n.uid, n.gid});
    // A FIFO needs no device cgroup rule; "u" (unbuffered) is a character device.
    if (n.type != "p")
      s->linux.resources->devices.push_back({true, n.type == "b" ? "b" : "c", n.major, n.minor, n.permissions});
  }
  std::vector<oci::Mount> mounts;
  for (const auto& m : e.mounts) {
    oci::Mount om{m.container_path, m.type.empty() ? "bind" : m.type, m.host_path, m.options};
    bool bind_opt = std::any_of(om.options.begin(), om.options.end(),
                                [](const std::string& o) { return o == "bind" || o == "rbind"; });
    if (om.type == "bind" && !bind_opt) om.options.push_back("rbind");
    mounts.push_back(std::move(om));
  }
  // Parents before what is mounted inside them.
  std::stable_sort(mounts.begin(), mounts.end(),
                   [](const oci::Mount& a, const oci::Mount& b) { return Depth(a.destination) < Depth(b.destination); });
  for (auto& m : mounts) {
    s->mounts.erase(std::remove_if(s->mounts.begin(), s->mounts.end(),
                                   [&](const oci::Mount& x) { return x.destination == m.destination; }),
                    s->mounts.end());
    s->mounts.push_back(std::move(m));
  }
  std::map<std::string, std::vector<oci::Hook>*> points = {
      {"prestart", &s->hooks.prestart},           {"createRuntime", &s->hooks.create_runtime},
      {"createContainer", &s->hooks.create_container}, {"startContainer", &s->hooks.start_container},
      {"poststart", &s->hooks.poststart},         {"poststop", &s->hooks.poststop}};
  for (const auto& h : e.hooks) {
    auto p = points.find(h.hook_name);
    if (p == points.end()) return absl::InvalidArgumentError("CDI hook " + h.path + ": unknown hookName " + h.hook_name);
    p->second->push_back({h.path, h.args, h.env, h.timeout});
  }
  auto& gids = s->process.user.additional_gids;
  for (uint32_t g : e.additional_gids)
    if (g != 0 && std::find(gids.begin(), gids.end(), g) == gids.end()) gids.push_back(g);
  return absl::OkStatus();
}

}  // namespace kcr::cri
