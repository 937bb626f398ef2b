// libFuzzer target: manifest, index and config parsing plus platform choice.
// Build with -DKCR_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++.
#include <cstddef>
#include <cstdint>
#include <string>

#include "images/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  using namespace kcr::images;
  (void)ClassifyManifest(body, "");
  if (auto idx = ParseIndex(body); idx.ok())
    (void)ChoosePlatform(*idx, PlatformMatcher(Platform{"linux", "arm64", "v8"}));
  (void)ParseManifest(body);
  (void)ParseConfig(body);
  return 0;
}
