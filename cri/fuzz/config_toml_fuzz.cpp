// libFuzzer target: kcrd's TOML configuration (ParseConfig) on arbitrary
// text, as `kcrd --config FILE` reads it. A document is either refused with
// a Status or yields a Config; nothing may throw or crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cri/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)kcr::cri::ParseConfig(text, "fuzz.toml");
  return 0;
}
