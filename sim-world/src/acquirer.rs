//! The simulated acquirer as the phone's gateway reaches it in process: the same JSON
//! bytes a real adapter would send over HTTPS, handed to [`SimAcquirer::call`] instead of a
//! socket. (Over the sim link the [`TcpTransport`](crate::link::TcpTransport) itself is the
//! exchange.)

use async_trait::async_trait;
use posmate_core::acquirer::{AcquirerError, Exchange, RemoteGateway};
use posmate_sim::acquirer::SimAcquirer;
use zeroize::Zeroizing;

/// The in-process [`Exchange`] to a [`SimAcquirer`], honouring its `set_online` and
/// `lose_answers`.
#[derive(Clone)]
pub struct InProcess(SimAcquirer);

impl InProcess {
    pub fn new(acquirer: SimAcquirer) -> Self {
        InProcess(acquirer)
    }
}

#[async_trait]
impl Exchange for InProcess {
    async fn call(&self, body: Vec<u8>) -> Result<Vec<u8>, AcquirerError> {
        // The body may carry a typed card number.
        let body = Zeroizing::new(body);
        self.0.call(&body)
    }
}

/// The phone's gateway to `acquirer`, in process.
pub fn gateway(acquirer: &SimAcquirer) -> RemoteGateway<InProcess> {
    RemoteGateway::new(InProcess::new(acquirer.clone()))
}
