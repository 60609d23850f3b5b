// The errors kubesim answers with, shaped like the real API server's
// metav1.Status so that kubectl and client libraries decode them unchanged.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/expected.h"

namespace kubesim {

using json = nlohmann::json;

// One invalid field, as in a Status' details.causes.
struct FieldCause {
  std::string reason;  // e.g. "FieldValueRequired", "FieldValueNotSupported"
  std::string message;
  std::string field;  // e.g. "spec.workers"
};

struct ApiError {
  int code = 500;
  std::string reason;  // metav1.StatusReason: NotFound, Conflict, Invalid, Expired...
  std::string message;
  // details: kind/name/group of the object concerned and, for Invalid, causes.
  std::string details_name;
  std::string details_group;
  std::string details_kind;
  std::vector<FieldCause> causes;
  int retry_after_seconds = 0;  // sets details.retryAfterSeconds and the Retry-After header

  json to_status() const;
};

template <class T>
using Result = frugal::Expected<T, ApiError>;
using frugal::Unexpected;

// Builders for the errors the real server returns, with its message wording.
ApiError bad_request(std::string message);
ApiError not_found(const std::string& group, const std::string& resource, const std::string& name);
ApiError not_found_path();  // "the server could not find the requested resource"
ApiError already_exists(const std::string& group, const std::string& resource,
                        const std::string& name);
ApiError conflict(const std::string& group, const std::string& resource, const std::string& name,
                  const std::string& why);
ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 std::vector<FieldCause> causes);
ApiError expired(std::string message);  // 410 Gone, reason Expired
ApiError method_not_allowed(std::string message);
ApiError unsupported_media_type(std::string message);
ApiError unauthorized();
ApiError too_many_requests(int retry_after_seconds);
ApiError internal_error(std::string message);
ApiError unprocessable(std::string message);  // 422 without causes

// Turns causes into the real server's message: `Kind.group "name" is invalid: [a, b]`.
std::string format_invalid_message(const std::string& group, const std::string& kind,
                                   const std::string& name, const std::vector<FieldCause>& causes);

}  // namespace kubesim
