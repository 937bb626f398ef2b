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

TEST(RegistryClient, CredentialKeySeparatesCredentials) {
  AuthConfig none, a, b, t;
  a.username = "kcr";
  a.password = "x";
  b.username = "kcr";
  b.password = "y";
  t.registry_token = "kcr:x";
  EXPECT_EQ(CredentialKey(none), "");
  EXPECT_NE(CredentialKey(a), "");
  EXPECT_EQ(CredentialKey(a), CredentialKey(a));
  EXPECT_NE(CredentialKey(a), CredentialKey(b));
  EXPECT_NE(CredentialKey(a), CredentialKey(t));
  EXPECT_EQ(CredentialKey(a).rfind("sha256:", 0), 0u);  // a digest, not the secret
}

}  // namespace kcr::images
