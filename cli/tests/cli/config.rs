//! The config file, through the real binary in a home of its own: every setting's
//! precedence (flag > env > profile > default), the file's errors, `config set`/`unset`
//! keeping the file's comments, doctor's report of the config and the acquirer, and
//! refused values that may be secrets never repeated.

use std::path::Path;

use assert_cmd::Command;
use posmate_core::keystore::SecretStore;
use serde_json::{json, Value};

use crate::common::{check_schema, json_of, refused, run_json, run_json_as};
use crate::home::{effective, keyutils, Home};

/// One setting's four layers: the value in the profile (a TOML literal), in its
/// environment variable, on the command line, and the value each layer should give.
struct Layers {
    key: &'static str,
    profile: &'static str,
    env: (&'static str, &'static str),
    flag: &'static [&'static str],
    /// Without any layer, with the profile, with profile + env, with all three.
    expect: [Value; 4],
}

/// A static string for the table of layers, made at run time (the CA files' paths).
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn leak_args(args: [&'static str; 2]) -> &'static [&'static str] {
    Box::leak(Box::new(args))
}

/// A PEM CA file (a real certificate, its key thrown away) in `home`, named for `name`.
fn ca_file(home: &Home, name: &str) -> std::path::PathBuf {
    let pem = include_str!("fixtures/acquirer-ca.pem");
    let path = home.data_home().join(format!("ca-{name}.pem"));
    std::fs::create_dir_all(home.data_home()).unwrap();
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn every_setting_is_flag_then_env_then_profile_then_default() {
    let home = Home::new();
    let default_dir = home.profile_dir("t").display().to_string();
    // Three CA files, one per layer: the setting's value is the file's absolute path.
    let cas: Vec<&'static str> = ["p", "e", "f"]
        .iter()
        .map(|layer| leak(ca_file(&home, layer).display().to_string()))
        .collect();
    let cases = [
        Layers {
            key: "data_dir",
            profile: "\"/srv/p\"",
            env: ("POSMATE_DATA_DIR", "/srv/e"),
            flag: &["--data-dir", "/srv/f"],
            expect: [
                json!(default_dir),
                json!("/srv/p"),
                json!("/srv/e"),
                json!("/srv/f"),
            ],
        },
        Layers {
            key: "keystore",
            profile: "\"mock\"",
            env: ("POSMATE_KEYSTORE", "keyutils"),
            flag: &["--keystore", "mock"],
            expect: [json!("os"), json!("mock"), json!("keyutils"), json!("mock")],
        },
        Layers {
            key: "allow_volatile_key",
            profile: "true",
            env: ("POSMATE_ALLOW_VOLATILE_KEY", "0"),
            flag: &["--allow-volatile-key"],
            expect: [json!(false), json!(true), json!(false), json!(true)],
        },
        Layers {
            key: "sim",
            profile: "true",
            env: ("POSMATE_SIM", "false"),
            flag: &["--sim"],
            expect: [json!(false), json!(true), json!(false), json!(true)],
        },
        Layers {
            key: "connect_sim",
            profile: "\"127.0.0.1:7001\"",
            env: ("POSMATE_SIM_ADDR", "127.0.0.1:7002"),
            flag: &["--connect-sim", "localhost:7003"],
            expect: [
                Value::Null,
                json!("127.0.0.1:7001"),
                json!("127.0.0.1:7002"),
                json!("localhost:7003"),
            ],
        },
        Layers {
            key: "acquirer_url",
            profile: "\"https://p.example.com/api\"",
            env: ("POSMATE_ACQUIRER_URL", "https://e.example.com"),
            flag: &["--acquirer-url", "http://localhost:8080"],
            expect: [
                Value::Null,
                json!("https://p.example.com/api"),
                json!("https://e.example.com"),
                json!("http://localhost:8080"),
            ],
        },
        Layers {
            key: "acquirer_credential",
            profile: "\"prod\"",
            env: ("POSMATE_ACQUIRER_CREDENTIAL", "staging"),
            flag: &["--acquirer-credential", "bench-1"],
            expect: [
                Value::Null,
                json!("prod"),
                json!("staging"),
                json!("bench-1"),
            ],
        },
        Layers {
            key: "acquirer_ca",
            profile: leak(format!("\"{}\"", cas[0])),
            env: ("POSMATE_ACQUIRER_CA", cas[1]),
            flag: leak_args(["--acquirer-ca", cas[2]]),
            expect: [
                Value::Null,
                json!(cas[0]),
                json!(cas[1]),
                json!(cas[2]),
            ],
        },
        Layers {
            key: "acquirer_pin",
            profile: "\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
            env: (
                "POSMATE_ACQUIRER_PIN",
                "sha256/AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            ),
            flag: &[
                "--acquirer-pin",
                "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=, sha256/AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
            ],
            expect: [
                Value::Null,
                json!("sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                json!("sha256/AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
                json!("sha256/AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=,sha256/AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="),
            ],
        },
        Layers {
            key: "backup_work_factor",
            profile: "11",
            env: ("POSMATE_BACKUP_WORK_FACTOR", "12"),
            flag: &["--backup-work-factor", "13"],
            expect: [json!(18), json!(11), json!(12), json!(13)],
        },
        Layers {
            key: "json",
            profile: "true",
            env: ("POSMATE_JSON", "0"),
            flag: &["--json"],
            expect: [json!(false), json!(true), json!(false), json!(true)],
        },
        Layers {
            key: "quiet",
            profile: "true",
            env: ("POSMATE_QUIET", "no"),
            flag: &["--quiet"],
            expect: [json!(false), json!(true), json!(false), json!(true)],
        },
        Layers {
            key: "verbose",
            profile: "2",
            env: ("POSMATE_VERBOSE", "1"),
            flag: &["-vvv"],
            expect: [json!(0), json!(2), json!(1), json!(3)],
        },
    ];
    let sources = ["default", "profile", "env", "flag"];
    for case in &cases {
        for (layer, (expected, source)) in case.expect.iter().zip(sources).enumerate() {
            let table = if layer == 0 {
                "[profiles.t]\n".to_owned()
            } else {
                format!("[profiles.t]\n{} = {}\n", case.key, case.profile)
            };
            home.write_config(&table);
            let mut cmd = home.posmate();
            cmd.args(["--profile", "t"]);
            if case.key != "json" {
                cmd.arg("--json");
            }
            if layer >= 2 {
                cmd.env(case.env.0, case.env.1);
            }
            if layer >= 3 {
                cmd.args(case.flag);
            }
            let got = effective(&mut cmd, case.key);
            assert_eq!(
                got,
                (expected.clone(), source.to_owned()),
                "{} with the layers up to {source}",
                case.key
            );
        }
    }
    // The table covers every setting `config show` lists.
    home.write_config("[profiles.t]\n");
    let shown = run_json(
        home.posmate().args(["--profile", "t", "config", "show"]),
        0,
        "config-show",
    );
    let mut listed: Vec<&str> = shown["settings"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut tested: Vec<&str> = cases.iter().map(|c| c.key).collect();
    listed.sort();
    tested.sort();
    assert_eq!(listed, tested);
}

#[test]
fn a_bad_file_is_an_error_naming_the_file_line_and_key_and_changes_nothing() {
    let home = Home::new();
    let path = home.config_path().display().to_string();
    let cases = [
        ("[profiles.t]\nsim = true\ncolour = \"auto\"\n", 3, "colour"),
        (
            "[profiles.t]\nbackup_work_factor = 30\n",
            2,
            "backup_work_factor",
        ),
        ("\n\nverbosity = 2\n", 3, "verbosity"),
        ("[profiles.t]\nkeystore = \"vault\"\n", 2, "keystore"),
        (
            "[profiles.t]\nacquirer_url = \"http://acquirer.example.com\"\n",
            2,
            "acquirer_url",
        ),
    ];
    for (text, line, key) in cases {
        home.write_config(text);
        for command in [&["config", "show"][..], &["--sim", "scan"]] {
            let err = refused(home.posmate().args(command), 2, "config-invalid");
            let message = err["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with(&format!("{path}:{line}: key `{key}`:")),
                "{text:?}: {message}"
            );
        }
        assert!(
            !home.data_home().exists(),
            "nothing was created for {text:?}"
        );
    }
    // The file's value is refused with the option's own words.
    home.write_config("[profiles.t]\nbackup_work_factor = 30\n");
    let err = refused(home.posmate().args(["config", "show"]), 2, "config-invalid");
    let flag = home
        .posmate()
        .args(["--backup-work-factor", "30", "config", "show"])
        .output()
        .unwrap();
    assert_eq!(flag.status.code(), Some(2));
    let reason = "'30' is not a work factor from 10 to 20";
    assert!(String::from_utf8_lossy(&flag.stderr).contains(reason));
    assert!(err["error"]["message"].as_str().unwrap().ends_with(reason));

    // A syntax error names its line too.
    home.write_config("[profiles.t]\nsim = tru\n");
    let err = refused(home.posmate().args(["config", "show"]), 2, "config-invalid");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{path}:2:")));
}

#[test]
fn an_explicit_config_file_must_exist_the_default_one_need_not() {
    let home = Home::new();
    let shown = run_json(home.posmate().args(["config", "show"]), 0, "config-show");
    assert_eq!(
        shown["config_file"],
        json!({"path": home.config_path().display().to_string(), "source": "default", "exists": false})
    );
    let missing = home.dir.path().join("elsewhere.toml");
    refused(
        home.posmate()
            .arg("--config")
            .arg(&missing)
            .args(["config", "show"]),
        3,
        "config-not-found",
    );
    let mut env = home.posmate();
    env.env("POSMATE_CONFIG", &missing).args(["--sim", "scan"]);
    refused(&mut env, 3, "config-not-found");

    std::fs::write(&missing, "[profiles.x]\nkeystore = \"mock\"\n").unwrap();
    let mut env = home.posmate();
    env.env("POSMATE_CONFIG", &missing).args(["--profile", "x"]);
    assert_eq!(
        effective(env.arg("--json"), "keystore"),
        (json!("mock"), "profile".into())
    );
    let path = run_json(
        home.posmate()
            .arg("--config")
            .arg(&missing)
            .args(["config", "path"]),
        0,
        "config-path",
    );
    assert_eq!(
        path,
        json!({"path": missing.display().to_string(), "source": "flag", "exists": true})
    );
}

#[test]
fn config_set_checks_like_the_option_and_keeps_the_rest_of_the_file() {
    let home = Home::new();
    // Created owner-only in an owner-only folder.
    let set = run_json(
        home.posmate().args([
            "--profile",
            "bench",
            "config",
            "set",
            "keystore",
            "keyutils",
        ]),
        0,
        "config-change",
    );
    assert_eq!(set["profile"], "bench");
    assert_eq!(set["value"], "keyutils");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.config_path()), 0o600);
        assert_eq!(mode(home.config_path().parent().unwrap()), 0o700);
    }

    let original = "# the bench machine\n[profiles.bench] # keys on the bench\nkeystore = \"keyutils\" # volatile\n";
    home.write_config(original);
    let p = |args: &[&str]| {
        let mut cmd = home.posmate();
        cmd.args(["--profile", "bench", "config"]).args(args);
        cmd
    };
    run_json(&mut p(&["set", "sim", "yes"]), 0, "config-change");
    run_json(
        &mut p(&["set", "backup_work_factor", "12"]),
        0,
        "config-change",
    );
    let text = home.config_text();
    assert!(text.starts_with(original), "{text}");
    assert!(
        text.ends_with("sim = true\nbackup_work_factor = 12\n"),
        "{text}"
    );

    // Refused values change nothing, and say why with the option's words.
    let err = refused(
        &mut p(&["set", "backup_work_factor", "9"]),
        2,
        "invalid-input",
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("from 10 to 20"));
    let pasted = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    let err = refused(
        &mut p(&["set", "acquirer_credential", &format!("{pasted}==")]),
        2,
        "invalid-input",
    );
    assert!(!err.to_string().contains(pasted), "{err}");
    refused(
        &mut p(&["set", "acquirer_url", "http://acquirer.example.com"]),
        2,
        "invalid-input",
    );
    p(&["set", "colour", "auto"]).assert().code(2);
    assert!(home.config_text().ends_with("backup_work_factor = 12\n"));

    // Unset: the default applies again; unsetting again changes nothing.
    let unset = run_json(&mut p(&["unset", "sim"]), 0, "config-change");
    assert_eq!(
        (unset["changed"].clone(), unset["value"].clone()),
        (json!(true), Value::Null)
    );
    assert!(home.config_text().starts_with(original));
    assert!(!home.config_text().contains("sim ="));
    let again = run_json(&mut p(&["unset", "sim"]), 0, "config-change");
    assert_eq!(again["changed"], false);
    let sim = effective(home.posmate().args(["--profile", "bench", "--json"]), "sim");
    assert_eq!(sim, (json!(false), "default".to_owned()));

    // A directory is stored absolute: `~/` is the home, a relative one the current folder.
    let set = run_json(
        &mut p(&["set", "data_dir", "~/bench-data"]),
        0,
        "config-change",
    );
    let under_home = |rel: &str| home.dir.path().join(rel).display().to_string();
    assert_eq!(set["value"], under_home("bench-data"));
    let mut relative = p(&["set", "data_dir", "rel/dir"]);
    relative.current_dir(home.dir.path());
    let set = run_json(&mut relative, 0, "config-change");
    assert_eq!(set["value"], under_home("rel/dir"));
    let shown = effective(
        home.posmate().args(["--profile", "bench", "--json"]),
        "data_dir",
    );
    assert_eq!(shown, (json!(under_home("rel/dir")), "profile".to_owned()));

    // default_profile names an existing profile; then it is the one in use.
    refused(
        &mut p(&["set", "default_profile", "prod"]),
        3,
        "profile-not-found",
    );
    run_json(
        &mut p(&["set", "default_profile", "bench"]),
        0,
        "config-change",
    );
    let shown = run_json(home.posmate().args(["config", "show"]), 0, "config-show");
    assert_eq!(shown["profile"], json!({"name": "bench", "source": "file"}));
    assert_eq!(
        shown["settings"]["backup_work_factor"],
        json!({"value": 12, "source": "profile"})
    );
    home.posmate()
        .args(["config", "show"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "profile      bench (the file's default_profile)",
        ));
}

#[test]
fn doctor_reports_the_profile_the_config_file_and_the_acquirer() {
    let home = Home::new();
    home.write_config(
        "[profiles.prod]\nkeystore = \"keyutils\"\nallow_volatile_key = true\nsim = true\nacquirer_url = \"https://acquirer.example.com/api\"\nacquirer_credential = \"prod\"\n",
    );
    let out = home
        .posmate()
        .args(["--json", "--profile", "prod", "doctor"])
        .output()
        .unwrap();
    let report = json_of(&out.stdout);
    check_schema("doctor", &report);
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {report:#}"))
            .clone()
    };
    let config = check("config");
    let detail = config["detail"].as_str().unwrap();
    assert_eq!(config["status"], "ok");
    assert!(detail.contains("profile prod (from --profile)"), "{detail}");
    assert!(
        detail.contains(&home.config_path().display().to_string()),
        "{detail}"
    );
    let acquirer = check("acquirer");
    let detail = acquirer["detail"].as_str().unwrap();
    assert!(
        detail.contains("https://acquirer.example.com/api"),
        "{detail}"
    );
    // A file others may write is a warning: whoever writes it chooses the acquirer.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = home.config_path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        let report = run_json_as(
            home.posmate().args(["--profile", "prod", "doctor"]),
            0,
            "doctor",
        );
        let config = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "config")
            .unwrap()
            .clone();
        assert_eq!(config["status"], "warn", "{config:#}");
        assert!(config["fix"].as_str().unwrap().contains("chmod go-w"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // With --sim a profile's URL is not used: the flows keep the simulated acquirer.
    assert_eq!(acquirer["status"], "ok", "{acquirer:#}");
    assert!(detail.contains("simulated acquirer"), "{detail}");

    // The keystore has no such entry yet, and doctor says so …
    let credential = check("acquirer.credential");
    let detail = credential["detail"].as_str().unwrap();
    assert_eq!(credential["status"], "warn", "{credential:#}");
    assert!(detail.contains("acquirer-credential.prod"), "{detail}");
    assert!(credential["fix"]
        .as_str()
        .unwrap()
        .contains("acquirer-credential.prod"));

    // … until the profile's keystore holds it.
    let store = keyutils(&home.profile_dir("prod")).expect("the profile's keystore");
    store
        .set(
            "acquirer-credential.prod",
            &posmate_core::keystore::Secret::from_slice(b"a test credential"),
        )
        .unwrap();
    let report = run_json_as(
        home.posmate().args(["--profile", "prod", "doctor"]),
        0,
        "doctor",
    );
    let credential = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "acquirer.credential")
        .unwrap()
        .clone();
    assert_eq!(credential["status"], "ok", "{credential:#}");
}

#[test]
fn settings_that_exclude_each_other_go_to_the_stronger_layer() {
    let home = Home::new();
    home.write_config("[profiles.t]\nsim = true\nquiet = true\n");
    let show = |cmd: &mut Command| run_json(cmd.args(["config", "show"]), 0, "config-show");
    let p = || {
        let mut cmd = home.posmate();
        cmd.args(["--profile", "t"]);
        cmd
    };
    // The command line beats the profile: --connect-sim turns the profile's sim off, -v
    // its quiet.
    let v = show(p().args(["--connect-sim", "127.0.0.1:7878", "-v"]));
    assert_eq!(
        v["settings"]["sim"],
        json!({"value": false, "source": "flag"})
    );
    assert_eq!(
        v["settings"]["connect_sim"],
        json!({"value": "127.0.0.1:7878", "source": "flag"})
    );
    assert_eq!(
        v["settings"]["quiet"],
        json!({"value": false, "source": "flag"})
    );
    assert_eq!(
        v["settings"]["verbose"],
        json!({"value": 1, "source": "flag"})
    );
    // The profile beats nothing: alone, its sim and quiet hold.
    let v = show(&mut p());
    assert_eq!(
        v["settings"]["sim"],
        json!({"value": true, "source": "profile"})
    );
    // Both from the environment: the sim link wins, as documented.
    let mut env = p();
    env.env("POSMATE_SIM", "1")
        .env("POSMATE_SIM_ADDR", "127.0.0.1:7001");
    let v = show(&mut env);
    assert_eq!(
        v["settings"]["sim"],
        json!({"value": false, "source": "env"})
    );
    assert_eq!(v["settings"]["connect_sim"]["value"], "127.0.0.1:7001");
    // Both on the command line: a usage error.
    for both in [["--sim", "--connect-sim=127.0.0.1:1"], ["-v", "-q"]] {
        let err = refused(p().args(both).args(["config", "show"]), 2, "usage");
        assert!(err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pass one"));
    }
}

/// A credential pasted where a reference or a URL belongs is refused without being
/// repeated: not by the option, its environment variable, the file or `config set`.
#[test]
fn a_refused_credential_or_url_is_never_repeated() {
    let home = Home::new();
    let secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    let pasted = format!("{secret}/+==");
    let url = format!("https://merchant:{secret}@acquirer.example.com");
    let mut runs: Vec<(String, std::process::Output)> = Vec::new();
    for (option, value) in [("--acquirer-credential", &pasted), ("--acquirer-url", &url)] {
        let out = home
            .posmate()
            .args([option, value, "config", "show"])
            .output()
            .unwrap();
        runs.push((format!("{option} on the command line"), out));
    }
    for (var, value) in [
        ("POSMATE_ACQUIRER_CREDENTIAL", &pasted),
        ("POSMATE_ACQUIRER_URL", &url),
    ] {
        let out = home
            .posmate()
            .env(var, value)
            .args(["config", "show"])
            .output()
            .unwrap();
        runs.push((var.to_owned(), out));
    }
    for (key, value) in [("acquirer_credential", &pasted), ("acquirer_url", &url)] {
        let out = home
            .posmate()
            .args(["config", "set", key, value])
            .output()
            .unwrap();
        runs.push((format!("config set {key}"), out));
        home.write_config(&format!("[profiles.default]\n{key} = \"{value}\"\n"));
        let out = home.posmate().args(["config", "show"]).output().unwrap();
        runs.push((format!("{key} in the file"), out));
        std::fs::remove_file(home.config_path()).unwrap();
    }
    for (what, out) in runs {
        assert_eq!(out.status.code(), Some(2), "{what}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(printed.contains("error"), "{what}: {printed}");
        assert!(
            !printed.contains(secret),
            "{what} repeats the secret: {printed}"
        );
    }
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_naming_it() {
    let home = Home::new();
    let missing = home.data_home().join("nowhere.pem");
    let key_only = home.data_home().join("key.pem");
    std::fs::create_dir_all(home.data_home()).unwrap();
    std::fs::write(
        &key_only,
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    for bad in [&missing, &key_only] {
        let name = bad.display().to_string();
        // On the command line: a usage error naming the file.
        let out = home
            .posmate()
            .args(["--acquirer-ca", &name, "config", "show"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&name), "{stderr}");
        // In the profile: config-invalid naming the file and the key.
        home.write_config(&format!("[profiles.t]\nacquirer_ca = \"{name}\"\n"));
        let err = refused(
            home.posmate()
                .args(["--json", "--profile", "t", "config", "show"]),
            2,
            "config-invalid",
        );
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&name) && message.contains("acquirer_ca"),
            "{message}"
        );
        // And `config set` refuses to write it.
        let out = home
            .posmate()
            .args(["--profile", "t", "config", "set", "acquirer_ca", &name])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn doctor_asks_the_acquirer_it_uses_and_types_the_failure() {
    let home = Home::new();
    home.write_config(
        "[profiles.t]\nkeystore = \"keyutils\"\nallow_volatile_key = true\nsim = true\n",
    );
    let url = format!("https://127.0.0.1:{}", closed_port());
    let ca = ca_file(&home, "doctor").display().to_string();
    // Given on the command line, the URL is the one --sim's flows use: doctor asks it.
    let report = run_json_as(
        home.posmate().args([
            "--profile",
            "t",
            "--acquirer-url",
            &url,
            "--acquirer-ca",
            &ca,
            "doctor",
        ]),
        7,
        "doctor",
    );
    let acquirer = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "acquirer")
        .unwrap()
        .clone();
    assert_eq!(acquirer["status"], "fail", "{acquirer:#}");
    let detail = acquirer["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&url) && detail.ends_with("(unreachable)"),
        "{detail}"
    );
    assert!(
        acquirer["fix"].as_str().unwrap().contains("internet"),
        "{acquirer:#}"
    );
}
