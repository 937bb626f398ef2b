// libFuzzer target: a server SPDY Session (streaming/spdy/session.h) fed
// arbitrary bytes as a client connection would deliver them, with the
// server's own calls (Reply, Send, Consumed, Reset, GoAway) interleaved.
// Input: byte 0 is the read size (0: all at once, else 1..255 bytes per
// Feed); byte 1 % 17 the number of operations k, then k three-byte
// operations (one after each Feed: opcode, a, b); the rest is the stream.
// Oracle beside the sanitizers: everything the server writes must parse in
// a client Session without a protocol error (kcr never sends bad frames).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/spdy/session.h"

namespace {

using kcr::streaming::spdy::Event;
using kcr::streaming::spdy::RstStatus;
using kcr::streaming::spdy::Session;

struct Harness {
  Session server{Session::Role::kServer};
  Session checker{Session::Role::kClient};
  std::vector<uint32_t> opened;

  uint32_t Pick(uint8_t a) const {
    if (!opened.empty() && a < 200) return opened[a % opened.size()];
    return a;  // often a stream that does not exist
  }

  void Drain() {
    for (auto& e : server.TakeEvents()) {
      if (e.type == Event::Type::kStreamOpened) opened.push_back(e.stream_id);
      // As the streaming server does: data is used at once.
      if (e.type == Event::Type::kData) server.Consumed(e.stream_id, e.data.size());
    }
    std::string out = server.TakeOutput();
    if (!checker.Feed(out).ok()) __builtin_trap();
    (void)checker.TakeEvents();
    (void)checker.TakeOutput();
  }

  void Op(uint8_t op, uint8_t a, uint8_t b) {
    switch (op % 6) {
      case 0: (void)server.Reply(Pick(a), {{"x", std::string(1, static_cast<char>(b))}}, b & 1); break;
      case 1: (void)server.Send(Pick(a), std::string(size_t{b} * 131, 'd'), a & 1); break;
      case 2: server.Consumed(Pick(a), size_t{b} * 257); break;
      case 3: server.Reset(Pick(a), static_cast<RstStatus>(b % 12)); break;
      case 4: server.GoAway(); break;
      default: break;
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t chunk = data[0] == 0 ? size : data[0];
  size_t nops = data[1] % 17;
  data += 2;
  size -= 2;
  if (size < 3 * nops) return 0;
  const uint8_t* ops = data;
  std::string_view stream(reinterpret_cast<const char*>(data + 3 * nops), size - 3 * nops);
  Harness h;
  h.Drain();
  size_t i = 0;
  for (size_t off = 0; off < stream.size() || i < nops; off += chunk, i++) {
    if (off < stream.size()) {
      if (!h.server.Feed(stream.substr(off, chunk)).ok()) {
        h.Drain();  // the GOAWAY must parse too
        return 0;
      }
    }
    if (i < nops) h.Op(ops[3 * i], ops[3 * i + 1], ops[3 * i + 2]);
    h.Drain();
  }
  return 0;
}
