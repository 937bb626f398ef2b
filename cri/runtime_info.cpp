// Version, Status, RuntimeConfig and UpdateRuntimeConfig.
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "cri/grpc_status.h"
#include "cri/runtime_service.h"
#include "cri/version.h"

namespace kcr::cri {

grpc::Status RuntimeService::Version(grpc::ServerContext*, const ::runtime::v1::VersionRequest*,
                                     ::runtime::v1::VersionResponse* resp) {
  // "version" is the kubelet runtime API version, as containerd reports it.
  resp->set_version("0.1.0");
  resp->set_runtime_name("kcr");
  resp->set_runtime_version(kVersion);
  resp->set_runtime_api_version("v1");
  return grpc::Status::OK;
}

grpc::Status RuntimeService::Status(grpc::ServerContext*, const ::runtime::v1::StatusRequest* req,
                                    ::runtime::v1::StatusResponse* resp) {
  auto* st = resp->mutable_status();
  auto* rt = st->add_conditions();
  rt->set_type("RuntimeReady");
  rt->set_status(true);
  // Re-evaluated on every call: a CNI config dropped in later is picked up.
  auto* net = st->add_conditions();
  net->set_type("NetworkReady");
  absl::Status ready = d_.network.Ready();
  net->set_status(ready.ok());
  if (!ready.ok()) {
    net->set_reason("NetworkPluginNotReady");
    net->set_message(std::string(ready.message()));
  }
  auto* h = resp->add_runtime_handlers();  // the default handler has an empty name
  h->mutable_features()->set_recursive_read_only_mounts(true);
  // Pod user namespaces with idmapped mounts (cri/container_userns.h).
  h->mutable_features()->set_user_namespaces(true);
  resp->mutable_features()->set_supplemental_groups_policy(true);
  if (req->verbose()) {
    nlohmann::json cfg = {{"cgroupDriver", info_.cgroup_driver}, {"network", d_.network.Describe()}};
    (*resp->mutable_info())["config"] = cfg.dump();
    // CDI: where specs are read, the devices they define, and the files
    // that failed to load (each with its reason).
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : cdi_.Errors()) errors.push_back({{"file", e.file}, {"reason", e.reason}});
    (*resp->mutable_info())["cdi"] =
        nlohmann::json{{"specDirs", cdi_.dirs()}, {"devices", cdi_.Devices()}, {"errors", errors}}.dump();
  }
  return grpc::Status::OK;
}

grpc::Status RuntimeService::RuntimeConfig(grpc::ServerContext*, const ::runtime::v1::RuntimeConfigRequest*,
                                           ::runtime::v1::RuntimeConfigResponse* resp) {
  resp->mutable_linux()->set_cgroup_driver(info_.cgroup_driver == "systemd" ? ::runtime::v1::SYSTEMD
                                                                           : ::runtime::v1::CGROUPFS);
  return grpc::Status::OK;
}

grpc::Status RuntimeService::UpdateRuntimeConfig(grpc::ServerContext*,
                                                 const ::runtime::v1::UpdateRuntimeConfigRequest* req,
                                                 ::runtime::v1::UpdateRuntimeConfigResponse*) {
  // The built-in network takes kubelet's pod CIDR; configured networks
  // manage their own addresses.
  const std::string& cidr = req->runtime_config().network_config().pod_cidr();
  spdlog::info("UpdateRuntimeConfig pod_cidr={}", cidr);
  return ToGrpc(d_.network.SetPodCidr(cidr), "UpdateRuntimeConfig");
}

}  // namespace kcr::cri
