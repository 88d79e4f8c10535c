#include "pkg/verify/intoto.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pkg/base/status_macros.h"
#include "pkg/verify/strict_json.h"

namespace sigshim::verify {
namespace {

absl::Status Problem(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("in-toto statement: ", what));
}

}  // namespace

absl::StatusOr<InTotoStatement> ParseInTotoStatement(absl::string_view payload) {
  ASSIGN_OR_RETURN(nlohmann::json json,
                   internal::ParseStrictJson(payload, kMaxInTotoStatementBytes, "in-toto statement"));
  if (!json.is_object()) return Problem(absl::StrCat("must be a JSON object, is ", json.type_name()));
  InTotoStatement out;
  auto type = json.find("_type");
  if (type == json.end() || !type->is_string()) return Problem("_type is missing or not a string");
  out.type = type->get<std::string>();
  if (out.type != kInTotoStatementV1 && out.type != kInTotoStatementV01) {
    return Problem(absl::StrCat("_type \"", out.type.substr(0, 100), "\" is neither ", kInTotoStatementV1, " nor ",
                                kInTotoStatementV01));
  }
  auto predicate_type = json.find("predicateType");
  if (predicate_type == json.end() || !predicate_type->is_string() || predicate_type->get<std::string>().empty()) {
    return Problem("predicateType is missing, empty or not a string");
  }
  out.predicate_type = predicate_type->get<std::string>();
  auto predicate = json.find("predicate");
  if (predicate != json.end() && !predicate->is_null()) {
    if (!predicate->is_object()) return Problem(absl::StrCat("predicate must be an object, is ", predicate->type_name()));
    out.predicate_json = predicate->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  auto subjects = json.find("subject");
  if (subjects == json.end() || !subjects->is_array() || subjects->empty()) {
    return Problem("subject is missing, empty or not an array");
  }
  if (subjects->size() > kMaxInTotoSubjects) {
    return Problem(absl::StrCat("subject lists ", subjects->size(), " entries, more than the limit of ",
                                kMaxInTotoSubjects));
  }
  for (size_t i = 0; i < subjects->size(); ++i) {
    const nlohmann::json& s = (*subjects)[i];
    const std::string where = absl::StrCat("subject[", i, "]");
    if (!s.is_object()) return Problem(absl::StrCat(where, " must be an object"));
    InTotoSubject& subject = out.subjects.emplace_back();
    auto name = s.find("name");
    if (name != s.end() && !name->is_null()) {
      if (!name->is_string()) return Problem(absl::StrCat(where, ".name must be a string"));
      subject.name = name->get<std::string>();
    }
    auto digest = s.find("digest");
    if (digest == s.end() || !digest->is_object() || digest->empty()) {
      return Problem(absl::StrCat(where, ".digest is missing, empty or not an object"));
    }
    for (const auto& [algorithm, value] : digest->items()) {
      if (!value.is_string() || value.get<std::string>().empty()) {
        return Problem(absl::StrCat(where, ".digest.", algorithm.substr(0, 32), " must be a non-empty string"));
      }
      subject.digest[algorithm] = absl::AsciiStrToLower(value.get<std::string>());
    }
  }
  return out;
}

bool StatementHasSubject(const InTotoStatement& statement, absl::string_view digest) {
  const size_t colon = digest.find(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == digest.size()) return false;
  const std::string algorithm(digest.substr(0, colon));
  const std::string hex = absl::AsciiStrToLower(digest.substr(colon + 1));
  for (const InTotoSubject& subject : statement.subjects) {
    auto it = subject.digest.find(algorithm);
    if (it != subject.digest.end() && it->second == hex) return true;
  }
  return false;
}

std::string DescribeSubjects(const InTotoStatement& statement) {
  std::vector<std::string> digests;
  for (const InTotoSubject& subject : statement.subjects) {
    for (const auto& [algorithm, hex] : subject.digest) {
      if (digests.size() == 8) return absl::StrCat(absl::StrJoin(digests, ", "), ", …");
      digests.push_back(absl::StrCat(algorithm.substr(0, 16), ":", hex.substr(0, 128)));
    }
  }
  return absl::StrJoin(digests, ", ");
}

}  // namespace sigshim::verify
