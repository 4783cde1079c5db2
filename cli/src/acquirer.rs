//! The acquirer the flows reach over HTTPS: posmate's own client (reqwest over rustls) bound
//! to the configured `acquirer_url`, trusting `acquirer_ca` besides the usual roots and
//! holding the chain to `acquirer_pin`. `transport_select` decides which mode uses it;
//! `doctor` asks its health.

use std::sync::Arc;

use posmate_core::acquirer::https::client::{ClientOptions, ReqwestClient};
use posmate_core::acquirer::https::retry::RetryPolicy;
use posmate_core::acquirer::https::HttpsGateway;
use posmate_core::acquirer::Gateway;

use crate::error::{CliError, Exit};
use crate::settings::Settings;

/// The client for the configured acquirer, if one is configured. A CA file that changed
/// since it was checked, or a URL the client cannot use, is a configuration error.
pub fn client(settings: &Settings) -> Result<Option<ReqwestClient>, CliError> {
    let Some(url) = &settings.acquirer_url else {
        return Ok(None);
    };
    let invalid = |message: String| {
        CliError::new(Exit::Usage, "config-invalid", message)
            .hint("`posmate config show` says where each acquirer setting comes from")
    };
    let extra_ca_pem = match &settings.acquirer_ca {
        Some(ca) => Some(
            ca.read()
                .map_err(|e| invalid(format!("acquirer_ca: {e}")))?,
        ),
        None => None,
    };
    let options = ClientOptions {
        extra_ca_pem,
        pins: settings
            .acquirer_pin
            .as_ref()
            .map(|p| p.0.clone())
            .unwrap_or_default(),
        ..ClientOptions::default()
    };
    ReqwestClient::new(url.as_str(), &options)
        .map(Some)
        .map_err(|e| invalid(format!("acquirer_url: {e}")))
}

/// The gateway over `client`, retrying what may succeed unchanged (the default policy).
pub fn gateway(client: ReqwestClient) -> Arc<dyn Gateway> {
    Arc::new(HttpsGateway::https(
        Arc::new(client),
        RetryPolicy::default(),
    ))
}
