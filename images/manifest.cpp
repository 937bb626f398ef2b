#include "images/manifest.h"

#include <nlohmann/json.hpp>

#include "images/reference.h"

namespace kcr::images {

using nlohmann::json;

namespace {

Status Bad(const std::string& what, const std::string& why) {
  return absl::InvalidArgumentError(what + ": " + why);
}

StatusOr<json> ParseJson(const std::string& body, size_t limit, const std::string& what) {
  if (body.size() > limit) return Bad(what, "larger than " + std::to_string(limit) + " bytes");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Bad(what, "not a JSON object");
  return j;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : "";
}

StatusOr<Descriptor> ParseDescriptor(const json& j, const std::string& what) {
  if (!j.is_object()) return Bad(what, "descriptor is not an object");
  Descriptor d;
  d.media_type = Str(j, "mediaType");
  d.digest = Str(j, "digest");
  if (!IsDigest(d.digest)) return Bad(what, "descriptor digest \"" + d.digest.substr(0, 80) + "\" is not sha256");
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0)
    return Bad(what, "descriptor " + d.digest + " has no valid size");
  d.size = size->get<int64_t>();
  if (auto u = j.find("urls"); u != j.end() && u->is_array())
    for (auto& e : *u)
      if (e.is_string()) d.urls.push_back(e.get<std::string>());
  if (auto a = j.find("annotations"); a != j.end() && a->is_object())
    for (auto& [k, v] : a->items())
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    Platform pl;
    pl.os = Str(*p, "os");
    pl.architecture = Str(*p, "architecture");
    pl.variant = Str(*p, "variant");
    d.platform = pl;
  }
  return d;
}

}  // namespace

StatusOr<DocKind> ClassifyManifest(const std::string& body, const std::string& content_type) {
  std::string ct = content_type.substr(0, content_type.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  if (ct == media::kOciIndex || ct == media::kDockerList) return DocKind::kIndex;
  if (ct == media::kOciManifest || ct == media::kDockerManifest) return DocKind::kManifest;
  if (ct.find("manifest.v1") != std::string::npos || ct.find("prettyjws") != std::string::npos)
    return Bad("manifest", "Docker schema 1 (" + ct + ") is not supported; push the image as schema 2 or OCI");
  KCR_ASSIGN_OR_RETURN(json j, ParseJson(body, kMaxManifestBytes, "manifest"));
  std::string mt = Str(j, "mediaType");
  if (mt == media::kOciIndex || mt == media::kDockerList) return DocKind::kIndex;
  if (mt == media::kOciManifest || mt == media::kDockerManifest) return DocKind::kManifest;
  if (j.contains("schemaVersion") && j["schemaVersion"] == 1)
    return Bad("manifest", "Docker schema 1 is not supported");
  if (mt.empty() && j.contains("manifests")) return DocKind::kIndex;
  if (mt.empty() && j.contains("layers") && j.contains("config")) return DocKind::kManifest;
  return Bad("manifest", "unsupported media type \"" + (mt.empty() ? ct : mt) + "\"");
}

StatusOr<std::vector<Descriptor>> ParseIndex(const std::string& body) {
  KCR_ASSIGN_OR_RETURN(json j, ParseJson(body, kMaxManifestBytes, "index"));
  auto m = j.find("manifests");
  if (m == j.end() || !m->is_array()) return Bad("index", "no manifests array");
  if (m->size() > kMaxEntries) return Bad("index", "more than " + std::to_string(kMaxEntries) + " entries");
  std::vector<Descriptor> out;
  for (auto& e : *m) {
    KCR_ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(e, "index"));
    out.push_back(std::move(d));
  }
  return out;
}

StatusOr<Descriptor> ChoosePlatform(const std::vector<Descriptor>& entries, const PlatformMatcher& want) {
  const Descriptor* best = nullptr;
  size_t best_rank = 0;
  std::string offered;
  for (const auto& d : entries) {
    if (!d.platform) continue;
    offered += (offered.empty() ? "" : ", ") + FormatPlatform(*d.platform);
    if (d.media_type != media::kOciManifest && d.media_type != media::kDockerManifest && !d.media_type.empty())
      continue;
    std::optional<size_t> rank = want.Rank(*d.platform);
    if (rank && (!best || *rank < best_rank)) {
      best = &d;
      best_rank = *rank;
    }
  }
  if (!best)
    return absl::NotFoundError("no manifest for platform " + want.Describe() +
                               "; the index offers: " + (offered.empty() ? "no platform at all" : offered));
  return *best;
}

StatusOr<Manifest> ParseManifest(const std::string& body) {
  KCR_ASSIGN_OR_RETURN(json j, ParseJson(body, kMaxManifestBytes, "manifest"));
  Manifest m;
  m.media_type = Str(j, "mediaType");
  auto c = j.find("config");
  if (c == j.end()) return Bad("manifest", "no config descriptor");
  KCR_ASSIGN_OR_RETURN(m.config, ParseDescriptor(*c, "manifest config"));
  auto l = j.find("layers");
  if (l == j.end() || !l->is_array()) return Bad("manifest", "no layers array");
  if (l->size() > kMaxEntries) return Bad("manifest", "more than " + std::to_string(kMaxEntries) + " layers");
  for (auto& e : *l) {
    KCR_ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(e, "manifest layer"));
    m.layers.push_back(std::move(d));
  }
  if (auto a = j.find("annotations"); a != j.end() && a->is_object())
    for (auto& [k, v] : a->items())
      if (v.is_string()) m.annotations[k] = v.get<std::string>();
  return m;
}

StatusOr<ImageConfig> ParseConfig(const std::string& body) {
  KCR_ASSIGN_OR_RETURN(json j, ParseJson(body, kMaxConfigBytes, "image config"));
  ImageConfig c;
  c.os = Str(j, "os");
  c.architecture = Str(j, "architecture");
  c.variant = Str(j, "variant");
  if (auto cfg = j.find("config"); cfg != j.end() && cfg->is_object()) c.user = Str(*cfg, "User");
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) return Bad("image config", "no rootfs");
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end() || !ids->is_array()) return Bad("image config", "no rootfs.diff_ids");
  if (ids->size() > kMaxEntries) return Bad("image config", "too many diff_ids");
  for (auto& e : *ids) {
    if (!e.is_string() || !IsDigest(e.get<std::string>())) return Bad("image config", "invalid diff_id");
    c.diff_ids.push_back(e.get<std::string>());
  }
  return c;
}

bool IsLayerMediaType(const std::string& mt) {
  return mt == "application/vnd.oci.image.layer.v1.tar" || mt == "application/vnd.oci.image.layer.v1.tar+gzip" ||
         mt == "application/vnd.oci.image.layer.v1.tar+zstd" ||
         mt == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
         mt == "application/vnd.docker.image.rootfs.diff.tar" ||
         mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
         mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

}  // namespace kcr::images
