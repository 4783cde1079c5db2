//! Which terminal a command means: for pairing and info, `--id` (as `posmate scan` lists
//! it), else the terminals in range whose SN ends with `--sn`, strongest signal first; for
//! the flows, a terminal this phone knows, by SN.

use std::time::Duration;

use posmate_core::companion::Companion;
use posmate_core::transport::{PeripheralId, ScanFilter};

use crate::context::Ctx;
use crate::error::{CliError, Exit};
use crate::transport_select::Link;

/// A terminal to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: PeripheralId,
    pub local_name: Option<String>,
}

/// The candidates for `--sn` / `--id`, strongest first; never empty.
pub async fn candidates(
    ctx: &Ctx,
    link: &Link,
    sn: Option<&str>,
    id: Option<&str>,
    timeout: Option<Duration>,
) -> Result<Vec<Target>, CliError> {
    if let Some(id) = id {
        return Ok(vec![Target {
            id: PeripheralId::new(id),
            local_name: None,
        }]);
    }
    let filter = match sn {
        // Terminals advertise the last 8 characters of their SN.
        Some(sn) => {
            let tail: String = sn
                .chars()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            ScanFilter::sn_suffix(tail)
        }
        None => ScanFilter::any(),
    };
    let found = link.scan(&ctx.out, filter, timeout).await?;
    if found.is_empty() {
        let what = match sn {
            Some(sn) => format!("no posmate terminal with SN ending {sn} is in range"),
            None => "no posmate terminal is in range".to_owned(),
        };
        return Err(CliError::new(Exit::NotFound, "not-found", what).hint(
            "check the terminal is switched on and nearby; `posmate scan` lists what is seen",
        ));
    }
    Ok(found
        .into_iter()
        .map(|c| Target {
            id: c.peripheral_id,
            local_name: Some(c.local_name),
        })
        .collect())
}

/// The terminal a flow command means: `sn` if given, else the only terminal this phone
/// knows (paired, activated, …).
pub fn known_sn(phone: &Companion, sn: Option<String>) -> Result<String, CliError> {
    if let Some(sn) = sn {
        return Ok(sn);
    }
    let known = phone.terminals()?;
    match known.as_slice() {
        [only] => Ok(only.sn.clone()),
        [] => Err(CliError::new(
            Exit::NotFound,
            "unknown-terminal",
            "this phone knows no terminal yet",
        )
        .hint("pair one first: posmate pair")),
        many => Err(CliError::usage(format!(
            "this phone knows {} terminals; say which: {}",
            many.len(),
            many.iter()
                .map(|t| t.sn.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("pass the terminal's SN")),
    }
}
