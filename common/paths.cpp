#include "common/paths.h"

#include <utility>

namespace kcr {

std::string JoinPath(std::string_view a, std::string_view b) {
  std::string out(a);
  while (!out.empty() && out.back() == '/' && out.size() > 1) out.pop_back();
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  if (b.empty()) return out;
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(b);
  return out;
}

Paths::Paths(std::string root, std::string state)
    : root_(JoinPath(std::move(root), "")), state_(JoinPath(std::move(state), "")) {}

std::string Paths::Database() const { return JoinPath(root_, "kcr.db"); }
std::string Paths::LockFile() const { return JoinPath(root_, "kcr.lock"); }
std::string Paths::ContentBlobs() const { return JoinPath(root_, "content/blobs/sha256"); }
std::string Paths::Blob(std::string_view hex) const { return JoinPath(ContentBlobs(), hex); }
std::string Paths::ContentIngest() const { return JoinPath(root_, "content/ingest"); }
std::string Paths::Ingest(std::string_view ref) const { return JoinPath(ContentIngest(), ref); }
std::string Paths::Snapshots() const { return JoinPath(root_, "snapshots"); }
std::string Paths::Snapshot(std::string_view id) const { return JoinPath(Snapshots(), id); }
std::string Paths::SnapshotFs(std::string_view id) const { return JoinPath(Snapshot(id), "fs"); }
std::string Paths::SnapshotWork(std::string_view id) const { return JoinPath(Snapshot(id), "work"); }
std::string Paths::SnapshotsTmp() const { return JoinPath(root_, "snapshots-tmp"); }
std::string Paths::Pods() const { return JoinPath(root_, "pods"); }
std::string Paths::CniResults() const { return JoinPath(root_, "cni/results"); }
std::string Paths::PodDir(std::string_view id) const { return JoinPath(Pods(), id); }

std::string Paths::DefaultSocket() const { return JoinPath(state_, "kcr.sock"); }
std::string Paths::Monitors() const { return JoinPath(state_, "monitors"); }
std::string Paths::MonitorSocket(std::string_view id) const {
  return JoinPath(Monitors(), std::string(id) + ".sock");
}
std::string Paths::NetnsDir() const { return JoinPath(state_, "netns"); }
std::string Paths::Netns(std::string_view id) const { return JoinPath(NetnsDir(), id); }
std::string Paths::Containers() const { return JoinPath(state_, "containers"); }
std::string Paths::ContainerDir(std::string_view id) const { return JoinPath(Containers(), id); }
std::string Paths::AppArmorPolicy(std::string_view profile) const {
  return JoinPath(JoinPath(state_, "apparmor"), profile);
}

}  // namespace kcr
