//! Edits of the image config asked for by the spec's `config`: every other field of the
//! base's config is kept as it was.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::spec::ConfigSpec;

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn to_array(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// Expands `${NAME}` with the base's value of NAME (empty when unset).
fn expand(value: &str, base_env: &[String]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                let found = base_env.iter().find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('='))).unwrap_or("");
                out.push_str(found);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Applies `spec` to the raw config JSON (`config` object with Docker's key names, as
/// the image spec has them).
///
/// # Errors
/// [`Error::InvalidImage`] when the base's `config` field is not an object.
pub(crate) fn apply(raw: &mut Value, spec: &ConfigSpec) -> Result<()> {
    if spec.is_empty() {
        return Ok(());
    }
    let root = raw.as_object_mut().ok_or_else(|| Error::invalid_image("base config", "is not a JSON object"))?;
    let cfg = root.entry("config").or_insert_with(|| Value::Object(Map::new()));
    if cfg.is_null() {
        *cfg = Value::Object(Map::new());
    }
    let cfg = cfg.as_object_mut().ok_or_else(|| Error::invalid_image("base config", "`config` is not a JSON object"))?;

    let mut entrypoint = spec.entrypoint.clone().unwrap_or_else(|| strings(cfg.get("Entrypoint")));
    entrypoint.extend(spec.entrypoint_append.iter().cloned());
    if spec.entrypoint.is_some() || !spec.entrypoint_append.is_empty() {
        cfg.insert("Entrypoint".into(), to_array(entrypoint));
    }
    let mut cmd = spec.cmd.clone().unwrap_or_else(|| strings(cfg.get("Cmd")));
    cmd.extend(spec.cmd_append.iter().cloned());
    if spec.cmd.is_some() || !spec.cmd_append.is_empty() {
        cfg.insert("Cmd".into(), to_array(cmd));
    }
    if !spec.env.is_empty() {
        let base_env = strings(cfg.get("Env"));
        let mut env = base_env.clone();
        for (name, value) in &spec.env {
            let line = format!("{name}={}", expand(value, &base_env));
            match env.iter_mut().find(|kv| kv.split_once('=').map(|(k, _)| k) == Some(name.as_str()) || kv.as_str() == name) {
                Some(slot) => *slot = line,
                None => env.push(line),
            }
        }
        cfg.insert("Env".into(), to_array(env));
    }
    if let Some(user) = &spec.user {
        cfg.insert("User".into(), Value::String(user.clone()));
    }
    if let Some(dir) = &spec.working_dir {
        cfg.insert("WorkingDir".into(), Value::String(dir.clone()));
    }
    if let Some(sig) = &spec.stop_signal {
        cfg.insert("StopSignal".into(), Value::String(sig.clone()));
    }
    let mut set = |key: &str, items: Vec<(String, Value)>| {
        if items.is_empty() {
            return;
        }
        let slot = cfg.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
        let mut obj = match slot.take() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for (k, v) in items {
            obj.insert(k, v);
        }
        *slot = Value::Object(obj);
    };
    set("Labels", spec.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
    set("ExposedPorts", spec.exposed_ports.iter().map(|p| (if p.contains('/') { p.clone() } else { format!("{p}/tcp") }, Value::Object(Map::new()))).collect());
    set("Volumes", spec.volumes.iter().map(|v| (v.clone(), Value::Object(Map::new()))).collect());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_appends_and_merges() {
        let mut raw = serde_json::json!({"architecture": "amd64", "os": "linux", "unknown_field": 1,
            "config": {"Entrypoint": ["/usr/bin/python3"], "Cmd": ["app.py"], "Env": ["PATH=/usr/bin:/bin", "LANG=C"], "Labels": {"a": "1"}, "OnBuild": ["x"]}});
        let spec = ConfigSpec {
            entrypoint_append: vec!["-u".into()],
            cmd: Some(vec!["main.py".into()]),
            cmd_append: vec!["--serve".into()],
            env: [("PATH".to_string(), "/opt/app/bin:${PATH}".to_string()), ("MODE".to_string(), "prod".to_string())].into_iter().collect(),
            user: Some("app".into()),
            working_dir: Some("/app".into()),
            labels: [("b".to_string(), "2".to_string())].into_iter().collect(),
            exposed_ports: vec!["8080".into(), "53/udp".into()],
            volumes: vec!["/data".into()],
            stop_signal: Some("SIGINT".into()),
            ..Default::default()
        };
        apply(&mut raw, &spec).unwrap();
        let c = &raw["config"];
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/bin/python3", "-u"]));
        assert_eq!(c["Cmd"], serde_json::json!(["main.py", "--serve"]));
        assert_eq!(c["Env"], serde_json::json!(["PATH=/opt/app/bin:/usr/bin:/bin", "LANG=C", "MODE=prod"]));
        assert_eq!(c["Labels"], serde_json::json!({"a": "1", "b": "2"}));
        assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!((c["User"].as_str(), c["WorkingDir"].as_str(), c["StopSignal"].as_str()), (Some("app"), Some("/app"), Some("SIGINT")));
        assert_eq!(c["OnBuild"], serde_json::json!(["x"]), "unknown fields are kept");
        assert_eq!(raw["unknown_field"], 1);
    }

    #[test]
    fn an_empty_spec_changes_nothing() {
        let mut raw = serde_json::json!({"config": {"Cmd": ["sh"]}});
        let before = raw.clone();
        apply(&mut raw, &ConfigSpec::default()).unwrap();
        assert_eq!(raw, before);
        assert_eq!(expand("a${MISSING}b${X}", &["X=1".into()]), "ab1");
    }
}
