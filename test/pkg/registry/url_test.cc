#include "pkg/registry/url.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
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
  EXPECT_THAT(std::string(ParseUrl("/relative").status().message()), ::testing::HasSubstr("is not absolute"));
  EXPECT_THAT(std::string(ParseUrl("https://h:99999/x").status().message()), ::testing::HasSubstr("Port number"));
  absl::StatusOr<Url> userinfo = ParseUrl("https://user:secret@h/x");
  ASSERT_FALSE(userinfo.ok());
  EXPECT_EQ(std::string(userinfo.status().message()).find("secret"), std::string::npos);
  EXPECT_FALSE(ParseUrl("https://h/x\r\nInjected: 1").ok());
  EXPECT_FALSE(ParseUrl(std::string("https://h/x\0y", 13)).ok());
  EXPECT_FALSE(ParseUrl("https://h:99999/x").ok());
  EXPECT_FALSE(ParseUrl("https://h:port/x").ok());
  EXPECT_FALSE(ParseUrl("https://[::1/x").ok());
  EXPECT_FALSE(ParseUrl(absl::StrCat("https://h/", std::string(8192, 'a'))).ok());
}

// libcurl reads one and three slashes after the scheme as two, and the first path segment as the
// host; Go's net/url (containerd) reads an empty host. Refused here.
TEST(Url, RefusesAUrlWithoutTwoSlashesOrWithAnEmptyHost) {
  for (const char* text : {"https:///x", "https:/h/x", "https:h/x", "https://", "https://:5000/x"}) {
    absl::StatusOr<Url> url = ParseUrl(text);
    EXPECT_FALSE(url.ok()) << text << " -> " << url->String();
  }
}

TEST(Url, NormalisesAsLibcurlConnects) {
  EXPECT_EQ(ParseUrl("https://h/v2/a/../b")->path_and_query, "/v2/b");
  EXPECT_EQ(ParseUrl("http://127.1:5000/v2/")->authority, "127.0.0.1:5000");
  EXPECT_EQ(ParseUrl("https://[::1]:5000/v2/")->authority, "[::1]:5000");
  EXPECT_EQ(ParseUrl("https://[fe80::1%25eth0]:5000/v2/")->authority, "[fe80::1%25eth0]:5000");
  EXPECT_EQ(ParseUrl("https://Registry.Example.com:443/v2/")->authority, "Registry.Example.com:443");
  // A '?' is kept even with nothing after it: hosts.toml refuses a server with a query.
  EXPECT_EQ(ParseUrl("https://h/x?")->path_and_query, "/x?");
}

TEST(Url, ResolvesEveryLocationForm) {
  Url base = *ParseUrl("https://r.example.com/v2/a/blobs/sha256:x?q=1");
  EXPECT_EQ(ResolveLocation(base, "https://cdn.example.com/b?sig=1")->String(), "https://cdn.example.com/b?sig=1");
  EXPECT_EQ(ResolveLocation(base, "//cdn.example.com/b")->String(), "https://cdn.example.com/b");
  EXPECT_EQ(ResolveLocation(base, "/other/path?z")->String(), "https://r.example.com/other/path?z");
  EXPECT_EQ(ResolveLocation(base, "sibling")->String(), "https://r.example.com/v2/a/blobs/sibling");
  EXPECT_EQ(ResolveLocation(base, "http://plain.example.com/")->scheme, "http");
  EXPECT_FALSE(ResolveLocation(base, "").ok());
  EXPECT_EQ(ResolveLocation(base, "../up")->String(), "https://r.example.com/v2/a/up");
  EXPECT_EQ(ResolveLocation(base, "?only")->String(), "https://r.example.com/v2/a/blobs/sha256:x?only");
  EXPECT_EQ(ResolveLocation(base, "HTTPS://CDN.example.com/b#frag")->String(), "https://CDN.example.com/b");
  EXPECT_FALSE(ResolveLocation(base, "").ok());
  EXPECT_FALSE(ResolveLocation(base, "javascript:alert(1)").ok());
  EXPECT_FALSE(ResolveLocation(base, "ftp://cdn.example.com/b").ok());
  EXPECT_FALSE(ResolveLocation(base, "file:///etc/passwd").ok());
}

TEST(Url, RefusesLocationsLibcurlWouldRepairOrEncode) {
  Url base = *ParseUrl("https://r.example.com/v2/a/blobs/sha256:x");
  // libcurl would percent-encode the space and resolve "///x" to host x.
  for (const char* location : {"sib ling", "/a\tb", "///cdn.example.com/b", "https:///cdn.example.com/b",
                               "https:/cdn.example.com/b", "//", "//user:pw@cdn.example.com/b"}) {
    absl::StatusOr<Url> url = ResolveLocation(base, location);
    EXPECT_FALSE(url.ok()) << location << " -> " << url->String();
  }
  absl::StatusOr<Url> userinfo = ResolveLocation(base, "https://u:secret@cdn.example.com/b");
  ASSERT_FALSE(userinfo.ok());
  EXPECT_EQ(std::string(userinfo.status().message()).find("secret"), std::string::npos);
}

TEST(Url, RedactionDropsQueryAndUserInfo) {
  EXPECT_EQ(RedactUrl("https://u:p@cdn.example.com/blob?X-Amz-Signature=secret#f"), "https://cdn.example.com/blob");
  EXPECT_EQ(RedactUrl("https://h/x"), "https://h/x");
  // As written (libcurl would write 127.0.0.1), and text libcurl cannot parse is redacted too.
  EXPECT_EQ(RedactUrl("https://127.1:5000/v2/"), "https://127.1:5000/v2/");
  EXPECT_EQ(RedactUrl("https://u:p@h/x y?token=secret"), "https://h/x y");
  EXPECT_EQ(RedactUrl("not a url?token=secret"), "not a url");
  EXPECT_EQ(RedactUrl("https://h/\n"), "https://h/\\n");
}

TEST(Url, EncodesReservedCharacters) {
  EXPECT_EQ(*UrlEncode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
  EXPECT_EQ(*UrlEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(*UrlEncode(""), "");
  EXPECT_EQ(*UrlEncode(std::string("a\0b c", 5)), "a%00b%20c");
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
