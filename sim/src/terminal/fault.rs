//! Radio faults tied to what the terminal is asked, not to packet counts: "the link is lost
//! as request X arrives" hits the same protocol step whatever the MTU, the pairing or the
//! number of requests before it, which a count of writes cannot promise. The terminal
//! decodes the request (only it can: the session is encrypted), then the link host loses
//! the link; the request is never acted on.

use proto::message::Request;

/// A kind of request the phone sends inside the secure session, by the kebab-case name
/// the sim link's `fault` operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    GetInfo,
    Ping,
    InstallKeys,
    SignOn,
    ReadCard,
    ReadJournal,
    CloseBatch,
    Wipe,
    SetLifecycle,
    Unpair,
}

impl RequestKind {
    pub const ALL: [RequestKind; 10] = [
        RequestKind::GetInfo,
        RequestKind::Ping,
        RequestKind::InstallKeys,
        RequestKind::SignOn,
        RequestKind::ReadCard,
        RequestKind::ReadJournal,
        RequestKind::CloseBatch,
        RequestKind::Wipe,
        RequestKind::SetLifecycle,
        RequestKind::Unpair,
    ];

    pub fn of(request: &Request) -> RequestKind {
        match request {
            Request::GetInfo => RequestKind::GetInfo,
            Request::Ping { .. } => RequestKind::Ping,
            Request::InstallKeys { .. } => RequestKind::InstallKeys,
            Request::SignOn { .. } => RequestKind::SignOn,
            Request::ReadCard { .. } => RequestKind::ReadCard,
            Request::ReadJournal { .. } => RequestKind::ReadJournal,
            Request::CloseBatch { .. } => RequestKind::CloseBatch,
            Request::Wipe { .. } => RequestKind::Wipe,
            Request::SetLifecycle { .. } => RequestKind::SetLifecycle,
            Request::Unpair => RequestKind::Unpair,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RequestKind::GetInfo => "get-info",
            RequestKind::Ping => "ping",
            RequestKind::InstallKeys => "install-keys",
            RequestKind::SignOn => "sign-on",
            RequestKind::ReadCard => "read-card",
            RequestKind::ReadJournal => "read-journal",
            RequestKind::CloseBatch => "close-batch",
            RequestKind::Wipe => "wipe",
            RequestKind::SetLifecycle => "set-lifecycle",
            RequestKind::Unpair => "unpair",
        }
    }

    pub fn parse(name: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for kind in RequestKind::ALL {
            assert_eq!(RequestKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(RequestKind::parse("install_keys"), None);
        assert_eq!(RequestKind::of(&Request::Unpair), RequestKind::Unpair);
    }
}
