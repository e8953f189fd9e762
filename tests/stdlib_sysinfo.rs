//! `sys.info.get_os`, `sys.info.get_env_var` and `sys.info.get_time`, driven through the
//! pipeline.

use airun::pipeline::{CallOptions, EnvPolicy, FlagConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use airun::{CapError, ErrorKind};
use serde_json::{Value, json};
use std::sync::{Mutex, MutexGuard};

/// Serializes the tests of this file: some set environment variables, which must not
/// happen while another thread reads the environment.
static ENV_LOCK: Mutex<()> = Mutex::new(());

fn env_lock() -> MutexGuard<'static, ()> {
    ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs one call through a fresh pipeline with `settings`, on an empty temporary workspace.
fn call_with(settings: Settings, name: &str, args: Value) -> Result<Value, CapError> {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path(), false, None).unwrap();
    let k = Pipeline::new(airun::stdlib::capabilities(), ws, settings);
    k.execute(name, args, &FlagConfirmer, CallOptions::default())
}

fn call(name: &str, args: Value) -> Result<Value, CapError> {
    call_with(Settings::default(), name, args)
}

fn set_env(name: &str, value: &str) {
    // SAFETY: every test of this file holds ENV_LOCK, so no other thread of this test
    // binary reads or writes the environment meanwhile.
    unsafe { std::env::set_var(name, value) }
}

fn remove_env(name: &str) {
    // SAFETY: as in `set_env`.
    unsafe { std::env::remove_var(name) }
}

fn settings_allowing(names: &[&str]) -> Settings {
    Settings {
        env: EnvPolicy {
            allow: names.iter().map(|s| s.to_string()).collect(),
        },
        ..Settings::default()
    }
}

// ---- sys.info.get_os ----

#[test]
fn get_os_matches_std_consts() {
    let _g = env_lock();
    let out = call("sys.info.get_os", json!({})).unwrap();
    assert_eq!(out["os"], std::env::consts::OS);
    assert_eq!(out["family"], std::env::consts::FAMILY);
    assert_eq!(out["arch"], std::env::consts::ARCH);
    assert!(out["version"].is_string());
    if cfg!(target_os = "linux") {
        assert!(!out["version"].as_str().unwrap().is_empty());
    }
    // Not verbose: no host name or CPU count.
    assert!(out.get("hostname").is_none(), "{out}");
    assert!(out.get("cpus").is_none(), "{out}");
}

#[test]
fn get_os_verbose_adds_hostname_and_cpus() {
    let _g = env_lock();
    let out = call("sys_info_get_os", json!({"verbose": true})).unwrap();
    assert_eq!(out["os"], std::env::consts::OS);
    assert!(out["hostname"].is_string(), "{out}");
    let cpus = std::thread::available_parallelism().unwrap().get() as i64;
    assert_eq!(out["cpus"].as_i64(), Some(cpus));
}

#[test]
fn get_os_unknown_field_is_invalid_input() {
    let _g = env_lock();
    let err = call("sys.info.get_os", json!({"verbose": true, "all": true})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("all"));
}

// ---- sys.info.get_env_var ----

#[test]
fn get_env_var_reads_an_allowed_variable() {
    let _g = env_lock();
    let out = call("sys.info.get_env_var", json!({"name": "PATH"})).unwrap();
    match std::env::var("PATH") {
        Ok(path) => assert_eq!(out, json!({"value": path, "found": true})),
        Err(_) => assert_eq!(out["found"], false),
    }

    set_env("AIRUN_TEST_ALLOWED", "hello there");
    let out = call_with(
        settings_allowing(&["AIRUN_TEST_ALLOWED"]),
        "sys.info.get_env_var",
        json!({"name": "AIRUN_TEST_ALLOWED", "default": "unused"}),
    )
    .unwrap();
    remove_env("AIRUN_TEST_ALLOWED");
    assert_eq!(out, json!({"value": "hello there", "found": true}));
}

#[test]
fn get_env_var_refuses_names_off_the_allowlist() {
    let _g = env_lock();
    set_env("AIRUN_TEST_SECRET", "s3cr3t-do-not-leak");
    let err = call("sys.info.get_env_var", json!({"name": "AIRUN_TEST_SECRET"})).unwrap_err();
    remove_env("AIRUN_TEST_SECRET");
    assert_eq!(err.kind, ErrorKind::DeniedPolicy);
    assert_eq!(err.kind.exit_code(), 3);
    assert_eq!(err.field.as_deref(), Some("name"));
    assert!(err.message.contains("AIRUN_TEST_SECRET"), "{}", err.message);
    let shown = format!("{} {}", err.message, err.hint.clone().unwrap_or_default());
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(
        err.hint.as_deref().unwrap_or("").contains("HOME"),
        "{err:?}"
    );
}

#[test]
fn get_env_var_unset_gives_the_default() {
    let _g = env_lock();
    remove_env("AIRUN_TEST_UNSET_VAR");
    let settings = || settings_allowing(&["AIRUN_TEST_UNSET_VAR"]);
    let out = call_with(
        settings(),
        "sys.info.get_env_var",
        json!({"name": "AIRUN_TEST_UNSET_VAR", "default": "fallback"}),
    )
    .unwrap();
    assert_eq!(out, json!({"value": "fallback", "found": false}));

    let out = call_with(
        settings(),
        "sys.info.get_env_var",
        json!({"name": "AIRUN_TEST_UNSET_VAR"}),
    )
    .unwrap();
    assert_eq!(out["found"], false);
    assert!(out.get("value").is_none_or(Value::is_null), "{out}");
}

#[test]
fn get_env_var_bad_name_is_invalid_input() {
    let _g = env_lock();
    let err = call("sys.info.get_env_var", json!({"name": "1BAD-NAME"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("name"));
}

// ---- sys.info.get_time ----

fn get_time(args: Value) -> Value {
    call("sys.info.get_time", args).unwrap()
}

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[test]
fn get_time_defaults_to_iso8601_utc() {
    let _g = env_lock();
    let before = now_unix();
    let out = get_time(json!({}));
    let after = now_unix();
    assert_eq!(out["timezone"], "UTC");
    let unix = out["unix"].as_i64().unwrap();
    assert!((before..=after).contains(&unix), "{out}");
    let ts = out["timestamp"].as_str().unwrap();
    assert!(ts.ends_with("+00:00"), "{ts}");
    assert_eq!(ts.len(), "2026-11-26T13:05:09+00:00".len(), "{ts}");
    let parsed: jiff::Timestamp = ts.parse().unwrap();
    assert_eq!(parsed.as_second(), unix);
}

#[test]
fn get_time_each_format() {
    let _g = env_lock();
    for format in ["iso8601", "rfc3339"] {
        let out = get_time(json!({"format": format, "timezone": "Europe/Paris"}));
        let ts = out["timestamp"].as_str().unwrap();
        let parsed: jiff::Timestamp = ts.parse().unwrap();
        assert_eq!(
            parsed.as_second(),
            out["unix"].as_i64().unwrap(),
            "{format}: {ts}"
        );
        let offset = &ts[ts.len() - 6..];
        assert!(offset == "+01:00" || offset == "+02:00", "{format}: {ts}");
        assert_eq!(out["timezone"], "Europe/Paris");
    }

    let out = get_time(json!({"format": "rfc2822", "timezone": "UTC"}));
    let ts = out["timestamp"].as_str().unwrap();
    let parsed = jiff::fmt::rfc2822::parse(ts).unwrap();
    assert_eq!(
        parsed.timestamp().as_second(),
        out["unix"].as_i64().unwrap(),
        "{ts}"
    );
    assert!(ts.ends_with(" +0000"), "{ts}");

    let out = get_time(json!({"format": "unix"}));
    let ts = out["timestamp"].as_str().unwrap();
    assert_eq!(ts.parse::<i64>().unwrap(), out["unix"].as_i64().unwrap());
}

#[test]
fn get_time_in_a_real_zone_has_its_offset() {
    let _g = env_lock();
    let out = get_time(json!({"timezone": "Asia/Kolkata"}));
    let ts = out["timestamp"].as_str().unwrap();
    assert!(ts.ends_with("+05:30"), "{ts}");
    assert_eq!(out["timezone"], "Asia/Kolkata");

    let out = get_time(json!({"format": "rfc2822", "timezone": "Asia/Kolkata"}));
    assert!(
        out["timestamp"].as_str().unwrap().ends_with(" +0530"),
        "{out}"
    );

    // The wall clock matches the unix time shifted by the offset.
    let out = get_time(json!({"timezone": "Asia/Kolkata"}));
    let ts = out["timestamp"].as_str().unwrap();
    let wall: jiff::civil::DateTime = ts[..19].parse().unwrap();
    let expected = jiff::Timestamp::from_second(out["unix"].as_i64().unwrap() + 5 * 3600 + 1800)
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .datetime();
    assert_eq!(wall, expected);
}

#[test]
fn get_time_unknown_zone_is_invalid_input() {
    let _g = env_lock();
    let err = call(
        "sys.info.get_time",
        json!({"timezone": "Mars/Olympus_Mons"}),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("timezone"));
    assert!(err.message.contains("Mars/Olympus_Mons"), "{}", err.message);
    assert!(err.hint.is_some());

    let err = call("sys.info.get_time", json!({"timezone": "Europe/Pariss"})).unwrap_err();
    assert!(
        err.hint.as_deref().unwrap_or("").contains("Europe/Paris"),
        "{err:?}"
    );
}

#[test]
fn get_time_unknown_format_is_invalid_input() {
    let _g = env_lock();
    let err = call("sys.info.get_time", json!({"format": "iso"})).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(err.field.as_deref(), Some("format"));
}
