// CustomResourceDefinitions: validating one the way apiextensions-apiserver
// does, and turning its served versions into ResourceInfo so the registry
// can serve them.
#pragma once

#include <vector>

#include "sim/api_error.h"
#include "sim/resource.h"

namespace kubesim {

// Fills what the real server defaults in a CRD (listKind, singular,
// conversion strategy, per-version fields). Mutates `crd`.
void default_crd(json& crd);

// Field errors for an invalid CRD, with the real server's field paths.
std::vector<FieldCause> validate_crd(const json& crd);

// The served versions of a valid CRD as resources.
std::vector<ResourceInfo> crd_resources(const json& crd);

// The status the real CRD controllers would write once names are accepted:
// acceptedNames, storedVersions and the NamesAccepted/Established conditions.
json established_crd_status(const json& crd, const json& previous_status, const std::string& now);

}  // namespace kubesim
