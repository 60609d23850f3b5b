// The JSONPath dialect Kubernetes uses for CRD printer columns, scale
// subresource paths and kubectl's custom columns (k8s.io/client-go/util/jsonpath):
//   .spec.replicas   .status.conditions[0].type   .spec.containers[*].image
//   .status.conditions[?(@.type=="Ready")].status   .metadata.labels['app']
//   .metadata.labels.app\.kubernetes\.io/name   ..name   [1:3]  [0,2]  ['a','b']
// Evaluation is lenient the way the CRD table convertor runs it
// (AllowMissingKeys): a missing key, an index out of range or a type mismatch
// yields no result instead of an error. Pure functions, no state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sim/api_error.h"

namespace kubesim {

using json = nlohmann::json;

// Every value `path` selects in `obj`, in document order. A path that does not
// parse selects nothing (check it first with jsonpath_parse_error).
std::vector<json> jsonpath_eval(const json& obj, std::string_view path);

// Empty when `path` parses as a JSONPath expression, else why not.
std::string jsonpath_parse_error(std::string_view path);

// The check the CRD API applies to additionalPrinterColumns[].jsonPath: not
// empty, starts with '.', and parses. The error is a 400 whose message is the
// reason alone (e.g. "must be a simple json path starting with ."), for the
// caller to wrap into a field cause.
Result<void> jsonpath_validate(std::string_view path);

// One value as the jsonpath printer prints it (what a CRD "string" column
// shows): strings raw, numbers and booleans as Go prints them, objects and
// arrays as compact JSON.
std::string jsonpath_print_value(const json& value);

// A kubectl custom-columns cell: "<none>" when nothing matched, otherwise
// every value in Go's %v form (strings raw, maps as map[k:v]) joined by ",".
std::string jsonpath_cell_text(const std::vector<json>& values);

}  // namespace kubesim
