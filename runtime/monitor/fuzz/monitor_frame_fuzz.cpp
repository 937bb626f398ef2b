// libFuzzer target: the monitor control protocol's framing (FrameReader) on
// arbitrary bytes, as either end of the socket receives them. Input: byte 0
// sets the read size (1..256 bytes per Append, as recv returns them), byte 1
// how many descriptors arrived (SCM_RIGHTS, 0..3); the rest is the stream.
// Every complete message takes the descriptors its "fds" list names, as the
// client does, and must survive an encode/decode round trip unchanged.
#include <fcntl.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "runtime/monitor/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kcr::monitor::FrameReader;
  if (size < 2) return 0;
  size_t chunk = size_t{data[0]} + 1;
  int nfds = data[1] % 4;
  data += 2;
  size -= 2;
  FrameReader r;
  for (int i = 0; i < nfds; i++) r.AddFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  for (size_t off = 0; off < size; off += chunk) {
    r.Append(reinterpret_cast<const char*>(data) + off, std::min(chunk, size - off));
    for (;;) {
      nlohmann::json msg;
      auto got = r.Next(&msg);
      if (!got.ok()) return 0;  // a bad frame closes the connection
      if (!*got) break;
      size_t want = msg.contains("fds") && msg["fds"].is_array() ? msg["fds"].size() : 0;
      (void)r.TakeFds(want);
      FrameReader again;
      std::string frame = kcr::monitor::EncodeFrame(msg);
      again.Append(frame.data(), frame.size());
      nlohmann::json back;
      auto re = again.Next(&back);
      if (!re.ok() || !*re || back != msg) __builtin_trap();
    }
  }
  return 0;
}
