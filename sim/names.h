// Object names, uids and timestamps as the real API server makes and checks
// them (k8s.io/apimachinery/pkg/util/validation, names.SimpleNameGenerator).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace kubesim {

// RFC 1123 subdomain: at most 253 chars of [a-z0-9.-], alphanumeric at both ends.
bool is_dns1123_subdomain(std::string_view s);
// RFC 1123 label: at most 63 chars of [a-z0-9-], alphanumeric at both ends.
bool is_dns1123_label(std::string_view s);
// RFC 1035 label: as 1123 but starting with a letter.
bool is_dns1035_label(std::string_view s);

// The real server's messages for names that fail those checks.
std::string dns1123_subdomain_message();
std::string dns1123_label_message();

// A random version 4 UUID.
std::string new_uid();
// generateName + 5 characters from the same alphabet the real server uses.
std::string generate_name(const std::string& prefix);

// RFC 3339 in UTC with second precision, as metav1.Time serialises; with
// set_timestamp_fraction_digits(n > 0), with n digits of fractional seconds
// (still RFC 3339: client-go and kubectl read them).
std::string rfc3339(std::chrono::system_clock::time_point t);
// Process-wide, 0-9, default 0. A time-scaled cluster sets 6: at x100 one
// real second is 100 sim seconds, and whole-second timestamps would blur
// every duration measured from them (a pod's cost) by that much.
void set_timestamp_fraction_digits(int digits);
int timestamp_fraction_digits();
// Parses what rfc3339() writes (and a fractional/offset variant); false on garbage.
bool parse_rfc3339(const std::string& s, std::chrono::system_clock::time_point& out);

}  // namespace kubesim
