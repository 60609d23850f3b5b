// Errors from the Kubernetes API, as values: the HTTP status and the Status
// reason the server sent (or a transport failure), with named predicates so
// callers ask "is this a conflict?" rather than compare numbers.
#pragma once

#include <chrono>
#include <string>

#include "common/expected.h"

namespace frugal::kube {

struct Error {
  // 0 when no HTTP answer arrived (connection refused, timeout, TLS failure).
  int http_status = 0;
  std::string reason;   // metav1.StatusReason, e.g. "NotFound", "Conflict", "Expired"
  std::string message;  // the server's message or the transport's
  // Retry-After from the server (429/503), zero when absent.
  std::chrono::seconds retry_after{0};
  bool transport = false;  // true when the request never got an HTTP answer

  bool is_not_found() const { return http_status == 404; }
  bool is_already_exists() const { return http_status == 409 && reason == "AlreadyExists"; }
  bool is_conflict() const { return http_status == 409 && reason != "AlreadyExists"; }
  bool is_invalid() const { return http_status == 422; }
  bool is_bad_request() const { return http_status == 400; }
  bool is_unauthorized() const { return http_status == 401; }
  bool is_forbidden() const { return http_status == 403; }
  bool is_expired() const {  // 410 Gone: the resourceVersion was compacted
    return http_status == 410 || reason == "Expired" || reason == "Gone";
  }
  bool is_too_many_requests() const { return http_status == 429; }
  bool is_server_error() const { return http_status >= 500; }
  // Worth retrying the same request later: throttling, server trouble, or no answer.
  bool is_retryable() const {
    return transport || http_status == 429 || http_status == 500 || http_status == 502 ||
           http_status == 503 || http_status == 504;
  }
  std::string to_string() const;
};

template <class T>
using Result = frugal::Expected<T, Error>;
using frugal::Unexpected;

}  // namespace frugal::kube
