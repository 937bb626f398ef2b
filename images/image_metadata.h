#pragma once
// ImageMetadata: image rows and the references (tags, digests) naming them,
// in SQLite. Written only after every blob and layer of the image exists.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/sqlite.h"
#include "images/image_store.h"

namespace kcr::images {

struct ImageRow {
  Image image;                      // without repo_tags/repo_digests/pinned
  std::vector<std::string> blobs;   // every content digest the image uses
};

class ImageMetadata {
 public:
  explicit ImageMetadata(Database& db) : db_(db) {}
  Status Init();

  // Inserts the image if new, then points `tag_ref` (may be empty) and
  // `digest_ref` at it, moving them from any other image. One transaction.
  Status Put(const ImageRow& row, const std::string& tag_ref, const std::string& digest_ref);

  std::optional<ImageRow> ById(const std::string& id);
  // Full IDs whose hex starts with `hex_prefix`.
  std::vector<std::string> IdsWithPrefix(const std::string& hex_prefix);
  std::optional<std::string> ByRef(const std::string& ref);
  std::vector<std::string> AllIds();
  // Tags and digest references of an image, sorted.
  void Refs(const std::string& id, std::vector<std::string>* tags, std::vector<std::string>* digests);

  // Deletes the image and its references. OK if missing.
  Status Delete(const std::string& id);

  // Blobs and chain IDs still used by some image.
  std::set<std::string> UsedBlobs();
  std::set<std::string> UsedChains();

 private:
  Database& db_;
};

}  // namespace kcr::images
