// The name of a TOML value's type for error messages, shared by the readers of TOML files
// (pkg/config, pkg/registry's hosts.toml). Header-only: only code that already uses toml11
// includes it.
#ifndef SIGSHIM_PKG_BASE_TOML_TYPE_NAME_H_
#define SIGSHIM_PKG_BASE_TOML_TYPE_NAME_H_

#include <toml.hpp>

#include "absl/strings/string_view.h"

namespace sigshim {

// Returns "a boolean", "an integer", "a float", "a string", "an array", "a table", "empty" or
// "a date/time", to complete messages such as "x must be a string, not <TypeName>".
inline absl::string_view TomlTypeName(const toml::value& v) {
  switch (v.type()) {
    case toml::value_t::boolean:
      return "a boolean";
    case toml::value_t::integer:
      return "an integer";
    case toml::value_t::floating:
      return "a float";
    case toml::value_t::string:
      return "a string";
    case toml::value_t::array:
      return "an array";
    case toml::value_t::table:
      return "a table";
    case toml::value_t::empty:
      return "empty";
    default:
      return "a date/time";
  }
}

}  // namespace sigshim

#endif  // SIGSHIM_PKG_BASE_TOML_TYPE_NAME_H_
