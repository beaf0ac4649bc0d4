//! Configuration and key-folder mistakes, through the real binary: each stops the server
//! with a message naming the setting or path (and the fix), never a panic, never silence.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{DevProcess, redis_url};
use tokenmint::crypto::{Alg, keys};

const BINARY: &str = env!("CARGO_BIN_EXE_tokenmint");

/// Runs `tokenmint serve` with only `env` (and a config file, if given) and returns its exit
/// code and stderr, or `None` if it was still running after a few seconds (then stopped).
fn serve(env: &[(&str, String)], config: Option<&str>) -> Option<(i32, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BINARY);
    command
        .arg("serve")
        .env_clear()
        .env("TOKENMINT_SERVER__BIND", "127.0.0.1:0")
        .env("TOKENMINT_REDIS__URL", redis_url())
        .env("TOKENMINT_REDIS__KEY_PREFIX", "tmstartup")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(toml) = config {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml).unwrap();
        command.env("TOKENMINT_CONFIG", path);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return Some((status.code().unwrap_or(-1), stderr));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A keys folder with one ES256 key, modes as given.
fn keys_folder(dir_mode: u32, file_mode: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = keys::generate(dir.path(), Alg::Es256).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(file_mode)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(dir_mode)).unwrap();
    dir
}

fn key_file(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .unwrap()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn every_configuration_mistake_stops_the_server_naming_the_setting() {
    let good_keys = keys_folder(0o700, 0o600);
    let keys_env = (
        "TOKENMINT_KEYS__DIR",
        good_keys.path().display().to_string(),
    );
    let e = |key: &'static str, value: &str| (key, value.to_owned());
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, String)>,
        Option<&'a str>,
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "a typo in an env variable",
            vec![e("TOKENMINT_SERVER__BIDN", "127.0.0.1:1")],
            None,
            vec![
                "server.bidn",
                "TOKENMINT_SERVER__BIDN",
                "did you mean server.bind",
            ],
        ),
        (
            "a single underscore",
            vec![e("TOKENMINT_SERVER_BIND", "127.0.0.1:1")],
            None,
            vec!["server_bind", "TOKENMINT_SERVER__BIND"],
        ),
        (
            "a typo in a key in env",
            vec![e("TOKENMINT_BRUTEFORCE__MAX_PER_CLIENT_ADRESS", "5")],
            None,
            vec![
                "bruteforce.max_per_client_adress",
                "bruteforce.max_per_client_address",
            ],
        ),
        (
            "a typo in a section in the file",
            vec![],
            Some("[servr]\nbind = \"127.0.0.1:1\"\n"),
            vec!["servr.bind", "config.toml", "did you mean server.bind"],
        ),
        (
            "a typo in a key in the file",
            vec![],
            Some("[bruteforce]\nmax_per_client_adress = 5\n"),
            vec![
                "bruteforce.max_per_client_adress",
                "bruteforce.max_per_client_address",
            ],
        ),
        (
            "a log level that is not one",
            vec![e("TOKENMINT_LOG__LEVEL", "verbose")],
            None,
            vec!["log.level", "\"verbose\""],
        ),
        (
            "a RUST_LOG that is not a filter",
            vec![e("RUST_LOG", "verbose")],
            None,
            vec!["RUST_LOG", "\"verbose\""],
        ),
        (
            "an unknown log format",
            vec![e("TOKENMINT_LOG__FORMAT", "xml")],
            None,
            vec!["log.format", "xml"],
        ),
        (
            "too many workers",
            vec![e("TOKENMINT_SERVER__WORKERS", "5000")],
            None,
            vec!["server.workers", "0 to 512", "5000"],
        ),
        (
            "workers not a number",
            vec![e("TOKENMINT_SERVER__WORKERS", "many")],
            None,
            vec!["server.workers"],
        ),
        (
            "a zero request timeout",
            vec![e("TOKENMINT_SERVER__REQUEST_TIMEOUT_MS", "0")],
            None,
            vec!["server.request_timeout_ms", "1 to"],
        ),
        (
            "a zero Redis timeout",
            vec![e("TOKENMINT_REDIS__TIMEOUT_MS", "0")],
            None,
            vec!["redis.timeout_ms"],
        ),
        (
            "a zero brute-force limit",
            vec![e("TOKENMINT_BRUTEFORCE__MAX_PER_ADDRESS", "0")],
            None,
            vec!["bruteforce.max_per_address", "nonzero"],
        ),
        (
            "a zero brute-force window",
            vec![e("TOKENMINT_BRUTEFORCE__WINDOW_SECS", "0")],
            None,
            vec!["bruteforce.window_secs"],
        ),
        (
            "argon2 memory of 4 GiB",
            vec![e("TOKENMINT_ARGON2__MEMORY_KIB", "4194304")],
            None,
            vec!["argon2.memory_kib", "KiB", "4194304"],
        ),
        (
            "argon2 memory times concurrency beyond the machine",
            vec![
                e("TOKENMINT_ARGON2__MEMORY_KIB", "1048576"),
                e("TOKENMINT_ARGON2__MAX_CONCURRENT", "256"),
            ],
            None,
            vec!["argon2.memory_kib x argon2.max_concurrent", "machine"],
        ),
        (
            "an issuer that is not a URL",
            vec![e("TOKENMINT_SERVER__ISSUER", "auth.example.com")],
            None,
            vec!["server.issuer"],
        ),
        (
            "every address without an issuer",
            vec![e("TOKENMINT_SERVER__BIND", "0.0.0.0:0"), keys_env.clone()],
            None,
            vec!["server.issuer", "0.0.0.0:0", "TOKENMINT_SERVER__ISSUER"],
        ),
        (
            "expiry bounds out of order",
            vec![e("TOKENMINT_TOKENS__MIN_EXPIRY", "7200")],
            None,
            vec!["min_expiry <= default_expiry"],
        ),
    ];
    for (case, mut env, config, expected) in cases {
        // Valid keys, so that only the case's own mistake can stop the server.
        env.insert(0, keys_env.clone());
        let Some((code, stderr)) = serve(&env, config) else {
            panic!("case: {case}: the server started");
        };
        assert_ne!(code, 0, "case: {case}");
        assert_ne!(code, 101, "case: {case}: a panic:\n{stderr}");
        assert!(!stderr.contains("panicked"), "case: {case}:\n{stderr}");
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "case: {case}: the message lacks {needle:?}:\n{stderr}"
            );
        }
    }
    // The same server, configured right, starts and keeps running.
    assert!(
        serve(&[keys_env], None).is_none(),
        "a valid configuration must start"
    );
    // Kubernetes service-link variables are not settings, and not refused.
    let links = vec![
        e("TOKENMINT_SERVICE_HOST", "10.0.0.1"),
        e("TOKENMINT_PORT", "tcp://10.0.0.1:8080"),
        e("TOKENMINT_PORT_8080_TCP_ADDR", "10.0.0.1"),
        (
            "TOKENMINT_KEYS__DIR",
            good_keys.path().display().to_string(),
        ),
    ];
    assert!(
        serve(&links, None).is_none(),
        "service links must be ignored"
    );
}

#[test]
fn a_keys_folder_or_key_that_others_can_write_is_refused() {
    let mut cases: Vec<(&str, tempfile::TempDir, Vec<&str>)> = vec![
        (
            "a world-writable folder",
            keys_folder(0o777, 0o600),
            vec!["keys folder", "chmod 700"],
        ),
        (
            "a sticky world-writable folder",
            keys_folder(0o1777, 0o600),
            vec!["keys folder", "written by group or others"],
        ),
        (
            "a group-writable folder",
            keys_folder(0o770, 0o600),
            vec!["keys folder", "chmod 700"],
        ),
        (
            "a group-writable key file",
            keys_folder(0o700, 0o620),
            vec!["key file", "chmod 600"],
        ),
    ];
    if is_root() {
        let other_file = keys_folder(0o700, 0o600);
        let file = key_file(other_file.path());
        rustix::fs::chown(&file, Some(rustix::process::Uid::from_raw(4321)), None).unwrap();
        cases.push((
            "a key file of another user",
            other_file,
            vec!["key file", "owned by another user", "4321"],
        ));
        let other_dir = keys_folder(0o700, 0o600);
        rustix::fs::chown(
            other_dir.path(),
            Some(rustix::process::Uid::from_raw(4321)),
            None,
        )
        .unwrap();
        cases.push((
            "a folder of another user",
            other_dir,
            vec!["keys folder", "owned by another user"],
        ));
    }
    for (case, dir, expected) in &cases {
        let env = [("TOKENMINT_KEYS__DIR", dir.path().display().to_string())];
        let Some((code, stderr)) = serve(&env, None) else {
            panic!("case: {case}: the server started");
        };
        assert_ne!(code, 0, "case: {case}");
        assert!(!stderr.contains("panicked"), "case: {case}:\n{stderr}");
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "case: {case}: the message lacks {needle:?}:\n{stderr}"
            );
        }
        assert!(
            stderr.contains(&dir.path().display().to_string()),
            "case: {case}: the path is named:\n{stderr}"
        );
    }
    // A read-only secret mount's usual modes: a 0400 key in a 0500 or 0700 folder.
    for (dir_mode, file_mode) in [(0o700, 0o400), (0o500, 0o400)] {
        let dir = keys_folder(dir_mode, file_mode);
        let env = [("TOKENMINT_KEYS__DIR", dir.path().display().to_string())];
        assert!(
            serve(&env, None).is_none(),
            "a {file_mode:o} key in a {dir_mode:o} folder must start"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

#[test]
fn bootstrap_admin_needs_no_signing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["bootstrap-admin", "--name", "ops"])
        .env_clear()
        .env("TOKENMINT_REDIS__URL", redis_url())
        .env("TOKENMINT_REDIS__KEY_PREFIX", "tmbootstrap")
        .env("TOKENMINT_KEYS__DIR", dir.path().join("none"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(printed["client_secret"].is_string(), "{printed}");
}

#[tokio::test]
async fn serve_dev_tls_makes_a_local_ca_once_and_serves_https_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let keys_dir = dir.path().join("keys");
    let start = || DevProcess::start(port, &keys_dir, &["--tls"], &[]);
    let first = start();
    let admin = first.admin.clone();
    let origin = format!("https://localhost:{port}");
    assert_eq!(admin["issuer"], origin.as_str());
    let tls = keys_dir.join("dev-tls");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&tls), 0o700);
    assert_eq!(mode(&tls.join("localhost-key.pem")), 0o600);
    let ca = std::fs::read_to_string(tls.join("ca.pem")).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let token = https
        .post(format!("{origin}/oauth/token"))
        .basic_auth(
            admin["client_id"].as_str().unwrap(),
            admin["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("HTTPS trusted through the printed CA");
    assert_eq!(token.status(), reqwest::StatusCode::OK);
    first.kill();
    // A second start reuses the CA the first one made (a client told to trust it once keeps
    // trusting it).
    let again = start();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(tls.join("ca.pem")).unwrap(), ca);
    again.kill();
}

#[tokio::test]
async fn ctrl_c_finishes_in_flight_requests_before_the_server_exits() {
    let dir = tempfile::tempdir().unwrap();
    // Slow argon2: a secret's creation is in flight long enough to interrupt it.
    let mut server = DevProcess::start(
        crate::helpers::free_port(),
        &dir.path().join("keys"),
        &[],
        &[("TOKENMINT_ARGON2__ITERATIONS", "60")],
    );
    let (admin, base) = (server.admin.clone(), server.base.clone());
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(
            admin["client_id"].as_str().unwrap(),
            admin["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let create = tokio::spawn({
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.post(format!("{base}/api/v1/organizations/org_a/clients"))
                .bearer_auth(token)
                .json(&serde_json::json!({"name": "in flight"}))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let interrupted = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let answer = create
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(answer.status(), reqwest::StatusCode::CREATED);
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "Ctrl-C ends the server with exit 0: {status:?}"
    );
    let logs = server.logs();
    assert!(logs.contains("tokenmint listening"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "logs to a file carry no colour codes: {logs}"
    );
}

#[test]
fn flags_and_operating_system_errors_name_the_setting_and_the_reason() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(BINARY);
        command.args(args).env_clear();
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // A port someone else holds: the setting, the reason and the way out.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = held.local_addr().unwrap().to_string();
    let (code, stderr) = run(&["serve", "--dev", "--bind", &address], &[]);
    assert_ne!(code, Some(0));
    for part in ["server.bind", address.as_str(), "in use", "--bind"] {
        assert!(stderr.contains(part), "{part:?} in {stderr}");
    }
    // --config names a file that wins over TOKENMINT_CONFIG, and its mistakes name it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenmint.toml");
    std::fs::write(&file, "[server]\nworkers = 5000\n").unwrap();
    let (code, stderr) = run(
        &["--config", file.to_str().unwrap(), "serve"],
        &[("TOKENMINT_CONFIG", "/nonexistent.toml")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("server.workers"), "{stderr}");
    let (code, stderr) = run(&["--config", "/nonexistent.toml", "serve"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--config /nonexistent.toml"), "{stderr}");
    // Redis that cannot be reached: the URL (password hidden) and the operating system's
    // reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{closed}");
    let (code, stderr) = run(&["bootstrap-admin"], &[("TOKENMINT_REDIS__URL", &url)]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        stderr.contains(&format!("redis://:***@127.0.0.1:{closed}")),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the password is never printed");
}
