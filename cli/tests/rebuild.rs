//! `ocicompose rebuild` as a scheduler runs it: three specs on two bases, then one base
//! gets a new image under the same tag. Fixtures are the demo images.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).env_remove("SOURCE_DATE_EPOCH").output().expect("the binary runs")
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8(o.stdout.clone()).unwrap().lines().map(str::to_string).collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

fn write_spec(dir: &Path, name: &str, base: &str, artifact: &str, include: &str, output: &str) {
    let spec = serde_json::json!({
        "base": format!("oci:images/{base}:1.0"),
        "artifacts": [{"image": format!("oci:images/{artifact}:1"), "include": [include]}],
        "tag": "custom",
        "output": format!("oci:{output}"),
    });
    std::fs::write(dir.join(name), serde_json::to_string_pretty(&spec).unwrap()).unwrap();
}

/// Files in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn only_the_spec_whose_base_changed_is_rebuilt_and_reports_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = run_in(dir, &["demo", "--dir", "."]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    copy_dir(&dir.join("images/base"), &dir.join("images/base-a"));
    copy_dir(&dir.join("images/base"), &dir.join("images/base-b"));
    write_spec(dir, "one.json", "base-a", "certs", "/etc/ssl/certs/*.crt", "out-one");
    write_spec(dir, "two.json", "base-b", "tools", "/usr/bin/**", "out-two");
    write_spec(dir, "three.json", "base-a", "tools", "/usr/bin/**", "out-three");
    let specs = ["one.json", "two.json", "three.json"];
    let rebuild = |extra: &[&str]| {
        let mut args = vec!["rebuild", "--reports", "reports"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&specs);
        run_in(dir, &args)
    };

    // First run: no reports yet, so all three are composed.
    let first = rebuild(&[]);
    assert_eq!(code(&first), 0, "{}", String::from_utf8_lossy(&first.stderr));
    let out = lines(&first);
    assert_eq!(out.len(), 3, "{out:?}");
    for (line, spec) in out.iter().zip(specs) {
        assert!(line.starts_with(&format!("{spec} rebuilt sha256:")), "{line}");
    }
    assert_eq!(names(&dir.join("reports")), ["one.report.json", "three.report.json", "two.report.json"]);
    let two_before: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("reports/two.report.json")).unwrap()).unwrap();
    assert_eq!(out[1], format!("two.json rebuilt {}", two_before["manifest_digest"].as_str().unwrap()));

    // Nothing changed.
    let second = rebuild(&[]);
    assert_eq!(code(&second), 0);
    assert_eq!(lines(&second), ["one.json unchanged", "two.json unchanged", "three.json unchanged"]);

    // base-b gets a new image under the same tag (as a registry's base gets a fix).
    let fix = serde_json::json!({
        "base": "oci:images/base-b:1.0",
        "artifacts": [{"image": "oci:images/certs:1", "include": ["/etc/ssl/certs/*.crt"]}],
        "tag": "1.0",
        "output": "oci:images/base-b-fixed",
    });
    std::fs::write(dir.join("fix.json"), fix.to_string()).unwrap();
    let o = run_in(dir, &["compose", "fix.json"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(dir.join("images/base-b")).unwrap();
    std::fs::rename(dir.join("images/base-b-fixed"), dir.join("images/base-b")).unwrap();

    // A dry run says so, and writes nothing.
    let dry = rebuild(&["--dry-run"]);
    assert_eq!(code(&dry), 0);
    let out = lines(&dry);
    assert_eq!(out[0], "one.json unchanged");
    assert!(out[1].starts_with("two.json would rebuild: base oci:images/base-b:1.0: sha256:"), "{}", out[1]);
    assert_eq!(out[2], "three.json unchanged");
    assert_eq!(names(&dir.join("reports")).len(), 3, "a dry run writes no report");

    let third = rebuild(&[]);
    assert_eq!(code(&third), 0);
    let out = lines(&third);
    assert_eq!(out[0], "one.json unchanged");
    assert_eq!(out[2], "three.json unchanged");
    let two_after: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("reports/two.report.json")).unwrap()).unwrap();
    let digest = two_after["manifest_digest"].as_str().unwrap();
    assert_eq!(out[1], format!("two.json rebuilt {digest}"));
    assert_ne!(two_after["manifest_digest"], two_before["manifest_digest"], "a new image");
    assert_ne!(two_after["inputs"][0]["manifest_digest"], two_before["inputs"][0]["manifest_digest"], "on the new base");
    // The old report is kept, dated, and is the one from before.
    let kept: Vec<String> = names(&dir.join("reports")).into_iter().filter(|n| n.starts_with("two.report.2")).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let old: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("reports").join(&kept[0])).unwrap()).unwrap();
    assert_eq!(old["manifest_digest"], two_before["manifest_digest"]);
    // The output layout holds the new image under the spec's tag.
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("out-two/index.json")).unwrap()).unwrap();
    assert!(index["manifests"].as_array().unwrap().iter().any(|m| m["digest"] == digest && m["annotations"]["org.opencontainers.image.ref.name"] == "custom"), "{index}");

    // Then all are current again.
    let fourth = rebuild(&[]);
    assert_eq!(lines(&fourth), ["one.json unchanged", "two.json unchanged", "three.json unchanged"]);

    // Editing a spec counts as a change, as does a file it places.
    write_spec(dir, "three.json", "base-a", "tools", "/usr/bin/*", "out-three");
    let edited = rebuild(&["--dry-run"]);
    assert_eq!(lines(&edited)[2], "three.json would rebuild: the spec changed");

    // A spec that fails does not stop the others, and the exit status says so.
    write_spec(dir, "one.json", "no-such-base", "certs", "/etc/ssl/certs/*.crt", "out-one");
    let failing = rebuild(&[]);
    assert_eq!(code(&failing), 1);
    let out = lines(&failing);
    assert!(out[0].starts_with("one.json failed: "), "{}", out[0]);
    assert_eq!(out[1], "two.json unchanged");
    assert!(out[2].starts_with("three.json rebuilt sha256:"), "{}", out[2]);
    assert!(String::from_utf8_lossy(&failing.stderr).contains("1 of 3 spec(s) failed"));
}

/// A YAML file of the repository as JSON, read by PyYAML from the checkers' venv;
/// `None` (the test says why) without it.
fn yaml(path: &str) -> Option<serde_json::Value> {
    let Some(venv) = std::env::var_os("OCICOMPOSE_TOOLS_VENV") else {
        eprintln!("skipped: OCICOMPOSE_TOOLS_VENV is not set (tests/run.sh makes the venv with PyYAML)");
        return None;
    };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let o = Command::new(Path::new(&venv).join("bin/python"))
        .args(["-c", "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)"])
        .arg(&file)
        .output()
        .expect("the venv's python runs");
    assert!(o.status.success(), "{} is not YAML: {}", file.display(), String::from_utf8_lossy(&o.stderr));
    Some(serde_json::from_slice(&o.stdout).unwrap())
}

/// Five cron fields, each `*`, a number in range, or a list, range or step of them.
fn valid_cron(expr: &str) -> bool {
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    let fields: Vec<&str> = expr.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().zip(ranges).all(|(field, (lo, hi))| {
            field.split(',').all(|part| {
                let (range, step) = part.split_once('/').unwrap_or((part, "1"));
                let in_range = |n: &str| n.parse::<u32>().is_ok_and(|n| (lo..=hi).contains(&n));
                step.parse::<u32>().is_ok_and(|s| s > 0) && (range == "*" || range.split_once('-').map_or_else(|| in_range(range), |(a, b)| in_range(a) && in_range(b)))
            })
        })
}

#[test]
fn the_cron_checker_knows_good_from_bad() {
    for good in ["17 3 * * *", "*/15 * * * 1-5", "0 0,12 1 1 0"] {
        assert!(valid_cron(good), "{good}");
    }
    for bad in ["17 3 * *", "60 3 * * *", "17 24 * * *", "* * * * * *", "*/0 * * * *", "a * * * *"] {
        assert!(!valid_cron(bad), "{bad}");
    }
}

#[test]
fn the_kubernetes_cronjob_runs_rebuild_with_its_state_mounted() {
    let Some(job) = yaml("examples/rebuild/cronjob.yaml") else { return };
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "CronJob");
    assert!(valid_cron(job["spec"]["schedule"].as_str().unwrap()), "{}", job["spec"]["schedule"]);
    assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid", "two rebuilds must not write the same reports");
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let command: Vec<&str> = c["command"].as_array().unwrap().iter().chain(c["args"].as_array().unwrap()).map(|v| v.as_str().unwrap()).collect();
    let line = command.join(" ");
    assert!(line.contains("ocicompose rebuild --reports /state/reports /specs/*.json"), "{line}");
    let volumes: Vec<&str> = pod["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    let mounts: Vec<(&str, &str)> = c["volumeMounts"].as_array().unwrap().iter().map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap())).collect();
    for (name, _) in &mounts {
        assert!(volumes.contains(name), "volume {name} is mounted but not defined");
    }
    let mounted = |path: &str| mounts.iter().any(|(_, at)| path == *at || path.starts_with(&format!("{at}/")));
    assert!(mounted("/specs/web.json") && mounted("/state/reports"), "{mounts:?}");
    let env: std::collections::BTreeMap<&str, &str> = c["env"].as_array().unwrap().iter().map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap())).collect();
    assert!(mounted(env["OCICOMPOSE_CACHE_DIR"]), "the cache persists between runs");
    assert!(mounted(&format!("{}/config.json", env["DOCKER_CONFIG"])), "the credentials are where DOCKER_CONFIG points");
    let secret = pod["volumes"].as_array().unwrap().iter().find(|v| v["secret"].is_object()).unwrap();
    assert_eq!(secret["secret"]["items"][0]["path"], "config.json");
}

#[test]
fn the_ci_workflow_runs_rebuild_on_a_schedule_and_keeps_the_reports() {
    let Some(flow) = yaml("examples/rebuild/workflow.yml") else { return };
    // YAML 1.1 reads the key `on` as true.
    let on = flow.get("on").or_else(|| flow.get("true")).expect("a trigger");
    let cron = on["schedule"][0]["cron"].as_str().unwrap();
    assert!(valid_cron(cron), "{cron}");
    let steps = flow["jobs"]["rebuild"]["steps"].as_array().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let rebuild = runs.iter().position(|r| r.contains("ocicompose rebuild --reports reports specs/*.json")).expect("a rebuild step");
    let keep = runs.iter().position(|r| r.contains("git add reports") && r.contains("git push")).expect("a step keeping the reports");
    assert!(rebuild < keep);
}
