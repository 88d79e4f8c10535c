// Small status-propagation macros; Debian's abseil (20220623) ships none.
#ifndef SIGSHIM_PKG_BASE_STATUS_MACROS_H_
#define SIGSHIM_PKG_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SIGSHIM_CONCAT_INNER_(a, b) a##b
#define SIGSHIM_CONCAT_(a, b) SIGSHIM_CONCAT_INNER_(a, b)

// Returns from the enclosing function with `expr`'s status when it is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status sigshim_status_ = (expr);       \
    if (!sigshim_status_.ok()) return sigshim_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status on error, else moves the value into `lhs`.
// Expands to several statements: use it inside braces, never as the body of an unbraced if.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  SIGSHIM_ASSIGN_OR_RETURN_IMPL_(SIGSHIM_CONCAT_(sigshim_statusor_, __LINE__), lhs, rexpr)

#define SIGSHIM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // SIGSHIM_PKG_BASE_STATUS_MACROS_H_
