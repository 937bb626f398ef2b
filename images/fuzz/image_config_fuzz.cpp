// libFuzzer target: image config JSON (the blob a manifest's config
// descriptor names). Build with -DKCR_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++.
#include <cstddef>
#include <cstdint>
#include <string>

#include "images/digest.h"
#include "images/manifest.h"
#include "images/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto cfg = kcr::images::ParseConfig(body);
  if (cfg.ok()) {
    if (cfg->diff_ids.size() > kcr::images::kMaxEntries) __builtin_trap();
    for (const auto& d : cfg->diff_ids)
      if (!kcr::images::IsDigest(d)) __builtin_trap();
    (void)kcr::images::ChainIds(cfg->diff_ids);
  }
  return 0;
}
