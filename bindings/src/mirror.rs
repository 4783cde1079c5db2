//! The FFI records and enums that mirror the core's outcome types, built from the core's
//! own field lists (`posmate_core::mirrored!`): a field added in the core reaches Kotlin,
//! Swift and Python without anyone copying it here.
//!
//! [`ffi_mirror!`] is the callback the core's replay macros expand into: it declares the
//! UniFFI record (or enum) with the core's doc comments, and its conversion from the
//! core's type, field by field through [`FromCore`].

use posmate_proto::message::Totals;

/// Converts a core value into its FFI mirror. Plain values convert to themselves,
/// collections element by element, mirrored types by their generated impl. The protocol
/// types the FFI exposes as they are (`Totals`) are plain values here.
pub(crate) trait FromCore<T> {
    fn from_core(value: T) -> Self;
}

macro_rules! same_on_both_sides {
    ($($t:ty),*) => {$(
        impl FromCore<$t> for $t {
            fn from_core(value: $t) -> Self {
                value
            }
        }
    )*};
}
same_on_both_sides!(String, bool, u8, u16, u32, u64, i16, i64, Totals);

/// A public key or digest: hex, as the core's JSON and the docs spell them.
impl FromCore<[u8; 32]> for String {
    fn from_core(value: [u8; 32]) -> Self {
        value.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl<A, B: FromCore<A>> FromCore<Vec<A>> for Vec<B> {
    fn from_core(value: Vec<A>) -> Self {
        value.into_iter().map(B::from_core).collect()
    }
}

impl<A, B: FromCore<A>> FromCore<Option<A>> for Option<B> {
    fn from_core(value: Option<A>) -> Self {
        value.map(B::from_core)
    }
}

/// The callback of the core's replay macros: declares the UniFFI mirror of the replayed
/// type, named `$mirror`, and its conversion from the core's type (reached as
/// `$core::$name`).
///
/// ```text
/// use posmate_core::flows as core_flows;
/// posmate_core::replay_sync_outcome!(ffi_mirror, core_flows, SyncOutcome);
/// ```
macro_rules! ffi_mirror {
    (
        $core:ident, $mirror:ident;
        $(#[doc = $doc:literal])*
        struct $name:ident { $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
        pub struct $mirror {
            $( $(#[doc = $fdoc])* pub $field: $ty, )*
        }

        impl From<$core::$name> for $mirror {
            fn from(value: $core::$name) -> Self {
                $mirror {
                    $( $field: $crate::mirror::FromCore::from_core(value.$field), )*
                }
            }
        }

        impl $crate::mirror::FromCore<$core::$name> for $mirror {
            fn from_core(value: $core::$name) -> Self {
                value.into()
            }
        }
    };
    (
        $core:ident, $mirror:ident;
        $(#[doc = $doc:literal])*
        enum $name:ident {
            $(
                $(#[doc = $vdoc:literal])*
                $variant:ident $({ $( $(#[doc = $fdoc:literal])* $field:ident : $ty:ty ),* })?
            ),*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
        // Handed across the FFI once, by value: boxing a large variant would buy nothing.
        #[allow(clippy::large_enum_variant)]
        pub enum $mirror {
            $( $(#[doc = $vdoc])* $variant $({ $( $(#[doc = $fdoc])* $field: $ty, )* })?, )*
        }

        impl From<$core::$name> for $mirror {
            fn from(value: $core::$name) -> Self {
                match value {
                    $(
                        $core::$name::$variant $({ $($field),* })? => $mirror::$variant $({
                            $( $field: $crate::mirror::FromCore::from_core($field), )*
                        })?,
                    )*
                }
            }
        }

        impl $crate::mirror::FromCore<$core::$name> for $mirror {
            fn from_core(value: $core::$name) -> Self {
                value.into()
            }
        }
    };
}
pub(crate) use ffi_mirror;
