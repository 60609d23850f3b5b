#include "sim/table.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using Clock = std::chrono::system_clock;

const Clock::time_point kNow = *parse_rfc3339("2024-05-01T12:00:00Z");

ResourceInfo make(std::string group, std::string version, std::string resource, std::string kind,
                  bool namespaced = true) {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = std::move(version);
  r.resource = std::move(resource);
  r.list_kind = kind + "List";
  r.kind = std::move(kind);
  r.namespaced = namespaced;
  return r;
}

json meta(const std::string& name, const std::string& created = "2024-05-01T11:55:00Z") {
  return {{"name", name}, {"namespace", "default"}, {"creationTimestamp", created}};
}

std::vector<std::string> column_names(const json& table) {
  std::vector<std::string> out;
  for (const auto& c : table["columnDefinitions"]) out.push_back(c["name"]);
  return out;
}

json cells(const ResourceInfo& info, const json& obj) {
  return to_table(info, {obj}, "None", kNow)["rows"][0]["cells"];
}

TEST(HumanDuration, MatchesApimachineryDurationHumanDuration) {
  EXPECT_EQ(human_duration(seconds(-2)), "<invalid>");
  EXPECT_EQ(human_duration(seconds(-1)), "0s");
  EXPECT_EQ(human_duration(seconds(0)), "0s");
  EXPECT_EQ(human_duration(seconds(5)), "5s");
  EXPECT_EQ(human_duration(seconds(119)), "119s");
  EXPECT_EQ(human_duration(seconds(120)), "2m");
  EXPECT_EQ(human_duration(seconds(123)), "2m3s");
  EXPECT_EQ(human_duration(seconds(599)), "9m59s");
  EXPECT_EQ(human_duration(minutes(10)), "10m");
  EXPECT_EQ(human_duration(minutes(179)), "179m");
  EXPECT_EQ(human_duration(hours(3)), "3h");
  EXPECT_EQ(human_duration(hours(3) + minutes(4)), "3h4m");
  EXPECT_EQ(human_duration(hours(8)), "8h");
  EXPECT_EQ(human_duration(hours(47)), "47h");
  EXPECT_EQ(human_duration(hours(48)), "2d");
  EXPECT_EQ(human_duration(hours(51)), "2d3h");
  EXPECT_EQ(human_duration(hours(24 * 8)), "8d");
  EXPECT_EQ(human_duration(hours(24 * 729)), "729d");
  EXPECT_EQ(human_duration(hours(24 * 730)), "2y");
  EXPECT_EQ(human_duration(hours(24 * 760)), "2y30d");
  EXPECT_EQ(human_duration(hours(24 * 365 * 9)), "9y");
}

TEST(ParseRfc3339, AcceptsFractionsAndOffsetsRejectsGarbage) {
  EXPECT_EQ(*parse_rfc3339("2024-05-01T13:00:00+01:00"), kNow);
  EXPECT_EQ(*parse_rfc3339("2024-05-01T11:59:59.500000Z"), kNow - std::chrono::milliseconds(500));
  EXPECT_FALSE(parse_rfc3339("2024-05-01 12:00:00").has_value());
  EXPECT_FALSE(parse_rfc3339("2024-02-30T00:00:00Z").has_value());
  EXPECT_FALSE(parse_rfc3339("").has_value());
  EXPECT_EQ(age_since("2024-05-01T11:59:30Z", kNow), "30s");
  EXPECT_EQ(age_since(nullptr, kNow), "<unknown>");
}

TEST(IncludeObject, AcceptsOnlyTheServerValues) {
  EXPECT_TRUE(is_valid_include_object(""));
  EXPECT_TRUE(is_valid_include_object("None"));
  EXPECT_TRUE(is_valid_include_object("Metadata"));
  EXPECT_TRUE(is_valid_include_object("Object"));
  EXPECT_FALSE(is_valid_include_object("object"));
}

ResourceInfo training_jobs() {
  ResourceInfo r = make("ml.frugal.dev", "v1alpha1", "trainingjobs", "TrainingJob");
  r.custom = true;
  r.printer_columns = {
      {"Phase", "string", "", "", ".status.phase", 0},
      {"Workers", "integer", "", "", ".spec.workers", 0},
      {"Spot", "boolean", "", "", ".spec.capacity.spot", 1},
      {"Cost", "number", "", "Dollars so far", ".status.cost", 0},
      {"Ready", "string", "", "", R"(.status.conditions[?(@.type=="Ready")].status)", 0},
      {"Started", "date", "", "", ".status.startTime", 0},
      {"Images", "string", "", "", ".spec.images[*]", 0},
  };
  return r;
}

TEST(CustomResourceTable, ColumnsAreNamePlusPrinterColumns) {
  json t = to_table(training_jobs(), {}, "", kNow);
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Phase", "Workers", "Spot", "Cost",
                                                       "Ready", "Started", "Images"}));
  EXPECT_EQ(t["columnDefinitions"][0]["format"], "name");
  EXPECT_EQ(t["columnDefinitions"][1], json::parse(R"({"name": "Phase", "type": "string",
    "format": "", "priority": 0,
    "description": "Custom resource definition column (in JSONPath format): .status.phase"})"));
  EXPECT_EQ(t["columnDefinitions"][3]["priority"], 1);
  EXPECT_EQ(t["columnDefinitions"][4]["description"], "Dollars so far");
  EXPECT_TRUE(t["rows"].empty());
}

TEST(CustomResourceTable, CellsAreTypedAndMissingValuesAreNull) {
  json obj = {{"metadata", meta("llama")},
              {"spec", {{"workers", 4}, {"capacity", {{"spot", true}}}, {"images", {"a", "b"}}}},
              {"status",
               {{"phase", "Running"},
                {"cost", 12},
                {"startTime", "2024-05-01T09:00:00Z"},
                {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  EXPECT_EQ(cells(training_jobs(), obj),
            json::parse(R"(["llama", "Running", 4, true, 12.0, "True", "3h", "a"])"));
  json bare = {{"metadata", meta("bare")}};
  EXPECT_EQ(cells(training_jobs(), bare),
            json::parse(R"(["bare", null, null, null, null, null, null, null])"));
}

TEST(CustomResourceTable, ValuesOfTheWrongTypeBecomeNullAndBadDatesInvalid) {
  json obj = {{"metadata", meta("odd")},
              {"spec", {{"workers", "four"}, {"capacity", {{"spot", "yes"}}}}},
              {"status", {{"phase", 3}, {"cost", "cheap"}, {"startTime", "yesterday"}}}};
  EXPECT_EQ(cells(training_jobs(), obj),
            json::parse(R"(["odd", "3", null, null, null, null, "<invalid>", null])"));
  obj["spec"]["workers"] = 2.9;
  EXPECT_EQ(cells(training_jobs(), obj)[2], 2);
}

TEST(CustomResourceTable, WithoutPrinterColumnsShowsNameAndAge) {
  ResourceInfo r = make("ml.frugal.dev", "v1alpha1", "teams", "Team", false);
  r.custom = true;
  json t = to_table(r, {{{"metadata", meta("ml-research")}}}, "None", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Age"}));
  EXPECT_EQ(t["columnDefinitions"][1]["type"], "date");
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["ml-research", "5m"])"));
}

TEST(TableRows, IncludeObjectControlsTheRowObject) {
  json obj = {{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", meta("cfg")},
              {"data", {{"a", "1"}}}};
  ResourceInfo cm = make("", "v1", "configmaps", "ConfigMap");
  EXPECT_TRUE(to_table(cm, {obj}, "None", kNow)["rows"][0]["object"].is_null());
  json partial = {{"kind", "PartialObjectMetadata"},
                  {"apiVersion", "meta.k8s.io/v1"},
                  {"metadata", meta("cfg")}};
  EXPECT_EQ(to_table(cm, {obj}, "Metadata", kNow)["rows"][0]["object"], partial);
  EXPECT_EQ(to_table(cm, {obj}, "", kNow)["rows"][0]["object"], partial);
  EXPECT_EQ(to_table(cm, {obj}, "Object", kNow)["rows"][0]["object"], obj);
}

TEST(BuiltinTable, NamespacesShowPhase) {
  ResourceInfo ns = make("", "v1", "namespaces", "Namespace", false);
  json t =
      to_table(ns, {{{"metadata", meta("team-a")}, {"status", {{"phase", "Active"}}}}}, "", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Status", "Age"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["team-a", "Active", "5m"])"));
}

TEST(BuiltinTable, NodesShowReadinessRolesAndWideColumns) {
  ResourceInfo nodes = make("", "v1", "nodes", "Node", false);
  json node = {{"metadata",
                {{"name", "n1"},
                 {"creationTimestamp", "2024-04-29T12:00:00Z"},
                 {"labels",
                  {{"node-role.kubernetes.io/worker", ""},
                   {"node-role.kubernetes.io/control-plane", ""},
                   {"kubernetes.io/role", "spot"}}}}},
               {"spec", {{"unschedulable", true}}},
               {"status",
                {{"conditions", {{{"type", "Ready"}, {"status", "False"}}}},
                 {"addresses", {{{"type", "InternalIP"}, {"address", "10.0.0.5"}}}},
                 {"nodeInfo", {{"kubeletVersion", "v1.32.0"}, {"osImage", "Debian"}}}}}};
  json t = to_table(nodes, {node}, "", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Status", "Roles", "Age", "Version",
                                                       "Internal-IP", "External-IP", "OS-Image",
                                                       "Kernel-Version", "Container-Runtime"}));
  EXPECT_EQ(t["columnDefinitions"][5]["priority"], 1);
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["n1", "NotReady,SchedulingDisabled",
    "control-plane,spot,worker", "2d", "v1.32.0", "10.0.0.5", "<none>", "Debian", "<unknown>",
    "<unknown>"])"));
  json bare = {{"metadata", meta("n2")}};
  EXPECT_EQ(cells(nodes, bare)[1], "Unknown");
  EXPECT_EQ(cells(nodes, bare)[2], "<none>");
}

ResourceInfo pods() { return make("", "v1", "pods", "Pod"); }

json running_pod() {
  return json::parse(R"({
    "metadata": {"name": "web-0", "namespace": "default", "creationTimestamp": "2024-05-01T11:00:00Z"},
    "spec": {"nodeName": "n1", "containers": [{"name": "app"}, {"name": "log"}]},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.1.0.5"}],
      "conditions": [{"type": "Ready", "status": "False"}],
      "containerStatuses": [
        {"name": "app", "ready": true, "restartCount": 2, "state": {"running": {}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:50:00Z"}}},
        {"name": "log", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
  })");
}

TEST(BuiltinTable, PodsShowReadyStatusRestartsAndWideColumns) {
  json t = to_table(pods(), {running_pod()}, "", kNow);
  EXPECT_EQ(column_names(t),
            (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                                      "Nominated Node", "Readiness Gates"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"j(["web-0", "1/2", "CrashLoopBackOff",
    "2 (10m ago)", "60m", "10.1.0.5", "n1", "<none>", "<none>"])j"));
  EXPECT_FALSE(t["rows"][0].contains("conditions"));
}

TEST(BuiltinTable, PodStatusReflectsPhaseInitAndDeletion) {
  json pending = {{"metadata", meta("p")},
                  {"spec", {{"containers", {{{"name", "a"}}}}}},
                  {"status", {{"phase", "Pending"}}}};
  EXPECT_EQ(cells(pods(), pending)[1], "0/1");
  EXPECT_EQ(cells(pods(), pending)[2], "Pending");
  EXPECT_EQ(cells(pods(), pending)[3], "0");

  json init = pending;
  init["spec"]["initContainers"] = {{{"name", "setup"}}};
  init["status"]["initContainerStatuses"] = {
      {{"name", "setup"}, {"state", {{"waiting", {{"reason", "PodInitializing"}}}}}}};
  EXPECT_EQ(cells(pods(), init)[2], "Init:0/1");
  init["status"]["initContainerStatuses"][0]["state"] = {{"terminated", {{"exitCode", 2}}}};
  EXPECT_EQ(cells(pods(), init)[2], "Init:ExitCode:2");

  json deleting = running_pod();
  deleting["metadata"]["deletionTimestamp"] = "2024-05-01T11:59:00Z";
  EXPECT_EQ(cells(pods(), deleting)[2], "Terminating");
}

TEST(BuiltinTable, FinishedPodsCarryTheCompletedRowCondition) {
  json done = {{"metadata", meta("job-x")},
               {"spec", {{"containers", {{{"name", "a"}}}}}},
               {"status",
                {{"phase", "Succeeded"},
                 {"containerStatuses",
                  {{{"name", "a"},
                    {"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}}}}}}};
  json row = to_table(pods(), {done}, "", kNow)["rows"][0];
  EXPECT_EQ(row["cells"][2], "Completed");
  EXPECT_EQ(row["conditions"], json::parse(R"([{"type": "Completed", "status": "True",
    "reason": "Succeeded", "message": "The pod has completed successfully."}])"));
  done["metadata"]["deletionTimestamp"] = "2024-05-01T11:59:00Z";
  EXPECT_EQ(cells(pods(), done)[2], "Completed");  // terminal pods are not "Terminating"
}

TEST(BuiltinTable, SidecarInitContainersCountTowardsReady) {
  json pod = json::parse(R"({
    "metadata": {"name": "s", "creationTimestamp": "2024-05-01T11:55:00Z"},
    "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
      "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
      "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
  })");
  json c = cells(pods(), pod);
  EXPECT_EQ(c[1], "2/2");
  EXPECT_EQ(c[2], "Running");
  EXPECT_EQ(c[3], "1");
}

TEST(BuiltinTable, ServicesShowTypeIpsAndPorts) {
  ResourceInfo svc = make("", "v1", "services", "Service");
  json s = {{"metadata", meta("web")},
            {"spec",
             {{"type", "NodePort"},
              {"clusterIPs", {"10.96.0.10"}},
              {"selector", {{"app", "web"}, {"tier", "fe"}}},
              {"ports",
               {{{"port", 80}, {"nodePort", 30080}, {"protocol", "TCP"}},
                {{"port", 53}, {"protocol", "UDP"}}}}}}};
  json t = to_table(svc, {s}, "", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Type", "Cluster-IP", "External-IP",
                                                       "Port(s)", "Age", "Selector"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["web", "NodePort", "10.96.0.10", "<none>",
    "80:30080/TCP,53/UDP", "5m", "app=web,tier=fe"])"));
  json lb = {{"metadata", meta("lb")},
             {"spec", {{"type", "LoadBalancer"}, {"clusterIP", "10.96.0.11"}}}};
  EXPECT_EQ(cells(svc, lb),
            json::parse(
                R"(["lb", "LoadBalancer", "10.96.0.11", "<pending>", "<none>", "5m", "<none>"])"));
}

TEST(BuiltinTable, EndpointsListThreeAddressesThenCountTheRest) {
  ResourceInfo ep = make("", "v1", "endpoints", "Endpoints");
  json e = json::parse(R"({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:55:00Z"},
    "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}],
                 "ports": [{"port": 80}]}]})");
  EXPECT_EQ(cells(ep, e),
            json::parse(R"(["web", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...", "5m"])"));
  EXPECT_EQ(cells(ep, {{"metadata", meta("none")}})[1], "<none>");
}

TEST(BuiltinTable, ConfigMapsAndSecretsCountTheirData) {
  ResourceInfo cm = make("", "v1", "configmaps", "ConfigMap");
  json c = {{"metadata", meta("cfg")},
            {"data", {{"a", "1"}, {"b", "2"}}},
            {"binaryData", {{"c", "AA=="}}}};
  EXPECT_EQ(cells(cm, c), json::parse(R"(["cfg", 3, "5m"])"));
  ResourceInfo secrets = make("", "v1", "secrets", "Secret");
  json s = {{"metadata", meta("tls")},
            {"type", "kubernetes.io/tls"},
            {"data", {{"tls.crt", "x"}, {"tls.key", "y"}}}};
  json t = to_table(secrets, {s}, "", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Type", "Data", "Age"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["tls", "kubernetes.io/tls", 2, "5m"])"));
}

TEST(BuiltinTable, CoreEventsShowLastSeenObjectAndWideColumns) {
  ResourceInfo events = make("", "v1", "events", "Event");
  json e = json::parse(R"({"metadata": {"name": "web-0.17a", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"},
    "reason": "BackOff", "message": "Back-off restarting failed container\n", "type": "Warning",
    "source": {"component": "kubelet", "host": "n1"},
    "firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:58:00Z", "count": 7})");
  json t = to_table(events, {e}, "", kNow);
  EXPECT_EQ(column_names(t),
            (std::vector<std::string>{"Last Seen", "Type", "Reason", "Object", "Subobject",
                                      "Source", "Message", "First Seen", "Count", "Name"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["2m", "Warning", "BackOff", "pod/web-0",
    "spec.containers{app}", "kubelet, n1", "Back-off restarting failed container", "60m", 7,
    "web-0.17a"])"));
}

TEST(BuiltinTable, EventsV1EventsMapOntoTheSameColumns) {
  ResourceInfo events = make("events.k8s.io", "v1", "events", "Event");
  json e = json::parse(R"({"metadata": {"name": "tj.1"},
    "regarding": {"kind": "TrainingJob", "name": "llama"}, "reason": "Scheduled",
    "note": "Placed on spot", "type": "Normal", "reportingController": "frugal",
    "reportingInstance": "frugal-0", "eventTime": "2024-05-01T11:59:00.123456Z"})");
  // 59.877s ago: whole seconds are truncated, as Go's int(d.Seconds()) does.
  EXPECT_EQ(cells(events, e), json::parse(R"(["59s", "Normal", "Scheduled", "trainingjob/llama",
    "", "frugal, frugal-0", "Placed on spot", "59s", 1, "tj.1"])"));
  e["series"] = {{"count", 5}, {"lastObservedTime", "2024-05-01T11:59:50.000000Z"}};
  json c = cells(events, e);
  EXPECT_EQ(c[0], "10s");
  EXPECT_EQ(c[8], 5);
}

TEST(BuiltinTable, DeploymentsShowReadyOverDesiredAndSelector) {
  ResourceInfo deploy = make("apps", "v1", "deployments", "Deployment");
  json d = json::parse(R"({"metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:55:00Z"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]},
                           {"key": "canary", "operator": "DoesNotExist"}]},
      "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.25"}, {"name": "log", "image": "fluent"}]}}},
    "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}})");
  json t = to_table(deploy, {d}, "", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Ready", "Up-to-date", "Available",
                                                       "Age", "Containers", "Images", "Selector"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"j(["web", "2/3", 3, 2, "5m", "app,log",
    "nginx:1.25,fluent", "app=web,!canary,tier in (be,fe)"])j"));
  EXPECT_EQ(cells(deploy, {{"metadata", meta("fresh")}})[1], "0/1");
}

TEST(BuiltinTable, LeasesShowTheHolder) {
  ResourceInfo leases = make("coordination.k8s.io", "v1", "leases", "Lease");
  json l = {{"metadata", meta("frugal-leader")}, {"spec", {{"holderIdentity", "frugal-0"}}}};
  EXPECT_EQ(cells(leases, l), json::parse(R"(["frugal-leader", "frugal-0", "5m"])"));
}

TEST(BuiltinTable, EndpointSlicesShowAddressTypePortsAndEndpoints) {
  ResourceInfo slices = make("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice");
  json s =
      json::parse(R"({"metadata": {"name": "web-x", "creationTimestamp": "2024-05-01T11:55:00Z"},
    "addressType": "IPv4", "ports": [{"port": 80}, {"name": "metrics"}, {}],
    "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]})");
  EXPECT_EQ(cells(slices, s), json::parse(R"(["web-x", "IPv4", "80,metrics,*",
    "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "5m"])"));
  EXPECT_EQ(cells(slices, {{"metadata", meta("empty")}}),
            json::parse(R"(["empty", "", "<unset>", "<unset>", "5m"])"));
}

TEST(BuiltinTable, CustomResourceDefinitionsShowCreatedAtAsRfc3339) {
  ResourceInfo crds = make("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                           "CustomResourceDefinition", false);
  json t = to_table(crds,
                    {{{"metadata",
                       {{"name", "trainingjobs.ml.frugal.dev"},
                        {"creationTimestamp", "2024-05-01T13:00:00+01:00"}}}}},
                    "", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Created At"}));
  EXPECT_EQ(t["columnDefinitions"][1]["type"], "date");
  EXPECT_EQ(t["rows"][0]["cells"],
            json::parse(R"(["trainingjobs.ml.frugal.dev", "2024-05-01T12:00:00Z"])"));
}

TEST(BuiltinTable, KindsWithoutAPrinterGetTheDefaultConvertor) {
  ResourceInfo roles = make("rbac.authorization.k8s.io", "v1", "roles", "Role");
  json t =
      to_table(roles, {{{"metadata", meta("reader")}}, {{"metadata", {{"name", "x"}}}}}, "", kNow);
  EXPECT_EQ(column_names(t), (std::vector<std::string>{"Name", "Created At"}));
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["reader", "2024-05-01T11:55:00Z"])"));
  EXPECT_EQ(t["rows"][1]["cells"], json::parse(R"(["x", "0001-01-01T00:00:00Z"])"));
}

}  // namespace
}  // namespace kubesim
