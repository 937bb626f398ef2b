#pragma once
// Paths: the one owner of kcr's on-disk layout (ARCHITECTURE.md, "On disk").
// Nothing else in kcr joins directory names under <root> or <state>.
//
//   <root> (/var/lib/kcr)                 <state> (/run/kcr)
//     kcr.db, kcr.lock                      kcr.sock
//     content/blobs/sha256/<hex>            monitors/<pod-id>.sock
//     content/ingest/<ref>                  netns/<pod-id>
//     snapshots/<n>/{fs,work}, snapshots-tmp  containers/<id>/
//     pods/<pod-id>/
#include <string>
#include <string_view>

namespace kcr {

class Paths {
 public:
  Paths(std::string root, std::string state);

  const std::string& root() const { return root_; }
  const std::string& state() const { return state_; }

  // <root>
  std::string Database() const;        // kcr.db
  std::string LockFile() const;        // kcr.lock
  std::string ContentBlobs() const;    // content/blobs/sha256
  std::string Blob(std::string_view hex) const;
  std::string ContentIngest() const;   // content/ingest
  std::string Ingest(std::string_view ref) const;
  std::string Snapshots() const;       // snapshots
  std::string Snapshot(std::string_view id) const;       // snapshots/<id>
  std::string SnapshotFs(std::string_view id) const;     // snapshots/<id>/fs
  std::string SnapshotWork(std::string_view id) const;   // snapshots/<id>/work
  std::string SnapshotsTmp() const;    // snapshots-tmp: unpacking in progress
  std::string Pods() const;
  std::string PodDir(std::string_view pod_id) const;
  std::string CniResults() const;      // cni/results: cached CNI results for DEL/CHECK

  // <state>
  std::string DefaultSocket() const;   // kcr.sock
  std::string Monitors() const;
  std::string MonitorSocket(std::string_view pod_id) const;
  std::string NetnsDir() const;
  std::string Netns(std::string_view pod_id) const;
  std::string Containers() const;
  std::string ContainerDir(std::string_view id) const;
  std::string AppArmorPolicy(std::string_view profile) const;  // apparmor/<profile>: what kcrd loads

 private:
  std::string root_;
  std::string state_;
};

// Joins two path parts with exactly one '/'. For code that walks trees it
// was handed (image rootfs, bundles), not for kcr's own layout.
std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace kcr
