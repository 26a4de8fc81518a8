"""Python's official kubernetes client against the stand-in: list namespaces and nodes,
server-side apply through the dynamic client, a typed create, and a 404 as ApiException.
Prints one JSON document with what it saw."""
import json
import sys

from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
api = client.ApiClient()
core = client.CoreV1Api(api)
out = {
    "namespaces": sorted(n.metadata.name for n in core.list_namespace().items),
    "nodes": [n.metadata.name for n in core.list_node().items],
    "version": client.VersionApi(api).get_code().git_version,
}
dyn = dynamic.DynamicClient(api)
cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-python", "namespace": "default"}, "data": {"lang": "python"}}
applied = cms.server_side_apply(body=body, field_manager="py", force_conflicts=True)
out["applied"] = applied.to_dict()["data"]
out["managers"] = [m["manager"] for m in applied.to_dict()["metadata"]["managedFields"]]
deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "py-web", "namespace": "default"},
       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "py"}},
                "template": {"metadata": {"labels": {"app": "py"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
out["deployment_generation"] = deployments.server_side_apply(body=dep, field_manager="py").metadata.generation
typed = client.AppsV1Api(api).read_namespaced_deployment("py-web", "default")
out["typed_strategy"] = typed.spec.strategy.type
try:
    core.read_namespace("nope")
except ApiException as e:
    out["missing"] = [e.status, json.loads(e.body)["reason"]]
print(json.dumps(out))
