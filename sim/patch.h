// The three patch formats the Kubernetes API server accepts on PATCH, applied
// to objects held as plain JSON. They follow the real server closely because
// kubectl and client libraries compute their patches against its behaviour:
// kubectl apply sends strategic merge patches for built-in kinds and relies on
// list entries being merged by key, not replaced.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "sim/api_error.h"

namespace kubesim {

using json = nlohmann::json;

enum class PatchType { Merge, Json, StrategicMerge, Apply };

// Maps a PATCH request's Content-Type to its patch type; parameters after ';'
// are ignored. nullopt for anything else (the server answers 415).
std::optional<PatchType> patch_type_from_content_type(std::string_view content_type);

// RFC 7386 JSON merge patch. Cannot fail: every JSON value is a valid patch.
json merge_patch(const json& target, const json& patch);

// RFC 6902 JSON patch. A malformed patch document is 400 BadRequest; an
// operation that does not apply (failed test, missing path, index out of
// range) is 422 Invalid, as in the real server.
Result<json> json_patch(const json& target, const json& ops);

// Kubernetes strategic merge patch for built-in kinds: maps merge, lists whose
// field carries patchStrategy "merge" in k8s.io/api merge by their key or as
// sets, other lists replace; the $patch, $retainKeys, $setElementOrder and
// $deleteFromPrimitiveList directives are honoured and never stored.
// `kind` picks the merge key where a field name alone is ambiguous (ports).
Result<json> strategic_merge_patch(const json& target, const json& patch, const std::string& kind);

}  // namespace kubesim
