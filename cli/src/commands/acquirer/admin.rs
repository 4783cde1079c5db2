//! `posmate acquirer admin <op>`: the sandbox acquirer's back office over its admin surface
//! (HTTPS, trusting the sandbox's CA, with its admin token). Each op prints the admin
//! surface's answer; schemas `acquirer-admin-<op>`.

use std::path::PathBuf;

use posmate_acquirer_api::http::Method;
use posmate_sandbox::admin::{
    Clock, ClockChange, Decided, MerchantJson, ReviewJson, Reviews, TerminalRegistration,
    TerminalView,
};
use posmate_sandbox::client::Client;
use posmate_sandbox::{Started, ENDPOINT_FILE};
use posmate_sim::acquirer::Decision;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::output::{table, Report};
use crate::prompt;

/// Where the sandbox is and how to trust it.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The sandbox's data directory (its CA, admin token and endpoint.json); default
    /// DATA_DIR/sandbox.
    #[arg(long, value_name = "DIR", global = true)]
    pub state: Option<PathBuf>,
    /// The sandbox's base URL; default the one the running server wrote in its directory.
    #[arg(long, value_name = "URL", global = true)]
    pub url: Option<String>,
}

/// Act as the sandbox acquirer's back office.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  posmate acquirer admin reviews
  posmate acquirer admin approve APP-000001
  posmate acquirer admin reject APP-000002 --reason-code R07 --reason 'the address does not match'
  posmate acquirer admin advance --days 80
  posmate acquirer admin merchant --merchant-no 898310148160099 --name 'Wang Wu Dumplings'
  printf '%s\\n' \"$CODE\" | posmate acquirer admin terminal --sn SN2026000009 --device-key HEX --terminal-no 10020309")]
pub enum Action {
    /// List the activation applications waiting for a decision.
    #[command(
        after_help = "Examples:\n  posmate acquirer admin reviews\n  posmate --json acquirer admin reviews"
    )]
    Reviews {
        #[command(flatten)]
        target: Target,
    },
    /// Approve an application: the acquirer issues the terminal's keys.
    #[command(after_help = "Examples:\n  posmate acquirer admin approve APP-000001")]
    Approve {
        application_id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Reject an application, with the acquirer's reason code and a reason for the merchant.
    #[command(
        after_help = "Examples:\n  posmate acquirer admin reject APP-000001 --reason-code R07 --reason 'the address does not match'"
    )]
    Reject {
        application_id: String,
        #[arg(long, value_name = "CODE")]
        reason_code: String,
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        target: Target,
    },
    /// Move the acquirer's clock forward (timed reviews, dormancy, reopening).
    #[command(
        after_help = "Examples:\n  posmate acquirer admin advance --days 80\n  posmate acquirer admin advance --hours 2"
    )]
    Advance {
        #[arg(long, default_value_t = 0)]
        days: u64,
        #[arg(long, default_value_t = 0)]
        hours: u64,
        #[arg(long, default_value_t = 0)]
        ms: u64,
        #[command(flatten)]
        target: Target,
    },
    /// Sign a merchant up (or change its name or review).
    #[command(after_help = "Examples:
  posmate acquirer admin merchant --merchant-no 898310148160099 --name 'Wang Wu Dumplings'
  posmate acquirer admin merchant --merchant-no 898310148160099 --name 'Wang Wu Dumplings' --review instant")]
    Merchant {
        #[arg(long, value_name = "NO")]
        merchant_no: String,
        #[arg(long, value_name = "NAME")]
        name: String,
        /// manual (the back office decides), instant, after-polls:N or after-ms:MS.
        #[arg(long, default_value = "manual", value_parser = parse_review)]
        review: ReviewJson,
        #[command(flatten)]
        target: Target,
    },
    /// Register a terminal from the manufacturer's feed; its activation code is asked for
    /// (or read as one line of stdin), never an argument.
    #[command(after_help = "Examples:
  printf '%s\\n' \"$CODE\" | posmate acquirer admin terminal --sn SN2026000009 --device-key HEX --terminal-no 10020309")]
    Terminal {
        #[arg(long)]
        sn: String,
        /// The terminal's factory Ed25519 public key (64 hex digits, as `posmate info` shows).
        #[arg(long, value_name = "HEX")]
        device_key: String,
        #[arg(long, value_name = "NO")]
        terminal_no: String,
        #[command(flatten)]
        target: Target,
    },
}

fn parse_review(text: &str) -> Result<ReviewJson, String> {
    let number = |n: &str| {
        n.parse::<u64>()
            .map_err(|_| format!("'{n}' is not a whole number"))
    };
    match text.split_once(':') {
        None if text == "manual" => Ok(ReviewJson::Manual),
        None if text == "instant" => Ok(ReviewJson::Instant),
        Some(("after-polls", n)) => Ok(ReviewJson::AfterPolls {
            polls: u32::try_from(number(n)?).map_err(|_| format!("{n} polls is too many"))?,
        }),
        Some(("after-ms", n)) => Ok(ReviewJson::AfterMs { ms: number(n)? }),
        _ => Err(format!(
            "'{text}' is not a review: manual, instant, after-polls:N or after-ms:MS"
        )),
    }
}

/// An admin answer, printed as the sandbox gave it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Answer {
    Reviews(Reviews),
    Decided(Decided),
    Clock(Clock),
    Merchant(MerchantJson),
    Terminal(TerminalView),
}

impl Report for Answer {
    fn human(&self) -> String {
        match self {
            Answer::Reviews(r) if r.reviews.is_empty() => "no application is waiting\n".into(),
            Answer::Reviews(r) => {
                let rows: Vec<Vec<String>> = r
                    .reviews
                    .iter()
                    .map(|p| {
                        vec![
                            p.application_id.clone(),
                            p.sn.clone(),
                            p.merchant_no.clone(),
                            p.terminal_no.clone(),
                            p.submitted_at_ms.to_string(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "application",
                        "sn",
                        "merchant",
                        "terminal no",
                        "submitted (ms)",
                    ],
                    &rows,
                )
            }
            Answer::Decided(d) => match &d.decision {
                Decision::Approve => format!("{} approved\n", d.application_id),
                Decision::Reject { reason_code, .. } => {
                    format!("{} rejected ({reason_code})\n", d.application_id)
                }
            },
            Answer::Clock(c) => format!("the acquirer's clock is at {} ms\n", c.now_ms),
            Answer::Merchant(m) => {
                format!("merchant {} ({}) signed up\n", m.merchant_no, m.legal_name)
            }
            Answer::Terminal(t) => format!("terminal {} registered ({})\n", t.sn, t.state),
        }
    }
}

pub async fn run(ctx: &Ctx, action: Action) -> Result<Exit, CliError> {
    let answer = match action {
        Action::Reviews { target } => {
            let c = client(ctx, target)?;
            Answer::Reviews(call(c.admin(Method::Get, "reviews", None::<&()>)).await?)
        }
        Action::Approve {
            application_id,
            target,
        } => decide(ctx, target, &application_id, Decision::Approve).await?,
        Action::Reject {
            application_id,
            reason_code,
            reason,
            target,
        } => {
            let decision = Decision::Reject {
                reason_code,
                reason,
            };
            decide(ctx, target, &application_id, decision).await?
        }
        Action::Advance {
            days,
            hours,
            ms,
            target,
        } => {
            let total = days
                .checked_mul(86_400_000)
                .and_then(|d| hours.checked_mul(3_600_000).and_then(|h| d.checked_add(h)))
                .and_then(|t| t.checked_add(ms))
                .ok_or_else(|| CliError::usage("that is too far to advance the clock"))?;
            let c = client(ctx, target)?;
            let change = ClockChange {
                set_ms: None,
                advance_ms: Some(total),
            };
            Answer::Clock(call(c.admin(Method::Post, "clock", Some(&change))).await?)
        }
        Action::Merchant {
            merchant_no,
            name,
            review,
            target,
        } => {
            let c = client(ctx, target)?;
            let m = MerchantJson {
                merchant_no,
                legal_name: name,
                review,
            };
            Answer::Merchant(call(c.admin(Method::Post, "merchants", Some(&m))).await?)
        }
        Action::Terminal {
            sn,
            device_key,
            terminal_no,
            target,
        } => {
            let c = client(ctx, target)?;
            let code = prompt::secret("activation code for the terminal: ", "activation code")?;
            let t = TerminalRegistration {
                sn,
                device_key,
                terminal_no,
                activation_code: code.to_string(),
            };
            Answer::Terminal(call(c.admin(Method::Post, "terminals", Some(&t))).await?)
        }
    };
    ctx.out.report(&answer);
    Ok(Exit::Ok)
}

async fn decide(
    ctx: &Ctx,
    target: Target,
    application_id: &str,
    decision: Decision,
) -> Result<Answer, CliError> {
    let c = client(ctx, target)?;
    let path = format!("reviews/{application_id}/decision");
    Ok(Answer::Decided(
        call(c.admin(Method::Post, &path, Some(&decision))).await?,
    ))
}

async fn call<T>(
    f: impl std::future::Future<Output = Result<T, posmate_sandbox::SandboxError>>,
) -> Result<T, CliError> {
    f.await.map_err(super::cli_error)
}

/// A client of the sandbox in `--state DIR`: its URL from `--url` or the server's
/// `endpoint.json`, trusting its `ca.pem`, with its admin token.
fn client(ctx: &Ctx, target: Target) -> Result<Client, CliError> {
    let dir = super::state_dir(ctx, target.state)?;
    let endpoint = dir.join(ENDPOINT_FILE);
    let started: Option<Started> = std::fs::read(&endpoint)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let url = match (target.url, &started) {
        (Some(url), _) => url,
        (None, Some(s)) => s.base_url.clone(),
        (None, None) => {
            return Err(CliError::new(
                Exit::Acquirer,
                "sandbox-unreachable",
                format!("no sandbox has run in {}", dir.display()),
            )
            .hint("start it with `posmate acquirer serve` (same --state), or pass --url"))
        }
    };
    let ca = started
        .and_then(|s| s.ca_file)
        .unwrap_or_else(|| dir.join(posmate_sandbox::CA_FILE));
    Client::new(&url, &ca)
        .and_then(|c| c.with_token_file(&dir.join(posmate_sandbox::TOKEN_FILE)))
        .map_err(super::cli_error)
}
