// A client Session and a server Session talking through byte buffers, and
// a server fed hand-made frames (a peer like spdystream: no SETTINGS, no
// WINDOW_UPDATE) including hostile ones.
#include "streaming/spdy/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "streaming/spdy/frame.h"
#include "streaming/spdy/header_block.h"

namespace kcr::streaming::spdy {
namespace {

using Type = Event::Type;

struct Frame {
  wire::FrameHeader h;
  std::string payload;
  uint32_t U32(size_t at) const { return wire::ReadU32(payload.data() + at); }
};

std::vector<Frame> Frames(std::string_view bytes) {
  std::vector<Frame> out;
  while (bytes.size() >= wire::kHeaderSize) {
    wire::FrameHeader h = wire::ParseHeader(bytes.data());
    EXPECT_LE(wire::kHeaderSize + h.length, bytes.size());
    out.push_back({h, std::string(bytes.substr(wire::kHeaderSize, h.length))});
    bytes.remove_prefix(std::min(bytes.size(), wire::kHeaderSize + h.length));
  }
  EXPECT_TRUE(bytes.empty());
  return out;
}

// The RST_STREAM frames in `bytes` as (stream, status).
std::vector<std::pair<uint32_t, uint32_t>> Rsts(std::string_view bytes) {
  std::vector<std::pair<uint32_t, uint32_t>> r;
  for (const auto& f : Frames(bytes))
    if (f.h.control && f.h.type == wire::kRstStream) r.emplace_back(f.U32(0), f.U32(4));
  return r;
}

bool HasGoAway(std::string_view bytes, uint32_t status) {
  for (const auto& f : Frames(bytes))
    if (f.h.control && f.h.type == wire::kGoAway && f.U32(4) == status) return true;
  return false;
}

// Moves bytes both ways until neither side has anything to say; returns
// each side's events.
struct Pair {
  Session client{Session::Role::kClient};
  Session server{Session::Role::kServer};
  std::vector<Event> cev, sev;
  bool keep_window_events = false;
  void Pump() {
    for (;;) {
      std::string c = client.TakeOutput(), s = server.TakeOutput();
      ASSERT_TRUE(server.Feed(c).ok());
      ASSERT_TRUE(client.Feed(s).ok());
      // The peer's preface opens the session window: not what the tests
      // look at, but for WindowExhaustionThenWindowOpened.
      for (auto& e : client.TakeEvents())
        if (keep_window_events || e.type != Type::kWindowOpened) cev.push_back(std::move(e));
      for (auto& e : server.TakeEvents())
        if (keep_window_events || e.type != Type::kWindowOpened) sev.push_back(std::move(e));
      if (c.empty() && s.empty()) break;
    }
  }
};

std::vector<Type> Types(const std::vector<Event>& ev) {
  std::vector<Type> t;
  for (const auto& e : ev) t.push_back(e.type);
  return t;
}

// A peer that writes frames by hand, as spdystream would: no preface.
struct RawPeer {
  HeaderDeflater deflater;
  std::string SynStream(uint32_t id, const Headers& h, uint8_t flags = 0) {
    auto block = EncodeBlock(h);
    EXPECT_TRUE(block.ok());
    return SynStreamBlock(id, *block, flags);
  }
  std::string SynStreamBlock(uint32_t id, std::string_view plain, uint8_t flags = 0) {
    auto c = deflater.Compress(plain);
    EXPECT_TRUE(c.ok());
    std::string out;
    wire::AppendSynStream(&out, id, flags, *c);
    return out;
  }
  static std::string Data(uint32_t id, std::string_view d, bool fin = false) {
    std::string out;
    wire::AppendData(&out, id, fin ? wire::kFlagFin : 0, d);
    return out;
  }
};

TEST(SpdySession, StreamWithHeadersDataBothWaysAndFin) {
  Pair p;
  auto id = p.client.OpenStream({{"streamtype", "stdin"}, {"X-Stream-Protocol-Version", "v4.channel.k8s.io"}}, false);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 1u);
  p.Pump();
  ASSERT_EQ(Types(p.sev), std::vector<Type>{Type::kStreamOpened});
  EXPECT_EQ(p.sev[0].stream_id, 1u);
  EXPECT_EQ(p.sev[0].headers,
            (Headers{{"streamtype", "stdin"}, {"x-stream-protocol-version", "v4.channel.k8s.io"}}));
  ASSERT_TRUE(p.server.Reply(1, {{"status", "ok"}}, false).ok());
  ASSERT_TRUE(p.client.Send(1, "hello", true).ok());
  ASSERT_EQ(*p.server.Send(1, "world", false), 5u);
  p.sev.clear();
  p.Pump();
  ASSERT_EQ(Types(p.cev), (std::vector<Type>{Type::kReply, Type::kData}));
  EXPECT_EQ(p.cev[0].headers, (Headers{{"status", "ok"}}));
  EXPECT_EQ(p.cev[1].data, "world");
  ASSERT_EQ(Types(p.sev), (std::vector<Type>{Type::kData, Type::kFin}));
  EXPECT_EQ(p.sev[0].data, "hello");
  EXPECT_TRUE(p.sev[0].fin);
  EXPECT_EQ(p.server.Unconsumed(1), 5u);
  p.server.Consumed(1, 5);
  EXPECT_EQ(p.server.Unconsumed(1), 0u);
  // Still open: only the client half-closed.
  EXPECT_TRUE(p.server.IsOpen(1));
  EXPECT_FALSE(p.client.Send(1, "more", false).ok());
  ASSERT_EQ(*p.server.Send(1, "", true), 0u);
  EXPECT_FALSE(p.server.IsOpen(1));  // both halves closed: forgotten
  p.cev.clear();
  p.Pump();
  ASSERT_EQ(Types(p.cev), (std::vector<Type>{Type::kData, Type::kFin}));
  EXPECT_TRUE(p.cev[0].data.empty());
  EXPECT_FALSE(p.client.IsOpen(1));
  EXPECT_EQ(p.client.OpenStreams(), 0u);
  EXPECT_EQ(p.server.OpenStreams(), 0u);
}

// What Go's moby/spdystream (v0.5.1) wrote as a client opening kubectl
// exec's streams: a PING, then SYN_STREAMs for error, stdin, stdout,
// stderr and resize with streamtype and x-stream-protocol-version headers,
// compressed with Go's compress/zlib (best compression, the dictionary).
// Captured from a throwaway Go program over TCP 127.0.0.1.
TEST(SpdySession, GoSpdystreamClientPrefaceDecodes) {
  const std::string go_bytes(
    "\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01\x80\x03\x00\x01\x00\x00\x00\x4d\x00\x00\x00\x01"
    "\x00\x00\x00\x00\x00\x00\x78\xf9\xe3\xc6\xa7\xc2\x02\xe5\x0e\x70\x3a\x2b\x29\x4a\x4d\xcc\x85\x16"
    "\x25\xac\xa9\xa0\x80\x66\x60\x60\x90\xac\xd0\x85\x48\xe8\x16\x14\xe5\x97\xe4\x27\xe7\xe7\xe8\x22"
    "\x12\xae\x60\x99\x89\x5e\x72\x46\x62\x5e\x5e\x6a\x8e\x5e\xb6\x45\xb1\x5e\x66\x3e\x00\x00\x00\xff"
    "\xff\x80\x03\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x82\x1a\x46\xba\x2e"
    "\x34\xeb\x8b\x4b\x52\x32\xf3\x00\x00\x00\x00\xff\xff\x80\x03\x00\x01\x00\x00\x00\x1d\x00\x00\x00"
    "\x05\x00\x00\x00\x00\x00\x00\xc2\xea\x32\xb6\xe2\x92\x94\x7c\x70\x15\x41\xa2\x25\x00\x00\x00\x00"
    "\xff\xff\x80\x03\x00\x01\x00\x00\x00\x17\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\xc2\x69\x5a\x6a"
    "\x11\x19\x1e\x05\x00\x00\x00\xff\xff\x80\x03\x00\x01\x00\x00\x00\x1b\x00\x00\x00\x09\x00\x00\x00"
    "\x00\x00\x00\xc2\x6e\x5a\x51\x6a\x71\x66\x55\x2a\xe9\xa6\x01\x00\x00\x00\xff\xff",
      236);
  Session server(Session::Role::kServer);
  server.TakeOutput();
  ASSERT_TRUE(server.Feed(go_bytes).ok());
  auto ev = server.TakeEvents();
  ASSERT_EQ(ev.size(), 5u);
  const char* types[] = {"error", "stdin", "stdout", "stderr", "resize"};
  for (size_t i = 0; i < ev.size(); i++) {
    EXPECT_EQ(ev[i].type, Type::kStreamOpened);
    EXPECT_EQ(ev[i].stream_id, 1 + 2 * i);
    EXPECT_THAT(ev[i].headers, testing::UnorderedElementsAre(testing::Pair("streamtype", types[i]),
                                                             testing::Pair("x-stream-protocol-version",
                                                                           "v4.channel.k8s.io")));
  }
  std::string pong;
  wire::AppendPing(&pong, 1);
  EXPECT_EQ(server.TakeOutput(), pong);
}

TEST(SpdySession, ByteAtATime) {
  Session client(Session::Role::kClient), server(Session::Role::kServer);
  client.TakeOutput();  // the preface
  for (int i = 0; i < 3; i++) ASSERT_TRUE(client.OpenStream({{"streamtype", "data"}, {"port", "80"}}, false).ok());
  ASSERT_TRUE(client.Send(3, std::string(1000, 'x'), true).ok());
  std::string bytes = client.TakeOutput();
  for (char c : bytes) ASSERT_TRUE(server.Feed(std::string_view(&c, 1)).ok());
  auto ev = server.TakeEvents();
  ASSERT_EQ(Types(ev), (std::vector<Type>{Type::kStreamOpened, Type::kStreamOpened, Type::kStreamOpened, Type::kData,
                                          Type::kFin}));
  EXPECT_EQ(ev[2].stream_id, 5u);
  EXPECT_EQ(ev[3].stream_id, 3u);
  EXPECT_EQ(ev[3].data, std::string(1000, 'x'));
  EXPECT_EQ(ev[2].headers, (Headers{{"streamtype", "data"}, {"port", "80"}}));
}

// What a caller's per-frame deadline watches: bytes of a frame begun and
// not finished, from its first byte to its last, and 0 on each boundary.
TEST(SpdySession, PartialFrameCountsAFrameBegunAndNotFinished) {
  Session client(Session::Role::kClient), server(Session::Role::kServer);
  client.TakeOutput();
  ASSERT_TRUE(client.OpenStream({{"streamtype", "stdin"}}, false).ok());
  ASSERT_TRUE(client.Send(1, "payload", false).ok());
  std::string bytes = client.TakeOutput();
  EXPECT_EQ(server.PartialFrame(), 0u);
  size_t syn = wire::kHeaderSize + wire::ParseHeader(bytes.data()).length;
  for (size_t i = 0; i + 1 < syn; i++) {
    ASSERT_TRUE(server.Feed(std::string_view(bytes).substr(i, 1)).ok());
    EXPECT_EQ(server.PartialFrame(), i + 1);
  }
  ASSERT_TRUE(server.Feed(std::string_view(bytes).substr(syn - 1, 2)).ok());  // its end, the next one's start
  EXPECT_EQ(server.PartialFrame(), 1u);
  ASSERT_TRUE(server.Feed(std::string_view(bytes).substr(syn + 1)).ok());
  EXPECT_EQ(server.PartialFrame(), 0u);
  EXPECT_EQ(Types(server.TakeEvents()), (std::vector<Type>{Type::kStreamOpened, Type::kData}));
}

TEST(SpdySession, ResetFromEitherSide) {
  Pair p;
  ASSERT_TRUE(p.client.OpenStream({{"streamtype", "stdout"}}, false).ok());
  ASSERT_TRUE(p.client.OpenStream({{"streamtype", "stderr"}}, false).ok());
  p.Pump();
  p.client.Reset(1, RstStatus::kCancel);
  p.client.Reset(1, RstStatus::kCancel);  // idempotent: one frame
  p.server.Reset(3, RstStatus::kInternalError);
  EXPECT_EQ(Rsts(p.client.TakeOutput()), (std::vector<std::pair<uint32_t, uint32_t>>{{1, 5}}));
  std::string s = p.server.TakeOutput();
  EXPECT_EQ(Rsts(s), (std::vector<std::pair<uint32_t, uint32_t>>{{3, 6}}));
  p.sev.clear();
  ASSERT_TRUE(p.client.Feed(s).ok());
  std::string c;
  wire::AppendRstStream(&c, 1, 5);
  ASSERT_TRUE(p.server.Feed(c).ok());
  auto sev = p.server.TakeEvents(), cev = p.client.TakeEvents();
  ASSERT_EQ(Types(sev), std::vector<Type>{Type::kReset});
  EXPECT_EQ(sev[0].status, RstStatus::kCancel);
  ASSERT_EQ(Types(cev), std::vector<Type>{Type::kReset});
  EXPECT_EQ(cev[0].stream_id, 3u);
  EXPECT_EQ(cev[0].status, RstStatus::kInternalError);
  EXPECT_EQ(p.server.OpenStreams(), 0u);
  EXPECT_FALSE(p.server.Send(1, "x", false).ok());
  EXPECT_TRUE(p.server.TakeOutput().empty());  // no reset answers a reset
}

TEST(SpdySession, PingFromThePeerIsAnswered) {
  Session server(Session::Role::kServer);
  server.TakeOutput();
  std::string ping;
  wire::AppendPing(&ping, 7);        // client pings are odd
  wire::AppendPing(&ping, 8);        // an even id would be an answer to ours: ignored
  ASSERT_TRUE(server.Feed(ping).ok());
  std::string out = server.TakeOutput();
  std::string want;
  wire::AppendPing(&want, 7);
  EXPECT_EQ(out, want);
  EXPECT_TRUE(server.TakeEvents().empty());
}

TEST(SpdySession, GoAwayBothWays) {
  Pair p;
  ASSERT_TRUE(p.client.OpenStream({{"streamtype", "error"}}, false).ok());
  p.Pump();
  ASSERT_TRUE(p.client.OpenStream({{"streamtype", "stdout"}}, false).ok());  // 3: still in flight
  p.server.GoAway();
  p.server.GoAway();  // idempotent
  std::string s = p.server.TakeOutput();
  auto frames = Frames(s);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].h.type, wire::kGoAway);
  EXPECT_EQ(frames[0].U32(0), 1u);  // the last stream it accepted
  EXPECT_EQ(frames[0].U32(4), wire::kGoAwayOk);
  ASSERT_TRUE(p.server.Feed(p.client.TakeOutput()).ok());  // stream 3 arrives after the GOAWAY: ignored
  EXPECT_EQ(Types(p.server.TakeEvents()), std::vector<Type>{});
  EXPECT_FALSE(p.server.IsOpen(3));
  ASSERT_TRUE(p.client.Feed(s).ok());
  auto ev = p.client.TakeEvents();
  ASSERT_EQ(Types(ev), (std::vector<Type>{Type::kGoAway, Type::kReset}));
  EXPECT_EQ(ev[0].stream_id, 1u);
  EXPECT_EQ(ev[1].stream_id, 3u);
  EXPECT_EQ(ev[1].status, RstStatus::kRefusedStream);
  EXPECT_TRUE(p.client.IsOpen(1));
  EXPECT_FALSE(p.client.OpenStream({{"a", "b"}}, false).ok());
}

TEST(SpdySession, WindowExhaustionThenWindowOpened) {
  Pair p;
  ASSERT_TRUE(p.client.OpenStream({{"streamtype", "stdout"}}, false).ok());
  p.Pump();
  ASSERT_TRUE(p.server.Reply(1, {}, false).ok());
  p.keep_window_events = true;
  // The client's SETTINGS (64 KiB per stream) reached the server: it is
  // held to that window.
  std::string big(100 << 10, 'o');
  auto n = p.server.Send(1, big, true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 64u << 10);
  EXPECT_EQ(*p.server.Send(1, std::string_view(big).substr(*n), true), 0u);
  EXPECT_TRUE(p.server.IsOpen(1));  // fin not sent: data left
  p.cev.clear();
  p.sev.clear();
  p.Pump();
  size_t got = 0;
  for (const auto& e : p.cev)
    if (e.type == Type::kData) got += e.data.size();
  EXPECT_EQ(got, 64u << 10);
  EXPECT_EQ(Types(p.sev), std::vector<Type>{});  // nothing consumed yet: no window update
  p.client.Consumed(1, got);
  std::string upd = p.client.TakeOutput();
  auto uf = Frames(upd);
  ASSERT_EQ(uf.size(), 1u);  // the stream's window (the session's 1 MiB is far from half used)
  EXPECT_EQ(uf[0].h.type, wire::kWindowUpdate);
  EXPECT_EQ(uf[0].U32(0), 1u);
  EXPECT_EQ(uf[0].U32(4), 64u << 10);
  ASSERT_TRUE(p.server.Feed(upd).ok());
  p.Pump();
  ASSERT_THAT(Types(p.sev), testing::Contains(Type::kWindowOpened));
  auto rest = p.server.Send(1, std::string_view(big).substr(*n), true);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*n + *rest, big.size());
  EXPECT_FALSE(p.server.IsOpen(1) && p.server.Unconsumed(1) > 0);
  p.cev.clear();
  p.Pump();
  ASSERT_FALSE(p.cev.empty());
  EXPECT_EQ(p.cev.back().type, Type::kFin);
}

TEST(SpdySession, PeerWithoutFlowControlIsNeverThrottled) {
  // spdystream: no SETTINGS, no WINDOW_UPDATE. Honouring the default
  // 64 KiB window would stall it for good.
  Session server(Session::Role::kServer);
  RawPeer peer;
  ASSERT_TRUE(server.Feed(peer.SynStream(1, {{"streamtype", "stdout"}})).ok());
  ASSERT_TRUE(server.Reply(1, {}, false).ok());
  std::string big(3 << 20, 'z');
  auto n = server.Send(1, big, false);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, big.size());
  size_t data = 0;
  for (const auto& f : Frames(server.TakeOutput()))
    if (!f.h.control) {
      data += f.payload.size();
      EXPECT_LE(f.payload.size(), 64u << 10);
    }
  EXPECT_EQ(data, big.size());
  // And its data past our 64 KiB window is taken (up to the buffer cap).
  ASSERT_TRUE(server.Feed(RawPeer::Data(1, std::string(200 << 10, 'i'))).ok());
  auto ev = server.TakeEvents();
  ASSERT_EQ(Types(ev), (std::vector<Type>{Type::kStreamOpened, Type::kData}));
  EXPECT_TRUE(Rsts(server.TakeOutput()).empty());
}

TEST(SpdySession, DataPastTheBufferCapResetsTheStream) {
  Limits l;
  l.max_frame_payload = 64 << 10;
  l.max_stream_buffer = 128 << 10;
  Session server(Session::Role::kServer, l);
  RawPeer peer;
  ASSERT_TRUE(server.Feed(peer.SynStream(1, {{"streamtype", "stdin"}})).ok());
  ASSERT_TRUE(server.Reply(1, {}, false).ok());
  std::string chunk(64 << 10, 'i');
  ASSERT_TRUE(server.Feed(RawPeer::Data(1, chunk) + RawPeer::Data(1, chunk)).ok());
  server.Consumed(1, 10);  // the caller used a little: room for 10 bytes
  server.TakeOutput();
  ASSERT_TRUE(server.Feed(RawPeer::Data(1, chunk)).ok());
  auto ev = server.TakeEvents();
  ASSERT_EQ(Types(ev), (std::vector<Type>{Type::kStreamOpened, Type::kData, Type::kData, Type::kReset}));
  EXPECT_EQ(ev[3].status, RstStatus::kFlowControlError);
  EXPECT_EQ(Rsts(server.TakeOutput()), (std::vector<std::pair<uint32_t, uint32_t>>{{1, 7}}));
  EXPECT_FALSE(server.IsOpen(1));
  // Late frames of the reset stream are dropped quietly.
  ASSERT_TRUE(server.Feed(RawPeer::Data(1, "late")).ok());
  EXPECT_TRUE(server.TakeEvents().empty());
  EXPECT_TRUE(Rsts(server.TakeOutput()).empty());
}

TEST(SpdySession, ManyStreams) {
  Pair p;
  for (int i = 0; i < 300; i++)
    ASSERT_TRUE(p.client.OpenStream({{"streamtype", "data"}, {"requestid", std::to_string(i)}}, false).ok());
  p.Pump();
  ASSERT_EQ(p.sev.size(), 300u);
  EXPECT_EQ(p.server.OpenStreams(), 300u);
  for (const auto& e : p.sev) {
    ASSERT_TRUE(p.server.Reply(e.stream_id, {}, false).ok());
    ASSERT_EQ(*p.server.Send(e.stream_id, e.headers[1].second, true), e.headers[1].second.size());
    ASSERT_EQ(*p.client.Send(e.stream_id, "", true), 0u);
  }
  p.cev.clear();
  p.Pump();
  EXPECT_EQ(p.server.OpenStreams(), 0u);
  EXPECT_EQ(p.client.OpenStreams(), 0u);
  int data = 0;
  for (const auto& e : p.cev)
    if (e.type == Type::kData) {
      EXPECT_EQ(e.data, std::to_string((e.stream_id - 1) / 2));
      data++;
    }
  EXPECT_EQ(data, 300);
}

TEST(SpdySession, TooManyStreamsAreRefused) {
  Limits l;
  l.max_streams = 2;
  Session server(Session::Role::kServer, l);
  server.TakeOutput();
  RawPeer peer;
  // One statement per frame: the peer's zlib stream must see them in order.
  std::string in = peer.SynStream(1, {{"a", "1"}});
  in += peer.SynStream(3, {{"a", "2"}});
  in += peer.SynStream(5, {{"x-unique", "only-in-the-refused-block"}});
  auto st = server.Feed(in);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(server.OpenStreams(), 2u);
  EXPECT_EQ(Rsts(server.TakeOutput()), (std::vector<std::pair<uint32_t, uint32_t>>{{5, 3}}));
  // The refused stream's block was still inflated: once a slot is free,
  // the next stream's headers decode (the zlib stream spans all blocks).
  std::string next;
  wire::AppendRstStream(&next, 1, static_cast<uint32_t>(RstStatus::kCancel));
  next += peer.SynStream(7, {{"x-unique", "only-in-the-refused-block"}});  // compresses to references into 5's
  ASSERT_TRUE(server.Feed(next).ok());
  auto ev = server.TakeEvents();
  ASSERT_EQ(Types(ev), (std::vector<Type>{Type::kStreamOpened, Type::kStreamOpened, Type::kReset, Type::kStreamOpened}));
  EXPECT_EQ(ev[3].stream_id, 7u);
  EXPECT_EQ(ev[3].headers, (Headers{{"x-unique", "only-in-the-refused-block"}}));
}

TEST(SpdySession, SendBeforeReplyIsRefused) {
  Session server(Session::Role::kServer);
  RawPeer peer;
  ASSERT_TRUE(server.Feed(peer.SynStream(1, {{"streamtype", "stdout"}})).ok());
  auto n = server.Send(1, "x", false);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server.Send(9, "x", false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(server.OpenStream({}, false).ok());  // servers do not open streams
}

// Hostile input: each case ends the session with a GOAWAY PROTOCOL_ERROR
// and an error naming the fault, and later input is refused.
void ExpectSessionError(std::string_view input, std::string_view why) {
  Session server(Session::Role::kServer);
  server.TakeOutput();
  auto st = server.Feed(input);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find(why), std::string::npos) << st;
  EXPECT_TRUE(HasGoAway(server.TakeOutput(), wire::kGoAwayProtocolError));
  EXPECT_FALSE(server.Feed(RawPeer::Data(1, "x")).ok());
  EXPECT_TRUE(server.TakeOutput().empty());
}

TEST(SpdySession, OversizedFrameFailsBeforeItsPayload) {
  // Only the 8-byte header arrives: the length alone is refused.
  ExpectSessionError(std::string("\x00\x00\x00\x01\x00\xff\xff\xff", 8), "limit");
  ExpectSessionError(std::string("\x80\x03\x00\x01\x00\x20\x00\x00", 8), "limit");
}

TEST(SpdySession, BadVersionIsRefused) {
  std::string ping;
  wire::AppendPing(&ping, 1);
  ping[1] = 2;  // SPDY/2
  ExpectSessionError(ping, "version 2");
}

TEST(SpdySession, HeaderBombIsRefused) {
  RawPeer peer;
  std::string plain;
  wire::AppendU32(&plain, 1);
  wire::AppendU32(&plain, 1);
  plain += "a";
  wire::AppendU32(&plain, 1 << 20);
  plain += std::string(1 << 20, 'a');
  ExpectSessionError(peer.SynStreamBlock(1, plain), "limit");
}

TEST(SpdySession, EvenStreamFromAClientIsRefused) {
  RawPeer peer;
  ExpectSessionError(peer.SynStream(2, {{"a", "b"}}), "odd");
}

TEST(SpdySession, ReusedStreamIdIsRefused) {
  RawPeer peer;
  std::string in = peer.SynStream(3, {{"a", "b"}});
  in += peer.SynStream(1, {{"a", "b"}});
  ExpectSessionError(in, "ascend");
}

TEST(SpdySession, MalformedControlFramesAreRefused) {
  std::string rst;
  wire::AppendRstStream(&rst, 1, 1);
  rst[7] = 4;  // RST_STREAM of 4 bytes
  ExpectSessionError(rst.substr(0, 12), "RST_STREAM");
  std::string settings;
  wire::AppendSettings(&settings, {{7, 1}});
  settings[11] = 2;  // two entries declared, one present
  ExpectSessionError(settings, "SETTINGS");
  ExpectSessionError(RawPeer::Data(0, "x"), "stream 0");
}

TEST(SpdySession, TooManyPairsResetsOnlyThatStream) {
  Session server(Session::Role::kServer);
  server.TakeOutput();
  RawPeer peer;
  Headers many;
  for (int i = 0; i < 200; i++) many.emplace_back("h" + std::to_string(i), "v");
  ASSERT_TRUE(server.Feed(peer.SynStream(1, many)).ok());
  EXPECT_EQ(Rsts(server.TakeOutput()), (std::vector<std::pair<uint32_t, uint32_t>>{{1, 1}}));
  EXPECT_TRUE(server.TakeEvents().empty());
  // The zlib stream is intact: the next stream's headers decode.
  ASSERT_TRUE(server.Feed(peer.SynStream(3, {{"streamtype", "stdin"}})).ok());
  auto ev = server.TakeEvents();
  ASSERT_EQ(Types(ev), std::vector<Type>{Type::kStreamOpened});
  EXPECT_EQ(ev[0].headers, (Headers{{"streamtype", "stdin"}}));
}

TEST(SpdySession, FramesForStreamsThatNeverWereGetInvalidStream) {
  Session server(Session::Role::kServer);
  server.TakeOutput();
  ASSERT_TRUE(server.Feed(RawPeer::Data(9, "x")).ok());
  std::string wu;
  wire::AppendWindowUpdate(&wu, 11, 5);  // updates for unknown streams: ignored
  ASSERT_TRUE(server.Feed(wu).ok());
  EXPECT_EQ(Rsts(server.TakeOutput()), (std::vector<std::pair<uint32_t, uint32_t>>{{9, 2}}));
  EXPECT_TRUE(server.TakeEvents().empty());
}

TEST(SpdySession, DataAfterFinResetsTheStream) {
  Session server(Session::Role::kServer);
  server.TakeOutput();
  RawPeer peer;
  ASSERT_TRUE(server.Feed(peer.SynStream(1, {{"streamtype", "stdin"}}, wire::kFlagFin)).ok());
  ASSERT_TRUE(server.Feed(RawPeer::Data(1, "x")).ok());
  auto ev = server.TakeEvents();
  ASSERT_EQ(Types(ev), (std::vector<Type>{Type::kStreamOpened, Type::kFin, Type::kReset}));
  EXPECT_TRUE(ev[0].fin);
  EXPECT_EQ(ev[2].status, RstStatus::kStreamAlreadyClosed);
  EXPECT_EQ(Rsts(server.TakeOutput()), (std::vector<std::pair<uint32_t, uint32_t>>{{1, 9}}));
}

TEST(SpdySession, UnknownControlFramesAreIgnored) {
  Session server(Session::Role::kServer);
  server.TakeOutput();
  RawPeer peer;
  std::string cred("\x80\x03\x00\x0a\x00\x00\x00\x03xyz", 11);  // CREDENTIAL (type 10)
  ASSERT_TRUE(server.Feed(cred + peer.SynStream(1, {{"a", "b"}})).ok());
  EXPECT_EQ(Types(server.TakeEvents()), std::vector<Type>{Type::kStreamOpened});
}

TEST(SpdySession, PrefaceAnnouncesOurWindows) {
  Limits l;
  l.initial_window = 1000;
  l.max_streams = 7;
  Session server(Session::Role::kServer, l);
  auto f = Frames(server.TakeOutput());
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].h.type, wire::kSettings);
  EXPECT_EQ(f[0].U32(0), 2u);
  EXPECT_EQ(f[0].U32(4), wire::kSettingMaxConcurrentStreams);
  EXPECT_EQ(f[0].U32(8), 7u);
  EXPECT_EQ(f[0].U32(12), wire::kSettingInitialWindowSize);
  EXPECT_EQ(f[0].U32(16), 1000u);
  EXPECT_EQ(f[1].h.type, wire::kWindowUpdate);
  EXPECT_EQ(f[1].U32(0), 0u);
  EXPECT_EQ(f[1].U32(4), (1u << 20) - (64u << 10));
}

}  // namespace
}  // namespace kcr::streaming::spdy
