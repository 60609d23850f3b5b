// Base64 (RFC 4648) for the places Kubernetes uses it: certificate data in
// kubeconfigs (standard alphabet, padded, as Go's base64.StdEncoding) and
// list continue tokens (URL-safe alphabet, unpadded, as Go's
// base64.RawURLEncoding in the apiserver's etcd3 storage).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kubesim {

// Standard alphabet with '=' padding.
std::string base64_encode(std::string_view bytes);
// Inverse of base64_encode. Like Go's decoder, '\r' and '\n' are skipped and
// unused trailing bits are not checked; any other character outside the
// alphabet, or missing/misplaced padding, gives nullopt.
std::optional<std::string> base64_decode(std::string_view text);

// URL-safe alphabet ('-' and '_'), no padding.
std::string base64url_encode(std::string_view bytes);
// Inverse of base64url_encode; padding is rejected, as Go's RawURLEncoding does.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace kubesim
