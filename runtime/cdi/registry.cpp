// The CDI registry: directory scans, priorities, conflicts, resolution.
#include "runtime/cdi/registry.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <set>

#include "common/fs.h"
#include "common/log.h"

namespace kcr::runtime::cdi {

namespace {

// At most this many spec files are read per directory (the rest are an
// error): a directory is an admin's, but a runaway generator should not
// make every CreateContainer stat thousands of files.
constexpr size_t kMaxFilesPerDir = 1024;

bool IsSpecFile(const std::string& n) {
  auto ends = [&](const char* s) {
    size_t l = std::char_traits<char>::length(s);
    return n.size() > l && n.compare(n.size() - l, l, s) == 0;
  };
  return ends(".json") || ends(".yaml") || ends(".yml");
}

struct Listed {
  std::string path;
  struct stat st;
};

// The spec files of `dir` (regular files, symlinks followed), sorted by
// name; `too_many` when some were left out.
std::vector<Listed> ListSpecs(const std::string& dir, bool* too_many) {
  std::vector<Listed> out;
  *too_many = false;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (IsSpecFile(e->d_name)) names.push_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  if (names.size() > kMaxFilesPerDir) {
    names.resize(kMaxFilesPerDir);
    *too_many = true;
  }
  for (const auto& n : names) {
    Listed l{dir + "/" + n, {}};
    if (::stat(l.path.c_str(), &l.st) == 0 && S_ISREG(l.st.st_mode)) out.push_back(l);
  }
  return out;
}

// Fills what a device node leaves to the host's node (CDI: hostPath
// defaults to path; type, major/minor and file mode come from the host
// node when not given). FailedPrecondition naming the node otherwise.
Status FillFromHost(DeviceNode& n) {
  if (n.host_path.empty()) n.host_path = n.path;
  if (n.permissions.empty()) n.permissions = "rwm";
  bool complete = !n.type.empty() && (n.type == "p" || n.major != 0 || n.minor != 0) && n.file_mode;
  if (complete) return absl::OkStatus();
  struct stat st;
  if (::stat(n.host_path.c_str(), &st) != 0) {
    if (!n.type.empty() && n.type != "p" && (n.major != 0 || n.minor != 0)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        ErrnoError("device node " + n.path + ": host node " + n.host_path).message());
  }
  std::string type = S_ISCHR(st.st_mode) ? "c" : S_ISBLK(st.st_mode) ? "b" : S_ISFIFO(st.st_mode) ? "p" : "";
  if (type.empty())
    return absl::FailedPreconditionError("device node " + n.path + ": host path " + n.host_path +
                                         " is not a device node");
  if (n.type.empty()) n.type = type;
  else if (n.type != type && !(n.type == "u" && type == "c"))
    return absl::FailedPreconditionError("device node " + n.path + ": type \"" + n.type + "\" but host node " +
                                         n.host_path + " is \"" + type + "\"");
  if (n.type != "p" && n.major == 0 && n.minor == 0) {
    n.major = major(st.st_rdev);
    n.minor = minor(st.st_rdev);
  }
  if (!n.file_mode) n.file_mode = st.st_mode & 0777;
  return absl::OkStatus();
}

}  // namespace

Registry::Registry(std::vector<std::string> dirs) : dirs_(std::move(dirs)) {}

void Registry::RefreshLocked() {
  std::string sig;
  for (const auto& dir : dirs_) {
    bool too_many = false;
    sig += dir + "\n";
    for (const auto& l : ListSpecs(dir, &too_many))
      sig += l.path + " " + std::to_string(l.st.st_ino) + " " + std::to_string(l.st.st_size) + " " +
             std::to_string(l.st.st_mtim.tv_sec) + "." + std::to_string(l.st.st_mtim.tv_nsec) + "\n";
  }
  if (loaded_ && sig == signature_) return;
  signature_ = sig;
  loaded_ = true;
  LoadLocked();
}

void Registry::LoadLocked() {
  specs_.clear();
  devices_.clear();
  conflicts_.clear();
  errors_.clear();
  std::map<std::string, size_t> conflict_dir;
  for (size_t di = 0; di < dirs_.size(); di++) {
    bool too_many = false;
    std::vector<Listed> files = ListSpecs(dirs_[di], &too_many);
    if (too_many)
      errors_.push_back({dirs_[di], "more than " + std::to_string(kMaxFilesPerDir) + " spec files; the rest are ignored"});
    for (const auto& l : files) {
      auto text = fs::ReadFile(l.path, kMaxSpecFileBytes + 1);
      StatusOr<Spec> spec = text.ok() ? ParseSpec(*text, !(l.path.size() > 5 && l.path.compare(l.path.size() - 5, 5, ".json") == 0))
                                      : StatusOr<Spec>(text.status());
      if (!spec.ok()) {
        errors_.push_back({l.path, std::string(spec.status().message())});
        continue;
      }
      const Spec& s = specs_[l.path] = std::move(*spec);
      for (size_t i = 0; i < s.devices.size(); i++) {
        std::string name = s.kind + "=" + s.devices[i].name;
        auto it = devices_.find(name);
        if (it != devices_.end() && it->second.dir == di) {
          std::string why = "CDI device " + name + " is defined by both " + it->second.file + " and " + l.path;
          conflicts_[name] = why;
          conflict_dir[name] = di;
          errors_.push_back({l.path, why});
          continue;
        }
        if (auto c = conflict_dir.find(name); c != conflict_dir.end() && c->second < di) {
          conflicts_.erase(name);  // a higher-priority directory settles it
          conflict_dir.erase(c);
        }
        devices_[name] = Entry{l.path, di, &s, i};
      }
    }
  }
  std::sort(errors_.begin(), errors_.end(), [](const SpecError& a, const SpecError& b) { return a.file < b.file; });
  for (const auto& e : errors_) spdlog::warn("CDI spec {}: {}", e.file, e.reason);
  spdlog::info("CDI: {} devices from {} spec files ({} with errors)", devices_.size(), specs_.size(), errors_.size());
}

StatusOr<ContainerEdits> Registry::Resolve(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshLocked();
  ContainerEdits out;
  std::set<std::string> seen;
  std::set<const Spec*> specs_applied;
  for (const auto& name : names) {
    if (!seen.insert(name).second) continue;
    KCR_RETURN_IF_ERROR(ParseQualifiedName(name).status());
    if (auto c = conflicts_.find(name); c != conflicts_.end()) return absl::FailedPreconditionError(c->second);
    auto it = devices_.find(name);
    if (it == devices_.end()) {
      std::string dirs, broken;
      for (const auto& d : dirs_) dirs += (dirs.empty() ? "" : ", ") + d;
      for (const auto& er : errors_) broken += (broken.empty() ? " (spec files with errors: " : ", ") + er.file;
      if (!broken.empty()) broken += ")";
      return absl::NotFoundError("unknown CDI device " + name + ": no spec in " + dirs + " defines it" + broken);
    }
    const Entry& e = it->second;
    if (specs_applied.insert(e.spec).second) out.Append(e.spec->edits);
    out.Append(e.spec->devices[e.device].edits);
  }
  for (auto& n : out.device_nodes) KCR_RETURN_IF_ERROR(FillFromHost(n));
  return out;
}

std::vector<SpecError> Registry::Errors() {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshLocked();
  return errors_;
}

std::vector<std::string> Registry::Devices() {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshLocked();
  std::vector<std::string> out;
  for (const auto& [name, e] : devices_)
    if (!conflicts_.count(name)) out.push_back(name);
  return out;
}

}  // namespace kcr::runtime::cdi
