// Custom resources against a CRD version's openAPIV3Schema (a structural
// schema), the way kube-apiserver's apiextensions-apiserver treats them:
// decoding prunes unknown fields, drops nulls the schema neither allows nor
// defaults, then applies defaults; the strategy then validates with
// kube-openapi semantics and checks embedded-resource and list-type
// invariants. Messages, cause reasons and field paths follow the real
// server's wording, because tests compare kubectl output against a cluster.
//
// Not done here, by design or for now:
//  - x-kubernetes-validations (CEL rules) are ignored: neither compiled nor
//    evaluated, on objects or on CRDs;
//  - ObjectMeta inside embedded resources is kept as is, not coerced or
//    validated (the root metadata is the API server's business);
//  - validation ratcheting on update; every write is validated in full;
//  - formats email, uri, isbn*, creditcard are accepted unchecked; int32,
//    int64, float and double are not validated (the server strips them too).
#pragma once

#include <string>
#include <vector>

#include "sim/api_error.h"

namespace kubesim {

struct SchemaResult {
  std::vector<FieldCause> errors;  // validation failures, in the server's order and wording
  // Paths of pruned fields ("spec.foo", "spec.list[0].bar"), sorted as the
  // server sorts them for strict-field-validation warnings and errors.
  std::vector<std::string> unknown_fields;
};

// Prunes unknown fields, drops disallowed nulls, applies defaults, then
// validates `obj` in place against `schema` (the openAPIV3Schema object).
// The root's apiVersion, kind and metadata are never pruned.
SchemaResult apply_schema(json& obj, const json& schema);

// Checks a CRD version's schema itself, as CRD create/update does: structural
// invariants (types everywhere, nothing forbidden inside allOf/anyOf/oneOf/not,
// metadata restrictions), defaults that are pruned and valid against their own
// schema, and the OpenAPI subset CRDs accept (list types, no uniqueItems, ...).
// `path_prefix` names the schema, e.g. "spec.versions[0].schema.openAPIV3Schema";
// causes carry fields like "<prefix>.properties[spec].type".
std::vector<FieldCause> check_structural_schema(const json& schema, const std::string& path_prefix);

}  // namespace kubesim
