#include "streaming/spdy/frame.h"

namespace kcr::streaming::spdy::wire {

uint32_t ReadU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} << 24 | uint32_t{u[1]} << 16 | uint32_t{u[2]} << 8 | uint32_t{u[3]};
}

void AppendU32(std::string* out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out->append(b, 4);
}

FrameHeader ParseHeader(const char* p) {
  FrameHeader h;
  uint32_t first = ReadU32(p);
  uint32_t second = ReadU32(p + 4);
  h.control = (first & 0x80000000u) != 0;
  if (h.control) {
    h.version = static_cast<uint16_t>((first >> 16) & 0x7fff);
    h.type = static_cast<uint16_t>(first & 0xffff);
  } else {
    h.stream_id = first & kMaxStreamId;
  }
  h.flags = static_cast<uint8_t>(second >> 24);
  h.length = second & kMaxLength;
  return h;
}

namespace {

void AppendControlHeader(std::string* out, uint16_t type, uint8_t flags, uint32_t length) {
  AppendU32(out, 0x80000000u | uint32_t{kVersion} << 16 | type);
  AppendU32(out, uint32_t{flags} << 24 | (length & kMaxLength));
}

}  // namespace

void AppendData(std::string* out, uint32_t stream_id, uint8_t flags, std::string_view data) {
  AppendU32(out, stream_id & kMaxStreamId);
  AppendU32(out, uint32_t{flags} << 24 | (static_cast<uint32_t>(data.size()) & kMaxLength));
  out->append(data);
}

void AppendSynStream(std::string* out, uint32_t stream_id, uint8_t flags, std::string_view block) {
  AppendControlHeader(out, kSynStream, flags, static_cast<uint32_t>(10 + block.size()));
  AppendU32(out, stream_id & kMaxStreamId);
  AppendU32(out, 0);     // associated-to-stream-id: no server push
  out->append(2, '\0');  // priority 0 (highest, as spdystream sends), unused bits, slot 0
  out->append(block);
}

void AppendSynReply(std::string* out, uint32_t stream_id, uint8_t flags, std::string_view block) {
  AppendControlHeader(out, kSynReply, flags, static_cast<uint32_t>(4 + block.size()));
  AppendU32(out, stream_id & kMaxStreamId);
  out->append(block);
}

void AppendRstStream(std::string* out, uint32_t stream_id, uint32_t status) {
  AppendControlHeader(out, kRstStream, 0, 8);
  AppendU32(out, stream_id & kMaxStreamId);
  AppendU32(out, status);
}

void AppendSettings(std::string* out, const std::vector<std::pair<uint32_t, uint32_t>>& id_values) {
  AppendControlHeader(out, kSettings, 0, static_cast<uint32_t>(4 + 8 * id_values.size()));
  AppendU32(out, static_cast<uint32_t>(id_values.size()));
  for (const auto& [id, value] : id_values) {
    AppendU32(out, id & 0xffffff);  // flags byte 0: not persisted
    AppendU32(out, value);
  }
}

void AppendPing(std::string* out, uint32_t id) {
  AppendControlHeader(out, kPing, 0, 4);
  AppendU32(out, id);
}

void AppendGoAway(std::string* out, uint32_t last_good_stream_id, uint32_t status) {
  AppendControlHeader(out, kGoAway, 0, 8);
  AppendU32(out, last_good_stream_id & kMaxStreamId);
  AppendU32(out, status);
}

void AppendWindowUpdate(std::string* out, uint32_t stream_id, uint32_t delta) {
  AppendControlHeader(out, kWindowUpdate, 0, 8);
  AppendU32(out, stream_id & kMaxStreamId);
  AppendU32(out, delta & 0x7fffffff);
}

}  // namespace kcr::streaming::spdy::wire
