// Header blocks against zlib used directly (as any other SPDY/3 peer would
// use it), the dictionary's identity, and hostile blocks.
#include "streaming/spdy/header_block.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "streaming/spdy/frame.h"

namespace kcr::streaming::spdy {
namespace {

// A peer's compressor: zlib's default window and level with the SPDY
// dictionary, sync-flushed per block, as Go's compress/zlib writer does.
class PeerDeflate {
 public:
  PeerDeflate() {
    EXPECT_EQ(deflateInit(&z_, Z_BEST_COMPRESSION), Z_OK);
    std::string_view d = HeaderDictionary();
    EXPECT_EQ(deflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(d.data()), d.size()), Z_OK);
  }
  ~PeerDeflate() { deflateEnd(&z_); }
  std::string Block(std::string_view in) {
    std::string out(in.size() + 1024, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = in.size();
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = out.size();
    EXPECT_EQ(deflate(&z_, Z_SYNC_FLUSH), Z_OK);
    EXPECT_EQ(z_.avail_in, 0u);
    out.resize(out.size() - z_.avail_out);
    return out;
  }

 private:
  z_stream z_{};
};

TEST(SpdyHeaderBlock, DictionaryIsTheSpecs) {
  std::string_view d = HeaderDictionary();
  EXPECT_EQ(d.size(), 1423u);
  // The dictionary id zlib puts in the stream header: what every SPDY/3
  // implementation checks.
  EXPECT_EQ(adler32(adler32(0, nullptr, 0), reinterpret_cast<const Bytef*>(d.data()), d.size()), 0xe3c6a7c2u);
}

TEST(SpdyHeaderBlock, EncodeLayoutAndLowerCase) {
  auto b = EncodeBlock({{"StreamType", "stdin"}, {"v", std::string("a\0b", 3)}});
  ASSERT_TRUE(b.ok()) << b.status();
  std::string want;
  wire::AppendU32(&want, 2);
  wire::AppendU32(&want, 10);
  want += "streamtype";
  wire::AppendU32(&want, 5);
  want += "stdin";
  wire::AppendU32(&want, 1);
  want += "v";
  wire::AppendU32(&want, 3);
  want += std::string("a\0b", 3);
  EXPECT_EQ(*b, want);
  EXPECT_FALSE(EncodeBlock({{"a", "1"}, {"A", "2"}}).ok());  // spdystream drops the connection on this
  EXPECT_FALSE(EncodeBlock({{"", "1"}}).ok());
}

TEST(SpdyHeaderBlock, PeerCompressedBlocksDecodeInOneStream) {
  PeerDeflate peer;
  HeaderInflater ours(256 << 10);
  for (int i = 0; i < 3; i++) {
    Headers h = {{"streamtype", i == 0 ? "error" : "stdout"}, {"requestid", std::to_string(i)}};
    auto plain = EncodeBlock(h);
    ASSERT_TRUE(plain.ok());
    auto got = ours.Inflate(peer.Block(*plain));
    ASSERT_TRUE(got.ok()) << got.status();
    auto decoded = DecodeBlock(*got, 16);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, h);
  }
}

TEST(SpdyHeaderBlock, OurBlocksInflateWithPlainZlib) {
  HeaderDeflater ours;
  z_stream z{};
  ASSERT_EQ(inflateInit(&z), Z_OK);
  for (int i = 0; i < 3; i++) {
    auto plain = EncodeBlock({{"x-stream-protocol-version", "v4.channel.k8s.io"}, {"n", std::to_string(i)}});
    ASSERT_TRUE(plain.ok());
    auto c = ours.Compress(*plain);
    ASSERT_TRUE(c.ok()) << c.status();
    std::string out(4096, '\0');
    z.next_in = reinterpret_cast<Bytef*>(c->data());
    z.avail_in = c->size();
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = out.size();
    int rc = inflate(&z, Z_SYNC_FLUSH);
    if (rc == Z_NEED_DICT) {
      ASSERT_EQ(i, 0);
      std::string_view d = HeaderDictionary();
      ASSERT_EQ(inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()), d.size()), Z_OK);
      rc = inflate(&z, Z_SYNC_FLUSH);
    }
    ASSERT_EQ(rc, Z_OK);
    EXPECT_EQ(z.avail_in, 0u);
    out.resize(out.size() - z.avail_out);
    EXPECT_EQ(out, *plain);
  }
  inflateEnd(&z);
}

TEST(SpdyHeaderBlock, ZipBombStopsAtTheLimit) {
  PeerDeflate peer;
  // 16 MiB of zeros compress to about 16 KiB; the inflater must give up at
  // its 256 KiB limit, not produce them.
  std::string zeros(16 << 20, '\0');
  std::string bomb = peer.Block(zeros);
  ASSERT_LT(bomb.size(), 1u << 20);
  HeaderInflater ours(256 << 10);
  auto got = ours.Inflate(bomb);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("limit"), std::string::npos) << got.status();
  EXPECT_FALSE(ours.Inflate("x").ok());  // the stream is lost for good
}

TEST(SpdyHeaderBlock, CorruptStreamIsAnError) {
  HeaderInflater ours(1 << 16);
  EXPECT_FALSE(ours.Inflate(std::string(40, '\xff')).ok());
}

TEST(SpdyHeaderBlock, HostileBlocksAreRefused) {
  std::string b;
  wire::AppendU32(&b, 0xffffffff);  // pair count far past the data
  EXPECT_FALSE(DecodeBlock(b, 1u << 30).ok());
  EXPECT_FALSE(DecodeBlock(b, 128).ok());
  std::string many;
  wire::AppendU32(&many, 129);
  for (int i = 0; i < 129; i++) {
    wire::AppendU32(&many, 1);
    many.push_back(static_cast<char>('a' + i % 26));
    wire::AppendU32(&many, 0);
  }
  auto r = DecodeBlock(many, 128);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("129 pairs"), std::string::npos) << r.status();
  std::string name_too_long;
  wire::AppendU32(&name_too_long, 1);
  wire::AppendU32(&name_too_long, 0x7fffffff);  // a length past the block
  name_too_long += "abc";
  EXPECT_FALSE(DecodeBlock(name_too_long, 128).ok());
  std::string trailing = *EncodeBlock({{"a", "b"}}) + "x";
  EXPECT_FALSE(DecodeBlock(trailing, 128).ok());
  std::string dup;
  wire::AppendU32(&dup, 2);
  for (const char* n : {"Host", "host"}) {
    wire::AppendU32(&dup, 4);
    dup += n;
    wire::AppendU32(&dup, 0);
  }
  EXPECT_FALSE(DecodeBlock(dup, 128).ok());
  EXPECT_FALSE(DecodeBlock("", 128).ok());
}

}  // namespace
}  // namespace kcr::streaming::spdy
