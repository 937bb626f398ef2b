#pragma once
// A streaming tar reader: POSIX ustar, GNU long names (L/K), PAX extended
// headers (x, g) with path, linkpath, size, uid, gid, mtime and
// SCHILY.xattr.*. Header checksums are verified; sizes and PAX records are
// bounded. No sparse files (rejected with a clear error).
#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "images/unpack/stream.h"

namespace kcr::images {

enum class EntryType { kFile, kDir, kSymlink, kHardlink, kChar, kBlock, kFifo };

struct TarEntry {
  EntryType type = EntryType::kFile;
  std::string path;
  std::string linkname;
  uint32_t mode = 0;  // permission and setuid/setgid/sticky bits
  int64_t uid = 0, gid = 0;
  int64_t mtime = 0;
  int64_t size = 0;   // data bytes (regular files)
  uint32_t devmajor = 0, devminor = 0;
  std::map<std::string, std::string> xattrs;
};

inline constexpr int64_t kMaxEntrySize = int64_t{64} << 30;
inline constexpr size_t kMaxPaxBytes = 1 << 20;
inline constexpr size_t kMaxPathBytes = 4096;

class TarReader {
 public:
  explicit TarReader(ByteSource& in) : in_(in) {}

  // The next entry, or nullopt-like false at the end of the archive. The
  // previous entry's unread data is skipped. InvalidArgument / DataLoss on
  // malformed input.
  StatusOr<bool> Next(TarEntry* e);
  // Reads the current entry's data; 0 when all of it was read.
  StatusOr<size_t> Read(char* buf, size_t n);

 private:
  Status ReadFull(char* buf, size_t n);
  Status Skip(int64_t n);
  Status ReadBlob(int64_t size, std::string* out);  // long name / PAX data, padded

  ByteSource& in_;
  int64_t remaining_ = 0;  // data bytes left in the current entry
  int64_t padding_ = 0;    // padding after them
  std::map<std::string, std::string> global_pax_;
};

}  // namespace kcr::images
