// Server-side printing: the meta.k8s.io/v1 Table kube-apiserver returns for
// Accept: application/json;as=Table;v=v1;g=meta.k8s.io, which `kubectl get`
// renders as is. Columns and cells follow the real printers:
//  - custom resources: Name plus the CRD's additionalPrinterColumns (or Age
//    when it declares none), as apiextensions' tableconvertor does;
//  - built-ins: the column sets of pkg/printers/internalversion/printers.go,
//    generated as the server does with Wide on (priority>0 columns included;
//    kubectl hides them unless -o wide);
//  - anything else: Name and Created At, the generic default convertor.
// Pure functions; the clock is a parameter.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/resource.h"

namespace kubesim {

using json = nlohmann::json;

// k8s.io/apimachinery/pkg/util/duration.HumanDuration: "45s", "2m3s", "10m",
// "3h4m", "10h", "2d3h", "20d", "2y30d", "9y"; "0s" for up to 1s in the
// future, "<invalid>" beyond.
std::string human_duration(std::chrono::seconds d);

// RFC 3339 timestamps as the API writes them ("2024-05-01T10:00:00Z",
// fractional seconds and offsets accepted); nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// How old a timestamp field is, as printed in Age columns: "<unknown>" when
// absent or unparsable.
std::string age_since(const json& timestamp, std::chrono::system_clock::time_point now);

// includeObject values the server accepts (empty means the default, Metadata).
bool is_valid_include_object(std::string_view include_object);

// The Table for `objects` (already in info's version). include_object: "None"
// (row.object null), "Metadata" or "" (PartialObjectMetadata), "Object" (the
// object itself). metadata is left empty for the caller to fill with
// resourceVersion/continue.
json to_table(const ResourceInfo& info, const std::vector<json>& objects,
              std::string_view include_object, std::chrono::system_clock::time_point now);

}  // namespace kubesim
