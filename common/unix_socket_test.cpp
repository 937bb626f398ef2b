#include "common/unix_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "common/fs.h"

namespace kcr {

// A socket path beyond sun_path's 107 bytes still binds and connects.
TEST(UnixSocket, LongPaths) {
  std::string dir = fs::MakeTempDir("kcr-sock-test");
  std::string deep = dir + "/" + std::string(60, 'd') + "/" + std::string(60, 'e');
  ASSERT_TRUE(fs::MkdirAll(deep).ok());
  std::string path = deep + "/" + std::string(40, 's') + ".sock";
  ASSERT_GT(path.size(), 108u);
  UniqueFd srv(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(BindUnix(srv.get(), path).ok());
  ASSERT_EQ(::listen(srv.get(), 1), 0);
  UniqueFd cli(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(ConnectUnix(cli.get(), path).ok());
  UniqueFd other(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(ConnectUnix(other.get(), deep + "/nothing.sock").code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fs::RemoveAll(dir).ok());
}

}  // namespace kcr
