#include "pkg/registry/url.h"

#include "gtest/gtest.h"

namespace sigshim::registry {
namespace {

TEST(Url, ParsesAbsoluteHttpAndHttps) {
  absl::StatusOr<Url> url = ParseUrl("HTTPS://registry.example.com:5000/v2/a/b?x=1#frag");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->authority, "registry.example.com:5000");
  EXPECT_EQ(url->path_and_query, "/v2/a/b?x=1");
  EXPECT_EQ(ParseUrl("http://h")->String(), "http://h/");
}

TEST(Url, RefusesOtherSchemesUserInfoAndControlCharacters) {
  EXPECT_FALSE(ParseUrl("ftp://h/x").ok());
  EXPECT_FALSE(ParseUrl("file:///etc/passwd").ok());
  EXPECT_FALSE(ParseUrl("/relative").ok());
  absl::StatusOr<Url> userinfo = ParseUrl("https://user:secret@h/x");
  ASSERT_FALSE(userinfo.ok());
  EXPECT_EQ(std::string(userinfo.status().message()).find("secret"), std::string::npos);
  EXPECT_FALSE(ParseUrl("https://h/x\r\nInjected: 1").ok());
}

TEST(Url, ResolvesEveryLocationForm) {
  Url base = *ParseUrl("https://r.example.com/v2/a/blobs/sha256:x?q=1");
  EXPECT_EQ(ResolveLocation(base, "https://cdn.example.com/b?sig=1")->String(), "https://cdn.example.com/b?sig=1");
  EXPECT_EQ(ResolveLocation(base, "//cdn.example.com/b")->String(), "https://cdn.example.com/b");
  EXPECT_EQ(ResolveLocation(base, "/other/path?z")->String(), "https://r.example.com/other/path?z");
  EXPECT_EQ(ResolveLocation(base, "sibling")->String(), "https://r.example.com/v2/a/blobs/sibling");
  EXPECT_EQ(ResolveLocation(base, "http://plain.example.com/")->scheme, "http");
  EXPECT_FALSE(ResolveLocation(base, "").ok());
  EXPECT_FALSE(ResolveLocation(base, "javascript:alert(1)").ok());
}

TEST(Url, RedactionDropsQueryAndUserInfo) {
  EXPECT_EQ(RedactUrl("https://u:p@cdn.example.com/blob?X-Amz-Signature=secret#f"), "https://cdn.example.com/blob");
  EXPECT_EQ(RedactUrl("https://h/x"), "https://h/x");
}

TEST(Url, EncodesReservedCharacters) {
  EXPECT_EQ(UrlEncode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
  EXPECT_EQ(UrlEncode("a-b_c.d~e"), "a-b_c.d~e");
}

TEST(Url, LoopbackHostsAreTheNameLocalhostAnd127Slash8AndIpv6One) {
  for (const char* host : {"localhost", "localhost:5000", "LocalHost:5000", "127.0.0.1", "127.0.0.1:5000",
                           "127.1.2.3:5000", "127.255.255.255", "[::1]", "[::1]:5000", "[0:0:0:0:0:0:0:1]:5000",
                           "[::ffff:7f00:1]:5000"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
}

TEST(Url, HostsThatOnlyResolveToLoopbackAreNotLoopback) {
  // The rule is on the host as written; nothing is resolved.
  for (const char* host : {"registry.example.com", "registry.example.com:5000", "localhost.", "localhost.:5000",
                           "localhost.localdomain", "my.localhost:5000", "127.1:5000", "127.0.1", "0x7f000001:5000",
                           "2130706433:5000", "127.0.0.01:5000", "127.0.0.1.nip.io:5000", "128.0.0.1:5000",
                           "10.0.0.1:5000", "0.0.0.0:5000", "[::]:5000", "[::2]:5000", "[::1", "[::1]x", "::1",
                           "ip6-localhost", ""}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace sigshim::registry
