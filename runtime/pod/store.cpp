#include "runtime/pod/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fd.h"

namespace kcr::runtime {

using nlohmann::json;

std::string NewId() {
  unsigned char b[32];
  UniqueFd fd(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  size_t got = 0;
  while (fd && got < sizeof b) {
    ssize_t n = ::read(fd.get(), b + got, sizeof b - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (unsigned char c : b) {
    id.push_back(hex[c >> 4]);
    id.push_back(hex[c & 15]);
  }
  return id;
}

namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS pod_sandboxes (
  id TEXT PRIMARY KEY, name_key TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pod_containers (
  id TEXT PRIMARY KEY,
  sandbox_id TEXT NOT NULL REFERENCES pod_sandboxes(id),
  name_key TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pod_containers_sandbox ON pod_containers(sandbox_id);
)";

std::string Hexify(const std::string& bytes) {  // opaque blobs go into JSON as hex
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}
std::string Unhexify(const std::string& h) {
  auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(v(h[i]) << 4 | v(h[i + 1])));
  return out;
}

json ToJson(const SandboxRecord& s) {
  return {{"name", s.name}, {"ns", s.ns}, {"uid", s.uid}, {"attempt", s.attempt},
          {"state", s.state == SandboxState::kReady ? "ready" : "notready"},
          {"created", s.created_ns}, {"labels", s.labels}, {"annotations", s.annotations},
          {"handler", s.runtime_handler}, {"netns", s.netns_path}, {"ips", s.ips},
          {"cgroup_parent", s.cgroup_parent}, {"config", Hexify(s.config)}, {"extra", s.extra}};
}
SandboxRecord SandboxFrom(const std::string& id, const std::string& key, const json& j) {
  SandboxRecord s;
  s.id = id;
  s.name_key = key;
  s.name = j.value("name", "");
  s.ns = j.value("ns", "");
  s.uid = j.value("uid", "");
  s.attempt = j.value("attempt", 0u);
  s.state = j.value("state", "") == "ready" ? SandboxState::kReady : SandboxState::kNotReady;
  s.created_ns = j.value("created", int64_t{0});
  s.labels = j.value("labels", std::map<std::string, std::string>{});
  s.annotations = j.value("annotations", std::map<std::string, std::string>{});
  s.runtime_handler = j.value("handler", "");
  s.netns_path = j.value("netns", "");
  s.ips = j.value("ips", std::vector<std::string>{});
  s.cgroup_parent = j.value("cgroup_parent", "");
  s.config = Unhexify(j.value("config", ""));
  s.extra = j.value("extra", "");
  return s;
}

const char* StateName(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated: return "created";
    case ContainerState::kRunning: return "running";
    case ContainerState::kExited: return "exited";
    default: return "unknown";
  }
}
ContainerState StateFrom(const std::string& s) {
  if (s == "created") return ContainerState::kCreated;
  if (s == "running") return ContainerState::kRunning;
  if (s == "exited") return ContainerState::kExited;
  return ContainerState::kUnknown;
}

json ToJson(const ContainerRecord& c) {
  return {{"name", c.name}, {"attempt", c.attempt}, {"state", StateName(c.state)},
          {"created", c.created_ns}, {"started", c.started_ns}, {"finished", c.finished_ns},
          {"exit_code", c.exit_code}, {"reason", c.reason}, {"message", c.message},
          {"image", c.image}, {"image_id", c.image_id}, {"log_path", c.log_path},
          {"labels", c.labels}, {"annotations", c.annotations}, {"config", Hexify(c.config)},
          {"extra", c.extra}};
}
ContainerRecord ContainerFrom(const std::string& id, const std::string& sandbox, const std::string& key,
                              const json& j) {
  ContainerRecord c;
  c.id = id;
  c.sandbox_id = sandbox;
  c.name_key = key;
  c.name = j.value("name", "");
  c.attempt = j.value("attempt", 0u);
  c.state = StateFrom(j.value("state", ""));
  c.created_ns = j.value("created", int64_t{0});
  c.started_ns = j.value("started", int64_t{0});
  c.finished_ns = j.value("finished", int64_t{0});
  c.exit_code = j.value("exit_code", 0);
  c.reason = j.value("reason", "");
  c.message = j.value("message", "");
  c.image = j.value("image", "");
  c.image_id = j.value("image_id", "");
  c.log_path = j.value("log_path", "");
  c.labels = j.value("labels", std::map<std::string, std::string>{});
  c.annotations = j.value("annotations", std::map<std::string, std::string>{});
  c.config = Unhexify(j.value("config", ""));
  c.extra = j.value("extra", "");
  return c;
}

// Resolves a full ID or unique prefix in `table`.
StatusOr<std::string> ResolveId(Database& db, const char* table, const char* what, const std::string& prefix) {
  if (prefix.empty()) return absl::InvalidArgumentError(std::string(what) + " ID is empty");
  if (prefix.find_first_not_of("0123456789abcdef") != std::string::npos)
    return absl::NotFoundError(std::string(what) + " \"" + prefix + "\" not found");
  KCR_ASSIGN_OR_RETURN(Statement st, db.Prepare(std::string("SELECT id FROM ") + table +
                                                " WHERE id >= ?1 AND id < ?1 || 'g' LIMIT 2"));
  st.Bind(1, prefix);
  std::vector<std::string> ids;
  for (;;) {
    KCR_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    ids.push_back(st.Text(0));
  }
  if (ids.empty()) return absl::NotFoundError(std::string(what) + " \"" + prefix + "\" not found");
  if (ids.size() > 1 && ids[0] != prefix)
    return absl::InvalidArgumentError(std::string(what) + " ID prefix \"" + prefix + "\" is ambiguous");
  return ids[0];
}

Status InsertError(const Status& st, Database& db, const char* table, const char* what, const std::string& id,
                   const std::string& key) {
  if (st.code() != absl::StatusCode::kAlreadyExists) return st;
  auto q = db.Prepare(std::string("SELECT id FROM ") + table + " WHERE name_key = ?1");
  if (q.ok()) {
    q->Bind(1, key);
    if (auto row = q->Step(); row.ok() && *row)
      return absl::AlreadyExistsError(std::string(what) + " name \"" + key + "\" is already reserved by " +
                                      q->Text(0));
  }
  return absl::AlreadyExistsError(std::string(what) + " " + id + " already exists");
}

}  // namespace

StatusOr<std::unique_ptr<PodStore>> PodStore::Open(Database& db) {
  KCR_RETURN_IF_ERROR(db.Exec(kSchema));
  return std::unique_ptr<PodStore>(new PodStore(db));
}

Status PodStore::AddSandbox(const SandboxRecord& s) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare("INSERT INTO pod_sandboxes(id, name_key, body) VALUES(?1,?2,?3)"));
  st.Bind(1, s.id).Bind(2, s.name_key).Bind(3, ToJson(s).dump());
  return InsertError(st.Run(), db_, "pod_sandboxes", "pod sandbox", s.id, s.name_key);
}

Status PodStore::AddContainer(const ContainerRecord& c) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  {
    KCR_ASSIGN_OR_RETURN(Statement q, db_.Prepare("SELECT 1 FROM pod_sandboxes WHERE id = ?1"));
    q.Bind(1, c.sandbox_id);
    KCR_ASSIGN_OR_RETURN(bool found, q.Step());
    if (!found) return absl::NotFoundError("pod sandbox " + c.sandbox_id + " not found");
  }
  KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare(
      "INSERT INTO pod_containers(id, sandbox_id, name_key, body) VALUES(?1,?2,?3,?4)"));
  st.Bind(1, c.id).Bind(2, c.sandbox_id).Bind(3, c.name_key).Bind(4, ToJson(c).dump());
  return InsertError(st.Run(), db_, "pod_containers", "container", c.id, c.name_key);
}

Status PodStore::UpdateSandbox(const SandboxRecord& s) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare("UPDATE pod_sandboxes SET body = ?2 WHERE id = ?1"));
  st.Bind(1, s.id).Bind(2, ToJson(s).dump());
  KCR_RETURN_IF_ERROR(st.Run());
  if (sqlite3_changes(db_.raw()) == 0) return absl::NotFoundError("pod sandbox " + s.id + " not found");
  return absl::OkStatus();
}

Status PodStore::UpdateContainer(const ContainerRecord& c) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare("UPDATE pod_containers SET body = ?2 WHERE id = ?1"));
  st.Bind(1, c.id).Bind(2, ToJson(c).dump());
  KCR_RETURN_IF_ERROR(st.Run());
  if (sqlite3_changes(db_.raw()) == 0) return absl::NotFoundError("container " + c.id + " not found");
  return absl::OkStatus();
}

Status PodStore::RemoveSandbox(const std::string& id) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  {
    KCR_ASSIGN_OR_RETURN(Statement q, db_.Prepare("SELECT id FROM pod_containers WHERE sandbox_id = ?1 LIMIT 1"));
    q.Bind(1, id);
    KCR_ASSIGN_OR_RETURN(bool any, q.Step());
    if (any)
      return absl::FailedPreconditionError("pod sandbox " + id + " still has container " + q.Text(0));
  }
  KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare("DELETE FROM pod_sandboxes WHERE id = ?1"));
  st.Bind(1, id);
  return st.Run();
}

Status PodStore::RemoveContainer(const std::string& id) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare("DELETE FROM pod_containers WHERE id = ?1"));
  st.Bind(1, id);
  return st.Run();
}

StatusOr<SandboxRecord> PodStore::GetSandbox(const std::string& prefix) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  KCR_ASSIGN_OR_RETURN(std::string id, ResolveId(db_, "pod_sandboxes", "pod sandbox", prefix));
  KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT name_key, body FROM pod_sandboxes WHERE id = ?1"));
  st.Bind(1, id);
  KCR_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError("pod sandbox " + id + " not found");
  return SandboxFrom(id, st.Text(0), json::parse(st.Text(1), nullptr, false));
}

StatusOr<ContainerRecord> PodStore::GetContainer(const std::string& prefix) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  KCR_ASSIGN_OR_RETURN(std::string id, ResolveId(db_, "pod_containers", "container", prefix));
  KCR_ASSIGN_OR_RETURN(Statement st,
                       db_.Prepare("SELECT sandbox_id, name_key, body FROM pod_containers WHERE id = ?1"));
  st.Bind(1, id);
  KCR_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError("container " + id + " not found");
  return ContainerFrom(id, st.Text(0), st.Text(1), json::parse(st.Text(2), nullptr, false));
}

std::vector<SandboxRecord> PodStore::ListSandboxes() {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  std::vector<SandboxRecord> out;
  auto st = db_.Prepare("SELECT id, name_key, body FROM pod_sandboxes ORDER BY id");
  if (!st.ok()) return out;
  while (true) {
    auto row = st->Step();
    if (!row.ok() || !*row) break;
    out.push_back(SandboxFrom(st->Text(0), st->Text(1), json::parse(st->Text(2), nullptr, false)));
  }
  return out;
}

std::vector<ContainerRecord> PodStore::ListContainers(const std::string& sandbox_id) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  std::vector<ContainerRecord> out;
  auto st = db_.Prepare(sandbox_id.empty()
                            ? "SELECT id, sandbox_id, name_key, body FROM pod_containers ORDER BY id"
                            : "SELECT id, sandbox_id, name_key, body FROM pod_containers WHERE sandbox_id = ?1 ORDER BY id");
  if (!st.ok()) return out;
  if (!sandbox_id.empty()) st->Bind(1, sandbox_id);
  while (true) {
    auto row = st->Step();
    if (!row.ok() || !*row) break;
    out.push_back(ContainerFrom(st->Text(0), st->Text(1), st->Text(2), json::parse(st->Text(3), nullptr, false)));
  }
  return out;
}

}  // namespace kcr::runtime
