#pragma once
// A streaming tar reader: POSIX ustar, GNU long names (L/K), PAX extended
// headers (x) with path, linkpath, size, uid, gid, mtime and
// SCHILY.xattr.*. Global PAX headers (g) are checked and then skipped: as in
// Go's archive/tar (which Docker and containerd use to write and apply
// layers), they apply to no entry. Header checksums are verified; sizes, PAX
// records and extended-header bytes per layer are bounded. No sparse files
// (rejected with a clear error).
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
// One extended header (PAX or GNU long name/link).
inline constexpr size_t kMaxPaxBytes = 1 << 20;
// Records in one PAX header: real layers carry a handful (path, times,
// xattrs); a hostile one would make every entry pay for thousands.
inline constexpr size_t kMaxPaxRecords = 10000;
// Extended-header bytes (PAX, global PAX, GNU long names) in one layer.
inline constexpr int64_t kMaxExtendedHeaderBytesPerLayer = int64_t{8} << 20;
// Bytes after the end-of-archive block that still count toward the diff ID
// (the second zero block, record padding of 10 KiB tar writers). A layer
// whose compressed stream goes on past that is a decompression bomb, not a
// tar.
inline constexpr int64_t kMaxBytesAfterArchive = int64_t{1} << 20;
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
  int64_t extended_bytes_ = 0;  // extended-header bytes read so far in this layer
};

}  // namespace kcr::images
