#include "sim/api_error.h"

namespace kubesim {

json ApiError::to_status() const {
  json status = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"metadata", json::object()},
                 {"status", "Failure"},
                 {"message", message},
                 {"reason", reason},
                 {"code", code}};
  json details = json::object();
  if (!details_name.empty()) details["name"] = details_name;
  if (!details_group.empty()) details["group"] = details_group;
  if (!details_kind.empty()) details["kind"] = details_kind;
  if (!causes.empty()) {
    json list = json::array();
    for (const auto& c : causes) {
      list.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    }
    details["causes"] = std::move(list);
  }
  if (retry_after_seconds > 0) details["retryAfterSeconds"] = retry_after_seconds;
  if (!details.empty()) status["details"] = std::move(details);
  return status;
}

namespace {
std::string qualified(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}
}  // namespace

ApiError bad_request(std::string message) {
  return ApiError{.code = 400, .reason = "BadRequest", .message = std::move(message)};
}

ApiError not_found(const std::string& group, const std::string& resource, const std::string& name) {
  return ApiError{.code = 404,
                  .reason = "NotFound",
                  .message = qualified(group, resource) + " \"" + name + "\" not found",
                  .details_name = name,
                  .details_group = group,
                  .details_kind = resource};
}

ApiError not_found_path() {
  return ApiError{.code = 404,
                  .reason = "NotFound",
                  .message = "the server could not find the requested resource"};
}

ApiError already_exists(const std::string& group, const std::string& resource,
                        const std::string& name) {
  return ApiError{.code = 409,
                  .reason = "AlreadyExists",
                  .message = qualified(group, resource) + " \"" + name + "\" already exists",
                  .details_name = name,
                  .details_group = group,
                  .details_kind = resource};
}

ApiError conflict(const std::string& group, const std::string& resource, const std::string& name,
                  const std::string& why) {
  return ApiError{.code = 409,
                  .reason = "Conflict",
                  .message = "Operation cannot be fulfilled on " + qualified(group, resource) +
                             " \"" + name + "\": " + why,
                  .details_name = name,
                  .details_group = group,
                  .details_kind = resource};
}

std::string format_invalid_message(const std::string& group, const std::string& kind,
                                   const std::string& name, const std::vector<FieldCause>& causes) {
  std::string msg = (group.empty() ? kind : kind + "." + group) + " \"" + name + "\" is invalid: ";
  auto one = [](const FieldCause& c) {
    return c.field.empty() ? c.message : c.field + ": " + c.message;
  };
  if (causes.size() == 1) return msg + one(causes[0]);
  msg += "[";
  for (size_t i = 0; i < causes.size(); ++i) {
    if (i) msg += ", ";
    msg += one(causes[i]);
  }
  return msg + "]";
}

ApiError invalid(const std::string& group, const std::string& kind, const std::string& name,
                 std::vector<FieldCause> causes) {
  ApiError e{.code = 422,
             .reason = "Invalid",
             .message = format_invalid_message(group, kind, name, causes),
             .details_name = name,
             .details_group = group,
             .details_kind = kind};
  e.causes = std::move(causes);
  return e;
}

ApiError expired(std::string message) {
  return ApiError{.code = 410, .reason = "Expired", .message = std::move(message)};
}

ApiError method_not_allowed(std::string message) {
  return ApiError{.code = 405, .reason = "MethodNotAllowed", .message = std::move(message)};
}

ApiError unsupported_media_type(std::string message) {
  return ApiError{.code = 415, .reason = "UnsupportedMediaType", .message = std::move(message)};
}

ApiError unauthorized() {
  return ApiError{.code = 401, .reason = "Unauthorized", .message = "Unauthorized"};
}

ApiError too_many_requests(int retry_after_seconds) {
  ApiError e{.code = 429,
             .reason = "TooManyRequests",
             .message = "the server has received too many requests and has asked us to try again "
                        "later"};
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

ApiError internal_error(std::string message) {
  return ApiError{.code = 500, .reason = "InternalError", .message = std::move(message)};
}

ApiError unprocessable(std::string message) {
  return ApiError{.code = 422, .reason = "Invalid", .message = std::move(message)};
}

}  // namespace kubesim
