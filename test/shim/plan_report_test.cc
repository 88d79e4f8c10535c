// What `sigshim plan` prints and how it exits, from a report made by hand: only a running container
// refused under the new configuration makes exit 1; "newly refused" is allowed now and refused
// under the new one; the table and the JSON name every row, both decisions and why.
#include "shim/plan_report.h"

#include <string>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sigshim::shim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

PlanDecision Allowed(const std::string& source) {
  PlanDecision d;
  d.decision = "allow";
  d.allowed = true;
  d.source = source;
  d.policy = "prod";
  d.identity = "release";
  d.reason = "stored verdict valid under the current policy";
  return d;
}

PlanDecision Refused(const std::string& reason) {
  PlanDecision d;
  d.decision = "deny";
  d.allowed = false;
  d.source = "registry";
  d.policy = "prod";
  d.reason = reason;
  return d;
}

PlanRow Container(const std::string& name, PlanDecision now, PlanDecision next) {
  PlanRow row;
  row.image = "registry.test/app:v1";
  row.image_id = "sha256:aaaa";
  row.namespace_name = "prod";
  row.pod = "web";
  row.container = name;
  row.container_id = name + "-id";
  row.now = std::move(now);
  row.next = std::move(next);
  return row;
}

PlanRow Image(const std::string& image, PlanDecision now, PlanDecision next) {
  PlanRow row;
  row.image = image;
  row.image_id = "sha256:bbbb";
  row.now = std::move(now);
  row.next = std::move(next);
  return row;
}

PlanReport Report() {
  PlanReport report;
  report.current_config = "/etc/sigshim/config.toml";
  report.new_config = "new.toml";
  report.runtime_endpoint = "/run/containerd/containerd.sock";
  return report;
}

TEST(PlanReport, NothingRefusedExitsZero) {
  PlanReport report = Report();
  report.containers.push_back(Container("server", Allowed("verdict"), Allowed("verdict")));
  report.images.push_back(Image("registry.test/app:v1", Allowed("verdict"), Allowed("verdict")));
  EXPECT_EQ(PlanExitCode(report), kPlanNothingRefused);
  EXPECT_THAT(FormatPlan(report), HasSubstr("would newly be refused: 0 running container(s), 0 image(s)"));
  EXPECT_THAT(FormatPlan(report), Not(HasSubstr("newly refused: container")));
}

TEST(PlanReport, AnImageRefusedButNoRunningContainerExitsZero) {
  PlanReport report = Report();
  report.containers.push_back(Container("server", Allowed("verdict"), Allowed("verdict")));
  report.images.push_back(Image("registry.test/old:v1", Allowed("verdict"), Refused("no signatures")));
  EXPECT_EQ(PlanExitCode(report), kPlanNothingRefused);
  const std::string text = FormatPlan(report);
  EXPECT_THAT(text, HasSubstr("newly refused: image registry.test/old:v1: no signatures"));
  EXPECT_THAT(text, HasSubstr("would newly be refused: 0 running container(s), 1 image(s)"));
}

TEST(PlanReport, ARunningContainerRefusedUnderTheNewConfigurationExitsOneEvenWhenRefusedNow) {
  PlanReport report = Report();
  report.containers.push_back(Container("legacy", Refused("no signatures"), Refused("no signatures")));
  EXPECT_EQ(PlanExitCode(report), kPlanRefusesRunning);
  EXPECT_FALSE(report.containers[0].newly_refused());
  EXPECT_THAT(FormatPlan(report), HasSubstr("running containers refused under the new configuration: 1"));
}

TEST(PlanReport, ANewlyRefusedContainerIsNamedWithWhyItsStoredVerdictNoLongerHolds) {
  PlanReport report = Report();
  PlanDecision next = Refused("RegistryUnavailable: registry.test unreachable");
  next.decision = "error";
  next.stored_verdict = "registry.test/app@sha256:cccc: key sha256:dddd is revoked ([revocation] keys)";
  report.containers.push_back(Container("server", Allowed("verdict"), next));
  ASSERT_TRUE(report.containers[0].newly_refused());
  EXPECT_EQ(PlanExitCode(report), kPlanRefusesRunning);
  const std::string text = FormatPlan(report);
  EXPECT_THAT(text, HasSubstr("newly refused: container prod/web/server (registry.test/app:v1): stored verdict no "
                              "longer valid (registry.test/app@sha256:cccc: key sha256:dddd is revoked "
                              "([revocation] keys)); RegistryUnavailable: registry.test unreachable"));
  EXPECT_THAT(text, HasSubstr("IMAGE"));
  EXPECT_THAT(text, HasSubstr("web/server registry.test/app:v1"));

  nlohmann::json json = nlohmann::json::parse(FormatPlanJson(report), nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json["exit_code"], kPlanRefusesRunning);
  EXPECT_EQ(json["running_refused"], 1);
  EXPECT_EQ(json["newly_refused"]["containers"],
            nlohmann::json::array({"prod/web/server (registry.test/app:v1)"}));
  const nlohmann::json& row = json["containers"][0];
  EXPECT_EQ(row["namespace"], "prod");
  EXPECT_EQ(row["container_id"], "server-id");
  EXPECT_EQ(row["now"]["allowed"], true);
  EXPECT_EQ(row["now"]["source"], "verdict");
  EXPECT_EQ(row["new"]["decision"], "error");
  EXPECT_EQ(row["new"]["stored_verdict"], next.stored_verdict);
  EXPECT_EQ(row["newly_refused"], true);
}

TEST(PlanReport, ExceptionsAndUnenforcedDenialsAreShownAsSuch) {
  PlanReport report = Report();
  PlanDecision excepted = Allowed("exception");
  excepted.exception = "vendor-x";
  PlanDecision audited = Refused("no signatures (not enforced: policy \"prod\" enforces from 2027-03-01T00:00:00Z)");
  audited.allowed = true;
  audited.enforced = false;
  report.containers.push_back(Container("vendor", excepted, audited));
  EXPECT_EQ(PlanExitCode(report), kPlanNothingRefused);
  const std::string text = FormatPlan(report);
  EXPECT_THAT(text, HasSubstr("allow (exception vendor-x)"));
  EXPECT_THAT(text, HasSubstr("deny (not enforced)"));
}

TEST(PlanReport, ControlCharactersInNamesStayOnOneLine) {
  PlanReport report = Report();
  report.images.push_back(Image("registry.test/evil\nnewly refused: container x", Allowed("verdict"),
                                Refused("no\nsignatures")));
  const std::string text = FormatPlan(report);
  EXPECT_THAT(text, HasSubstr("registry.test/evil\\nnewly refused: container x"));
  EXPECT_THAT(text, Not(HasSubstr("\nnewly refused: container x")));
}

}  // namespace
}  // namespace sigshim::shim
