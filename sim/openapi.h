// OpenAPI v3 documents for /openapi/v3 and /openapi/v3/<api|apis/G>/V, built
// from the resources kubesim serves right now. What kubectl 1.32 reads there:
//  - `kubectl explain`: the GV document of the resource, the x-kubernetes-
//    group-version-kind of its list/get operation, then the components.schemas
//    entry carrying that GVK (descriptions, types, nested properties).
//  - server-side field validation (QueryParamVerifierV3): whether the PATCH
//    operation tagged with the object's GVK lists a `fieldValidation` query
//    parameter; if so kubectl sends fieldValidation=Strict instead of
//    validating on the client.
//  - `kubectl apply`'s patch computation: whether that PATCH operation's
//    requestBody accepts application/strategic-merge-patch+json (see the
//    comment on kPatchContentTypes in openapi.cpp for why kubesim says no).
// Pure functions of the resource list.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/resource.h"

namespace kubesim {

using json = nlohmann::json;

// "api/v1" or "apis/ml.frugal.dev/v1alpha1": the key of a GV in the index and
// the path of its document under /openapi/v3/.
std::string openapi_v3_path(const std::string& group, const std::string& version);

// The components.schemas name of a kind, as the real server names it:
// io.k8s.api.core.v1.Pod, io.k8s.api.apps.v1.Deployment,
// io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition,
// and for custom resources the reversed group: dev.frugal.ml.v1alpha1.TrainingJob.
std::string openapi_definition_name(const ResourceInfo& info);

// The document of one served group/version. Empty `paths` when the GV is not
// served (the caller answers 404 instead).
json openapi_v3_group_version(const std::string& group, const std::string& version,
                              const std::vector<ResourceInfo>& resources);

// A stable hex digest of a document, for the index's ?hash= (it changes
// whenever the document does, so clients can cache documents by URL).
std::string openapi_content_hash(const json& doc);

// /openapi/v3: {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}, ...}}
// with one entry per served group/version.
json openapi_v3_index(const std::vector<ResourceInfo>& resources);

}  // namespace kubesim
