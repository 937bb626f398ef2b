// libFuzzer target: the tar reader and confined extraction into a scratch
// directory (emptied after every input).
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/fs.h"
#include "images/unpack/extract.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One scratch directory for the whole run, removed at exit.
  static struct Scratch {
    std::string dir = kcr::fs::MakeTempDir("kcr-tar-fuzz");
    ~Scratch() { kcr::fs::RemoveAll(dir).IgnoreError(); }
  } scratch;
  const std::string& dir = scratch.dir;
  std::string root = dir + "/root";
  kcr::fs::RemoveAll(root).IgnoreError();
  kcr::fs::MkdirAll(root).IgnoreError();
  auto src = kcr::images::FromString(std::string(reinterpret_cast<const char*>(data), size));
  kcr::images::TarReader tar(*src);
  (void)kcr::images::ExtractLayer(tar, root);
  return 0;
}
