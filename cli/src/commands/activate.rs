//! `posmate activate`: activates a paired terminal with the acquirer — the acquirer reviews
//! the merchant's application, seals the terminal's keys to its factory key, the terminal
//! installs them and signs on. `--status` polls an application still under review.

use posmate_core::acquirer::MerchantDetails;
use posmate_core::companion::Companion;
use posmate_core::flows::{ActivationInput, ActivationOutcome, FlowControl};
use zeroize::Zeroizing;

use super::report_flow;
use super::target::known_sn;
use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::fmt;
use crate::output::Report;
use crate::prompt;

/// Activate a paired terminal with the acquirer (or poll a pending review with --status).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  posmate activate SN2026000001 --terminal-no 10020301 --merchant-no 898310148160012 \\
      --merchant-name 'Zhang San Noodles' --phone '+86 138 0000 0000' \\
      --address '12 Wenhua Road, Hangzhou'            asks for the activation code
  printf 'ACT07001\\n' | posmate activate SN2026000001 …   the code on stdin, for scripts
  posmate activate --status SN2026000001              is the acquirer's review done?

The activation code is never taken from the command line (ps and shell history keep it):
it is typed without echo, or read as one line of stdin. `posmate sim acquirer` lists the
simulated acquirer's merchants, terminal numbers and codes.")]
pub struct Args {
    /// The terminal's serial number (optional when this phone knows one terminal).
    pub sn: Option<String>,
    /// Poll the application under review instead of starting one.
    #[arg(long, conflicts_with_all = ["terminal_no", "merchant_no", "merchant_name", "phone", "address"])]
    pub status: bool,
    /// The terminal number the acquirer assigned (8 letters or digits).
    #[arg(long, value_name = "NO", required_unless_present = "status")]
    pub terminal_no: Option<String>,
    /// The merchant number the acquirer assigned (15 digits).
    #[arg(long, value_name = "NO", required_unless_present = "status")]
    pub merchant_no: Option<String>,
    /// The merchant's legal name, as registered with the acquirer.
    #[arg(long, value_name = "NAME", required_unless_present = "status")]
    pub merchant_name: Option<String>,
    /// A contact phone number.
    #[arg(long, value_name = "PHONE", required_unless_present = "status")]
    pub phone: Option<String>,
    /// The shop's address.
    #[arg(long, value_name = "ADDRESS", required_unless_present = "status")]
    pub address: Option<String>,
}

/// What `activate` prints: the flow's outcome (`activated` or `pending`).
impl Report for ActivationOutcome {
    fn human(&self) -> String {
        match self {
            ActivationOutcome::Activated {
                sn,
                terminal_no,
                merchant_no,
                test_txn_ref,
                key_slots,
                ..
            } => {
                let slots: Vec<String> = key_slots
                    .iter()
                    .map(|k| format!("{}:{} (kcv {})", k.slot, k.kind, k.kcv))
                    .collect();
                format!(
                    "{sn} is activated: terminal {terminal_no} of merchant {merchant_no}\n\
                     keys installed and checked: {}\nsign-on test transaction {test_txn_ref}\n",
                    slots.join(", ")
                )
            }
            ActivationOutcome::Pending {
                application_id,
                retry_after_ms,
                ..
            } => format!(
                "the acquirer is reviewing application {application_id}; ask again in {} \
                 (posmate activate --status)\n",
                fmt::duration_ms(*retry_after_ms as f64)
            ),
        }
    }
}

/// What the activation flow is asked: a new activation, or the state of one under review.
enum Request {
    Activate(ActivationInput),
    Status(String),
}

pub async fn run(ctx: &Ctx, args: Args) -> Result<Exit, CliError> {
    let prepare = async |phone: &Companion| {
        let sn = known_sn(phone, args.sn)?;
        if args.status {
            return Ok(Request::Status(sn));
        }
        // Typed input is checked by the flow before anything is stored; the code last, so
        // a typo in the other fields does not cost the user a prompt.
        let code = prompt::secret("Activation code: ", "activation code")?;
        Ok(Request::Activate(ActivationInput {
            sn,
            terminal_no: args.terminal_no.unwrap_or_default(),
            merchant_no: args.merchant_no.unwrap_or_default(),
            activation_code: Zeroizing::new(code.to_string()),
            merchant: MerchantDetails {
                legal_name: args.merchant_name.unwrap_or_default(),
                contact_phone: args.phone.unwrap_or_default(),
                address: args.address.unwrap_or_default(),
            },
        }))
    };
    let flow = async |phone: &Companion, request, c: &FlowControl| match request {
        Request::Activate(input) => phone.activate(input, c).await,
        Request::Status(sn) => phone.activation_status(&sn, c).await,
    };
    report_flow(ctx, "activation", prepare, flow).await?;
    Ok(Exit::Ok)
}
