// libFuzzer target: what kcrd reads from a CNI plugin's stdout, which a
// third-party binary writes: an ADD result (the pod's addresses, the cached
// prevResult) or, on failure, its error object.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/cni/result.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kcr::runtime;
  std::string out(reinterpret_cast<const char*>(data), size);
  if (auto r = ParseAddResult("bridge", out); r.ok()) {
    (void)ResultIps(*r);
    (void)r->dump();
  }
  (void)PluginErrorText("bridge", PluginOutput{.exit_code = 1, .out = out, .err = "stderr"});
  return 0;
}
