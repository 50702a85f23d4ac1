// Validates Prometheus Operator custom resources with the models of @kubernetes-models/prometheus-operator,
// which are generated from the operator's published CRD schemas. Reads {"modules": DIR, "objects": [...]} on
// stdin and prints one list of problems per object. Besides each model's own validation (types, required
// fields, enums, patterns), every key must be a field the package declares for that type (the CRDs accept and
// silently drop unknown fields; a misspelt one would never reach Prometheus), and an AlertmanagerConfig's
// child routes, which the CRD keeps as free-form JSON, are validated as the operator's Route type.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const input = JSON.parse(readFileSync(0, "utf8"));
const root = join(input.modules, "@kubernetes-models", "prometheus-operator", "monitoring.coreos.com");
const KINDS = {
  "monitoring.coreos.com/v1/PrometheusRule": "v1/PrometheusRule",
  "monitoring.coreos.com/v1/ServiceMonitor": "v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PodMonitor": "v1/PodMonitor",
  "monitoring.coreos.com/v1alpha1/AlertmanagerConfig": "v1alpha1/AlertmanagerConfig",
};

// Declared fields, read from the package's type declarations: interface name -> {field: type text}.
function declarations(file) {
  const text = readFileSync(file, "utf8");
  const imports = {};
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    imports[m[1]] = m[2].startsWith(".") ? resolve(dirname(file), m[2].replace(/\.js$/, "") + ".d.ts") : null;
  }
  const body = text.match(/export interface \w+(?: extends [\w, ]+)? \{([\s\S]*?)\n\}/);
  const fields = {};
  // One field a line; a multi-line type (`{ [key: string]: string; }`) is a map, kept as its first line.
  for (const m of (body ? body[1] : "").matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) fields[m[1]] = m[2];
  return { fields, imports };
}

function unknownKeys(value, file, path, problems) {
  if (file === null || value === null || typeof value !== "object") return;
  const { fields, imports } = declarations(file);
  for (const [key, child] of Object.entries(value)) {
    if (key === "metadata" || key === "apiVersion" || key === "kind") continue;
    if (!(key in fields)) {
      problems.push(`${path}/${key} is not a field of ${file.split("monitoring.coreos.com/")[1]}`);
      continue;
    }
    const type = fields[key];
    const element = type.match(/^Array<(\w+)>$/);
    const name = element ? element[1] : type;
    if (!(name in imports)) continue; // a scalar, a map of strings or free-form JSON
    for (const [index, item] of (element ? child : [child]).entries()) {
      unknownKeys(item, imports[name], element ? `${path}/${key}/${index}` : `${path}/${key}`, problems);
    }
  }
}

async function model(relative) {
  const module = await import(pathToFileURL(join(root, relative + ".js")).href);
  return Object.values(module).find((v) => typeof v === "function" && v.prototype?.validate);
}

function check(Model, value, path, problems) {
  try {
    new Model(value).validate();
  } catch (error) {
    problems.push(`${path}: ${error.message}`);
  }
}

const Route = await model("v1alpha1/Route");
const results = [];
for (const object of input.objects) {
  const problems = [];
  const relative = KINDS[`${object.apiVersion}/${object.kind}`];
  if (!relative) {
    results.push([`no model for ${object.apiVersion} ${object.kind}`]);
    continue;
  }
  check(await model(relative), object, "", problems);
  unknownKeys(object, join(root, relative + ".d.ts"), "", problems);
  const children = (route, path) =>
    (route?.routes ?? []).forEach((child, index) => {
      const where = `${path}/routes/${index}`;
      check(Route, child, where, problems);
      unknownKeys(child, join(root, "v1alpha1/Route.d.ts"), where, problems);
      children(child, where);
    });
  if (object.kind === "AlertmanagerConfig") children(object.spec?.route, "/spec/route");
  results.push(problems);
}
console.log(JSON.stringify(results));
