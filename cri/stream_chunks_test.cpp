#include "cri/stream_chunks.h"

#include <gtest/gtest.h>

#include "api/api.pb.h"

namespace kcr::cri {
namespace {

struct FakeWriter {
  std::vector<::runtime::v1::StreamImagesResponse> sent;
  int refuse_after = -1;  // Write fails from this message on
  bool Write(const ::runtime::v1::StreamImagesResponse& m) {
    if (refuse_after >= 0 && static_cast<int>(sent.size()) >= refuse_after) return false;
    sent.push_back(m);
    return true;
  }
};

TEST(WriteChunked, EveryItemOnceInBoundedMessages) {
  std::vector<int> items(250);
  for (int i = 0; i < 250; i++) items[static_cast<size_t>(i)] = i;
  FakeWriter w;
  auto add = [](::runtime::v1::StreamImagesResponse& m, int i) {
    if (i % 10 == 9) return false;  // a filter drops one in ten
    m.add_images()->set_id(std::to_string(i));
    return true;
  };
  ASSERT_TRUE(WriteChunked<::runtime::v1::StreamImagesResponse>(nullptr, &w, items, 100, add).ok());
  ASSERT_EQ(w.sent.size(), 3u);  // 225 items: 100, 100, 25
  EXPECT_EQ(w.sent[0].images_size(), 100);
  EXPECT_EQ(w.sent[2].images_size(), 25);
  std::set<std::string> seen;
  for (const auto& m : w.sent)
    for (const auto& img : m.images()) EXPECT_TRUE(seen.insert(img.id()).second) << img.id() << " sent twice";
  EXPECT_EQ(seen.size(), 225u);
  // Nothing to send: no message at all.
  FakeWriter empty;
  ASSERT_TRUE(WriteChunked<::runtime::v1::StreamImagesResponse>(nullptr, &empty, std::vector<int>{}, 100, add).ok());
  EXPECT_TRUE(empty.sent.empty());
  // A client gone mid-stream: CANCELLED, no more writes.
  FakeWriter gone;
  gone.refuse_after = 1;
  EXPECT_EQ(WriteChunked<::runtime::v1::StreamImagesResponse>(nullptr, &gone, items, 100, add).error_code(),
            grpc::StatusCode::CANCELLED);
  EXPECT_EQ(gone.sent.size(), 1u);
}

}  // namespace
}  // namespace kcr::cri
