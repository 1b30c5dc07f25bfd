#!/usr/bin/env python3
"""The Helm chart (charts/datenlord) and the plain manifests (deploy/datenlord.yaml) from one
source: the chart's templates, rendered by the small subset of Helm's template language they
keep to — `{{ .Values.a.b }}`, `{{ .Values.a.b | quote }}`, `{{ .Release.Namespace }}`, and
`{{- if .Values.x }}` / `{{- else }}` / `{{- end }}` on lines of their own. Anything else in a
template is an error here, so the chart stays renderable by both Helm and this script.

    chart.py render [--namespace NS] [--set KEY=VALUE ...]   print the manifests
    chart.py write                                           regenerate deploy/datenlord.yaml
    chart.py check                                           the test: deploy/ is the chart's
                                                             rendering, and every object is
                                                             one the Kubernetes API takes
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "datenlord"
MANIFESTS = ROOT / "deploy" / "datenlord.yaml"
NAMESPACE = "datenlord"
DRIVER = "csi.datenlord.io"

# Template order in the plain manifests: what others refer to comes first.
ORDER = [
    "secret.yaml", "rbac.yaml", "csidriver.yaml", "storageclass.yaml", "snapshotclass.yaml",
    "etcd.yaml", "controller.yaml", "node.yaml", "cache-nodes.yaml", "scheduler-extender.yaml",
]

TAG = re.compile(r"{{(-?)\s*(.*?)\s*(-?)}}")
CONTROL = re.compile(r"^\s*{{-\s*(if\s+(\S+)|else|end)\s*}}\s*$")


class ChartError(Exception):
    pass


def load_yaml():
    try:
        import yaml  # noqa: PLC0415
    except ImportError:
        sys.exit("chart.py needs PyYAML: apt-get install python3-yaml (or pip install pyyaml)")
    return yaml


def lookup(values, path, where):
    node = values
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ChartError(f"{where}: no value .Values.{path}")
        node = node[key]
    return node


def scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expression(expr, values, namespace, where):
    parts = [p.strip() for p in expr.split("|")]
    if parts[0] == ".Release.Namespace":
        value = namespace
    elif parts[0].startswith(".Values."):
        value = lookup(values, parts[0][len(".Values."):], where)
    else:
        raise ChartError(f"{where}: {{{{ {expr} }}}} is not in the subset this chart keeps to")
    text = scalar(value)
    for f in parts[1:]:
        if f != "quote":
            raise ChartError(f"{where}: the function {f!r} is not in the subset")
        text = json.dumps(text)
    return text


def render_template(name, text, values, namespace):
    out = []
    # Each level: (rendering this branch, rendered any branch yet).
    stack = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{name}:{number}"
        control = CONTROL.match(line)
        if control:
            word = control.group(1)
            if word.startswith("if"):
                path = control.group(2)
                if not path.startswith(".Values."):
                    raise ChartError(f"{where}: if takes a .Values path")
                value = lookup(values, path[len(".Values."):], where)
                taken = bool(value) and value != "false"
                parent = all(level[0] for level in stack)
                stack.append([parent and taken, taken])
            elif word == "else":
                if not stack:
                    raise ChartError(f"{where}: else without if")
                parent = all(level[0] for level in stack[:-1])
                stack[-1][0] = parent and not stack[-1][1]
            else:
                if not stack:
                    raise ChartError(f"{where}: end without if")
                stack.pop()
            continue
        if not all(level[0] for level in stack):
            continue
        if "{{-" in line or "-}}" in line:
            raise ChartError(f"{where}: whitespace trimming only on if/else/end lines")
        out.append(TAG.sub(lambda m: expression(m.group(2), values, namespace, where), line))
    if stack:
        raise ChartError(f"{name}: if without end")
    return "\n".join(out).strip()


def merge(values, assignments):
    for assignment in assignments:
        key, _, raw = assignment.partition("=")
        node = values
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = {"true": True, "false": False}.get(raw, raw)
    return values


def render(namespace=NAMESPACE, assignments=()):
    yaml = load_yaml()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    merge(values, assignments)
    templates = sorted(p.name for p in (CHART / "templates").glob("*.yaml"))
    if sorted(ORDER) != templates:
        raise ChartError(f"ORDER lists {sorted(ORDER)}, the chart has {templates}")
    documents = []
    for name in ORDER:
        body = render_template(name, (CHART / "templates" / name).read_text(), values, namespace)
        if body:
            documents.append(f"# Source: datenlord/templates/{name}\n{body}\n")
    header = (
        "# Generated from charts/datenlord by scripts/deploy/chart.py write (namespace "
        f"{namespace}, default values): edit the chart, not this file.\n"
    )
    return header + "---\n" + "---\n".join(documents)


# --- checks of the rendered objects against the API fields they use ---------------------

KINDS = {
    ("v1", "Secret"), ("v1", "ServiceAccount"), ("v1", "Service"), ("v1", "Namespace"),
    ("v1", "PersistentVolumeClaim"), ("v1", "Pod"), ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"), ("apps/v1", "DaemonSet"), ("apps/v1", "StatefulSet"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("storage.k8s.io/v1", "CSIDriver"), ("storage.k8s.io/v1", "StorageClass"),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CSIDriver", "StorageClass",
                  "VolumeSnapshotClass"}
CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "command", "args", "env", "ports",
                    "volumeMounts", "securityContext", "livenessProbe", "readinessProbe",
                    "resources", "workingDir"}
POD_FIELDS = {"serviceAccountName", "priorityClassName", "initContainers", "containers",
              "volumes", "tolerations", "nodeSelector", "hostNetwork", "restartPolicy",
              "securityContext"}
VOLUME_SOURCES = {"emptyDir", "hostPath", "secret", "configMap", "persistentVolumeClaim"}
HOST_PATH_TYPES = {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                   "CharDevice", "BlockDevice"}
PROPAGATION = {"None", "HostToContainer", "Bidirectional"}
ACCESS_MODES = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}


def check_objects(objects, expect_image=None):
    problems = []

    def bad(obj, text):
        meta = obj.get("metadata") or {}
        problems.append(f"{obj.get('kind')}/{meta.get('name')}: {text}")

    names = {(o.get("kind"), (o.get("metadata") or {}).get("name")) for o in objects}
    for obj in objects:
        api, kind = obj.get("apiVersion"), obj.get("kind")
        if (api, kind) not in KINDS:
            bad(obj, f"unknown apiVersion/kind {api}/{kind}")
            continue
        meta = obj.get("metadata") or {}
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", str(meta.get("name", ""))):
            bad(obj, "metadata.name missing or not a DNS name")
        if kind in CLUSTER_SCOPED and "namespace" in meta:
            bad(obj, "a cluster-scoped object has a namespace")
        if kind not in CLUSTER_SCOPED and kind not in {"PersistentVolumeClaim", "Pod",
                                                          "VolumeSnapshot"} \
                and not meta.get("namespace"):
            bad(obj, "a namespaced object without metadata.namespace")
        if kind in {"Deployment", "DaemonSet", "StatefulSet"}:
            check_workload(obj, names, bad, expect_image)
        elif kind == "Pod":
            check_pod(obj, obj.get("spec") or {}, names, bad, expect_image)
        elif kind == "StorageClass":
            if obj.get("provisioner") != DRIVER:
                bad(obj, f"provisioner is not {DRIVER}")
            if obj.get("reclaimPolicy") not in {"Delete", "Retain"}:
                bad(obj, "reclaimPolicy must be Delete or Retain")
            check_secret_refs(obj, obj.get("parameters") or {}, names, bad)
        elif kind == "VolumeSnapshotClass":
            if obj.get("driver") != DRIVER:
                bad(obj, f"driver is not {DRIVER}")
            if obj.get("deletionPolicy") not in {"Delete", "Retain"}:
                bad(obj, "deletionPolicy must be Delete or Retain")
            check_secret_refs(obj, obj.get("parameters") or {}, names, bad)
        elif kind == "CSIDriver":
            if meta.get("name") != DRIVER:
                bad(obj, f"the CSIDriver must be named {DRIVER}")
            spec = obj.get("spec") or {}
            if spec.get("fsGroupPolicy") not in {None, "None", "File", "ReadWriteOnceWithFSType"}:
                bad(obj, "unknown fsGroupPolicy")
        elif kind in {"ClusterRoleBinding", "RoleBinding"}:
            ref = obj.get("roleRef") or {}
            if (ref.get("kind"), ref.get("name")) not in names:
                bad(obj, f"roleRef names no {ref.get('kind')} {ref.get('name')}")
            for subject in obj.get("subjects") or []:
                if subject.get("kind") == "ServiceAccount" and \
                        ("ServiceAccount", subject.get("name")) not in names:
                    bad(obj, f"subject names no ServiceAccount {subject.get('name')}")
        elif kind in {"ClusterRole", "Role"}:
            for rule in obj.get("rules") or []:
                if not rule.get("verbs") or not rule.get("resources") or "apiGroups" not in rule:
                    bad(obj, "a rule needs apiGroups, resources and verbs")
        elif kind == "ConfigMap":
            for key, text in (obj.get("data") or {}).items():
                if key.endswith(".yaml"):
                    check_scheduler_config(obj, key, text, names, bad)
        elif kind == "Service":
            spec = obj.get("spec") or {}
            if not spec.get("selector") or not spec.get("ports"):
                bad(obj, "a Service needs a selector and ports")
        elif kind == "Secret":
            if not isinstance(obj.get("stringData", {}), dict):
                bad(obj, "stringData must be a map")
        elif kind == "VolumeSnapshot":
            spec = obj.get("spec") or {}
            if ("VolumeSnapshotClass", spec.get("volumeSnapshotClassName")) not in names:
                bad(obj, "volumeSnapshotClassName names no VolumeSnapshotClass")
            claim = (spec.get("source") or {}).get("persistentVolumeClaimName")
            if ("PersistentVolumeClaim", claim) not in names:
                bad(obj, f"source names no PersistentVolumeClaim {claim}")
        elif kind == "PersistentVolumeClaim":
            spec = obj.get("spec") or {}
            source = spec.get("dataSource")
            if source and (source.get("kind"), source.get("name")) not in names:
                bad(obj, f"dataSource names no {source.get('kind')} {source.get('name')}")
            if not set(spec.get("accessModes") or []) <= ACCESS_MODES or not spec.get("accessModes"):
                bad(obj, "accessModes missing or unknown")
            if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
                bad(obj, "resources.requests.storage is required")
    return problems


def check_scheduler_config(obj, key, text, names, bad):
    """A KubeSchedulerConfiguration's extenders point at a Service of ours."""
    yaml = load_yaml()
    config = yaml.safe_load(text)
    if (config.get("apiVersion"), config.get("kind")) != \
            ("kubescheduler.config.k8s.io/v1", "KubeSchedulerConfiguration"):
        bad(obj, f"{key}: not a kubescheduler.config.k8s.io/v1 KubeSchedulerConfiguration")
        return
    for extender in config.get("extenders") or []:
        url = str(extender.get("urlPrefix", ""))
        match = re.fullmatch(r"https?://([a-z0-9-]+)\.[a-z0-9-]+\.svc:(\d+)", url)
        if not match or ("Service", match.group(1)) not in names:
            bad(obj, f"{key}: urlPrefix {url} names no Service of the chart")
        if extender.get("filterVerb") != "filter" or extender.get("prioritizeVerb") != "prioritize":
            bad(obj, f"{key}: the extender serves the verbs filter and prioritize")
        if not 1 <= int(extender.get("weight", 0)) <= 100:
            bad(obj, f"{key}: weight must be 1 to 100")


def check_secret_refs(obj, parameters, names, bad):
    for key, value in parameters.items():
        if key.startswith("csi.storage.k8s.io/") and key.endswith("-secret-name") and \
                ("Secret", value) not in names:
            bad(obj, f"{key} names no Secret {value}")


def check_workload(obj, names, bad, expect_image):
    spec = obj.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        bad(obj, "spec.selector.matchLabels is required")
    if any(labels.get(k) != v for k, v in selector.items()):
        bad(obj, "the selector does not match the template's labels")
    if obj["kind"] == "StatefulSet" and ("Service", spec.get("serviceName")) not in names:
        bad(obj, "serviceName names no Service")
    check_pod(obj, template.get("spec") or {}, names, bad, expect_image)


def check_pod(obj, pod, names, bad, expect_image):
    for key in pod:
        if key not in POD_FIELDS:
            bad(obj, f"unknown pod field {key}")
    account = pod.get("serviceAccountName")
    if account and ("ServiceAccount", account) not in names:
        bad(obj, f"serviceAccountName names no ServiceAccount {account}")
    volumes = {}
    for volume in pod.get("volumes") or []:
        sources = set(volume) - {"name"}
        if len(sources) != 1 or not sources <= VOLUME_SOURCES:
            bad(obj, f"volume {volume.get('name')}: one known source expected, got {sources}")
        host = volume.get("hostPath")
        if host and (not str(host.get("path", "")).startswith("/")
                     or host.get("type", "") not in HOST_PATH_TYPES):
            bad(obj, f"volume {volume.get('name')}: hostPath needs an absolute path and a known type")
        volumes[volume.get("name")] = volume
    containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
    if not pod.get("containers"):
        bad(obj, "a pod needs containers")
    seen = set()
    for container in containers:
        name = container.get("name")
        if name in seen:
            bad(obj, f"two containers named {name}")
        seen.add(name)
        for key in container:
            if key not in CONTAINER_FIELDS:
                bad(obj, f"container {name}: unknown field {key}")
        image = str(container.get("image", ""))
        if not image or ":" not in image:
            bad(obj, f"container {name}: an image with a tag is required")
        if expect_image and "datenlord" in image.split("/")[-1] and image != expect_image:
            bad(obj, f"container {name}: image {image}, expected {expect_image}")
        for mount in container.get("volumeMounts") or []:
            if mount.get("name") not in volumes and obj["kind"] != "StatefulSet":
                bad(obj, f"container {name}: volumeMount {mount.get('name')} names no volume")
            if not str(mount.get("mountPath", "")).startswith("/"):
                bad(obj, f"container {name}: mountPath must be absolute")
            if mount.get("mountPropagation", "None") not in PROPAGATION:
                bad(obj, f"container {name}: unknown mountPropagation")
            if mount.get("mountPropagation") == "Bidirectional" and \
                    not (container.get("securityContext") or {}).get("privileged"):
                bad(obj, f"container {name}: Bidirectional propagation needs privileged")
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref and ("Secret", ref.get("name")) not in names:
                bad(obj, f"container {name}: env {env.get('name')} names no Secret {ref.get('name')}")
        for port in container.get("ports") or []:
            if not isinstance(port.get("containerPort"), int):
                bad(obj, f"container {name}: containerPort must be a number")
        probe = container.get("livenessProbe")
        if probe:
            port = (probe.get("httpGet") or {}).get("port")
            ports = {p.get("name") for p in container.get("ports") or []}
            if isinstance(port, str) and port not in ports:
                bad(obj, f"container {name}: the probe's port {port} is not a named port")


def node_plugin_consistent(objects):
    """The registrar tells the kubelet the socket the driver listens on, on the host."""
    problems = []
    for obj in objects:
        if obj.get("kind") != "DaemonSet" or obj["metadata"]["name"] != "datenlord-csi-node":
            continue
        pod = obj["spec"]["template"]["spec"]
        host_dir = {v["name"]: v.get("hostPath", {}).get("path") for v in pod["volumes"]}
        registrar = next(c for c in pod["containers"] if c["name"] == "node-driver-registrar")
        path = next(a.split("=", 1)[1] for a in registrar["args"]
                    if a.startswith("--kubelet-registration-path="))
        if path != f"{host_dir['plugin-dir']}/csi.sock":
            problems.append(f"registration path {path} is not the plugin directory's socket")
        if not host_dir["plugin-dir"].endswith(f"/plugins/{DRIVER}"):
            problems.append("the plugin directory is not named after the driver")
    return problems


def check():
    yaml = load_yaml()
    problems = []
    rendered = render()
    if not MANIFESTS.exists() or MANIFESTS.read_text() != rendered:
        problems.append(f"{MANIFESTS.relative_to(ROOT)} is not the chart's rendering: "
                        "run scripts/deploy/chart.py write")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    image = f"{values['image']['repository']}:{values['image']['tag']}"
    variants = [
        [],
        ["etcd.enabled=false", "volume.meta=etcd://10.0.0.1:2379/k8s", "cacheNodes.enabled=true",
         "storageClass.isDefault=true", "storageClass.cacheSize=20G", "storageClass.inodes=1000",
         "schedulerExtender.nodeSelector=datenlord.io/node=true"],
        ["schedulerExtender.enabled=false", "snapshotClass.deletionPolicy=Retain"],
    ]
    for assignments in variants:
        objects = [o for o in yaml.safe_load_all(render(assignments=assignments)) if o]
        found = check_objects(objects, image) + node_plugin_consistent(objects)
        problems += [f"with {assignments or 'defaults'}: {p}" for p in found]
        kinds = {o["kind"] for o in objects}
        for needed in ["CSIDriver", "StorageClass", "Deployment", "DaemonSet", "VolumeSnapshotClass",
                       "ClusterRole", "Secret"]:
            if needed not in kinds:
                problems.append(f"with {assignments or 'defaults'}: no {needed}")
    # The examples and the namespace file use what the manifests define.
    base = [o for o in yaml.safe_load_all(rendered) if o]
    files = {path: [o for o in yaml.safe_load_all(path.read_text()) if o]
             for path in sorted((ROOT / "deploy").rglob("*.yaml")) if path != MANIFESTS}
    known = base + [o for objects in files.values() for o in objects]
    for path, objects in files.items():
        for problem in check_objects(known):
            if any(problem.startswith(f"{o['kind']}/{o['metadata']['name']}:") for o in objects):
                problems.append(f"{path.relative_to(ROOT)}: {problem}")
        for obj in objects:
            claim = obj.get("spec", {}) if obj.get("kind") == "PersistentVolumeClaim" else {}
            sc = claim.get("storageClassName")
            if sc and sc != values["storageClass"]["name"]:
                problems.append(f"{path.relative_to(ROOT)}: storageClassName {sc} is not ours")
    try:
        render(assignments=["etcd.enabled=false"]).index("etcd://10.0.0.1")
        problems.append("a rendering with etcd disabled still names an etcd")
    except ValueError:
        pass
    for problem in problems:
        print(f"chart: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"chart: {MANIFESTS.relative_to(ROOT)} is the chart's rendering; every object checks out")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="print the manifests")
    r.add_argument("--namespace", default=NAMESPACE)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    sub.add_parser("write", help="regenerate deploy/datenlord.yaml")
    sub.add_parser("check", help="the test")
    args = parser.parse_args()
    try:
        if args.command == "render":
            sys.stdout.write(render(args.namespace, args.set))
        elif args.command == "write":
            MANIFESTS.parent.mkdir(exist_ok=True)
            MANIFESTS.write_text(render())
            print(f"wrote {MANIFESTS.relative_to(ROOT)}")
        else:
            check()
    except ChartError as err:
        sys.exit(f"chart: {err}")


if __name__ == "__main__":
    main()
