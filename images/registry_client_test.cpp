#include "images/registry_client.h"

#include <gtest/gtest.h>

namespace kcr::images {

TEST(RegistryClient, EndpointOrder) {
  RegistryOptions o;
  o.hosts["docker.io"].mirrors = {"http://127.0.0.1:5000/", "mirror.example"};
  o.hosts["registry.k8s.io"].server = "http://127.0.0.1:5000";
  RegistryClient c(o);
  EXPECT_EQ(c.Endpoints("docker.io"),
            (std::vector<std::string>{"http://127.0.0.1:5000", "https://mirror.example", "https://registry-1.docker.io"}));
  EXPECT_EQ(c.Endpoints("registry.k8s.io"), (std::vector<std::string>{"http://127.0.0.1:5000"}));
  EXPECT_EQ(c.Endpoints("quay.io"), (std::vector<std::string>{"https://quay.io"}));
  EXPECT_EQ(c.Endpoints("127.0.0.1:5001"), (std::vector<std::string>{"http://127.0.0.1:5001"}));
  EXPECT_EQ(c.Endpoints("localhost:5000"), (std::vector<std::string>{"http://localhost:5000"}));
}

TEST(RegistryClient, BasicCredentials) {
  AuthConfig a;
  EXPECT_EQ(BasicCredentials(a), "");
  a.auth = "a2NyOmtjci10ZXN0";
  EXPECT_EQ(BasicCredentials(a), "kcr:kcr-test");
  a.username = "u";
  a.password = "p";
  EXPECT_EQ(BasicCredentials(a), "u:p");
}

}  // namespace kcr::images
