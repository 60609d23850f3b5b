// Defaulting and validation for the built-in kinds kubesim serves: the subset
// of pkg/apis/*/validation and defaults that clients notice (required fields,
// name formats, selector/template agreement, the defaults kubectl shows).
#pragma once

#include <vector>

#include "sim/api_error.h"
#include "sim/resource.h"

namespace kubesim {

// Fills server-side defaults for built-ins (no-op for custom resources).
void default_builtin(const ResourceInfo& info, json& obj);

// Field errors for an invalid built-in object; `old` is null on create.
std::vector<FieldCause> validate_builtin(const ResourceInfo& info, const json& obj,
                                         const json* old);

}  // namespace kubesim
