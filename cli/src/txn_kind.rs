//! Transaction kinds as the command line and the sim link name them (`sale`, `pre-auth`, …):
//! one list for filtering the phone's records and for ringing up a sale on a simulated
//! terminal, so both accept the same words.

use posmate_proto::message::RecordKind;
use posmate_sim::terminal::TxnKind;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KindArg {
    #[default]
    Sale,
    Refund,
    PreAuth,
    PreAuthCompletion,
    BalanceInquiry,
    Void,
}

impl From<KindArg> for TxnKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Sale => TxnKind::Sale,
            KindArg::Refund => TxnKind::Refund,
            KindArg::PreAuth => TxnKind::PreAuth,
            KindArg::PreAuthCompletion => TxnKind::PreAuthCompletion,
            KindArg::BalanceInquiry => TxnKind::BalanceInquiry,
            KindArg::Void => TxnKind::Void,
        }
    }
}

impl From<KindArg> for RecordKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Sale => RecordKind::Sale,
            KindArg::Refund => RecordKind::Refund,
            KindArg::PreAuth => RecordKind::PreAuth,
            KindArg::PreAuthCompletion => RecordKind::PreAuthCompletion,
            KindArg::BalanceInquiry => RecordKind::BalanceInquiry,
            KindArg::Void => RecordKind::Void,
        }
    }
}
