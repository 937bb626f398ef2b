// SPDY/3 frame layout (spec section 2.2): the 8-byte frame header and
// writers for each frame type kcr sends. Pure byte work: no state, no
// compression (header_block.h), no policy (session.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcr::streaming::spdy::wire {

inline constexpr uint16_t kVersion = 3;
inline constexpr size_t kHeaderSize = 8;
inline constexpr uint32_t kMaxLength = 0xffffff;  // 24-bit length field
inline constexpr uint32_t kMaxStreamId = 0x7fffffff;
inline constexpr int64_t kMaxWindow = 0x7fffffff;  // section 2.6.8
inline constexpr int64_t kDefaultWindow = 64 << 10;  // stream and session, SPDY/3.1

// Control frame types (section 2.6). 5 (NOOP, SPDY/2) and 10 (CREDENTIAL)
// are not handled: unknown types are ignored, as section 2.2.1 requires.
enum FrameType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

inline constexpr uint8_t kFlagFin = 0x01;             // every frame carrying a stream
inline constexpr uint8_t kFlagUnidirectional = 0x02;  // SYN_STREAM

// SETTINGS ids (section 2.6.4) kcr reads or sends.
inline constexpr uint32_t kSettingMaxConcurrentStreams = 4;
inline constexpr uint32_t kSettingInitialWindowSize = 7;

// GOAWAY status codes (section 2.6.6).
inline constexpr uint32_t kGoAwayOk = 0;
inline constexpr uint32_t kGoAwayProtocolError = 1;

struct FrameHeader {
  bool control = false;
  uint16_t version = 0;    // control frames
  uint16_t type = 0;       // control frames
  uint32_t stream_id = 0;  // data frames
  uint8_t flags = 0;
  uint32_t length = 0;     // payload bytes after the 8-byte header
};

// Decodes the first kHeaderSize bytes of `p` (the caller checked there are
// that many).
FrameHeader ParseHeader(const char* p);

uint32_t ReadU32(const char* p);
void AppendU32(std::string* out, uint32_t v);

// Each Append* writes one whole frame at the end of `out`. Stream ids and
// lengths are the caller's to keep in range (session.cpp checks them).
void AppendData(std::string* out, uint32_t stream_id, uint8_t flags, std::string_view data);
// `block` is the compressed name/value block (header_block.h).
void AppendSynStream(std::string* out, uint32_t stream_id, uint8_t flags, std::string_view block);
void AppendSynReply(std::string* out, uint32_t stream_id, uint8_t flags, std::string_view block);
void AppendRstStream(std::string* out, uint32_t stream_id, uint32_t status);
void AppendSettings(std::string* out, const std::vector<std::pair<uint32_t, uint32_t>>& id_values);
void AppendPing(std::string* out, uint32_t id);
void AppendGoAway(std::string* out, uint32_t last_good_stream_id, uint32_t status);
void AppendWindowUpdate(std::string* out, uint32_t stream_id, uint32_t delta);

}  // namespace kcr::streaming::spdy::wire
