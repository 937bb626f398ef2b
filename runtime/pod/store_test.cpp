#include "runtime/pod/store.h"

#include <gtest/gtest.h>

namespace kcr::runtime {
namespace {

class PodStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open(":memory:");
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    auto s = PodStore::Open(*db_);
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }
  SandboxRecord Pod(const std::string& name) {
    SandboxRecord s;
    s.id = NewId();
    s.name = name;
    s.ns = "default";
    s.uid = "u-" + name;
    s.name_key = name + "_default_u-" + name + "_0";
    s.labels = {{"app", name}};
    s.config = std::string("\0\1binary\xff", 9);
    return s;
  }
  std::unique_ptr<Database> db_;
  std::unique_ptr<PodStore> store_;
};

TEST_F(PodStoreTest, IdsAreRandomHex64) {
  std::string a = NewId(), b = NewId();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST_F(PodStoreTest, RoundTripAndPrefixes) {
  auto p = Pod("web");
  ASSERT_TRUE(store_->AddSandbox(p).ok());
  auto got = store_->GetSandbox(p.id.substr(0, 8));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->id, p.id);
  EXPECT_EQ(got->labels, p.labels);
  EXPECT_EQ(got->config, p.config);  // opaque bytes survive
  EXPECT_EQ(store_->GetSandbox("ffffffffffff").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetSandbox("not-hex").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetSandbox("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PodStoreTest, AmbiguousPrefixIsRefused) {
  auto a = Pod("a"), b = Pod("b");
  a.id = "ab" + a.id.substr(2);
  b.id = "ab" + b.id.substr(2);
  ASSERT_TRUE(store_->AddSandbox(a).ok());
  ASSERT_TRUE(store_->AddSandbox(b).ok());
  EXPECT_EQ(store_->GetSandbox("ab").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->GetSandbox(a.id).ok());
}

TEST_F(PodStoreTest, NameIsReservedOnce) {
  auto p = Pod("web");
  ASSERT_TRUE(store_->AddSandbox(p).ok());
  auto dup = Pod("web");
  Status st = store_->AddSandbox(dup);
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find(p.id), absl::string_view::npos) << st;
  EXPECT_EQ(store_->ListSandboxes().size(), 1u);  // the first is untouched
}

TEST_F(PodStoreTest, ContainersBelongToSandboxes) {
  auto p = Pod("web");
  ASSERT_TRUE(store_->AddSandbox(p).ok());
  ContainerRecord c;
  c.id = NewId();
  c.sandbox_id = p.id;
  c.name = "nginx";
  c.name_key = "nginx_web_default_u-web_0";
  ASSERT_TRUE(store_->AddContainer(c).ok());
  ContainerRecord orphan = c;
  orphan.id = NewId();
  orphan.sandbox_id = NewId();
  orphan.name_key = "x";
  EXPECT_EQ(store_->AddContainer(orphan).code(), absl::StatusCode::kNotFound);
  c.state = ContainerState::kExited;
  c.exit_code = 137;
  c.reason = "OOMKilled";
  ASSERT_TRUE(store_->UpdateContainer(c).ok());
  auto got = store_->GetContainer(c.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, ContainerState::kExited);
  EXPECT_EQ(got->exit_code, 137);
  EXPECT_EQ(got->reason, "OOMKilled");
  EXPECT_EQ(store_->RemoveSandbox(p.id).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->RemoveContainer(c.id).ok());
  ASSERT_TRUE(store_->RemoveContainer(c.id).ok());  // idempotent
  ASSERT_TRUE(store_->RemoveSandbox(p.id).ok());
  EXPECT_TRUE(store_->ListSandboxes().empty());
  EXPECT_EQ(store_->UpdateSandbox(p).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kcr::runtime
