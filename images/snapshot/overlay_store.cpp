#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "common/fs.h"
#include "common/log.h"
#include "images/snapshot/layer_store.h"
#include "images/unpack/extract.h"

namespace kcr::images {

namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS snapshot_snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  parent TEXT NOT NULL,
  kind TEXT NOT NULL,
  created INTEGER NOT NULL);
)";

struct Row {
  int64_t id = 0;
  std::string key, parent, kind;
};

class OverlayStore final : public LayerStore {
 public:
  OverlayStore(const Paths& p, Database& db) : paths_(p), db_(db) {}

  Status Init() {
    KCR_RETURN_IF_ERROR(db_.Exec(kSchema));
    // A committed layer's uncompressed size (a column added after the
    // table first shipped: databases made before it get it here, -1).
    bool has_size = false;
    for (const auto& c : db_.Column("SELECT name FROM pragma_table_info('snapshot_snapshots')")) has_size |= c == "size";
    if (!has_size)
      KCR_RETURN_IF_ERROR(db_.Exec("ALTER TABLE snapshot_snapshots ADD COLUMN size INTEGER NOT NULL DEFAULT -1"));
    KCR_RETURN_IF_ERROR(fs::MkdirAll(paths_.Snapshots(), 0700));
    KCR_RETURN_IF_ERROR(fs::RemoveAll(paths_.SnapshotsTmp()));
    KCR_RETURN_IF_ERROR(fs::MkdirAll(paths_.SnapshotsTmp(), 0700));
    std::set<std::string> known;
    for (const auto& id : db_.Column("SELECT id FROM snapshot_snapshots")) known.insert(id);
    if (DIR* d = ::opendir(paths_.Snapshots().c_str())) {
      std::vector<std::string> orphans;
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != ".." && !known.count(n)) orphans.push_back(n);
      }
      ::closedir(d);
      for (const auto& o : orphans) {
        spdlog::info("removing orphan snapshot directory {}", paths_.Snapshot(o));
        KCR_RETURN_IF_ERROR(fs::RemoveAll(paths_.Snapshot(o)));
      }
    }
    return absl::OkStatus();
  }

  bool HasLayer(const std::string& chain_id) override {
    auto r = Get(chain_id);
    return r.ok() && r->kind == "committed";
  }

  StatusOr<int64_t> ApplyLayer(const std::string& chain_id, const std::string& parent, const std::string& blob_path,
                               const std::string& media_type, const std::string& diff_id,
                               const std::string& layer_digest, const ApplyLimits& limits) override {
    // One unpack per chain ID at a time: concurrent pulls of images sharing
    // a layer wait here for the one unpacking it instead of unpacking it
    // twice. Different chains unpack in parallel, so a slow or hostile
    // layer holds up only the pulls that need that very layer.
    static const Cancel kNever;
    const Cancel& cancel = limits.cancel ? *limits.cancel : kNever;
    ApplyingChain applying(*this, chain_id, cancel);
    if (!applying.held()) return cancel.Check("layer " + layer_digest);
    if (HasLayer(chain_id)) return int64_t{0};
    if (!parent.empty() && !HasLayer(parent))
      return absl::NotFoundError("parent layer " + parent + " of layer " + layer_digest + " is not stored");
    KCR_ASSIGN_OR_RETURN(std::string tmp, MakeUnpackDir());
    struct Cleanup {
      std::string dir;
      bool keep = false;
      ~Cleanup() {
        if (!keep) fs::RemoveAll(dir).IgnoreError();
      }
    } cleanup{tmp};
    KCR_RETURN_IF_ERROR(fs::MkdirAll(tmp + "/fs", 0755));
    KCR_RETURN_IF_ERROR(fs::MkdirAll(tmp + "/work", 0700));
    StatusOr<int64_t> unpacked = Unpack(blob_path, media_type, diff_id, tmp + "/fs", limits, cancel);
    if (!unpacked.ok()) return Annotate(unpacked.status(), "layer " + layer_digest);

    std::lock_guard<std::recursive_mutex> l(db_.mu());
    Transaction tx(db_);
    KCR_RETURN_IF_ERROR(tx.status());
    KCR_ASSIGN_OR_RETURN(Statement ins, db_.Prepare(
        "INSERT INTO snapshot_snapshots(key, parent, kind, created, size) "
        "VALUES(?1, ?2, 'committed', strftime('%s','now'), ?3)"));
    ins.Bind(1, chain_id).Bind(2, parent).Bind(3, *unpacked);
    KCR_RETURN_IF_ERROR(ins.Run());
    std::string dir = paths_.Snapshot(std::to_string(sqlite3_last_insert_rowid(db_.raw())));
    if (::rename(tmp.c_str(), dir.c_str()) != 0) return ErrnoError("commit snapshot " + dir);
    cleanup.dir = dir;  // removed again if the commit below fails
    KCR_RETURN_IF_ERROR(fs::SyncDir(paths_.Snapshots()));
    KCR_RETURN_IF_ERROR(tx.Commit());
    cleanup.keep = true;
    return *unpacked;
  }

  StatusOr<int64_t> LayerBytes(const std::string& chain_id) override {
    std::lock_guard<std::recursive_mutex> l(db_.mu());
    KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare(
        "SELECT size FROM snapshot_snapshots WHERE key = ?1 AND kind = 'committed'"));
    st.Bind(1, chain_id);
    KCR_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError("layer " + chain_id + " is not stored");
    return st.Int(0);
  }

  Status RemoveLayer(const std::string& chain_id) override {
    std::lock_guard<std::recursive_mutex> l(db_.mu());
    auto r = Get(chain_id);
    if (!r.ok()) return r.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : r.status();
    KCR_ASSIGN_OR_RETURN(Statement q, db_.Prepare("SELECT key FROM snapshot_snapshots WHERE parent = ?1 LIMIT 1"));
    q.Bind(1, chain_id);
    KCR_ASSIGN_OR_RETURN(bool child, q.Step());
    if (child) return absl::FailedPreconditionError("layer " + chain_id + " is still used by snapshot " + q.Text(0));
    return Delete(*r);
  }

  fs::DiskUsage TotalUsage() override { return fs::Usage(paths_.Snapshots()); }

  std::vector<std::string> ListLayers() override {
    // Children are created after their parents: newest first lists them first.
    return db_.Column("SELECT key FROM snapshot_snapshots WHERE kind = 'committed' ORDER BY id DESC");
  }

  StatusOr<std::vector<Mount>> Prepare(const std::string& key, const std::string& parent) override {
    if (key.empty() || key.rfind("sha256:", 0) == 0)
      return absl::InvalidArgumentError("invalid snapshot key \"" + key + "\"");
    std::lock_guard<std::recursive_mutex> l(db_.mu());
    if (!parent.empty() && !HasLayer(parent)) return absl::NotFoundError("image layer " + parent + " is not stored");
    Transaction tx(db_);
    KCR_RETURN_IF_ERROR(tx.status());
    KCR_ASSIGN_OR_RETURN(Statement ins, db_.Prepare(
        "INSERT INTO snapshot_snapshots(key, parent, kind, created) VALUES(?1, ?2, 'active', strftime('%s','now'))"));
    ins.Bind(1, key).Bind(2, parent);
    Status st = ins.Run();
    if (st.code() == absl::StatusCode::kAlreadyExists)
      return absl::AlreadyExistsError("snapshot " + key + " already exists");
    KCR_RETURN_IF_ERROR(st);
    std::string id = std::to_string(sqlite3_last_insert_rowid(db_.raw()));
    KCR_RETURN_IF_ERROR(fs::MkdirAll(paths_.SnapshotFs(id), 0755));
    KCR_RETURN_IF_ERROR(fs::MkdirAll(paths_.SnapshotWork(id), 0700));
    KCR_RETURN_IF_ERROR(tx.Commit());
    return Mounts(key);
  }

  StatusOr<std::vector<Mount>> Mounts(const std::string& key) override {
    std::lock_guard<std::recursive_mutex> l(db_.mu());
    KCR_ASSIGN_OR_RETURN(Row r, Get(key));
    std::string id = std::to_string(r.id);
    if (r.parent.empty()) return std::vector<Mount>{{"bind", paths_.SnapshotFs(id), {"rbind", "rw"}}};
    std::string lower;
    std::string cur = r.parent;
    for (int depth = 0; !cur.empty(); depth++) {
      if (depth > 500) return absl::InternalError("snapshot chain of " + key + " is too deep");
      KCR_ASSIGN_OR_RETURN(Row p, Get(cur));
      lower += (lower.empty() ? "" : ":") + paths_.SnapshotFs(std::to_string(p.id));
      cur = p.parent;
    }
    return std::vector<Mount>{{"overlay", "overlay",
                               {"lowerdir=" + lower, "upperdir=" + paths_.SnapshotFs(id),
                                "workdir=" + paths_.SnapshotWork(id)}}};
  }

  Status Remove(const std::string& key) override {
    std::lock_guard<std::recursive_mutex> l(db_.mu());
    auto r = Get(key);
    if (!r.ok()) return r.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : r.status();
    if (r->kind != "active") return absl::InvalidArgumentError(key + " is an image layer, not a container snapshot");
    return Delete(*r);
  }

  StatusOr<fs::DiskUsage> Usage(const std::string& key) override {
    KCR_ASSIGN_OR_RETURN(Row r, Get(key));
    return fs::Usage(paths_.SnapshotFs(std::to_string(r.id)));
  }

 private:
  StatusOr<Row> Get(const std::string& key) {
    std::lock_guard<std::recursive_mutex> l(db_.mu());
    KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT id, parent, kind FROM snapshot_snapshots WHERE key = ?1"));
    st.Bind(1, key);
    KCR_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError("snapshot " + key + " not found");
    return Row{st.Int(0), key, st.Text(1), st.Text(2)};
  }

  // Row first, then the directory: a crash in between leaves an orphan
  // directory that Init() reclaims, never a row without its directory.
  Status Delete(const Row& r) {
    KCR_ASSIGN_OR_RETURN(Statement del, db_.Prepare("DELETE FROM snapshot_snapshots WHERE id = ?1"));
    del.Bind(1, r.id);
    KCR_RETURN_IF_ERROR(del.Run());
    return fs::RemoveAll(paths_.Snapshot(std::to_string(r.id)));
  }

  // Unpacks into `dir`; returns the uncompressed bytes. The cap applies to
  // the decompressed stream as a whole, so it bounds file data, headers of
  // empty files (inodes) and padding alike.
  StatusOr<int64_t> Unpack(const std::string& blob, const std::string& media_type, const std::string& diff_id,
                           const std::string& dir, const ApplyLimits& limits, const Cancel& cancel) {
    KCR_ASSIGN_OR_RETURN(Compression c, CompressionOf(media_type));
    KCR_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> file, OpenFile(blob));
    auto limited = std::make_unique<LimitedSource>(Decompress(std::move(file), c), limits.max_bytes, limits.limit,
                                                   cancel);
    LimitedSource* counted = limited.get();
    HashingSource hashed(std::move(limited));
    TarReader tar(hashed);
    KCR_RETURN_IF_ERROR(ExtractLayer(tar, dir).status());
    // The rest (end-of-archive blocks, record padding) belongs to the diff
    // ID too, but only so much of it: gigabytes of zeros after the archive
    // would otherwise keep this unpack hashing for hours.
    char buf[65536];
    int64_t after = 0;
    for (;;) {
      KCR_ASSIGN_OR_RETURN(size_t n, hashed.Read(buf, sizeof buf));
      if (n == 0) break;
      after += static_cast<int64_t>(n);
      if (after > kMaxBytesAfterArchive)
        return absl::FailedPreconditionError("more than " + std::to_string(kMaxBytesAfterArchive >> 20) +
                                             " MiB of data after the end of the tar archive");
    }
    std::string got = hashed.Digest();
    if (got != diff_id) return absl::DataLossError("uncompressed content is " + got + ", config says " + diff_id);
    return counted->total();
  }

  // Marks `chain` as being unpacked for its lifetime, after waiting for any
  // other unpack of the same chain to finish, or until `cancel` fires
  // (then held() is false): a pull waiting on another's unpack stops with
  // its own caller.
  class ApplyingChain {
   public:
    ApplyingChain(OverlayStore& s, std::string chain, const Cancel& cancel) : s_(s), chain_(std::move(chain)) {
      std::unique_lock<std::mutex> l(s_.applying_mu_);
      while (s_.applying_.count(chain_)) {
        if (cancel.cancelled()) return;
        s_.applying_cv_.wait_for(l, Cancel::kPoll);
      }
      s_.applying_.insert(chain_);
      held_ = true;
    }
    ~ApplyingChain() {
      if (!held_) return;
      {
        std::lock_guard<std::mutex> l(s_.applying_mu_);
        s_.applying_.erase(chain_);
      }
      s_.applying_cv_.notify_all();
    }
    bool held() const { return held_; }
    ApplyingChain(const ApplyingChain&) = delete;
    ApplyingChain& operator=(const ApplyingChain&) = delete;

   private:
    OverlayStore& s_;
    std::string chain_;
    bool held_ = false;
  };

  // A fresh directory under the unpacking area, unique even when several
  // layers unpack at once.
  StatusOr<std::string> MakeUnpackDir() {
    std::string tmpl = paths_.SnapshotsTmp() + "/layer-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoError("create unpack directory in " + paths_.SnapshotsTmp());
    // mkdtemp makes it 0700; snapshot directories have always been 0755.
    if (::chmod(tmpl.c_str(), 0755) != 0) return ErrnoError("chmod unpack directory " + tmpl);
    return tmpl;
  }

  const Paths& paths_;
  Database& db_;
  std::mutex applying_mu_;
  std::condition_variable applying_cv_;
  std::set<std::string> applying_;  // chain IDs being unpacked
};

}  // namespace

StatusOr<std::unique_ptr<LayerStore>> NewOverlayLayerStore(const Paths& paths, Database& db) {
  auto s = std::make_unique<OverlayStore>(paths, db);
  KCR_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<LayerStore>(std::move(s));
}

}  // namespace kcr::images
