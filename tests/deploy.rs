//! The deployment documents: the Kubernetes example validates against the Kubernetes API
//! schemas (`kubernetes-validate --strict`, pinned in `tests/python/requirements.txt`),
//! the check rejects a broken copy, and `docs/deploy.md` covers what it must.

mod support;

use std::path::Path;
use std::process::Command;

fn validate(file: &Path) -> std::process::Output {
    Command::new(support::python::python())
        .args(["-m", "kubernetes_validate", "--strict", "--quiet"])
        .arg(file)
        .output()
        .expect("run kubernetes-validate")
}

#[test]
fn the_kubernetes_example_validates_against_the_api_schemas() {
    let manifest = support::manifest_dir().join("docs/kubernetes/airun.yaml");
    let out = validate(&manifest);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&manifest).unwrap();
    for needed in [
        "kind: StatefulSet",
        "kind: Service",
        "/healthz",
        "/readyz",
        "runAsNonRoot: true",
    ] {
        assert!(text.contains(needed), "the manifest lacks `{needed}`");
    }
    // The check can fail: a wrong type and an unknown field are refused.
    let tmp = tempfile::tempdir().unwrap();
    for (what, broken) in [
        ("a wrong type", text.replace("replicas: 1", "replicas: one")),
        (
            "an unknown field",
            text.replace("serviceName: airun-a", "serviceName: airun-a\n  replica: 2"),
        ),
    ] {
        let file = tmp.path().join("broken.yaml");
        std::fs::write(&file, broken).unwrap();
        assert!(!validate(&file).status.success(), "{what} passed the check");
    }
}

#[test]
fn the_deploy_guide_covers_container_probes_metrics_traces_and_scale_out() {
    let doc = std::fs::read_to_string(support::manifest_dir().join("docs/deploy.md")).unwrap();
    for needed in [
        "## The container",
        "docker run",
        "## Probes",
        "/readyz",
        "## Metrics",
        "airun_calls_total",
        "## Traces",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "## Scale-out and its limits",
        "network filesystems",
        "### Kubernetes",
        "docs/kubernetes/airun.yaml",
    ] {
        assert!(doc.contains(needed), "docs/deploy.md lacks `{needed}`");
    }
}
