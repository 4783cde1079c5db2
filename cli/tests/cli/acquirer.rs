//! `posmate acquirer serve` as a child process and `posmate acquirer admin` against it: the
//! back office registers a merchant and a terminal, a phone's activation (sent over HTTPS
//! through the published mapping) waits for review, the back office approves it, and
//! SIGTERM stops the server gracefully.

use std::path::Path;
use std::process::Command as StdCommand;

use posmate_acquirer_api::http;
use posmate_acquirer_api::{ActivationRequest, ApiRequest, MerchantDetails};
use posmate_sandbox::client::Client;
use posmate_sim::{SimTerminal, TerminalConfig};

use crate::common::{bare, check_schema, json_of};
use crate::sandbox::Sandbox;

const MERCHANT: &str = "898310148160099";
const NAME: &str = "Wang Wu Dumplings";
const SN: &str = "SNCLI0000001";

fn admin(state: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = bare();
    cmd.args(["--json", "acquirer", "admin"])
        .args(args)
        .arg("--state")
        .arg(state);
    cmd
}

#[test]
fn serve_prints_where_it_listens_and_admin_decides_a_review() {
    let mut sandbox = Sandbox::serve(&[]);
    let state = sandbox.state.clone();
    let base_url = sandbox.base_url.clone();
    assert!(base_url.starts_with("https://127.0.0.1:"), "{base_url}");
    assert_eq!(sandbox.ca_file, state.join("ca.pem"));

    let out = admin(
        &state,
        &["merchant", "--merchant-no", MERCHANT, "--name", NAME],
    )
    .assert()
    .success();
    let v = json_of(&out.get_output().stdout);
    check_schema("acquirer-admin-merchant", &v);
    assert_eq!(v["review"]["kind"], "manual");

    let terminal = SimTerminal::new(TerminalConfig::new(SN, 11));
    let key: String = terminal
        .device_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = admin(
        &state,
        &[
            "terminal",
            "--sn",
            SN,
            "--device-key",
            &key,
            "--terminal-no",
            "10029911",
        ],
    )
    .write_stdin("ACT09911\n")
    .assert()
    .success();
    let v = json_of(&out.get_output().stdout);
    check_schema("acquirer-admin-terminal", &v);
    assert_eq!(v["state"], "unknown");

    // The phone applies over HTTPS, as its client would.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let phone = Client::new(&base_url, &state.join("ca.pem")).unwrap();
    let apply = ApiRequest::Activate(ActivationRequest {
        request_id: "cli-act-1".into(),
        sn: SN.into(),
        terminal_no: "10029911".into(),
        merchant_no: MERCHANT.into(),
        activation_code: "ACT09911".into(),
        merchant: MerchantDetails {
            legal_name: NAME.into(),
            contact_phone: "+86 137 0000 0000".into(),
            address: "8 Jiefang Road, Hangzhou".into(),
        },
        device_key: terminal.device_key(),
    });
    let answer = rt.block_on(phone.send(&http::to_http(&apply))).unwrap();
    assert_eq!(answer.status, 200);

    let out = admin(&state, &["reviews"]).assert().success();
    let v = json_of(&out.get_output().stdout);
    check_schema("acquirer-admin-reviews", &v);
    assert_eq!(v["reviews"][0]["sn"], SN);
    let app = v["reviews"][0]["application_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = admin(&state, &["approve", &app]).assert().success();
    let v = json_of(&out.get_output().stdout);
    check_schema("acquirer-admin-decision", &v);
    assert_eq!(v["decision"], "approve");
    let out = admin(&state, &["reviews"]).assert().success();
    assert_eq!(
        json_of(&out.get_output().stdout)["reviews"],
        serde_json::json!([])
    );

    // Approving again is the acquirer's refusal (7), with the problem's code.
    let out = admin(&state, &["approve", &app]).assert().code(7);
    let v = json_of(&out.get_output().stdout);
    check_schema("error", &v);
    assert_eq!(v["error"]["code"], "invalid");

    let out = admin(&state, &["advance", "--hours", "2"])
        .assert()
        .success();
    check_schema("acquirer-admin-advance", &json_of(&out.get_output().stdout));

    // SIGTERM: a graceful stop, exit 0.
    let status = StdCommand::new("kill")
        .args(["-TERM", &sandbox.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(sandbox.child.wait().unwrap().success());

    // Stopped: admin says the sandbox cannot be reached (7).
    let out = admin(&state, &["reviews"]).assert().code(7);
    assert_eq!(
        json_of(&out.get_output().stdout)["error"]["code"],
        "sandbox-unreachable"
    );
}
