//! The lifecycle requests (protocol.md §6, §6.1): SignOn activates a terminal whose keys
//! were issued for that terminal and merchant number; SetLifecycle moves an activated
//! terminal in and out of suspension. The other states are never asked for: factory is
//! first boot (or a new owner's pairing after a wipe), decommissioned is the wipe.

use proto::gatt::Lifecycle;
use proto::message::{ErrorCode, Response};

use super::{err, Device};

impl Device {
    /// SignOn: activates the terminal for the numbers its keys were issued to.
    pub(super) fn sign_on(&mut self, terminal_no: String, merchant_no: String) -> Response {
        match self.nvm.lifecycle() {
            Lifecycle::Factory | Lifecycle::Activated => {}
            other => {
                return err(
                    ErrorCode::WrongLifecycleState,
                    format!("cannot sign on while {}", other.name()),
                )
            }
        }
        let Some((t, m)) = &self.nvm.issued_to else {
            return err(
                ErrorCode::WrongLifecycleState,
                "no keys installed; install keys first",
            );
        };
        if *t != terminal_no || *m != merchant_no {
            return err(
                ErrorCode::BadRequest,
                "terminal or merchant number differs from the one the keys were issued for",
            );
        }
        self.nvm.terminal_no = Some(terminal_no);
        self.nvm.merchant_no = Some(merchant_no);
        self.nvm.set_lifecycle(Lifecycle::Activated);
        self.wrote = true;
        let r = self.digits(12);
        Response::SignedOn {
            test_txn_ref: format!("TST{r}"),
        }
    }

    /// SetLifecycle: activated ⇄ suspended (staying put is allowed and writes nothing);
    /// answered with the Info after it.
    pub(super) fn set_lifecycle(&mut self, state: Lifecycle) -> Response {
        let current = self.nvm.lifecycle();
        let allowed = matches!(
            (current, state),
            (Lifecycle::Activated, Lifecycle::Activated)
                | (Lifecycle::Activated, Lifecycle::Suspended)
                | (Lifecycle::Suspended, Lifecycle::Suspended)
                | (Lifecycle::Suspended, Lifecycle::Activated)
        );
        if !allowed {
            return err(
                ErrorCode::WrongLifecycleState,
                format!("cannot go from {} to {}", current.name(), state.name()),
            );
        }
        if current != state {
            self.nvm.set_lifecycle(state);
            self.wrote = true;
        }
        Response::Info(self.info())
    }
}
