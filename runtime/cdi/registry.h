#pragma once
// The CDI devices of the spec files in a list of directories, kept current
// and resolved to container edits.
//
// Priority (CDI's): a directory later in the list overrides an earlier one
// (/var/run/cdi over /etc/cdi), so a device a later directory defines
// replaces the earlier one's; two files of the same directory defining the
// same device are a conflict, and the device is not resolvable (an error
// names both files). A malformed file is recorded as an error (file and
// reason) and the other files are read all the same.
//
// Freshness: every Resolve() and Errors() first re-reads the directories'
// listings and stats their spec files (name, inode, size, mtime); when that
// signature differs from the last load, everything is loaded again. A few
// stats per call with CDI devices, no watcher thread, and an edit in place
// (same inode, new mtime or size) is seen as well as a new or removed file.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/cdi/spec.h"

namespace kcr::runtime::cdi {

struct SpecError {
  std::string file;
  std::string reason;
};

class Registry {
 public:
  // `dirs` in increasing priority; missing directories hold no specs.
  explicit Registry(std::vector<std::string> dirs);

  // The merged edits of the named devices (qualified names), in the
  // order given: for each device, its spec's own edits (once per spec)
  // then the device's. InvalidArgument naming the device for a malformed
  // name, NotFound for one no spec defines (or whose file failed to load:
  // the message then says so), FailedPrecondition for a conflicting one.
  // A name given twice counts once. Thread-safe.
  StatusOr<ContainerEdits> Resolve(const std::vector<std::string>& names);

  // The errors of the current spec files (after a refresh), sorted by file.
  std::vector<SpecError> Errors();
  // The qualified names of every resolvable device, sorted.
  std::vector<std::string> Devices();
  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  struct Entry {
    std::string file;
    size_t dir = 0;  // priority
    const Spec* spec = nullptr;
    size_t device = 0;  // index into spec->devices
  };
  void RefreshLocked();
  void LoadLocked();

  const std::vector<std::string> dirs_;
  std::mutex mu_;
  std::string signature_;  // of the last load; "" before the first
  bool loaded_ = false;
  std::map<std::string, Spec> specs_;     // by file path
  std::map<std::string, Entry> devices_;  // by qualified name
  std::map<std::string, std::string> conflicts_;  // qualified name -> why
  std::vector<SpecError> errors_;
};

}  // namespace kcr::runtime::cdi
