//! Plain-data types declared once and mirrored elsewhere field for field.
//!
//! The UniFFI layer needs its own copy of each outcome the core returns (the UniFFI derives
//! live in `bindings/`, never here), and copies written by hand drift: a field added to the
//! core's outcome silently never reaches the apps. A type declared with [`mirrored!`] also
//! gets a `macro_rules!` replay macro that hands its doc comments, field names and field
//! types (and the name of a module alias through which the caller reaches the core's type)
//! to a callback macro, so the bindings build their record, and its conversion, from
//! the very list written here.

/// Declares a struct (named fields) or an enum (unit or struct variants) and a replay macro
/// for it.
///
/// ```text
/// mirrored! {
///     (replay_sync_outcome, derive(Debug, Clone, Serialize))
///     /// What a sync did.
///     pub struct SyncOutcome {
///         pub sn: String,
///         /// Records new to this phone.
///         pub inserted: u64,
///     }
/// }
/// // elsewhere, with `use posmate_core::flows;`:
/// posmate_core::replay_sync_outcome!(callback, flows);
/// // expands to:
/// callback! {
///     flows;
///     /// What a sync did.
///     struct SyncOutcome { sn: String, /// Records new to this phone.
///                          inserted: u64 }
/// }
/// ```
///
/// The parenthesised head names the replay macro and lists the attributes that are the
/// core's alone (derives, serde); only doc comments are replayed, so the mirror documents
/// the same thing in Kotlin and Swift. Field and variant types are replayed as written:
/// the mirror resolves them in its own scope, where a nested mirrored type (say
/// `KeySlotProof`) names its own mirror.
#[macro_export]
macro_rules! mirrored {
    (
        ($replay:ident $(, $attr:meta)* $(,)?)
        $(#[doc = $doc:literal])*
        pub struct $name:ident {
            $( $(#[doc = $fdoc:literal])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        $(#[doc = $doc])*
        pub struct $name {
            $( $(#[doc = $fdoc])* pub $field: $ty, )*
        }

        #[doc = concat!("Replays [`", stringify!($name), "`]'s definition into a callback macro.")]
        #[macro_export]
        macro_rules! $replay {
            ($then:ident, $module:ident) => {
                $then! {
                    $module;
                    $(#[doc = $doc])*
                    struct $name { $( $(#[doc = $fdoc])* $field: $ty ),* }
                }
            };
        }
    };
    (
        ($replay:ident $(, $attr:meta)* $(,)?)
        $(#[doc = $doc:literal])*
        pub enum $name:ident {
            $(
                $(#[doc = $vdoc:literal])*
                $variant:ident $({ $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* $(,)? })?
            ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        $(#[doc = $doc])*
        pub enum $name {
            $( $(#[doc = $vdoc])* $variant $({ $( $(#[doc = $fdoc])* $field: $ty, )* })?, )*
        }

        #[doc = concat!("Replays [`", stringify!($name), "`]'s definition into a callback macro.")]
        #[macro_export]
        macro_rules! $replay {
            ($then:ident, $module:ident) => {
                $then! {
                    $module;
                    $(#[doc = $doc])*
                    enum $name {
                        $( $(#[doc = $vdoc])* $variant $({ $( $(#[doc = $fdoc])* $field: $ty ),* })? ),*
                    }
                }
            };
        }
    };
}
