#pragma once
// PodStore: durable records of pod sandboxes and containers (SQLite, in the
// daemon's one database). Names are reserved by a UNIQUE key at creation, so
// a second create with the same metadata fails with AlreadyExists, and IDs
// are resolved from unique prefixes as crictl uses them.
//
// The store records what kcrd decided and what monitors reported; it never
// talks to processes. Thread-safe (one Database, transactions).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/sqlite.h"
#include "common/status.h"

namespace kcr::runtime {

enum class SandboxState { kReady, kNotReady };
enum class ContainerState { kCreated, kRunning, kExited, kUnknown };

struct SandboxRecord {
  std::string id;          // 64 hex
  std::string name_key;    // unique: name_namespace_uid_attempt
  std::string name, ns, uid;
  uint32_t attempt = 0;
  SandboxState state = SandboxState::kReady;
  int64_t created_ns = 0;
  std::map<std::string, std::string> labels, annotations;
  std::string runtime_handler;
  std::string netns_path;  // empty: host network
  std::vector<std::string> ips;
  std::string cgroup_parent;
  std::string config;      // opaque: the serialized CRI PodSandboxConfig
  std::string extra;       // opaque JSON for the owner's own fields
};

struct ContainerRecord {
  std::string id;
  std::string sandbox_id;
  std::string name_key;    // unique: name_podname_podns_poduid_attempt
  std::string name;
  uint32_t attempt = 0;
  ContainerState state = ContainerState::kCreated;
  int64_t created_ns = 0, started_ns = 0, finished_ns = 0;
  int32_t exit_code = 0;
  std::string reason, message;
  std::string image;       // as the user named it
  std::string image_id;    // "sha256:..."
  std::string log_path;
  std::map<std::string, std::string> labels, annotations;
  std::string config;      // opaque: the serialized CRI ContainerConfig
  std::string extra;
};

// A new random 64-hex-character ID.
std::string NewId();

class PodStore {
 public:
  // Creates the tables (pod_sandboxes, pod_containers) if needed.
  static StatusOr<std::unique_ptr<PodStore>> Open(Database& db);

  // Inserts a new record. AlreadyExists naming the holder when the name key
  // or ID is taken. A container's sandbox must exist (NotFound otherwise).
  Status AddSandbox(const SandboxRecord& s);
  Status AddContainer(const ContainerRecord& c);

  // Replaces the record with the same ID. NotFound if it is gone.
  Status UpdateSandbox(const SandboxRecord& s);
  Status UpdateContainer(const ContainerRecord& c);

  // Deletes; OK if missing. A sandbox with containers left is refused
  // (FailedPrecondition): remove containers first.
  Status RemoveSandbox(const std::string& id);
  Status RemoveContainer(const std::string& id);

  // By full ID or unique prefix. NotFound when nothing matches,
  // InvalidArgument when a prefix is ambiguous or empty.
  StatusOr<SandboxRecord> GetSandbox(const std::string& id_or_prefix);
  StatusOr<ContainerRecord> GetContainer(const std::string& id_or_prefix);

  std::vector<SandboxRecord> ListSandboxes();
  // All containers, or those of one sandbox when `sandbox_id` is set.
  std::vector<ContainerRecord> ListContainers(const std::string& sandbox_id = "");

 private:
  explicit PodStore(Database& db) : db_(db) {}
  Database& db_;
};

}  // namespace kcr::runtime
