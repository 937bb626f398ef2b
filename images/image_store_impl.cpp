#include "images/image_store_impl.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <mutex>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "images/content_store.h"
#include "images/digest.h"
#include "images/image_metadata.h"
#include "images/manifest.h"

namespace kcr::images {

namespace {

// USER "1002", "www-data", "1003:1004", "www-data:1004": the user part.
void UserOf(const std::string& user, Image* img) {
  std::string u = user.substr(0, user.find(':'));
  if (u.empty()) return;
  if (u.find_first_not_of("0123456789") == std::string::npos && u.size() < 12) img->uid = std::stoll(u);
  else img->username = u;
}

std::string MountpointOf(const std::string& path) {
  // The longest mountinfo mount point that prefixes `path`.
  auto info = fs::ReadFile("/proc/self/mountinfo");
  std::string best = "/";
  if (!info.ok()) return best;
  size_t pos = 0;
  while (pos < info->size()) {
    size_t end = info->find('\n', pos);
    std::string line = info->substr(pos, end - pos);
    pos = end == std::string::npos ? info->size() : end + 1;
    size_t a = line.find(' '), b = line.find(' ', a + 1), c = line.find(' ', b + 1), d = line.find(' ', c + 1),
           e = line.find(' ', d + 1);
    if (e == std::string::npos) continue;
    std::string mp = line.substr(d + 1, e - d - 1);
    if ((path == mp || path.rfind(mp == "/" ? "/" : mp + "/", 0) == 0) && mp.size() > best.size()) best = mp;
  }
  return best;
}

RegistryOptions RegistryOptionsOf(const ImageStoreOptions& o) {
  RegistryOptions r;
  r.hosts = o.hosts;
  r.max_retries = o.max_retries;
  r.base_backoff_ms = 200;
  r.blob_timeout_s = o.blob_timeout_s;
  r.min_bytes_per_s = o.blob_min_bytes_per_s;
  r.stall_timeout_s = o.blob_stall_timeout_s;
  return r;
}

class Store final : public ImageStore {
 public:
  Store(const Paths& paths, Database& db, LayerStore& layers, ImageStoreOptions o)
      : paths_(paths), layers_(layers), meta_(db), content_(paths), opt_(std::move(o)),
        registry_(RegistryOptionsOf(opt_)), matcher_(opt_.platform) {}

  Status Init() {
    KCR_RETURN_IF_ERROR(meta_.Init());
    KCR_RETURN_IF_ERROR(content_.Init());
    for (const auto& p : opt_.pinned_refs)
      if (auto r = ParseReference(p); r.ok()) pinned_.insert(r->String());
    CollectGarbage();
    return absl::OkStatus();
  }

  StatusOr<Image> Pull(const std::string& ref_str, const AuthConfig& auth, const Cancel& cancel) override {
    KCR_ASSIGN_OR_RETURN(Reference ref, ParseReference(ref_str));
    // Pulls share a download only when they carry the same credentials.
    std::string key = ref.String() + " " + CredentialKey(auth);
    for (;;) {
      std::shared_future<StatusOr<Image>> fut;
      bool leader = false;
      std::promise<StatusOr<Image>> promise;
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = inflight_.find(key);
        if (it != inflight_.end()) {
          fut = it->second;
        } else {
          fut = promise.get_future().share();
          inflight_[key] = fut;
          leader = true;
        }
      }
      if (!leader) {
        // Concurrent pulls of one reference share one download, each
        // waiting only as long as its own caller does.
        if (!cancel.Wait(fut)) return absl::CancelledError("pull " + ref.String() + ": cancelled by the caller");
        StatusOr<Image> r = fut.get();
        // The other pull's caller gave up, not this one's: pull again.
        if (r.status().code() == absl::StatusCode::kCancelled) continue;
        return r;
      }
      StatusOr<Image> result = DoPull(ref, auth, cancel);
      {
        // Gone before the result is out: a waiter that pulls again on a
        // cancellation starts a new pull instead of finding this one.
        std::lock_guard<std::mutex> l(mu_);
        inflight_.erase(key);
      }
      promise.set_value(result);
      return result;
    }
  }

  StatusOr<Image> Get(const std::string& ref_or_id) override {
    KCR_ASSIGN_OR_RETURN(std::string id, Resolve(ref_or_id));
    auto row = meta_.ById(id);
    if (!row) return absl::NotFoundError("image \"" + ref_or_id + "\" not found");
    return Complete(std::move(row->image));
  }

  std::vector<Image> List(const std::string& filter) override {
    std::vector<Image> out;
    if (!filter.empty()) {
      if (auto img = Get(filter); img.ok()) out.push_back(std::move(*img));
      return out;
    }
    for (const auto& id : meta_.AllIds())
      if (auto row = meta_.ById(id)) out.push_back(Complete(std::move(row->image)));
    return out;
  }

  Status Remove(const std::string& ref_or_id) override {
    auto id = Resolve(ref_or_id);
    if (!id.ok()) return id.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : id.status();
    std::lock_guard<std::mutex> l(gc_mu_);
    auto row = meta_.ById(*id);
    if (!row) return absl::OkStatus();
    KCR_RETURN_IF_ERROR(meta_.Delete(*id));
    spdlog::info("removed image {}", *id);
    FreeUnused(row->blobs, row->image.chain_ids);
    return absl::OkStatus();
  }

  Status CheckPlatform(const Image& img) override {
    // The config was parsed when the image was pulled.
    auto cfg = ParseConfig(img.config_json);
    if (!cfg.ok() || cfg->architecture.empty()) return absl::OkStatus();  // nothing to hold it to
    Platform p{cfg->os, cfg->architecture, cfg->variant};
    if (matcher_.Matches(p)) return absl::OkStatus();
    return absl::FailedPreconditionError("image " + img.id + " is built for " + FormatPlatform(p) +
                                         ", which this node (" + matcher_.Describe() +
                                         ", [image] platform) cannot run");
  }

  StatusOr<FsUsage> Usage() override {
    FsUsage u;
    fs::DiskUsage c = fs::Usage(JoinPath(paths_.root(), "content"));
    fs::DiskUsage s = layers_.TotalUsage();
    u.used_bytes = c.bytes + s.bytes;
    u.inodes_used = c.inodes + s.inodes;
    u.mountpoint = MountpointOf(paths_.Snapshots());
    u.timestamp_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return u;
  }

 private:
  // ID, unique hex prefix of an ID, tag or digest reference -> image ID.
  StatusOr<std::string> Resolve(const std::string& s) {
    std::string hex = s.rfind("sha256:", 0) == 0 ? s.substr(7) : s;
    if (!hex.empty() && hex.size() <= 64 && hex.find_first_not_of("0123456789abcdef") == std::string::npos) {
      auto ids = meta_.IdsWithPrefix(hex);
      if (ids.size() == 1) return ids[0];
      if (ids.size() > 1 && hex.size() < 64)
        return absl::InvalidArgumentError("image ID prefix \"" + s + "\" is ambiguous");
      if (hex.size() == 64 || s.rfind("sha256:", 0) == 0)
        return absl::NotFoundError("image \"" + s + "\" not found");
    }
    KCR_ASSIGN_OR_RETURN(Reference ref, ParseReference(s));
    if (!ref.digest.empty())
      if (auto id = meta_.ByRef(ref.DigestRef())) return *id;
    if (!ref.tag.empty())
      if (auto id = meta_.ByRef(ref.TagRef())) return *id;
    return absl::NotFoundError("image \"" + s + "\" not found");
  }

  Image Complete(Image img) {
    meta_.Refs(img.id, &img.repo_tags, &img.repo_digests);
    for (const auto& t : img.repo_tags)
      if (pinned_.count(t)) img.pinned = true;
    return img;
  }

  StatusOr<Image> DoPull(const Reference& ref, const AuthConfig& auth, const Cancel& cancel) {
    auto start = std::chrono::steady_clock::now();
    std::string top = ref.digest.empty() ? ref.tag : ref.digest;
    KCR_ASSIGN_OR_RETURN(RegistryClient::Manifest doc, registry_.GetManifest(ref, top, auth, cancel));
    std::string top_digest = doc.digest;
    std::vector<std::pair<std::string, std::string>> manifests{{doc.digest, doc.body}};
    for (int depth = 0;; depth++) {
      KCR_ASSIGN_OR_RETURN(DocKind kind, ClassifyManifest(doc.body, doc.content_type));
      if (kind == DocKind::kManifest) break;
      if (depth >= 2) return absl::FailedPreconditionError(ref.String() + ": image indexes nested too deeply");
      KCR_ASSIGN_OR_RETURN(std::vector<Descriptor> entries, ParseIndex(doc.body));
      KCR_ASSIGN_OR_RETURN(Descriptor d, ChoosePlatform(entries, matcher_));
      KCR_ASSIGN_OR_RETURN(doc, registry_.GetManifest(ref, d.digest, auth, cancel));
      manifests.emplace_back(doc.digest, doc.body);
    }
    KCR_ASSIGN_OR_RETURN(Manifest m, ParseManifest(doc.body));
    for (const auto& l : m.layers)
      if (!IsLayerMediaType(l.media_type))
        return absl::FailedPreconditionError("layer " + l.digest + " of " + ref.String() +
                                             " has unsupported media type \"" + l.media_type + "\"");
    if (m.config.size > static_cast<int64_t>(kMaxConfigBytes))
      return absl::FailedPreconditionError("image config " + m.config.digest + " is larger than 8 MiB");
    KCR_RETURN_IF_ERROR(CheckDeclaredSizes(ref, m));

    // What this pull brings is held from here on: a concurrent RemoveImage
    // or failed pull must not free a blob or layer it found present and is
    // about to reference. If this pull fails, what it brought that no image
    // references and no other pull holds is freed again, so a failed pull
    // leaves the store as it was.
    struct Hold {
      Store* s;
      std::vector<std::string> blobs, chains;
      bool committed = false;
      Hold(Store* st, std::vector<std::string> b) : s(st), blobs(std::move(b)) {
        std::lock_guard<std::mutex> l(s->gc_mu_);
        for (const auto& x : blobs) s->pulling_.insert(x);
      }
      void AddChains(std::vector<std::string> c) {
        std::lock_guard<std::mutex> l(s->gc_mu_);
        chains = std::move(c);
        for (const auto& x : chains) s->pulling_.insert(x);
      }
      ~Hold() {
        std::lock_guard<std::mutex> l(s->gc_mu_);
        for (const auto& x : blobs) s->pulling_.erase(s->pulling_.find(x));
        for (const auto& x : chains) s->pulling_.erase(s->pulling_.find(x));
        if (!committed) s->FreeUnused(blobs, chains);
      }
    };
    std::vector<std::string> held_blobs{m.config.digest};
    for (const auto& l : m.layers) held_blobs.push_back(l.digest);
    Hold hold(this, std::move(held_blobs));

    KCR_RETURN_IF_ERROR(Fetch(ref, m.config, auth, cancel));
    KCR_ASSIGN_OR_RETURN(std::string config_json, content_.Read(m.config.digest, kMaxConfigBytes));
    KCR_ASSIGN_OR_RETURN(ImageConfig cfg, ParseConfig(config_json));
    if (cfg.diff_ids.size() != m.layers.size())
      return absl::FailedPreconditionError(ref.String() + ": config lists " + std::to_string(cfg.diff_ids.size()) +
                                           " diff_ids for " + std::to_string(m.layers.size()) + " layers");
    std::vector<std::string> chains = ChainIds(cfg.diff_ids);
    hold.AddChains(chains);

    // Download every layer not already unpacked, in parallel.
    std::vector<size_t> need;
    for (size_t i = 0; i < m.layers.size(); i++)
      if (!layers_.HasLayer(chains[i])) need.push_back(i);
    std::vector<Status> results(m.layers.size());
    {
      std::atomic<size_t> next{0};
      std::atomic<bool> failed{false};  // once one layer failed, the others are not started
      std::vector<std::thread> workers;
      size_t n = std::min<size_t>(need.size(), static_cast<size_t>(std::max(1, opt_.max_parallel_layers)));
      for (size_t w = 0; w < n; w++)
        workers.emplace_back([&] {
          for (size_t k; !failed && (k = next++) < need.size();) {
            results[need[k]] = Fetch(ref, m.layers[need[k]], auth, cancel);
            if (!results[need[k]].ok()) failed = true;
          }
        });
      for (auto& t : workers) t.join();
    }
    for (size_t i : need) KCR_RETURN_IF_ERROR(results[i]);
    // Unpack in order: each layer sits on its parent. Each layer is capped,
    // and so is the image as a whole: every one of its layers counts,
    // those another image (or pull) already stored too, so an image cannot
    // pass the cap by sharing most of its bytes with one pulled before.
    int64_t image_bytes = 0;
    std::string image_limit = "images.max_image_bytes, all layers of " + ref.String() + " together";
    auto stored_bytes = [&](size_t i) -> int64_t {
      auto n = layers_.LayerBytes(chains[i]);
      if (n.ok() && *n >= 0) return *n;
      // Stored before kcr recorded sizes: its download size, a lower bound.
      spdlog::debug("layer {}: no recorded size; counting its compressed size", m.layers[i].digest);
      return m.layers[i].size;
    };
    for (size_t i = 0; i < m.layers.size(); i++) {
      bool wanted = std::find(need.begin(), need.end(), i) != need.end();
      int64_t n = 0;
      if (wanted) {
        LayerStore::ApplyLimits limits;
        limits.cancel = &cancel;
        int64_t left = opt_.max_image_bytes - image_bytes;
        if (left < opt_.max_layer_bytes) {
          limits.max_bytes = std::max<int64_t>(left, 0);
          limits.limit = image_limit;
        } else {
          limits.max_bytes = opt_.max_layer_bytes;
          limits.limit = "images.max_layer_bytes";
        }
        KCR_ASSIGN_OR_RETURN(n, layers_.ApplyLayer(chains[i], i == 0 ? "" : chains[i - 1],
                                                   content_.PathOf(m.layers[i].digest), m.layers[i].media_type,
                                                   cfg.diff_ids[i], m.layers[i].digest, limits));
        if (n == 0) n = stored_bytes(i);  // another pull unpacked it meanwhile
      } else {
        n = stored_bytes(i);
      }
      image_bytes += n;
      if (image_bytes > opt_.max_image_bytes)
        return absl::FailedPreconditionError("layer " + m.layers[i].digest + " of " + ref.String() + ": " +
                                             std::to_string(image_bytes) + " uncompressed bytes so far, more than " +
                                             image_limit + " (" + std::to_string(opt_.max_image_bytes) + ")");
    }
    for (const auto& [d, body] : manifests) KCR_RETURN_IF_ERROR(content_.Put(d, body));

    ImageRow row;
    Image& img = row.image;
    img.id = m.config.digest;
    img.config_json = config_json;
    img.manifest_digest = doc.digest;
    img.diff_ids = cfg.diff_ids;
    img.chain_ids = chains;
    img.annotations = m.annotations;
    img.size = static_cast<uint64_t>(m.config.size);
    for (const auto& l : m.layers) img.size += static_cast<uint64_t>(l.size);
    UserOf(cfg.user, &img);
    for (const auto& [d, body] : manifests) row.blobs.push_back(d);
    row.blobs.push_back(m.config.digest);
    for (const auto& l : m.layers) row.blobs.push_back(l.digest);
    {
      std::lock_guard<std::mutex> l(gc_mu_);
      // Images already present keep their row; only references move.
      KCR_RETURN_IF_ERROR(meta_.Put(row, ref.tag.empty() ? "" : ref.TagRef(), ref.Name() + "@" + top_digest));
      hold.committed = true;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("pulled {} ({}, {} layers, {} new) in {} ms", ref.String(), img.id, m.layers.size(), need.size(), ms);
    return Get(img.id);
  }

  // A manifest's sizes are the registry's word: capped before anything is
  // fetched or trusted (the content store then holds each blob to its size).
  Status CheckDeclaredSizes(const Reference& ref, const Manifest& m) const {
    int64_t declared = m.config.size;
    for (const auto& l : m.layers) {
      if (l.size > opt_.max_layer_bytes)
        return absl::FailedPreconditionError("layer " + l.digest + " of " + ref.String() + " declares " +
                                             std::to_string(l.size) + " bytes, more than images.max_layer_bytes (" +
                                             std::to_string(opt_.max_layer_bytes) + ")");
      // declared <= max_image_bytes here, so this cannot overflow.
      if (l.size > opt_.max_image_bytes - declared)
        return absl::FailedPreconditionError("the layers of " + ref.String() +
                                             " declare more bytes together than images.max_image_bytes (" +
                                             std::to_string(opt_.max_image_bytes) + ")");
      declared += l.size;
    }
    return absl::OkStatus();
  }

  // Downloads one blob into the content store unless it is there already.
  // Concurrent pulls that need the same blob (images sharing a layer) from
  // the same registry with the same credentials download it once: the
  // others wait for that download, each only as long as its own caller
  // does. A pull from another registry downloads for itself: it never waits
  // on a download a hostile registry may be stalling.
  Status Fetch(const Reference& ref, const Descriptor& d, const AuthConfig& auth, const Cancel& cancel) {
    std::string key = d.digest + " " + ref.domain + " " + CredentialKey(auth);
    for (;;) {
      if (content_.Has(d.digest)) return absl::OkStatus();
      KCR_RETURN_IF_ERROR(cancel.Check("blob " + d.digest + " of " + ref.String()));
      std::promise<Status> promise;
      std::shared_future<Status> fut;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (auto it = fetching_.find(key); it != fetching_.end()) {
          fut = it->second;
        } else {
          fetching_[key] = promise.get_future().share();
        }
      }
      if (fut.valid()) {
        if (!cancel.Wait(fut))
          return absl::CancelledError("blob " + d.digest + " of " + ref.String() + ": cancelled by the caller");
        Status st = fut.get();
        if (st.ok() && content_.Has(d.digest)) return st;
        // Its caller gave up (or the blob is gone again): fetch anew.
        if (st.ok() || st.code() == absl::StatusCode::kCancelled) continue;
        // On another failure this pull tries once for itself.
        return Download(ref, d, auth, cancel);
      }
      Status st = Download(ref, d, auth, cancel);
      {
        std::lock_guard<std::mutex> l(mu_);
        fetching_.erase(key);
      }
      promise.set_value(st);
      return st;
    }
  }

  Status Download(const Reference& ref, const Descriptor& d, const AuthConfig& auth, const Cancel& cancel) {
    if (content_.Has(d.digest)) return absl::OkStatus();
    std::unique_ptr<ContentStore::Writer> w;
    auto restart = [&]() -> Status {
      KCR_ASSIGN_OR_RETURN(w, content_.NewWriter(d.digest, d.size));
      return absl::OkStatus();
    };
    KCR_RETURN_IF_ERROR(restart());
    auto sink = [&](const char* data, size_t n) {
      cancel.Downloaded(n);
      return w->Write(data, n);
    };
    // The digest is checked per endpoint (Commit): a mirror that serves
    // wrong content is passed over for the next endpoint.
    auto commit = [&]() -> Status { return w->Commit(); };
    return registry_.GetBlob(ref, d.digest, d.size, auth, sink, restart, commit, cancel);
  }

  // Frees blobs and layers (of a removed image, or a failed pull) that no
  // image uses and no pull in progress holds. Called with gc_mu_ held.
  void FreeUnused(const std::vector<std::string>& blobs, const std::vector<std::string>& chains) {
    std::set<std::string> used_blobs = meta_.UsedBlobs();
    for (const auto& b : blobs)
      if (!used_blobs.count(b) && !pulling_.count(b) && content_.Has(b))
        if (Status st = content_.Delete(b); !st.ok()) spdlog::warn("free blob {}: {}", b, st.message());
    std::set<std::string> used_chains = meta_.UsedChains();
    for (auto it = chains.rbegin(); it != chains.rend(); ++it) {
      if (used_chains.count(*it) || pulling_.count(*it)) break;  // its parents are used too
      Status st = layers_.RemoveLayer(*it);
      if (!st.ok()) {
        // Kept while a container still runs on it; a later GC frees it.
        spdlog::info("layer {} kept: {}", *it, st.message());
        break;
      }
    }
  }

  // Start-up sweep: blobs and layers no image references.
  void CollectGarbage() {
    std::set<std::string> used = meta_.UsedBlobs();
    if (DIR* d = ::opendir(paths_.ContentBlobs().c_str())) {
      std::vector<std::string> orphans;
      while (dirent* e = ::readdir(d)) {
        std::string digest = std::string("sha256:") + e->d_name;
        if (e->d_name[0] != '.' && !used.count(digest)) orphans.push_back(digest);
      }
      ::closedir(d);
      for (const auto& o : orphans) {
        spdlog::info("gc: removing unreferenced blob {}", o);
        content_.Delete(o).IgnoreError();
      }
    }
    std::set<std::string> chains = meta_.UsedChains();
    for (const auto& c : layers_.ListLayers())
      if (!chains.count(c)) {
        Status st = layers_.RemoveLayer(c);
        if (st.ok()) spdlog::info("gc: removed unreferenced layer {}", c);
      }
  }

  const Paths& paths_;
  LayerStore& layers_;
  ImageMetadata meta_;
  ContentStore content_;
  ImageStoreOptions opt_;
  RegistryClient registry_;
  PlatformMatcher matcher_;  // opt_.platform and what it also runs
  std::set<std::string> pinned_;
  std::mutex mu_;
  std::map<std::string, std::shared_future<StatusOr<Image>>> inflight_;
  // "<blob digest> <registry domain> <credential key>" -> its download
  std::map<std::string, std::shared_future<Status>> fetching_;
  std::mutex gc_mu_;  // guards metadata changes against frees, and pulling_
  std::multiset<std::string> pulling_;  // blob digests and chain IDs that pulls in progress hold
};

}  // namespace

StatusOr<std::unique_ptr<ImageStore>> NewImageStore(const Paths& paths, Database& db, LayerStore& layers,
                                                   ImageStoreOptions options) {
  auto s = std::make_unique<Store>(paths, db, layers, std::move(options));
  KCR_RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<ImageStore>(std::move(s));
}

}  // namespace kcr::images
