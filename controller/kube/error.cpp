#include "controller/kube/error.h"

namespace frugal::kube {

std::string Error::to_string() const {
  if (transport) return "transport error: " + message;
  std::string out = std::to_string(http_status);
  if (!reason.empty()) out += " " + reason;
  if (!message.empty()) out += ": " + message;
  return out;
}

}  // namespace frugal::kube
