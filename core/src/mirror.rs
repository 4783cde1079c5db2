//! Plain-data types declared once and mirrored elsewhere field for field.
//!
//! The UniFFI layer needs its own copy of each outcome the core returns (the UniFFI derives
//! live in `bindings/`, never here), and copies written by hand drift: a field added to the
//! core's outcome silently never reaches the apps. A type declared with [`mirrored!`] also
//! gets a `macro_rules!` replay macro that hands its doc comments, field names and field
//! types to a callback macro (with the module alias through which the caller reaches the
//! core's type and the name the caller wants for its copy), so the bindings build their record, and its conversion, from
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
/// posmate_core::replay_sync_outcome!(callback, flows, SyncOutcome);
/// // expands to:
/// callback! {
///     flows, SyncOutcome;
///     /// What a sync did.
///     struct SyncOutcome { sn: String, /// Records new to this phone.
///                          inserted: u64 }
/// }
/// ```
///
/// The parenthesised head names the replay macro and lists the attributes that are the
/// core's alone (derives, serde); a struct's fields may carry `#[serde(…)]` too. Only doc
/// comments are replayed, so the mirror documents
/// the same thing in Kotlin and Swift. Field and variant types are replayed as written:
/// the mirror resolves them in its own scope, where a nested mirrored type (say
/// `KeySlotProof`) names its own mirror.
#[macro_export]
macro_rules! mirrored {
    // The replay macro: hands `$item` (docs, names and types only) to a callback.
    (@replay $replay:ident, $name:ident, { $($item:tt)* }) => {
        #[doc = concat!("Replays [`", stringify!($name), "`]'s definition into a callback macro.")]
        #[macro_export]
        macro_rules! $replay {
            ($then:ident, $module:ident, $mirror:ident) => {
                $then! { $module, $mirror; $($item)* }
            };
        }
    };
    (
        ($replay:ident $(, $attr:meta)* $(,)?)
        $(#[doc = $doc:literal])*
        pub struct $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                $(#[serde($($fserde:tt)*)])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        $(#[doc = $doc])*
        pub struct $name {
            $( $(#[doc = $fdoc])* $(#[serde($($fserde)*)])* pub $field: $ty, )*
        }

        $crate::mirrored!(@replay $replay, $name, {
            $(#[doc = $doc])*
            struct $name { $( $(#[doc = $fdoc])* $field: $ty ),* }
        });
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

        $crate::mirrored!(@replay $replay, $name, {
            $(#[doc = $doc])*
            enum $name {
                $( $(#[doc = $vdoc])* $variant $({ $( $(#[doc = $fdoc])* $field: $ty ),* })? ),*
            }
        });
    };
}
