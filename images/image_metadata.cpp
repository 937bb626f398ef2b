#include "images/image_metadata.h"

#include <nlohmann/json.hpp>

namespace kcr::images {

using nlohmann::json;

namespace {
constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS image_images (
  id TEXT PRIMARY KEY, body TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS image_refs (
  ref TEXT PRIMARY KEY,
  image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE,
  kind TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS image_refs_image ON image_refs(image_id);
)";

json ToJson(const ImageRow& r) {
  const Image& i = r.image;
  json j = {{"size", i.size}, {"config", i.config_json}, {"manifest", i.manifest_digest},
            {"diff_ids", i.diff_ids}, {"chain_ids", i.chain_ids}, {"annotations", i.annotations},
            {"username", i.username}, {"blobs", r.blobs}};
  if (i.uid) j["uid"] = *i.uid;
  return j;
}

ImageRow FromJson(const std::string& id, const json& j) {
  ImageRow r;
  Image& i = r.image;
  i.id = id;
  i.size = j.value("size", uint64_t{0});
  i.config_json = j.value("config", "");
  i.manifest_digest = j.value("manifest", "");
  i.diff_ids = j.value("diff_ids", std::vector<std::string>{});
  i.chain_ids = j.value("chain_ids", std::vector<std::string>{});
  i.annotations = j.value("annotations", std::map<std::string, std::string>{});
  i.username = j.value("username", "");
  if (j.contains("uid") && j["uid"].is_number_integer()) i.uid = j["uid"].get<int64_t>();
  r.blobs = j.value("blobs", std::vector<std::string>{});
  return r;
}
}  // namespace

Status ImageMetadata::Init() { return db_.Exec(kSchema); }

Status ImageMetadata::Put(const ImageRow& row, const std::string& tag_ref, const std::string& digest_ref) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  Transaction tx(db_);
  KCR_RETURN_IF_ERROR(tx.status());
  KCR_ASSIGN_OR_RETURN(Statement ins, db_.Prepare(
      "INSERT OR IGNORE INTO image_images(id, body, created) VALUES(?1, ?2, strftime('%s','now'))"));
  ins.Bind(1, row.image.id).Bind(2, ToJson(row).dump());
  KCR_RETURN_IF_ERROR(ins.Run());
  for (auto [ref, kind] : {std::pair{tag_ref, "tag"}, std::pair{digest_ref, "digest"}}) {
    if (ref.empty()) continue;
    KCR_ASSIGN_OR_RETURN(Statement up, db_.Prepare(
        "INSERT INTO image_refs(ref, image_id, kind) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id"));
    up.Bind(1, ref).Bind(2, row.image.id).Bind(3, kind);
    KCR_RETURN_IF_ERROR(up.Run());
  }
  return tx.Commit();
}

std::optional<ImageRow> ImageMetadata::ById(const std::string& id) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  auto st = db_.Prepare("SELECT body FROM image_images WHERE id = ?1");
  if (!st.ok()) return std::nullopt;
  st->Bind(1, id);
  auto row = st->Step();
  if (!row.ok() || !*row) return std::nullopt;
  return FromJson(id, json::parse(st->Text(0), nullptr, false));
}

std::vector<std::string> ImageMetadata::IdsWithPrefix(const std::string& hex) {
  return db_.Column("SELECT id FROM image_images WHERE id >= ?1 AND id < ?1 || 'g' LIMIT 2", "sha256:" + hex);
}

std::optional<std::string> ImageMetadata::ByRef(const std::string& ref) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  auto st = db_.Prepare("SELECT image_id FROM image_refs WHERE ref = ?1");
  if (!st.ok()) return std::nullopt;
  st->Bind(1, ref);
  auto row = st->Step();
  if (!row.ok() || !*row) return std::nullopt;
  return st->Text(0);
}

std::vector<std::string> ImageMetadata::AllIds() {
  return db_.Column("SELECT id FROM image_images ORDER BY created, id");
}

void ImageMetadata::Refs(const std::string& id, std::vector<std::string>* tags, std::vector<std::string>* digests) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  auto st = db_.Prepare("SELECT ref, kind FROM image_refs WHERE image_id = ?1 ORDER BY ref");
  if (!st.ok()) return;
  st->Bind(1, id);
  while (true) {
    auto row = st->Step();
    if (!row.ok() || !*row) break;
    (st->Text(1) == "tag" ? tags : digests)->push_back(st->Text(0));
  }
}

Status ImageMetadata::Delete(const std::string& id) {
  std::lock_guard<std::recursive_mutex> l(db_.mu());
  Transaction tx(db_);
  KCR_RETURN_IF_ERROR(tx.status());
  for (const char* sql : {"DELETE FROM image_refs WHERE image_id = ?1", "DELETE FROM image_images WHERE id = ?1"}) {
    KCR_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
    st.Bind(1, id);
    KCR_RETURN_IF_ERROR(st.Run());
  }
  return tx.Commit();
}

std::set<std::string> ImageMetadata::UsedBlobs() {
  std::set<std::string> out;
  for (const auto& id : AllIds())
    if (auto r = ById(id))
      for (const auto& b : r->blobs) out.insert(b);
  return out;
}

std::set<std::string> ImageMetadata::UsedChains() {
  std::set<std::string> out;
  for (const auto& id : AllIds())
    if (auto r = ById(id))
      for (const auto& c : r->image.chain_ids) out.insert(c);
  return out;
}

}  // namespace kcr::images
