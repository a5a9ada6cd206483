//! What can be checked of the Docker and Kubernetes files without a Docker engine: the
//! YAML parses, and every pgwait command line in them is accepted by pgwait itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::harness::*;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn load(path: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path} does not parse: {e}"))
}

fn strings(node: &Yaml) -> Vec<String> {
    node.as_vec()
        .map(|v| {
            v.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// One pgwait invocation found in a file: its arguments, environment, and the files that
/// would be mounted (container path → file here).
struct Invocation {
    place: String,
    args: Vec<String>,
    env: HashMap<String, String>,
    mounts: Vec<(String, PathBuf)>,
}

impl Invocation {
    /// Runs `pgwait --dry-run` with the invocation's arguments and environment, mounted
    /// files replaced by their local copies.
    fn check(&self) {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|arg| {
                self.mounts.iter().fold(arg.clone(), |arg, (inside, here)| {
                    arg.replace(inside, &here.display().to_string())
                })
            })
            .collect();
        let out = pgwait()
            .arg("--dry-run")
            .args(&args)
            .envs(&self.env)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: pgwait rejects {args:?}:\n{}",
            self.place,
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("dry run: would wait"),
            "{}",
            stderr(&out)
        );
    }
}

fn compose_invocations() -> Vec<Invocation> {
    let doc = &load("docker/compose.yaml")[0];
    let secrets: HashMap<String, PathBuf> = doc["secrets"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(name, spec)| {
            let file = spec["file"].as_str().unwrap();
            (
                name.as_str().unwrap().to_string(),
                repo("docker").join(file),
            )
        })
        .collect();
    let mut found = Vec::new();
    for (name, service) in doc["services"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        let entrypoint = strings(&service["entrypoint"]);
        let command = strings(&service["command"]);
        let args = if entrypoint.first().is_some_and(|e| e.ends_with("pgwait")) {
            // Everything up to "--" is pgwait's; after it comes the app.
            let mut args: Vec<String> = entrypoint[1..].to_vec();
            if let Some(i) = args.iter().position(|a| a == "--") {
                args.truncate(i + 1);
                args.push("true".into());
            }
            args
        } else if service["image"].as_str() == Some("pgwait:local") {
            command
        } else {
            continue;
        };
        let env = service["environment"]
            .as_hash()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| {
                        let value = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{v:?}"));
                        (k.as_str().unwrap().to_string(), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mounts = strings(&service["secrets"])
            .into_iter()
            .map(|s| (format!("/run/secrets/{s}"), secrets[&s].clone()))
            .collect();
        found.push(Invocation {
            place: format!("compose service {name}"),
            args,
            env,
            mounts,
        });
    }
    found
}

fn kubernetes_invocations(scratch: &Path) -> Vec<Invocation> {
    let docs = load("docker/kubernetes.yaml");
    let mut secrets: HashMap<String, HashMap<String, String>> = HashMap::new();
    for doc in &docs {
        if doc["kind"].as_str() == Some("Secret") {
            let data = doc["stringData"]
                .as_hash()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    )
                })
                .collect();
            secrets.insert(doc["metadata"]["name"].as_str().unwrap().to_string(), data);
        }
    }
    let mut found = Vec::new();
    for doc in &docs {
        let spec = &doc["spec"]["template"]["spec"];
        let volumes: HashMap<String, String> = spec["volumes"]
            .as_vec()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let secret = v["secret"]["secretName"].as_str()?;
                Some((v["name"].as_str()?.to_string(), secret.to_string()))
            })
            .collect();
        for container in spec["initContainers"].as_vec().into_iter().flatten() {
            if !container["image"].as_str().unwrap_or("").contains("pgwait") {
                continue;
            }
            let env = container["env"]
                .as_vec()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_string(),
                        e["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let mut mounts = Vec::new();
            for mount in container["volumeMounts"].as_vec().into_iter().flatten() {
                let Some(secret) = volumes.get(mount["name"].as_str().unwrap()) else {
                    continue;
                };
                for (key, value) in &secrets[secret] {
                    let here = scratch.join(format!("{secret}-{key}"));
                    std::fs::write(&here, value).unwrap();
                    let inside = format!("{}/{key}", mount["mountPath"].as_str().unwrap());
                    mounts.push((inside, here));
                }
            }
            found.push(Invocation {
                place: format!(
                    "kubernetes initContainer {}",
                    container["name"].as_str().unwrap()
                ),
                args: strings(&container["args"]),
                env,
                mounts,
            });
        }
    }
    found
}

#[test]
fn every_pgwait_command_line_in_compose_yaml_is_accepted() {
    let found = compose_invocations();
    let places: Vec<&str> = found.iter().map(|i| i.place.as_str()).collect();
    assert_eq!(
        places,
        ["compose service db-ready", "compose service outbox-poller"]
    );
    for invocation in &found {
        invocation.check();
    }
}

#[test]
fn every_pgwait_command_line_in_the_kubernetes_example_is_accepted() {
    let dir = scratch();
    let found = kubernetes_invocations(dir.path());
    assert_eq!(found.len(), 1);
    for invocation in &found {
        invocation.check();
    }
}

#[test]
fn compose_explains_the_stale_volume_trap_and_uses_init() {
    let text = std::fs::read_to_string(repo("docker/compose.yaml")).unwrap();
    assert!(text.contains("docker compose -f docker/compose.yaml down -v"));
    assert!(text.contains("only take effect when the data"));
    let doc = &load("docker/compose.yaml")[0];
    let poller = &doc["services"]["outbox-poller"];
    assert_eq!(poller["init"].as_bool(), Some(true));
    let gate = &doc["services"]["migrate"]["depends_on"]["db-ready"]["condition"];
    assert_eq!(gate.as_str(), Some("service_completed_successfully"));
    assert!(
        doc["services"]["db"]["healthcheck"]["test"]
            .as_vec()
            .is_some()
    );
}

#[test]
fn the_image_is_from_scratch_with_a_numeric_non_root_user_and_exec_form_entrypoint() {
    let text = std::fs::read_to_string(repo("docker/Dockerfile")).unwrap();
    let last_stage: Vec<&str> = text
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(last_stage[0], "scratch");
    assert!(last_stage.contains(&"COPY --from=build /pgwait /pgwait"));
    let user = last_stage
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap();
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric user");
    assert_ne!(uid, 0);
    assert!(last_stage.contains(&"ENTRYPOINT [\"/pgwait\"]"));
}
